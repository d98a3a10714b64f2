"""Shared fixtures: the repo's spec files, parametrized so a new spec is tested the day it lands."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BLOCKS = sorted((ROOT / "blocks").glob("*.yaml"))
FIXTURE_BLOCKS = ROOT / "tests" / "fixtures" / "blocks"
ALL_SPECS = SPECS + BLOCKS + sorted(FIXTURE_BLOCKS.glob("*.yaml"))


def spec_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT

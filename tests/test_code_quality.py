"""The code is held to its standards in CI: ruff (lint and format), mypy --strict and the import
contract of docs/architecture.md (import-linter). Each tool runs from the repo root on the whole
package, as a developer runs it; a missing tool fails (they are in the `dev` extra)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint() -> None:
    r = _run(_tool("ruff"), "check", "netdsl", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    r = _run(_tool("ruff"), "format", "--check", "netdsl", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy_strict() -> None:
    r = _run(_tool("mypy"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_contract() -> None:
    """Lower layers never import higher ones; torch only in the backend and the ops' lowerings;
    only netdsl/__init__.py and the CLI import the API facade."""
    r = _run(_tool("lint-imports"), "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 broken." in r.stdout, r.stdout


def test_import_contract_sees_a_violation(tmp_path: Path) -> None:
    """The contract is not vacuous: in a copy of the package, a core module that imports torch and
    the API breaks it."""
    shutil.copytree(ROOT / "netdsl", tmp_path / "netdsl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "netdsl" / "core" / "_probe.py").write_text("import torch\nimport netdsl.api\n")
    r = subprocess.run(
        [_tool("lint-imports"), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert r.returncode != 0
    assert "netdsl.core._probe" in r.stdout


def test_paths_named_in_the_docs_exist() -> None:
    """Every `netdsl/...` file or folder that README.md and docs/*.md name is in the tree (docs do not
    rot when modules move)."""
    import re

    missing, found = [], 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path in re.findall(r"`(netdsl/[\w/.]*?)`", doc.read_text(encoding="utf-8")):
            found += 1
            if not (ROOT / path.rstrip("/")).exists():
                missing.append(f"{doc.name}: {path}")
    assert found > 20 and not missing, missing

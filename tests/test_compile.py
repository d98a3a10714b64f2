"""torch.compile of built modules (slow: marked `compile`; deselect with -m 'not compile')."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.cli import main

pytestmark = pytest.mark.compile


def test_compiled_module_matches_eager(in_root: Path) -> None:
    gm = netdsl.build("specs/tiny_attention.yaml", seed=0).eval()
    compiled = netdsl.compile(gm)
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        eager = gm(x)
        fast = compiled(x)
    for a, b in zip(eager, fast, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_cli_build_compile(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    assert main(["build", "specs/tiny_cnn.yaml", "--compile"]) == 0
    out = capsys.readouterr().out
    assert "torch.compile: first call (compile)" in out
    diff = float(out.split("max |compiled - eager| = ")[1].split()[0])
    assert diff < 1e-4

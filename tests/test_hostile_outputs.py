"""Files netdsl writes: the user's umask decides their mode (not a private 0600 from a temporary
file), no temporary file is left behind, and a ``.pt2`` write prints no warning of torch's about
its ``.tmp`` file. Also the block-parameter rule of a block file built with overrides, end to end.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .hostile.harness import NET, run_cli


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    p = tmp_path / "net.yaml"
    p.write_text(NET)
    return p


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    mask: int = request.param
    old = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], indirect=True, ids=["022", "002", "077"])
@pytest.mark.parametrize("command", ["build", "diagram"])
def test_outputs_get_the_umask_mode(spec: Path, tmp_path: Path, umask: int, command: str) -> None:
    """`build --out` and `diagram -o` create files with mode 0666 & ~umask, like any other tool."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / ("model.pt" if command == "build" else "net.dot")
    argv = (
        ["build", str(spec), "--out", str(out)]
        if command == "build"
        else ["diagram", str(spec), "-o", str(out)]
    )
    run = run_cli(argv, cwd=tmp_path)
    assert run.code == 0, run.text
    assert out.is_file()
    assert _mode(out) == 0o666 & ~umask, (
        f"mode {_mode(out):o}, expected {0o666 & ~umask:o} (umask {umask:03o})"
    )
    assert sorted(p.name for p in out_dir.iterdir()) == [out.name], "a temporary file was left behind"


def test_pt2_write_prints_no_warning(spec: Path, tmp_path: Path) -> None:
    """`build --out model.pt2` (torch.export) prints no warning (torch warns about a `.tmp` suffix
    when the program is saved under a temporary name), and gets the umask mode."""
    out = tmp_path / "model.pt2"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env["PYTHONWARNINGS"] = "default"  # show every warning, once
    proc = subprocess.run(
        [sys.executable, "-m", "netdsl", "build", str(spec), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and ".tmp" not in proc.stderr, proc.stderr
    assert out.is_file() and _mode(out) == 0o644, f"mode {_mode(out):o}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt2", "net.yaml"])


BLOCK = """block: scaled
params:
  c: {type: int}
  r: {type: int, default: 2}
example: {c: 4, r: 8}
dims: {B: 2}
inputs:
  x: [B, $c]
nodes:
  fc: {op: linear, in: x, out_features: "${c * r}"}
outputs: {y: fc}
"""


@pytest.mark.parametrize(
    ("overrides", "width"),
    [([], 8), (["--set", "c=6"], 12), (["--set", "c=6", "--set", "r=3"], 18), (["--set", "r=3"], 12)],
    ids=["example-only", "c-set", "c-and-r-set", "r-set"],
)
def test_block_file_parameters_overrides_then_defaults_then_example(
    tmp_path: Path, overrides: list[str], width: int
) -> None:
    """A block file built on its own: `--set` first, then the declared default, and `example:` only
    for parameters without a default (here `r` keeps its default 2 unless set; `c` comes from the
    example unless set)."""
    path = tmp_path / "scaled.yaml"
    path.write_text(BLOCK)
    run = run_cli(["shapes", str(path), *overrides], cwd=tmp_path)
    assert run.code == 0, run.text
    assert f"(B, {width})" in run.out, run.out


def test_block_parameters_from_the_python_api(tmp_path: Path) -> None:
    """The same rule through netdsl.check with overrides."""
    import netdsl

    path = tmp_path / "scaled.yaml"
    path.write_text(BLOCK)
    res = netdsl.check(path, overrides={"c": 6})
    assert res.ok, [e.render() for e in res.errors]
    assert res.shapes is not None
    assert [str(t) for _, t in res.shapes.outputs] == ["(B, 12)"]

"""The file policy (netdsl/frontend/files.py): what a spec may make netdsl open, and how.

Each test builds its own little project in a temp dir: a `pyproject.toml` marks the project root,
a secret file lies outside it, and the spec tries to reach the secret. The secret's content must
never reach the output, whatever the format.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import netdsl
from netdsl.cli import main
from netdsl.frontend.files import FilePolicy, project_root, read_named

SECRET = "SECRET-TOKEN-4f9a1c"
BASE = """network: base
inputs: {x: [B, 4]}
dims: {B: 2}
variants: {wide: {w: 8}}
vars: {w: 4}
nodes:
  fc: {op: linear, in: x, out_features: $w}
outputs: fc
"""
BLOCK = "block: good\ninputs: {x: [B, 4]}\nnodes: {n: {op: relu, in: x}}\noutputs: n\n"


@contextmanager
def deadline(seconds: int = 20) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body blocks, e.g. on a FIFO."""

    def _raise(signum: int, frame: object) -> None:
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/proj (a project) and tmp/outside/secret.yaml (a spec-looking file outside it)."""
    proj = tmp_path / "proj"
    (proj / "specs").mkdir(parents=True)
    (proj / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (proj / "specs" / "base.yaml").write_text(BASE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(f"network: {SECRET}\nnodes: {{}}\n")
    (outside / "secret.txt").write_text(f"{SECRET}: [\n")
    monkeypatch.chdir(proj)
    monkeypatch.delenv("NETDSL_ROOT", raising=False)
    monkeypatch.delenv("NETDSL_BLOCKS_PATH", raising=False)
    monkeypatch.delenv("NETDSL_DEBUG", raising=False)
    return proj


def thin(extends: str) -> str:
    return f"network: thin\nextends: {extends}\nvariant: wide\n"


def run_all_formats(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[tuple[int, str]]:
    out = []
    for fmt in ("text", "json", "github"):
        with deadline():
            code = main([*args, "--format", fmt])
        captured = capsys.readouterr()
        out.append((code, captured.out + captured.err))
    return out


@pytest.mark.parametrize(
    "target",
    [
        "/etc/shadow",
        "/etc/passwd",
        "/proc/self/environ",
        "../../outside/secret.yaml",
        "../../outside/secret.txt",
        "{outside}/secret.yaml",
        "../../../../../../../../etc/passwd",
    ],
)
def test_extends_outside_the_project_is_refused_at_the_extends_line(
    project: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = target.format(outside=project.parent / "outside")
    spec = project / "specs" / "thin.yaml"
    spec.write_text(thin(target))
    for code, out in run_all_formats(["validate", "specs/thin.yaml"], capsys):
        assert code == 1, out
        assert SECRET not in out and "root:" not in out
        assert "internal error" not in out and "Traceback" not in out
        assert "specs/thin.yaml" in out and ("2" in out)
    res = netdsl.check(spec)
    (err,) = res.errors
    assert err.loc.file == "specs/thin.yaml" and err.loc.line == 2 and err.loc.path == ("extends",)
    assert "outside the project" in err.message
    assert "extends:" in err.render()  # the user's own line is quoted


def test_symlink_leaving_the_project_is_refused(project: Path) -> None:
    (project / "specs" / "link.yaml").symlink_to(project.parent / "outside" / "secret.yaml")
    (project / "specs" / "thin.yaml").write_text(thin("link.yaml"))
    res = netdsl.check("specs/thin.yaml")
    (err,) = res.errors
    assert "through a symlink" in err.message and err.loc.line == 2
    assert SECRET not in str(err)


def test_symlinked_tree_inside_the_project_works(project: Path) -> None:
    (project / "real").mkdir()
    (project / "real" / "base.yaml").write_text(BASE)
    (project / "linked").symlink_to(project / "real", target_is_directory=True)
    (project / "specs" / "thin.yaml").write_text(thin("../linked/base.yaml"))
    res = netdsl.check("specs/thin.yaml")
    assert res.ok, [str(e) for e in res.errors]
    assert res.graph is not None and res.graph.name == "thin"


def test_relative_extends_inside_the_project_works(project: Path) -> None:
    (project / "nets").mkdir()
    (project / "nets" / "thin.yaml").write_text(thin("../specs/base.yaml"))
    res = netdsl.check(project / "nets" / "thin.yaml")
    assert res.ok, [str(e) for e in res.errors]


def test_spec_outside_any_project_may_use_its_siblings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of specs/ in a folder with no pyproject.toml, checked from elsewhere."""
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "base.yaml").write_text(BASE)
    (folder / "thin.yaml").write_text(thin("base.yaml"))
    monkeypatch.chdir(Path(__file__).resolve().parent)
    assert netdsl.check(folder / "thin.yaml").ok


def test_root_option_and_env_widen_the_policy(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.parent / "outside" / "base.yaml").write_text(BASE)
    (project / "specs" / "thin.yaml").write_text(thin("../../outside/base.yaml"))
    assert not netdsl.check("specs/thin.yaml").ok
    assert netdsl.check("specs/thin.yaml", root=project.parent / "outside").ok
    monkeypatch.setenv("NETDSL_ROOT", str(project.parent / "outside"))
    assert netdsl.check("specs/thin.yaml").ok


def test_referenced_file_that_is_not_a_spec_is_never_quoted(project: Path) -> None:
    (project / "specs" / "notes.yaml").write_text(f"{SECRET}: [unclosed\n")
    (project / "specs" / "data.yaml").write_text(f"just: {SECRET}\n")
    for name in ("notes.yaml", "data.yaml"):
        (project / "specs" / "thin.yaml").write_text(thin(name))
        res = netdsl.check("specs/thin.yaml")
        (err,) = res.errors
        assert SECRET not in str(err)
        assert err.loc.file == "specs/thin.yaml" and err.loc.line == 2


def test_referenced_spec_with_errors_is_located_in_itself(project: Path) -> None:
    (project / "specs" / "base.yaml").write_text(BASE.replace("op: linear", "op: lineer"))
    (project / "specs" / "thin.yaml").write_text(thin("base.yaml"))
    res = netdsl.check("specs/thin.yaml")
    (err,) = res.errors
    assert err.loc.file == "specs/base.yaml" and "lineer" in str(err)


@pytest.mark.parametrize("where", ["spec", "extends", "block", "blocks-folder"])
def test_fifo_never_blocks(project: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = project / "blk"
    blocks.mkdir()
    (blocks / "good.yaml").write_text(BLOCK)
    fifo = {"spec": project / "specs" / "f.yaml", "extends": project / "specs" / "f.yaml"}.get(
        where, blocks / "f.yaml"
    )
    os.mkfifo(fifo)
    user = project / "specs" / "user.yaml"
    if where == "extends":
        user.write_text(thin("f.yaml"))
    else:
        user.write_text(
            "network: u\ninputs: {x: [B, 4]}\nnodes:\n  a: {block: good, in: x}\n  b: {block: f, in: a}\n"
            "outputs: b\n"
        )
    args = {
        "spec": ["validate", "specs/f.yaml"],
        "extends": ["validate", "specs/user.yaml"],
        "block": ["validate", "specs/user.yaml", "--blocks-path", "blk"],
        "blocks-folder": ["blocks", "--blocks-path", "blk"],
    }[where]
    with deadline():
        code = main(args)
    err = capsys.readouterr().err
    assert code == 1
    assert "FIFO" in err and "internal error" not in err
    if where == "block":
        assert "specs/user.yaml:5:" in err  # located where the block is used
    if where == "blocks-folder":
        with deadline():
            assert main(["validate", "specs/user.yaml", "--blocks-path", "blk"]) == 1
        assert "FIFO" in capsys.readouterr().err


def test_symlinked_block_file_leaving_the_blocks_folder_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = project / "blk"
    blocks.mkdir()
    (blocks / "pw.yaml").symlink_to("/etc/passwd")
    (project / "specs" / "user.yaml").write_text(
        "network: u\ninputs: {x: [B, 4]}\nnodes:\n  a: {block: pw, in: x}\noutputs: a\n"
    )
    res = netdsl.check("specs/user.yaml", blocks_path="blk")
    (err,) = res.errors
    assert err.loc.file == "specs/user.yaml" and err.loc.line == 4
    assert "outside" in err.message and "root:" not in str(err)


def test_validate_folder_does_not_open_symlinks_leaving_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "evil.yaml").symlink_to(project.parent / "outside" / "secret.txt")
    (project / "specs" / "pw.yaml").symlink_to("/etc/passwd")
    (project / "specs" / "ok.yaml").symlink_to(project / "specs" / "base.yaml")
    results = run_all_formats(["validate", "specs"], capsys)
    for code, out in results:
        assert code == 1
        assert SECRET not in out and "root:x" not in out
        assert "evil.yaml" in out and "pw.yaml" in out
    report = json.loads(results[1][1])
    assert {Path(f["file"]).name for f in report["files"]} >= {"base.yaml", "ok.yaml", "evil.yaml", "pw.yaml"}


def test_named_files_must_be_regular(tmp_path: Path) -> None:
    with pytest.raises(netdsl.NetdslError, match="folder"):
        read_named(tmp_path)
    for dev in ("/dev/zero", "/dev/null"):
        if os.path.exists(dev):
            with deadline(), pytest.raises(netdsl.NetdslError, match="device"):
                read_named(dev)


def test_project_root_is_the_nearest_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".git").mkdir()
    assert project_root(tmp_path / "a" / "b" / "x.yaml") == (tmp_path / "a").resolve()
    monkeypatch.chdir(tmp_path)
    assert project_root(None) == tmp_path.resolve()
    policy = FilePolicy.for_spec(tmp_path / "a" / "b" / "x.yaml")
    assert policy.allows(tmp_path / "a" / "c.yaml")
    assert not policy.allows(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    "value",
    ['""', '"."', '"a\\x00b"', "a" * 5000, '"~"', "specs", "file:///etc/passwd", "loop.yaml", "/dev/zero"],
)
def test_odd_extends_values_are_located_errors(project: Path, value: str) -> None:
    (project / "specs" / "loop.yaml").symlink_to(project / "specs" / "loop2.yaml")
    (project / "specs" / "loop2.yaml").symlink_to(project / "specs" / "loop.yaml")
    (project / "specs" / "thin.yaml").write_text(f"network: t\nextends: {value}\n")
    with deadline():
        res = netdsl.check("specs/thin.yaml")
    (err,) = res.errors
    assert err.loc.line == 2 and err.loc.path == ("extends",)
    assert len(err.message) < 300


def test_build_takes_root_too(project: Path) -> None:
    (project.parent / "outside" / "base.yaml").write_text(BASE)
    (project / "specs" / "thin.yaml").write_text(thin("../../outside/base.yaml"))
    with pytest.raises(netdsl.NetdslError, match="outside the project"):
        netdsl.build("specs/thin.yaml")
    gm = netdsl.build("specs/thin.yaml", root=project.parent / "outside", seed=0)
    assert tuple(gm.state_dict()["fc.weight"].shape) == (8, 4)  # variant wide

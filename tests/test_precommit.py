"""The pre-commit hook of .pre-commit-hooks.yaml, run by the real pre-commit: a scratch project whose
.pre-commit-config.yaml points at a git copy of this working tree. pre-commit builds the hook's venv
and pip installs netdsl into it (the base install, no torch), so this test is slow (tens of
seconds, pip reaching PyPI for pydantic, PyYAML, networkx and hatchling)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: left out of the copy at the root only (local environments and outputs)
TOP_LEVEL = {".venv", "venv", ".git", "build", "dist", "out"}
#: left out of the copy everywhere (with *.egg-info and the saved modules *.pt, *.pt2 of .gitignore)
CACHES = {
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".import_linter_cache",
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "netdsl tests",
    "GIT_AUTHOR_EMAIL": "tests@netdsl.invalid",
    "GIT_COMMITTER_NAME": "netdsl tests",
    "GIT_COMMITTER_EMAIL": "tests@netdsl.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",  # neither the machine's nor the user's git settings (hooks, signing)
    "GIT_CONFIG_GLOBAL": os.devnull,
}

GOOD = """\
network: good
inputs:
  x: [B, 8]
nodes:
  fc: {op: linear, in: x, out_features: 4}
  act: {op: relu, in: fc}
outputs: {y: act}
"""
BAD = """\
network: bad
inputs:
  x: [B, 8]
nodes:
  fc: {op: linaer, in: x, out_features: 4}
outputs: {y: fc}
"""
#: a YAML file outside specs/ and blocks/ that is no spec: the hook's default `files:` leaves it out
OTHER = "name: ci\non: [push]\njobs: {}\n"


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in CACHES or n.endswith((".egg-info", ".pt", ".pt2"))}
    if Path(folder).resolve() == ROOT:
        skip |= TOP_LEVEL & set(names)
    return skip


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def _commit_all(repo: Path) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "snapshot")
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This working tree (tracked and untracked files, no venv, .git or caches) as a git repo with
    one commit: the hook repository pre-commit installs from."""
    repo = tmp_path_factory.mktemp("hook") / "netdsl"
    shutil.copytree(ROOT, repo, ignore=_ignore, symlinks=True)
    assert (repo / ".pre-commit-hooks.yaml").is_file()
    _git(repo, "init", "-q")
    return repo, _commit_all(repo)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, hook_repo: tuple[Path, str]) -> Iterator[Path]:
    """A user's project: the hook configured, a valid spec in specs/ and a YAML file that is no spec."""
    repo, rev = hook_repo
    proj = tmp_path_factory.mktemp("project")
    (proj / "specs").mkdir()
    (proj / "specs" / "good.yaml").write_text(GOOD)
    (proj / "workflow.yaml").write_text(OTHER)
    (proj / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {repo}\n    rev: {rev}\n    hooks:\n      - id: netdsl-validate\n"
    )
    _git(proj, "init", "-q")
    _commit_all(proj)
    yield proj


def _pre_commit(proj: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "netdsl-validate", "--verbose", *args],
        cwd=proj,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_hook_definition() -> None:
    """One hook, `netdsl validate` in a python venv, on YAML files under specs/ or blocks/ (the
    default `files:`, which users override)."""
    import re

    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["netdsl-validate"]
    (hook,) = hooks
    assert hook["entry"] == "netdsl validate" and hook["language"] == "python"
    assert hook["types"] == ["yaml"]
    files = re.compile(hook["files"])
    for path in ("specs/net.yaml", "blocks/attn.yml", "models/specs/net.yaml"):
        assert files.search(path), path
    for path in ("workflow.yaml", ".github/workflows/ci.yaml", "myspecs.yaml", "conf/blocksize.yaml"):
        assert not files.search(path), path


@pytest.mark.slow
def test_hook_passes_good_spec_and_fails_bad_one(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "pre-commit-home"
    ok = _pre_commit(project, home, "--all-files")
    out = ok.stdout + ok.stderr
    assert ok.returncode == 0, out
    assert "1 of 1 spec file(s) valid" in out, out  # good.yaml checked, workflow.yaml left out
    assert "Passed" in out, out

    (project / "specs" / "bad.yaml").write_text(BAD)
    _git(project, "add", "specs/bad.yaml")
    bad = _pre_commit(project, home, "--files", "specs/bad.yaml")
    out = bad.stdout + bad.stderr
    assert bad.returncode == 1, out
    assert "Failed" in out, out
    assert "specs/bad.yaml:5:12: error: unknown op 'linaer'" in out, out
    assert "did you mean 'linear'?" in out, out

    # the hook's venv has netdsl's base install only: no torch was installed for it
    venvs = [p for p in home.rglob("site-packages") if (p / "netdsl").is_dir()]
    assert venvs, f"no hook venv with netdsl under {home}"
    assert not any((p / "torch").exists() for p in venvs), venvs

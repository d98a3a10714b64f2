"""The hostile corpus: input built to break netdsl, and exactly what netdsl answers.

Two kinds of cases, each with a golden file of its output:

- **Plain files**, ``tests/hostile/cases/NNN_name.yaml``. The first line is a comment saying what
  is hostile; further comment lines at the top may give directives:

  - ``# args: build {spec} --dim H=0``: the command (``{spec}``: the case's path, ``{data}``:
    ``tests/hostile/data``); default ``validate {spec}``;
  - ``# exit: N``: the exit code (default 1: an error in a spec; 2: a usage error; 0: valid);
  - ``# at: LINE`` or ``# at: TEXT``: an error must be located at that line of the case (a number,
    or the first non-comment line holding TEXT), e.g. the ``extends:`` line of a spec whose
    reference is refused;
  - ``# unlocated: ok``: a diagnostic may name a file without a line (the file itself cannot be
    read, or a memory refusal about the whole network);
  - ``# secret-file: PATH``: no line of that file may appear in any output;
  - ``# env: NAME=VALUE``, ``# skip-if: cuda``, ``# seconds: N`` (the time limit).

  The golden file is ``NNN_name.expected`` next to the case. Commands run from the repository
  root, in-process, under a watchdog (a hang fails the test instead of blocking it).

- **Cases made at test time** (:data:`TABLE`): what cannot be committed (FIFOs, symlinks, files
  outside the project, unreadable files, folders named like files). Each lays out a temporary
  folder with a project (``proj/``, holding ``pyproject.toml``) and secrets outside it
  (``secret/shadow``, ``secret/base.yaml``, holding this session's random token), then runs a
  command in ``proj/``. Goldens: ``tests/hostile/table/<name>.expected``, the temporary folder
  masked as ``<tmp>``.

Invariants checked for every case, whatever the wording: the documented exit code; no traceback,
no internal error, no internal name, no raw control character; every diagnostic located
``file:line:col`` (unless ``unlocated``); the documented location; at most 20 s; the secrets
(this session's token, ``PLANTED-SECRET-...`` of ``tests/hostile/data``, the environment of
``/proc/self/environ``, the lines of a ``secret-file``) never printed. For file-reference cases
``validate`` also runs with ``--format json`` and ``--format github``, held to the same rules.

``test_validate_one_folder_of_every_case`` copies every plain case into one folder, adds FIFOs
and symlinks, and runs ``netdsl validate`` on it in a subprocess with a timeout, in each format.

Rewrite the goldens after a deliberate change with::

    NETDSL_UPDATE_GOLDENS=1 python -m pytest tests/test_hostile_corpus.py

and review the diff (a golden is never written for a run that hangs or prints a traceback).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .hostile.harness import (
    BASE,
    CASES_DIR,
    DATA_DIR,
    NET,
    ROOT,
    SLOW_SECONDS,
    TABLE_GOLDEN_DIR,
    TOKEN,
    TOKEN_ENV,
    Big,
    Dir,
    Entry,
    Expect,
    Fifo,
    Link,
    Run,
    Unreadable,
    block_file,
    check_github,
    check_json,
    check_text,
    cuda_available,
    display,
    golden_text,
    line_of,
    make_layout,
    run_cli,
    secret_lines,
    standard_entries,
    temporary_root,
    thin,
    uses,
)

UPDATE = os.environ.get("NETDSL_UPDATE_GOLDENS") == "1"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))
DIRECTIVE_RE = re.compile(r"^#\s*(args|exit|at|unlocated|secret-file|env|skip-if|seconds):\s*(.*?)\s*$")
NAME_RE = re.compile(r"\d{3}_[a-z0-9_]+")


# ============================================================================= plain-file cases
def _decode(raw: bytes) -> str:
    """The text of a case file whatever its encoding (some cases are UTF-16, UTF-32 or Latin-1)."""
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec)
    if raw[:2] == b"#\x00":  # UTF-16-LE without a byte-order mark
        return raw.decode("utf-16-le", "replace")
    return raw.decode("utf-8", "replace").removeprefix("\ufeff")


@dataclass(frozen=True)
class FileCase:
    path: Path
    doc: str
    argv: tuple[str, ...]
    expect: Expect
    env: Mapping[str, str] = field(default_factory=dict)
    skip: str | None = None
    #: takes seconds by design (a near-cap spec, with a `# seconds:` limit of its own)
    slow: bool = False

    @property
    def id(self) -> str:
        return self.path.stem

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def all_formats(self) -> bool:
        """A file-reference case of `validate`: checked in the json and github formats too."""
        name = self.id
        refs = any(w in name for w in ("extends", "block_name", "blocks_path", "secret"))
        return self.argv[0] == "validate" and (refs or bool(self.expect.secrets))


def parse_case(path: Path) -> FileCase:
    text = _decode(path.read_bytes())
    lines = text.splitlines()
    assert lines and lines[0].startswith("#"), f"{path.name}: the first line must say what is hostile"
    rel = path.relative_to(ROOT).as_posix()
    data = DATA_DIR.relative_to(ROOT).as_posix()
    args = f"validate {rel}"
    exit_code = 1
    at: tuple[str, int] | None = None
    unlocated = False
    secrets: list[str] = []
    env: dict[str, str] = {}
    skip: str | None = None
    seconds: float | None = None
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        m = DIRECTIVE_RE.match(line)
        if m is None:
            continue
        key, value = m.groups()
        if key == "args":
            args = value.replace("{spec}", rel).replace("{data}", data)
        elif key == "exit":
            exit_code = int(value)
        elif key == "at":
            at = (rel, int(value) if value.isdigit() else line_of(text, value))
        elif key == "unlocated":
            unlocated = value == "ok"
        elif key == "secret-file":
            secrets += secret_lines(value if value.startswith("/") else ROOT / value)
        elif key == "env":
            name, _, v = value.partition("=")
            env[name] = v
        elif key == "skip-if" and value == "cuda" and cuda_available():
            skip = "this machine has CUDA"
        elif key == "seconds":
            seconds = float(value)
    argv = tuple(args.split())
    expect = Expect(
        exit=exit_code,
        at=at,
        unlocated_ok=unlocated,
        secrets=tuple(secrets),
        seconds=seconds if seconds is not None else SLOW_SECONDS,
        validate=argv[0] == "validate",
    )
    return FileCase(path, lines[0].lstrip("# ").strip(), argv, expect, env, skip, slow=seconds is not None)


FILE_CASES = [parse_case(p) for p in CASE_FILES]
_RUNS: dict[tuple[str, str], Run] = {}


def run_file_case(case: FileCase, fmt: str = "text") -> Run:
    """The run of a case (once per session and format; shared by the golden and invariant tests)."""
    if case.skip:
        pytest.skip(case.skip)
    key = (case.id, fmt)
    if key not in _RUNS:
        argv = case.argv if fmt == "text" else (*case.argv, "--format", fmt)
        _RUNS[key] = run_cli(argv, cwd=ROOT, env=case.env)
    return _RUNS[key]


def _compare_golden(golden: Path, actual: str, what: str) -> None:
    if UPDATE:
        assert "Traceback" not in actual, f"not writing a golden with a traceback: {golden.name}"
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}: run with NETDSL_UPDATE_GOLDENS=1 and review it"
    expected = golden.read_text(encoding="utf-8")
    assert actual == expected, (
        f"the output of {what} differs from {golden.relative_to(ROOT)}; if the change is intended, "
        f"regenerate with NETDSL_UPDATE_GOLDENS=1 and review the diff\n--- actual\n{actual[:3000]}"
    )


def test_corpus_is_large_and_well_formed() -> None:
    names = [c.id for c in FILE_CASES]
    assert len(FILE_CASES) >= 100, len(FILE_CASES)
    assert len(FILE_CASES) + len(TABLE) >= 150
    bad = [n for n in names if not NAME_RE.fullmatch(n)]
    assert not bad, f"case names must be NNN_lower_case: {bad}"
    numbers = [n[:3] for n in names]
    assert len(set(numbers)) == len(numbers), "two cases share a number"
    table_names = [c.name for c in TABLE]
    assert len(set(table_names)) == len(table_names), "two table cases share a name"
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in table_names)


def test_no_orphan_goldens() -> None:
    cases = {c.id for c in FILE_CASES}
    orphans = [p.name for p in CASES_DIR.glob("*.expected") if p.stem not in cases]
    table = {c.name for c in TABLE}
    orphans += [p.name for p in TABLE_GOLDEN_DIR.glob("*.expected") if p.stem not in table]
    assert not orphans, f"golden files without a case: {orphans}"


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_file_case_golden(case: FileCase) -> None:
    """The output is exactly the golden file (regenerate with NETDSL_UPDATE_GOLDENS=1)."""
    run = run_file_case(case)
    _compare_golden(
        case.path.with_suffix(".expected"), golden_text(run), f"`netdsl {' '.join(case.argv)[:200]}`"
    )


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
def test_file_case_invariants(case: FileCase) -> None:
    """What every answer to hostile input satisfies, whatever its wording."""
    check_text(run_file_case(case), case.expect)
    if case.all_formats:
        report = check_json(run_file_case(case, "json"), case.expect, files=[case.rel])
        check_github(run_file_case(case, "github"), case.expect, n_errors=int(report["errors"]))


# ============================================================================= cases made at test time


@dataclass(frozen=True)
class TableCase:
    """A case laid out at test time: ``files`` (relative to a temporary root ``T``; the project is
    ``T/proj``), the command ``argv`` run in ``T/<cwd>`` (``{T}`` stands for the root)."""

    name: str
    doc: str
    files: Mapping[str, Entry]
    argv: tuple[str, ...]
    exit: int = 1
    #: an error located at the line of ``files[at[0]]`` holding ``at[1]``
    at: tuple[str, str] | None = None
    cwd: str = "proj"
    env: Mapping[str, str] = field(default_factory=dict)
    unlocated_ok: bool = False
    marker: str | None = "pyproject.toml"
    #: lines of this file (absolute, or relative to the root T) must never be printed
    secret_file: str | None = None
    needs_unprivileged: bool = False
    needs_no_cuda: bool = False

    def skip_reason(self) -> str | None:
        if self.needs_unprivileged and os.geteuid() == 0:
            return "runs as root, who can read a mode-000 file: needs an unprivileged user"
        if self.needs_no_cuda and cuda_available():
            return "this machine has CUDA"
        return None


def T(name: str, doc: str, files: Mapping[str, Entry], *argv: str, **kw: object) -> TableCase:
    return TableCase(name, doc, files, tuple(argv), **kw)  # type: ignore[arg-type]


S = "proj/specs"  # the folder of the user's specs
AT_EXT = (f"{S}/net.yaml", "extends:")
AT_BLOCK = (f"{S}/net.yaml", "block: ")
V = ("validate", "specs/net.yaml")

TABLE: list[TableCase] = [
    # ---------------------------------------------------------------- extends: outside the project
    T(
        "extends_abs_outside_shadow",
        "extends: the absolute path of a shadow-like file outside the project",
        {f"{S}/net.yaml": thin("{T}/secret/shadow")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_abs_outside_valid_spec",
        "extends: a valid network outside the project: refused all the same",
        {f"{S}/net.yaml": thin("{T}/secret/base.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_relative_escape",
        "extends: ../../secret/base.yaml climbs out of the project",
        {f"{S}/net.yaml": thin("../../secret/base.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_relative_escape_via_subdir",
        "extends: a path that goes down, then up and out",
        {f"{S}/net.yaml": thin("../specs/../../secret/shadow")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_to_outside",
        "extends: a symlink inside the project whose target is outside",
        {f"{S}/link.yaml": Link("{T}/secret/base.yaml"), f"{S}/net.yaml": thin("link.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_relative_symlink_to_outside",
        "extends: a relative symlink that climbs out of the project",
        {f"{S}/link.yaml": Link("../../secret/shadow"), f"{S}/net.yaml": thin("link.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_chain_to_outside",
        "extends: a chain of three symlinks inside, the last pointing outside",
        {
            f"{S}/l3.yaml": Link("{T}/secret/base.yaml"),
            f"{S}/l2.yaml": Link("l3.yaml"),
            f"{S}/l1.yaml": Link("l2.yaml"),
            f"{S}/net.yaml": thin("l1.yaml"),
        },
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_chain_inside_ok",
        "extends: a chain of symlinks that stays inside the project: allowed",
        {
            f"{S}/base.yaml": BASE,
            f"{S}/l2.yaml": Link("base.yaml"),
            f"{S}/l1.yaml": Link("l2.yaml"),
            f"{S}/net.yaml": thin("l1.yaml"),
        },
        *V,
        exit=0,
    ),
    T(
        "extends_symlink_dangling",
        "extends: a symlink to nothing",
        {f"{S}/link.yaml": Link("gone.yaml"), f"{S}/net.yaml": thin("link.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_loop",
        "extends: two symlinks pointing at each other (ELOOP)",
        {f"{S}/l1.yaml": Link("l2.yaml"), f"{S}/l2.yaml": Link("l1.yaml"), f"{S}/net.yaml": thin("l1.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_self_loop",
        "extends: a symlink pointing at itself",
        {f"{S}/l.yaml": Link("l.yaml"), f"{S}/net.yaml": thin("l.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlinked_folder_outside",
        "extends: a file inside a symlinked folder whose target is outside",
        {
            "outside/base.yaml": BASE,
            f"{S}/shared": Link("{T}/outside"),
            f"{S}/net.yaml": thin("shared/base.yaml"),
        },
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlinked_tree_inside_ok",
        "extends: through a symlinked folder whose target stays inside: allowed",
        {
            "proj/real/base.yaml": BASE,
            f"{S}/alias": Link("../real"),
            f"{S}/net.yaml": thin("alias/base.yaml"),
        },
        *V,
        exit=0,
    ),
    T(
        "extends_dotdot_inside_ok",
        "extends: ../shared/base.yaml inside the project: allowed",
        {"proj/shared/base.yaml": BASE, f"{S}/net.yaml": thin("../shared/base.yaml")},
        *V,
        exit=0,
    ),
    T(
        "extends_abs_inside_ok",
        "extends: the absolute path of a file inside the project: allowed",
        {f"{S}/base.yaml": BASE, f"{S}/net.yaml": thin("{T}/proj/specs/base.yaml")},
        *V,
        exit=0,
    ),
    T(
        "extends_symlink_to_dev_zero",
        "extends: a symlink to /dev/zero",
        {f"{S}/zero.yaml": Link("/dev/zero"), f"{S}/net.yaml": thin("zero.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_to_proc_environ",
        "extends: a symlink to /proc/self/environ",
        {f"{S}/env.yaml": Link("/proc/self/environ"), f"{S}/net.yaml": thin("env.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_to_etc_shadow",
        "extends: a symlink to /etc/shadow",
        {f"{S}/shadow.yaml": Link("/etc/shadow"), f"{S}/net.yaml": thin("shadow.yaml")},
        *V,
        at=AT_EXT,
        secret_file="/etc/shadow",
    ),
    T(
        "extends_symlink_to_etc_passwd",
        "extends: a symlink to /etc/passwd",
        {f"{S}/passwd.yaml": Link("/etc/passwd"), f"{S}/net.yaml": thin("passwd.yaml")},
        *V,
        at=AT_EXT,
        secret_file="/etc/passwd",
    ),
    # ---------------------------------------------------------------- extends: files that are not regular
    T(
        "extends_fifo",
        "extends: a FIFO inside the project (opening it would block forever)",
        {f"{S}/base.yaml": Fifo(), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_symlink_to_fifo",
        "extends: a symlink to a FIFO",
        {f"{S}/pipe": Fifo(), f"{S}/base.yaml": Link("pipe"), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_folder_named_yaml",
        "extends: a folder named base.yaml",
        {f"{S}/base.yaml": Dir(), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_unreadable",
        "extends: a file with mode 000",
        {f"{S}/base.yaml": Unreadable(BASE), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        at=AT_EXT,
        needs_unprivileged=True,
    ),
    T(
        "extends_too_large",
        "extends: a file of 600 KB (the limit is 512 KB)",
        {f"{S}/base.yaml": Big(600_000), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        at=AT_EXT,
    ),
    T(
        "extends_fifo_json",
        "extends: a FIFO, with --format json",
        {f"{S}/base.yaml": Fifo(), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        "--format",
        "json",
    ),
    T(
        "extends_fifo_github",
        "extends: a FIFO, with --format github",
        {f"{S}/base.yaml": Fifo(), f"{S}/net.yaml": thin("base.yaml")},
        *V,
        "--format",
        "github",
    ),
    T(
        "extends_fifo_build",
        "extends: a FIFO, through `netdsl build`",
        {f"{S}/base.yaml": Fifo(), f"{S}/net.yaml": thin("base.yaml")},
        "build",
        "specs/net.yaml",
        at=AT_EXT,
    ),
    # ---------------------------------------------------------------- the project root
    T(
        "extends_outside_allowed_by_root_flag",
        "extends: a file outside the project, allowed by --root",
        {"outside/base.yaml": BASE, f"{S}/net.yaml": thin("../../outside/base.yaml")},
        *V,
        "--root",
        "{T}",
        exit=0,
    ),
    T(
        "extends_outside_allowed_by_root_env",
        "extends: a file outside the project, allowed by NETDSL_ROOT",
        {"outside/base.yaml": BASE, f"{S}/net.yaml": thin("../../outside/base.yaml")},
        *V,
        exit=0,
        env={"NETDSL_ROOT": "{T}"},
    ),
    T(
        "extends_outside_root_flag_elsewhere",
        "--root widens to another folder: the target is still outside",
        {"outside/base.yaml": BASE, "other/keep.txt": "", f"{S}/net.yaml": thin("../../outside/base.yaml")},
        *V,
        "--root",
        "{T}/other",
        at=AT_EXT,
    ),
    T(
        "project_root_by_git_folder",
        "the project root is found by its .git folder: a reference inside it works",
        {"proj/shared/base.yaml": BASE, "proj/a/b/net.yaml": thin("../../shared/base.yaml")},
        "validate",
        "a/b/net.yaml",
        exit=0,
        marker=".git",
    ),
    T(
        "project_root_by_git_escape",
        "the project root is found by its .git folder: a reference above it is refused",
        {"proj/a/net.yaml": thin("../../secret/base.yaml")},
        "validate",
        "a/net.yaml",
        at=("proj/a/net.yaml", "extends:"),
        marker=".git",
    ),
    T(
        "no_project_root_cwd_escape",
        "no pyproject.toml or .git: the root is the working directory; above it is refused",
        {"work/net.yaml": thin("../secret/base.yaml")},
        "validate",
        "net.yaml",
        cwd="work",
        at=("work/net.yaml", "extends:"),
        marker=None,
    ),
    # ---------------------------------------------------------------- the named spec itself
    T(
        "spec_is_fifo",
        "the spec named on the command line is a FIFO",
        {f"{S}/net.yaml": Fifo()},
        *V,
        unlocated_ok=True,
    ),
    T(
        "spec_is_symlink_to_fifo",
        "the spec named on the command line is a symlink to a FIFO",
        {f"{S}/pipe": Fifo(), f"{S}/net.yaml": Link("pipe")},
        *V,
        unlocated_ok=True,
    ),
    T(
        "spec_is_fifo_build",
        "`netdsl build` of a FIFO",
        {f"{S}/net.yaml": Fifo()},
        "build",
        "specs/net.yaml",
        unlocated_ok=True,
    ),
    T(
        "spec_is_fifo_shapes",
        "`netdsl shapes` of a FIFO",
        {f"{S}/net.yaml": Fifo()},
        "shapes",
        "specs/net.yaml",
        unlocated_ok=True,
    ),
    T(
        "spec_is_fifo_diagram",
        "`netdsl diagram` of a FIFO",
        {f"{S}/net.yaml": Fifo()},
        "diagram",
        "specs/net.yaml",
        "-f",
        "dot",
        unlocated_ok=True,
    ),
    T(
        "spec_is_folder_build",
        "`netdsl build` of a folder named net.yaml",
        {f"{S}/net.yaml": Dir()},
        "build",
        "specs/net.yaml",
        unlocated_ok=True,
    ),
    T(
        "spec_unreadable",
        "the spec named on the command line has mode 000",
        {f"{S}/net.yaml": Unreadable(NET)},
        *V,
        unlocated_ok=True,
        needs_unprivileged=True,
    ),
    T(
        "spec_too_large",
        "the spec named on the command line has 600 KB",
        {f"{S}/net.yaml": Big(600_000)},
        *V,
        unlocated_ok=True,
    ),
    T("spec_dev_zero", "`netdsl validate /dev/zero`", {}, "validate", "/dev/zero", unlocated_ok=True),
    T(
        "spec_dev_stdin",
        "`netdsl validate /dev/stdin` (would wait for input)",
        {},
        "validate",
        "/dev/stdin",
        unlocated_ok=True,
    ),
    T(
        "spec_dangling_symlink",
        "the spec named on the command line is a dangling symlink",
        {f"{S}/net.yaml": Link("gone.yaml")},
        *V,
        unlocated_ok=True,
    ),
    # ---------------------------------------------------------------- folders given to validate
    T(
        "validate_folder_with_fifo",
        "validate a folder holding a valid spec and a FIFO named like a spec",
        {f"{S}/good.yaml": NET, f"{S}/pipe.yaml": Fifo()},
        "validate",
        "specs",
        unlocated_ok=True,
    ),
    T(
        "validate_folder_with_symlink_to_secret",
        "validate a folder holding a symlink to a file outside it",
        {f"{S}/good.yaml": NET, f"{S}/leak.yaml": Link("{T}/secret/shadow")},
        "validate",
        "specs",
        unlocated_ok=True,
    ),
    T(
        "validate_folder_with_symlink_to_etc_shadow",
        "validate a folder holding a symlink to /etc/shadow",
        {f"{S}/good.yaml": NET, f"{S}/shadow.yaml": Link("/etc/shadow")},
        "validate",
        "specs",
        unlocated_ok=True,
        secret_file="/etc/shadow",
    ),
    T(
        "validate_folder_with_dangling_symlink",
        "validate a folder holding a dangling symlink named like a spec",
        {f"{S}/good.yaml": NET, f"{S}/gone.yaml": Link("nowhere.yaml")},
        "validate",
        "specs",
        unlocated_ok=True,
    ),
    T(
        "validate_folder_with_symlink_loop",
        "validate a folder holding a symlink to itself (a loop for a walker)",
        {f"{S}/good.yaml": NET, f"{S}/loop": Link(".")},
        "validate",
        "specs",
        exit=0,
    ),
    T(
        "validate_folder_with_folder_named_yaml",
        "validate a folder holding a folder named sub.yaml",
        {f"{S}/good.yaml": NET, f"{S}/sub.yaml/inner.yaml": NET},
        "validate",
        "specs",
        exit=0,
    ),
    T(
        "validate_folder_with_fifo_json",
        "validate a folder holding a FIFO, with --format json",
        {f"{S}/good.yaml": NET, f"{S}/pipe.yaml": Fifo()},
        "validate",
        "specs",
        "--format",
        "json",
        unlocated_ok=True,
    ),
    T(
        "validate_symlinked_folder_named_ok",
        "validate names a symlink to a folder outside the project: trusted",
        {"outside/good.yaml": NET, "proj/linked": Link("{T}/outside")},
        "validate",
        "linked",
        exit=0,
    ),
    T(
        "validate_folder_without_specs",
        "validate a folder that holds no spec file",
        {"proj/empty/notes.txt": "nothing\n"},
        "validate",
        "empty",
        exit=2,
    ),
    # ---------------------------------------------------------------- block folders
    T(
        "blocks_path_fifo_used",
        "a block file that is a FIFO in a --blocks-path folder, used by the spec",
        {"proj/blk/evil.yaml": Fifo(), f"{S}/net.yaml": uses("evil")},
        *V,
        "--blocks-path",
        "blk",
        at=AT_BLOCK,
    ),
    T(
        "blocks_env_fifo_used",
        "a block file that is a FIFO in a NETDSL_BLOCKS_PATH folder, used by the spec",
        {"proj/blk/evil.yaml": Fifo(), f"{S}/net.yaml": uses("evil")},
        *V,
        at=AT_BLOCK,
        env={"NETDSL_BLOCKS_PATH": "{T}/proj/blk"},
    ),
    T(
        "blocks_list_with_fifo",
        "`netdsl blocks` with a FIFO in the --blocks-path folder",
        {"proj/blk/evil.yaml": Fifo(), "proj/blk/good.yaml": block_file("good")},
        "blocks",
        "--blocks-path",
        "blk",
        unlocated_ok=True,
    ),
    T(
        "blocks_show_fifo",
        "`netdsl blocks evil` where evil.yaml is a FIFO",
        {"proj/blk/evil.yaml": Fifo()},
        "blocks",
        "evil",
        "--blocks-path",
        "blk",
        unlocated_ok=True,
    ),
    T(
        "blocks_path_symlink_to_secret_used",
        "a block file that is a symlink to a secret outside, used by the spec",
        {"proj/blk/evil.yaml": Link("{T}/secret/shadow"), f"{S}/net.yaml": uses("evil")},
        *V,
        "--blocks-path",
        "blk",
        at=AT_BLOCK,
    ),
    T(
        "blocks_path_symlink_to_etc_passwd_used",
        "a block file that is a symlink to /etc/passwd, used by the spec",
        {"proj/blk/evil.yaml": Link("/etc/passwd"), f"{S}/net.yaml": uses("evil")},
        *V,
        "--blocks-path",
        "blk",
        at=AT_BLOCK,
        secret_file="/etc/passwd",
    ),
    T(
        "blocks_path_symlink_to_outside_spec_used",
        "a block file that is a symlink to a valid block outside",
        {
            "outside/evil.yaml": block_file("evil"),
            "proj/blk/evil.yaml": Link("{T}/outside/evil.yaml"),
            f"{S}/net.yaml": uses("evil"),
        },
        *V,
        "--blocks-path",
        "blk",
        at=AT_BLOCK,
    ),
    T(
        "blocks_list_with_symlink_to_secret",
        "`netdsl blocks` with a symlink to a secret in the folder",
        {"proj/blk/evil.yaml": Link("{T}/secret/shadow")},
        "blocks",
        "--blocks-path",
        "blk",
        unlocated_ok=True,
    ),
    T(
        "blocks_show_symlink_to_etc_shadow",
        "`netdsl blocks evil` where evil.yaml is a symlink to /etc/shadow",
        {"proj/blk/evil.yaml": Link("/etc/shadow")},
        "blocks",
        "evil",
        "--blocks-path",
        "blk",
        unlocated_ok=True,
        secret_file="/etc/shadow",
    ),
    T(
        "blocks_path_symlink_into_other_trusted_ok",
        "a block symlink into another --blocks-path folder: allowed",
        {
            "other/good.yaml": block_file("good"),
            "proj/blk/alias.yaml": Link("{T}/other/good.yaml"),
            "proj/blk/keep.yaml": block_file("keep"),
            f"{S}/net.yaml": uses("keep"),
        },
        *V,
        "--blocks-path",
        "blk",
        "--blocks-path",
        "{T}/other",
        exit=0,
    ),
    T(
        "blocks_path_folder_is_symlink_ok",
        "--blocks-path names a symlink to a folder outside: the user named it",
        {
            "outside_blocks/good.yaml": block_file("good"),
            "proj/blk": Link("{T}/outside_blocks"),
            f"{S}/net.yaml": uses("good"),
        },
        *V,
        "--blocks-path",
        "blk",
        exit=0,
    ),
    T(
        "blocks_path_is_fifo",
        "--blocks-path names a FIFO",
        {"proj/blk": Fifo(), f"{S}/net.yaml": NET},
        *V,
        "--blocks-path",
        "blk",
        exit=2,
    ),
    T(
        "blocks_path_folder_named_yaml_used",
        "a folder named evil.yaml in the blocks folder, used as a block",
        {"proj/blk/evil.yaml": Dir(), f"{S}/net.yaml": uses("evil")},
        *V,
        "--blocks-path",
        "blk",
        at=AT_BLOCK,
    ),
    T(
        "blocks_path_unreadable_used",
        "a block file with mode 000, used by the spec",
        {"proj/blk/evil.yaml": Unreadable(block_file("evil")), f"{S}/net.yaml": uses("evil")},
        *V,
        "--blocks-path",
        "blk",
        at=AT_BLOCK,
        needs_unprivileged=True,
    ),
    # ---------------------------------------------------------------- outputs
    T(
        "out_existing_directory",
        "`build --out` names an existing folder",
        {f"{S}/net.yaml": NET, "proj/out.pt": Dir()},
        "build",
        "specs/net.yaml",
        "--out",
        "out.pt",
        exit=2,
    ),
    T(
        "out_existing_directory_pt2",
        "`build --out` names an existing folder with the .pt2 suffix",
        {f"{S}/net.yaml": NET, "proj/out.pt2": Dir()},
        "build",
        "specs/net.yaml",
        "--out",
        "out.pt2",
        exit=2,
    ),
    T(
        "diagram_output_is_directory",
        "`diagram -o` names an existing folder",
        {f"{S}/net.yaml": NET, "proj/d.dot": Dir()},
        "diagram",
        "specs/net.yaml",
        "-o",
        "d.dot",
        exit=2,
    ),
]
TABLE_BY_NAME = {c.name: c for c in TABLE}


@dataclass(frozen=True)
class TableRun:
    run: Run
    expect: Expect
    formats: dict[str, Run]


_TABLE_RUNS: dict[str, TableRun] = {}


def run_table_case(case: TableCase) -> TableRun:
    """Lay the case out in a fresh temporary folder, run it (and, for validate, its json and github
    formats), remove the folder. Cached per session."""
    reason = case.skip_reason()
    if reason:
        pytest.skip(reason)
    if case.name in _TABLE_RUNS:
        return _TABLE_RUNS[case.name]
    with temporary_root() as root:
        entries = {**standard_entries(case.marker), **case.files}
        make_layout(root, entries)
        cwd = root / case.cwd
        cwd.mkdir(parents=True, exist_ok=True)
        argv = tuple(a.replace("{T}", str(root)) for a in case.argv)
        env = {k: v.replace("{T}", str(root)) for k, v in case.env.items()}
        at = None
        if case.at is not None:
            text = entries[case.at[0]]
            assert isinstance(text, str)
            at = (display(root / case.at[0], cwd), line_of(text, case.at[1]))
        secrets = (
            secret_lines(case.secret_file if case.secret_file.startswith("/") else root / case.secret_file)
            if case.secret_file
            else []
        )
        fmt_given = "--format" in argv
        expect = Expect(
            exit=case.exit,
            at=at,
            unlocated_ok=case.unlocated_ok,
            secrets=tuple(secrets),
            validate=argv[0] == "validate" and not fmt_given,
        )
        run = run_cli(argv, cwd=cwd, env=env)
        formats: dict[str, Run] = {}
        if argv[0] == "validate" and not fmt_given:
            for fmt in ("json", "github"):
                formats[fmt] = run_cli((*argv, "--format", fmt), cwd=cwd, env=env)
        masked = TableRun(_masked(run, root), expect, {k: _masked(v, root) for k, v in formats.items()})
    _TABLE_RUNS[case.name] = masked
    return masked


def _masked(run: Run, root: Path) -> Run:
    """The run with the temporary root in its output masked (for goldens); invariants use this too,
    so a leak of the secret still shows (the token is not masked here)."""
    out, err = run.out, run.err
    for form in sorted({str(root), os.path.realpath(root)}, key=len, reverse=True):
        out, err = out.replace(form, "<tmp>"), err.replace(form, "<tmp>")
    return Run(run.argv, run.code, out, err, run.seconds)


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_table_case_golden(case: TableCase) -> None:
    result = run_table_case(case)
    _compare_golden(
        TABLE_GOLDEN_DIR / f"{case.name}.expected", golden_text(result.run), f"table case {case.name}"
    )


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_table_case_invariants(case: TableCase) -> None:
    result = run_table_case(case)
    expect = result.expect
    if "json" in result.run.argv:
        check_json(result.run, expect)
    elif "github" in result.run.argv:
        check_github(result.run, expect)
    else:
        check_text(result.run, expect)
    if "json" in result.formats:
        report = check_json(result.formats["json"], expect)
        check_github(result.formats["github"], expect, n_errors=int(report["errors"]))


# ============================================================================= one folder, every case
FOLDER_TIMEOUT = 180.0  # seconds for the three formats together, on a busy machine


def _folder_extras() -> dict[str, Entry]:
    """Entries made at test time in the copied case folder (``c/``) and data folder (``d/``)."""
    c, d = "proj/tests/hostile/cases", "proj/tests/hostile/data"
    return {
        f"{d}/zz_fifo_target.yaml": Fifo(),
        f"{d}/zz_link_outside.yaml": Link("{T}/secret/base.yaml"),
        f"{c}/zz_fifo.yaml": Fifo(),
        f"{c}/zz_link_to_secret.yaml": Link("{T}/secret/shadow"),
        f"{c}/zz_link_to_etc_shadow.yaml": Link("/etc/shadow"),
        f"{c}/zz_link_dangling.yaml": Link("nowhere.yaml"),
        f"{c}/zz_link_to_fifo.yaml": Link("zz_fifo.yaml"),
        f"{c}/zz_extends_fifo.yaml": thin("../data/zz_fifo_target.yaml"),
        f"{c}/zz_extends_link_outside.yaml": thin("../data/zz_link_outside.yaml"),
        f"{c}/zz_extends_abs_secret.yaml": thin("{T}/secret/shadow"),
        f"{c}/zz_folder.yaml": Dir(),
    }


def test_validate_one_folder_of_every_case() -> None:
    """`netdsl validate` of one folder with every plain case, FIFOs and symlinks: every file is
    reported in every format, nothing leaks, no hang (a subprocess with a timeout). The near-cap
    cases that take seconds by design (``# seconds:``) are left out to keep the run short: they are
    checked on their own."""
    with temporary_root() as root:
        proj = root / "proj"
        make_layout(root, standard_entries())
        slow = [c.path.name for c in FILE_CASES if c.slow]  # seconds each, checked on their own
        shutil.copytree(
            CASES_DIR, proj / "tests/hostile/cases", ignore=shutil.ignore_patterns("*.expected", *slow)
        )
        shutil.copytree(DATA_DIR, proj / "tests/hostile/data")
        make_layout(root, _folder_extras())
        folder = proj / "tests/hostile/cases"
        expected = sorted(
            f"tests/hostile/cases/{e.name}"
            for e in os.scandir(folder)
            if Path(e.name).suffix in (".yaml", ".yml") and not e.is_dir(follow_symlinks=False)
        )
        unlocated = {f"tests/hostile/cases/{n}" for n in os.listdir(folder) if n.startswith("zz_")}
        unlocated |= {f"tests/hostile/cases/{c.path.name}" for c in FILE_CASES if c.expect.unlocated_ok}
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
        env[TOKEN_ENV] = TOKEN  # so that /proc/self/environ of netdsl holds the token
        read_end, write_end = os.pipe()  # a standard input that stays open and never sends anything
        try:
            procs = {
                fmt: subprocess.Popen(
                    [sys.executable, "-m", "netdsl", "validate", "tests/hostile/cases", "--format", fmt],
                    cwd=proj,
                    env=env,
                    stdin=read_end,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                )
                for fmt in ("text", "json", "github")
            }
            deadline = time.monotonic() + FOLDER_TIMEOUT
            runs: dict[str, Run] = {}
            for fmt, proc in procs.items():
                t0 = time.monotonic()
                try:
                    out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    for p in procs.values():
                        p.kill()
                        p.communicate()
                    pytest.fail(
                        f"`netdsl validate` of the folder did not finish in {FOLDER_TIMEOUT:.0f} s ({fmt})"
                    )
                runs[fmt] = Run(
                    ("validate", "tests/hostile/cases", "--format", fmt),
                    proc.returncode,
                    out,
                    err,
                    time.monotonic() - t0,
                )
        finally:
            os.close(read_end)
            os.close(write_end)
        secrets = tuple(secret_lines("/etc/shadow") + secret_lines("/etc/passwd"))
    expect = Expect(exit=1, unlocated_ok=True, secrets=secrets, seconds=FOLDER_TIMEOUT, validate=True)

    report = check_json(runs["json"], expect, files=expected)
    for entry in report["files"]:
        for e in entry["errors"]:
            if entry["file"] not in unlocated:
                assert e["line"] >= 1, f"an error without a line in {entry['file']}: {e}"
    failing = sorted({str(entry["file"]) for entry in report["files"] if entry["errors"]})
    for name in expected:
        if "/zz_" in name and "zz_folder" not in name:
            assert name in failing, f"{name} (made at test time) is not reported as an error"

    annotations = check_github(runs["github"], expect, n_errors=int(report["errors"]))
    annotated = {m.group("file") for m in annotations}
    error_files = {str(e["file"]) for entry in report["files"] for e in entry["errors"]}
    assert annotated == error_files, (
        f"annotations name {sorted(annotated ^ error_files)[:10]} differently from the json report"
    )

    text = runs["text"]
    check_text(text, expect)
    summary = re.search(r"^(\d+) of (\d+) spec file\(s\) valid", text.err, re.MULTILINE)
    assert summary is not None and int(summary.group(2)) == len(expected), summary
    missing = sorted(f for f in error_files if f not in text.err)
    assert not missing, f"files with errors not named in the text output: {missing[:10]}"

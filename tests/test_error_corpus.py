"""The error corpus: broken specs and exactly what `netdsl validate` prints for them.

Each case is a pair in ``tests/errors/``:

- ``NN_short_name.yaml``: a small broken spec; its first line is a comment saying what is wrong;
- ``NN_short_name.expected``: the golden output. Its first line is the exit code (``exit: 1``),
  the rest is exactly what ``netdsl validate tests/errors/NN_short_name.yaml`` prints on stderr
  (text format), run from the repository root so file names in messages are relative.

Every ``*.yaml`` in the folder is a case, so a new one is tested the day it lands. To write (or
rewrite) the golden files after a deliberate change to the messages, run::

    NETDSL_UPDATE_GOLDENS=1 python -m pytest tests/test_error_corpus.py

and review the diff of ``tests/errors/*.expected`` before committing it.

``test_golden`` compares the output with the golden file. ``test_invariants`` checks what every
case must satisfy, whatever the wording:

- exit code 1, unless the case's first line documents another code with ``# exit: N``
  (``27_unused_node_warning.yaml``: a warning only, exit 0);
- every diagnostic has a ``file:line:col:`` with a real line of the file (line > 0);
- one diagnostic per error counted in the summary line;
- no Python traceback, no internal error, no internal names (``_Failed``, pydantic model names).

A case whose current output breaks an invariant is listed in ``KNOWN_ISSUES``: its invariant test
is a strict expected failure, so fixing netdsl makes it fail until the entry is removed (and the
golden regenerated). Its golden file holds the current, known-wrong output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from netdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "errors"
CASES = sorted(CASES_DIR.glob("*.yaml"))
UPDATE = os.environ.get("NETDSL_UPDATE_GOLDENS") == "1"

EXIT_RE = re.compile(rb"\A#\s*exit:\s*(\d+)")
HEADER_RE = re.compile(
    r"^(?P<file>\S+?)(?::(?P<line>\d+):(?P<col>\d+))?: (?P<severity>error|warning): ", re.MULTILINE
)
SUMMARY_RE = re.compile(r"^(\d+) of (\d+) spec file\(s\) valid, (\d+) error\(s\)$", re.MULTILINE)
#: names of netdsl's internals that must never reach a user (sentinels, pydantic models, reprs)
INTERNAL_NAMES = re.compile(
    r"_Failed|\b(?:InputDecl|ParamDecl|NodeSpec|RequireRule|BlockDef|BlockFile|NetworkFile)\b|object at 0x"
)

#: Cases whose current output breaks an invariant: their invariant test is an expected failure
#: (strict, so it fails once netdsl is fixed: then drop the entry and regenerate the golden).
KNOWN_ISSUES: dict[str, str] = {}


def expected_exit(case: Path) -> int:
    """The exit code a case documents on its first line (``# exit: 0``), 1 by default."""
    m = EXIT_RE.match(case.read_bytes())
    return int(m.group(1)) if m else 1


def run_validate(case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """``exit: N`` and the stderr of `netdsl validate tests/errors/<case>`, run from the repo root."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NETDSL_DEBUG", raising=False)
    monkeypatch.delenv("NETDSL_BLOCKS_PATH", raising=False)
    capsys.readouterr()
    code = main(["validate", case.relative_to(ROOT).as_posix()])
    out, err = capsys.readouterr()
    assert out == "", f"validate wrote to stdout:\n{out}"
    return f"exit: {code}\n{err}"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    names = [c.stem for c in CASES]
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+", n) for n in names), names
    numbers = [n[:2] for n in names]
    assert len(set(numbers)) == len(numbers), "two cases share a number"


def test_no_orphan_goldens() -> None:
    orphans = [p.name for p in CASES_DIR.glob("*.expected") if not p.with_suffix(".yaml").exists()]
    assert not orphans, f"golden files without a case: {orphans}"


def _golden(case: Path, actual: str) -> str:
    golden = case.with_suffix(".expected")
    if UPDATE:
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}: run with NETDSL_UPDATE_GOLDENS=1 and review it"
    return golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The output is exactly the golden file (regenerate with NETDSL_UPDATE_GOLDENS=1)."""
    actual = run_validate(case, monkeypatch, capsys)
    expected = _golden(case, actual)
    assert actual == expected, (
        f"output of `netdsl validate {case.relative_to(ROOT).as_posix()}` differs from "
        f"{case.stem}.expected; if the change is intended, regenerate with NETDSL_UPDATE_GOLDENS=1 "
        "and review the diff"
    )


def _invariant_params() -> list[object]:
    return [
        pytest.param(c, id=c.stem, marks=pytest.mark.xfail(reason=KNOWN_ISSUES[c.stem], strict=True))
        if c.stem in KNOWN_ISSUES
        else pytest.param(c, id=c.stem)
        for c in CASES
    ]


@pytest.mark.parametrize("case", _invariant_params())
def test_invariants(case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """What every diagnostic must satisfy, whatever its wording."""
    actual = run_validate(case, monkeypatch, capsys)
    first, text = actual.split("\n", 1)
    assert "Traceback" not in text
    assert "internal error" not in text, text
    leaked = INTERNAL_NAMES.search(text)
    assert leaked is None, f"an internal name leaks into the message: {leaked.group(0)!r}\n{text}"

    code = int(first.removeprefix("exit: "))
    assert code == expected_exit(case), f"exit code {code}, documented {expected_exit(case)}:\n{text}"

    rel = case.relative_to(ROOT).as_posix()
    n_lines = max(1, len(case.read_bytes().splitlines()))
    headers = list(HEADER_RE.finditer(text))
    for h in headers:
        assert h.group("line") is not None, f"a diagnostic without line and column: {h.group(0)}"
        assert int(h.group("line")) > 0 and int(h.group("col")) > 0, h.group(0)
        if h.group("file") == rel:
            assert int(h.group("line")) <= n_lines, f"line beyond the end of the file: {h.group(0)}"
    n_errors = sum(1 for h in headers if h.group("severity") == "error")
    summary = SUMMARY_RE.search(text)
    assert summary is not None, f"no summary line:\n{text}"
    assert int(summary.group(3)) == n_errors, f"{summary.group(0)} but {n_errors} diagnostic(s):\n{text}"
    if code == 1:
        assert n_errors >= 1 and summary.group(1) == "0", text
    else:
        assert n_errors == 0, text

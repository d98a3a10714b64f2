"""`netdsl schema` as editors and CI use it: written to a file, checked by `check-jsonschema` (its own
YAML parser and ECMAScript regexes, not netdsl's loader) against every spec in specs/ and blocks/.
One check-jsonschema call for all the files (each call takes seconds); one test per file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted([*(ROOT / "specs").glob("*.yaml"), *(ROOT / "blocks").glob("*.yaml")])


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[torch,dev]'"
    return found


def check_jsonschema(schema: Path, *files: Path) -> dict[str, Any]:
    """check-jsonschema's JSON report (``-o json``): its ``errors``, each with its ``filename``."""
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--schemafile", str(schema), "-o", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    assert not report.get("parse_errors"), report["parse_errors"]
    return report


EDITOR_LINE = "# yaml-language-server: $schema=../netdsl.schema.json\n"

BAD = {
    "attribute typo": (
        "network: n\ninputs: {x: [B, 8]}\nnodes:\n  fc: {op: linear, in: x, out_featurs: 4}\n"
        "outputs: {y: fc}\n",
        "$.nodes.fc",
        "'out_featurs' was unexpected",
    ),
    "unknown op": (
        "network: n\ninputs: {x: [B, 8]}\nnodes:\n  fc: {op: linaer, in: x}\noutputs: {y: fc}\n",
        "$.nodes.fc.op",
        "'linaer' is not one of",
    ),
    "block key typo": (
        "block: b\ninputs: {x: [B, 8]}\nparams: {c: {type: int}}\nrequire: []\n"
        "nodes:\n  a: {op: relu, in: x}\noutput: a\n",
        "$",
        "'output' was unexpected",
    ),
    "alias field type": (
        "network: n\nextends: other.yaml\nvariant: 3\n",
        "$.variant",
        "is not of type 'string'",
    ),
    "neither network nor block": ("inputs: {x: [B, 8]}\n", "$", "'network' is a required property"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`netdsl schema > netdsl.schema.json`; specs/editor.yaml (mlp.yaml with the editor line);
    bad/*.yaml (the structural errors of BAD)."""
    work = tmp_path_factory.mktemp("schema")
    with (work / "netdsl.schema.json").open("w") as out, pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", out)
        assert main(["schema"]) == 0
    (work / "specs").mkdir()
    (work / "specs" / "editor.yaml").write_text(EDITOR_LINE + (ROOT / "specs" / "mlp.yaml").read_text())
    (work / "bad").mkdir()
    for name, (text, _, _) in BAD.items():
        (work / "bad" / f"{name.replace(' ', '_')}.yaml").write_text(text)
    return work


@pytest.fixture(scope="module")
def schema(workdir: Path) -> Path:
    return workdir / "netdsl.schema.json"


@pytest.fixture(scope="module")
def report(workdir: Path) -> dict[str, Any]:
    """One check-jsonschema run over specs/, blocks/ and the files of ``workdir``."""
    extra = [workdir / "specs" / "editor.yaml", *sorted((workdir / "bad").iterdir())]
    return check_jsonschema(workdir / "netdsl.schema.json", *SPECS, *extra)


def errors_of(report: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    return [e for e in report["errors"] if Path(e["filename"]) == path]


def test_specs_and_blocks_are_there() -> None:
    assert len(SPECS) > 40
    assert {p.parent.name for p in SPECS} == {"specs", "blocks"}


def test_schema_is_a_valid_json_schema(schema: Path) -> None:
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--check-metaschema", str(schema)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ids without ".yaml": conftest's SLOW_IDS (e.g. "shunted_b.yaml") must not send these to the slow tier
@pytest.mark.parametrize("spec", SPECS, ids=[f"{p.parent.name}/{p.stem}" for p in SPECS])
def test_spec_matches_the_schema(spec: Path, report: dict[str, Any]) -> None:
    errors = errors_of(report, spec)
    assert not errors, json.dumps(errors, indent=2)


def test_the_run_failed_exactly_the_bad_files(workdir: Path, report: dict[str, Any]) -> None:
    """The one run checked every file: it failed the bad ones, all of them, and only them."""
    assert report["status"] == "fail"
    assert {Path(e["filename"]) for e in report["errors"]} == set((workdir / "bad").iterdir())


@pytest.mark.parametrize("name", BAD)
def test_schema_rejects_structural_errors_precisely(name: str, workdir: Path, report: dict[str, Any]) -> None:
    """The schema picks the model as netdsl does (`network:` / `block:`, `extends:` for an alias): the
    best match is the error itself, at its path."""
    _, path, message = BAD[name]
    errors = errors_of(report, workdir / "bad" / f"{name.replace(' ', '_')}.yaml")
    assert errors, name
    best = [e.get("best_deep_match") or {"path": e["path"], "message": e["message"]} for e in errors]
    assert any(b["path"] == path and message in b["message"] for b in best), best


def test_editor_line_keeps_a_spec_valid(workdir: Path, report: dict[str, Any]) -> None:
    """The first line an editor reads (`# yaml-language-server: $schema=<path relative to the spec>`)
    is a comment to netdsl and to the schema check."""
    spec = workdir / "specs" / "editor.yaml"
    assert spec.read_text().startswith(EDITOR_LINE)
    assert (spec.parent / "../netdsl.schema.json").resolve() == (workdir / "netdsl.schema.json").resolve()
    assert main(["validate", "-q", str(spec)]) == 0
    assert not errors_of(report, spec)

"""The pipeline (netdsl/pipeline.py): every pass runs once per command, block files are parsed once
per run (and still go through the file policy on every use), `build` is scriptable with typed
options, one atomic writer and one table of diagram formats."""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import netdsl
import netdsl.backend.lower
import netdsl.frontend.validate
import netdsl.frontend.yaml_loader
import netdsl.passes.shapes
from netdsl.cli import main, make_parser
from netdsl.cli.build import BuildOptions, run_build
from netdsl.core.errors import UsageError
from netdsl.core.outfile import atomic_write, check_target
from netdsl.frontend import library
from netdsl.ir.graph import Graph
from netdsl.passes.resolve import Resolver
from netdsl.pipeline import Pipeline
from netdsl.tools.diagrams import DIAGRAM_FORMATS, FORMATS, SUFFIXES, DiagramOptions, format_for, render

BLOCK = """block: unit
params: {c: {type: int}}
inputs: {x: [B, $c]}
nodes:
  fc: {op: linear, in: x, out_features: $c}
  act: {op: relu, in: fc}
outputs: {y: act}
"""

NET = """network: {name}
inputs: {{x: [B, 8]}}
dims: {{B: 2}}
nodes:
  u: {{block: unit, in: x, c: 8, repeat: 2}}
  head: {{op: linear, in: u, out_features: 3}}
outputs: {{y: head}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (pyproject.toml) with a block folder `blk/` and specs `specs/net*.yaml` using it."""
    proj = tmp_path / "proj"
    (proj / "blk").mkdir(parents=True)
    (proj / "specs").mkdir()
    (proj / "pyproject.toml").write_text("")
    (proj / "blk" / "unit.yaml").write_text(BLOCK)
    for i in range(4):
        (proj / "specs" / f"net{i}.yaml").write_text(NET.format(name=f"net{i}"))
    monkeypatch.chdir(proj)
    for var in ("NETDSL_BLOCKS_PATH", "NETDSL_ROOT", "NETDSL_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETDSL_MAX_MEMORY", "64G")
    library.clear_parsed_cache()
    return proj


def _patch_everywhere(
    monkeypatch: pytest.MonkeyPatch, fn: Callable[..., Any], wrapper: Callable[..., Any]
) -> None:
    """Replace ``fn`` by ``wrapper`` in every netdsl module that holds it (however it was imported)."""
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("netdsl") and getattr(module, fn.__name__, None) is fn:
            monkeypatch.setattr(module, fn.__name__, wrapper)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts of each pass: ``load:FILE``, ``validate:FILE``, ``resolve``, ``lint``, ``shapes``
    (symbolic), ``concrete`` (for concrete sizes) and ``lower``."""
    counts: Counter[str] = Counter()

    def counting(fn: Callable[..., Any], key: Callable[..., str | None]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            name = key(*args, **kwargs)
            if name is not None:
                counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    load_text = netdsl.frontend.yaml_loader.load_text
    validate_spec = netdsl.frontend.validate.validate_spec
    infer_shapes = netdsl.passes.shapes.infer_shapes
    lower = netdsl.backend.lower.lower

    def load_key(text: object, file: str = "<string>", **_: object) -> str | None:
        return None if file == "<value>" else f"load:{Path(file).name}"  # "<value>": a --set value

    def shapes_key(graph: Graph, inputs: object = None, *_: object, **__: object) -> str:
        return "shapes" if inputs is None else "concrete"

    _patch_everywhere(monkeypatch, load_text, counting(load_text, load_key))
    _patch_everywhere(
        monkeypatch, validate_spec, counting(validate_spec, lambda doc: f"validate:{Path(doc.file).name}")
    )
    _patch_everywhere(monkeypatch, infer_shapes, counting(infer_shapes, shapes_key))
    _patch_everywhere(monkeypatch, lower, counting(lower, lambda *a, **k: "lower"))
    for method in ("network", "block_file"):
        monkeypatch.setattr(Resolver, method, counting(getattr(Resolver, method), lambda *a, **k: "resolve"))
    monkeypatch.setattr(Graph, "lint", counting(Graph.lint, lambda *a, **k: "lint"))
    yield counts


ONCE = {"load:net0.yaml": 1, "validate:net0.yaml": 1, "load:unit.yaml": 1, "validate:unit.yaml": 1}
ONCE |= {"resolve": 1, "lint": 1, "shapes": 1}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["validate", "specs/net0.yaml"], {**ONCE, "concrete": 1}),
        (["shapes", "specs/net0.yaml"], {**ONCE, "concrete": 1}),
        (["shapes", "specs/net0.yaml", "--dim", "B=3"], {**ONCE, "concrete": 1}),
        (["build", "specs/net0.yaml"], {**ONCE, "concrete": 1, "lower": 1}),
        (
            ["build", "specs/net0.yaml", "--input-shape", "x=5x8", "--out", "net.pt"],
            {**ONCE, "concrete": 1, "lower": 1},
        ),
        (["diagram", "specs/net0.yaml", "-f", "mermaid"], ONCE),
        (["diagram", "specs/net0.yaml", "--dim", "B=3", "-o", "net.json"], {**ONCE, "concrete": 1}),
    ],
    ids=["validate", "shapes", "shapes-dim", "build", "build-out", "diagram", "diagram-dim"],
)
def test_every_pass_runs_once_per_command(
    argv: list[str],
    expected: dict[str, int],
    project: Path,
    calls: Counter[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main([*argv, "--blocks-path", "blk"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert dict(calls) == expected


def test_every_pass_runs_once_in_the_api(project: Path, calls: Counter[str]) -> None:
    expected = {**ONCE}
    gm = netdsl.build("specs/net0.yaml", blocks_path="blk", seed=0)
    assert gm.meta["netdsl"]["check"].ok
    assert dict(calls) == {**expected, "lower": 1}
    for kwargs in ({}, {"concrete": True}, {"dims": {"B": 3}}):
        calls.clear()
        library.clear_parsed_cache()
        res = netdsl.check("specs/net0.yaml", blocks_path="blk", **kwargs)  # type: ignore[arg-type]
        assert res.ok, res.errors
        assert dict(calls) == ({**expected, "concrete": 1} if kwargs else expected), kwargs
    calls.clear()
    library.clear_parsed_cache()
    out = project / "d.dot"
    run = Pipeline("specs/net0.yaml", blocks_path="blk")
    data = netdsl.api.diagram(run, "dot", out, concrete=True, dims=(("B", 3),))
    assert out.read_bytes() == data and b"(3, 3)" in data
    assert dict(calls) == {**expected, "concrete": 1}  # rendered once, written from the same bytes


def test_pipeline_stages_are_computed_once_on_demand(project: Path, calls: Counter[str]) -> None:
    run = Pipeline("specs/net0.yaml", blocks_path="blk", dims={"B": 4})
    assert not calls
    assert run.graph is run.graph and dict(calls).get("shapes") is None  # no shapes asked for yet
    first, second = run.check(concrete=True), run.check(concrete=True)
    assert first.errors == second.errors == [] and first.shapes is second.shapes
    concrete = run.concrete_shapes()
    assert concrete is run.concrete_shapes({"B": 4}) is run.concrete
    assert concrete.types["head"][0].shape[0].value == 4
    other = run.concrete_shapes({"B": 7})
    assert other is run.concrete_shapes({"B": 7}) and other.types["head"][0].shape[0].value == 7
    gm = run.module(seed=0)
    assert run.module(seed=0) is gm
    x = netdsl.api.example_inputs(run)
    assert [tuple(t.shape) for t in x] == [(4, 8)]
    assert calls["shapes"] == 1 and calls["concrete"] == 2 and calls["lower"] == 1 and calls["resolve"] == 1


def test_check_result_of_a_broken_spec_is_the_same_through_the_pipeline(project: Path) -> None:
    bad = project / "specs" / "bad.yaml"
    bad.write_text(
        NET.format(name="bad").replace("out_features: 3", "out_featurs: 3").replace("c: 8", "c: 9")
    )
    res = netdsl.check(bad, blocks_path="blk", concrete=True)
    run = Pipeline(bad, blocks_path="blk")
    again = run.check(concrete=True)
    assert [e.render() for e in res.errors] == [e.render() for e in again.errors] and res.errors
    assert run.graph is None and run.shapes is None and run.concrete is None
    with pytest.raises(netdsl.NetdslError, match="out_featurs"):
        run.module()
    missing = Pipeline(project / "specs" / "none.yaml").check()
    assert missing.spec is None and "none.yaml" in missing.errors[0].message


# ---------------------------------------------------------------- block files: once per run


def test_validate_of_many_specs_parses_a_shared_block_once(
    project: Path, calls: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", "specs", "--blocks-path", "blk"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "4 of 4 spec file(s) valid" in err
    assert calls["load:unit.yaml"] == 1 and calls["validate:unit.yaml"] == 1
    assert all(calls[f"load:net{i}.yaml"] == 1 for i in range(4))
    assert calls["resolve"] == 4 and calls["shapes"] == 4 and calls["concrete"] == 4


def test_a_changed_block_file_is_read_again(project: Path) -> None:
    """Even at once, with the same size (the parse is kept by the file's bytes, not its times)."""
    assert netdsl.check("specs/net0.yaml", blocks_path="blk").ok
    block = project / "blk" / "unit.yaml"
    block.write_text(BLOCK.replace("relu", "relx"))
    res = netdsl.check("specs/net0.yaml", blocks_path="blk")
    assert any("'relx'" in e.message for e in res.errors), [e.render() for e in res.errors]
    block.write_text(BLOCK)
    assert netdsl.check("specs/net0.yaml", blocks_path="blk").ok


def test_a_parsed_block_file_still_goes_through_the_file_policy(project: Path, tmp_path: Path) -> None:
    """A block file outside the project, read once with --root naming its folder, is refused to a
    check without that --root: the cache never stands in for the policy's decision."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "unit.yaml").write_text(BLOCK)
    (project / "blk" / "unit.yaml").unlink()
    (project / "blk" / "unit.yaml").symlink_to(outside / "unit.yaml")
    assert netdsl.check("specs/net0.yaml", blocks_path="blk", root=outside).ok
    assert library._PARSED  # parsed and kept
    res = netdsl.check("specs/net0.yaml", blocks_path="blk")
    (e,) = res.errors
    assert "points outside the project" in e.message and e.loc.file.endswith("net0.yaml")


# ---------------------------------------------------------------- build from Python


def test_run_build_with_typed_options(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "net.pt2"
    stdout = io.StringIO()
    options = BuildOptions(dims={"B": 3}, blocks_path=["blk"], seed=1, out=out, quiet=True)
    report = run_build("specs/net0.yaml", options, stdout=stdout)
    assert report.written == out and out.is_file()
    assert [tuple(x.shape) for x in report.inputs] == [(3, 8)] and tuple(report.outputs.shape) == (3, 3)
    assert report.summary in stdout.getvalue() and "wrote" in stdout.getvalue()
    assert report.concrete.types["head"][0].shape[0].value == 3
    torch.manual_seed(1)
    again = run_build("specs/net0.yaml", dataclasses.replace(options, out=None))
    assert again.written is None
    assert torch.equal(again.module.state_dict()["head.weight"], report.module.state_dict()["head.weight"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.dims["B"] = 5  # type: ignore[index]
    with pytest.raises(UsageError, match="--device 'nope'"):
        run_build("specs/net0.yaml", BuildOptions(blocks_path=["blk"], device="nope"))
    with pytest.raises(UsageError, match="seed"):
        run_build("specs/net0.yaml", BuildOptions(blocks_path=["blk"], seed=2**70))


# ---------------------------------------------------------------- one writer, one format table


def test_one_atomic_write_for_builds_and_diagrams(tmp_path: Path) -> None:
    import netdsl.backend.run
    import netdsl.tools.diagrams

    assert netdsl.tools.diagrams.atomic_write is atomic_write is netdsl.backend.run.atomic_write
    old = os.umask(0o027)
    try:
        seen: list[str] = []
        atomic_write(tmp_path / "m.pt2", lambda p: (seen.append(p), Path(p).write_bytes(b"x")))
        atomic_write(tmp_path / "d.dot", "digraph {}")
    finally:
        os.umask(old)
    assert Path(seen[0]).name.endswith(".tmp.pt2")  # torch.export.save warns about other suffixes
    assert stat.S_IMODE((tmp_path / "m.pt2").stat().st_mode) == 0o640
    with pytest.raises(ZeroDivisionError):
        atomic_write(tmp_path / "m.pt2", lambda p: 1 // 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.dot", "m.pt2"]
    assert (tmp_path / "m.pt2").read_bytes() == b"x"
    with pytest.raises(UsageError, match=r"--out 'x/y\.pt': folder 'x' does not exist"):
        atomic_write("x/y.pt", b"", flag="--out")


def test_one_check_of_output_files_for_build_and_export(tmp_path: Path) -> None:
    """`build --out` and `export -o` refuse a file name with one check (core.outfile.check_target)."""
    import netdsl.backend.export_formats
    import netdsl.cli.build

    assert netdsl.cli.build.check_target is check_target is netdsl.backend.export_formats.outfile.check_target
    suffixes = [".pt2", ".pt", ".pth"]
    assert check_target(tmp_path / "m.pt", suffixes, "a model file", flag="--out") == tmp_path / "m.pt"
    cases = {
        str(tmp_path): "is a folder: give a file name ending in .pt2, .pt or .pth",
        str(tmp_path / "m.txt"): ": expected a model file",
        str(tmp_path / "no" / "m.pt"): "does not exist",
        "m\0.pt": "cannot contain a NUL character",
        "x" * 5000 + ".pt": "cannot use this file name",
    }
    (tmp_path / "dir.pt").mkdir()
    cases[str(tmp_path / "dir.pt")] = "is a folder"
    os.mkfifo(tmp_path / "fifo.pt")
    cases[str(tmp_path / "fifo.pt")] = "exists and is not a regular file"
    for name, words in cases.items():
        with pytest.raises(UsageError) as e:
            check_target(name, suffixes, "a model file", flag="--out")
        assert words in e.value.message and e.value.message.startswith("--out "), (name, e.value.message)
    with pytest.raises(UsageError) as e:
        check_target("m.txt", suffixes, "a model file")
    assert e.value.message == "'m.txt': expected a model file"
    assert netdsl.cli.build.check_out(str(tmp_path / "m.pt2")) == tmp_path / "m.pt2"
    with pytest.raises(
        UsageError, match=r"-o '.*m\.pt': expected a \.pt2 \(torch\.export program\) or \.onnx"
    ):
        netdsl.backend.export_formats.check_target(tmp_path / "m.pt", "-o")


def test_one_table_of_diagram_formats(project: Path) -> None:
    (choices,) = [
        a.choices
        for sub in make_parser()._subparsers._group_actions  # type: ignore[union-attr]
        for name, p in sub.choices.items()  # type: ignore[union-attr]
        if name == "diagram"
        for a in p._actions
        if "--format" in a.option_strings
    ]
    assert tuple(choices) == FORMATS == tuple(DIAGRAM_FORMATS)
    for name, form in DIAGRAM_FORMATS.items():
        assert all(SUFFIXES[s] == name and format_for(f"d{s.upper()}") == name for s in form.suffixes)
    run = Pipeline("specs/net0.yaml", blocks_path="blk")
    for name in ("dot", "mermaid", "json", "graphml"):
        data = render(run, name, DiagramOptions(depth=0))
        assert data == DIAGRAM_FORMATS[name].render(run.checked()[1], DiagramOptions(depth=0), 1.0, None)
        assert not DIAGRAM_FORMATS[name].binary and DIAGRAM_FORMATS[name].stdout
    assert DIAGRAM_FORMATS["png"].binary and not DIAGRAM_FORMATS["svg"].stdout


def test_validate_stays_torch_free_and_does_not_import_the_drawing_code() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from netdsl.cli import main\n"
        "rc = main(['validate', 'specs/mlp.yaml'])\n"
        "assert 'torch' not in sys.modules, 'validate imported torch'\n"
        "assert 'netdsl.tools.diagrams.builder' not in sys.modules, 'validate imported the diagram code'\n"
        "sys.exit(rc)\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr

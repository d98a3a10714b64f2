"""Provenance: `netdsl where` (torch-free), the spec line in fx's and torch.export's stack traces, and
the note an exception raised while a built module runs (eager or compiled) carries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import netdsl
from netdsl.backend.provenance import NOTE_PREFIX, spec_origin
from netdsl.cli import main
from netdsl.passes.provenance import where

from .conftest import ROOT, SPECS, spec_id

TINY = ROOT / "specs" / "tiny_cnn.yaml"


def _line_of(path: Path, line: int) -> str:
    return path.read_text().splitlines()[line - 1]


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_every_static_parameter_key_has_an_origin_at_its_node(spec: Path) -> None:
    res = netdsl.check(spec)
    assert res.shapes is not None, [e.render() for e in res.errors]
    nodes = res.shapes.graph.node_map()
    for node_id, params in res.shapes.params.items():
        for name, p in params.items():
            origin = where(res.shapes, f"{node_id}.{name}")
            assert (origin.kind, origin.node) == (p.kind, node_id)
            assert origin.loc == nodes[node_id].loc and origin.loc.line > 0


@pytest.mark.parametrize(
    "spec", [p for p in SPECS if p.stem in ("tiny_cnn", "tiny_attention", "mlp")], ids=spec_id
)
def test_every_state_dict_key_of_a_built_module_is_found(spec: Path) -> None:
    gm = netdsl.build(spec, seed=0)
    shapes = gm.meta["netdsl"]["check"].shapes
    for key in gm.state_dict():
        origin = where(shapes, key)
        assert origin.kind in ("parameter", "buffer"), key
        written = _line_of(Path(origin.loc.file), origin.loc.line)
        local = [p for p in origin.node.split(".") if not p.isdigit()][-1]  # type: ignore[union-attr]
        assert local in written, (key, written)


def test_where_names_the_block_instances_around_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["where", str(TINY), "stage.1.conv1.weight"]) == 0
    out = capsys.readouterr().out
    assert "parameter 'weight' (32, 32, 3, 3) of conv2d node 'stage.1.conv1'" in out
    assert "conv1: {op: conv2d" in out  # the excerpt of the spec line
    assert "in block instance stage.1 of res_unit, copy 1 of 2 of stage (" in out


def test_where_finds_nodes_blocks_inputs_and_wrapped_keys(capsys: pytest.CaptureFixture[str]) -> None:
    keys = ["stage.0", "stage.0.conv1", "image", "module.head.bias", "_orig_mod.head.weight"]
    assert main(["where", str(TINY), *keys, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "netdsl.where/1" and doc["not_found"] == []
    kinds = {o["key"]: o["kind"] for o in doc["found"]}
    assert kinds == {
        "stage.0": "block instance",
        "stage.0.conv1": "node",
        "image": "input",
        "module.head.bias": "parameter",
        "_orig_mod.head.weight": "parameter",
    }
    wrapped = next(o for o in doc["found"] if o["key"] == "module.head.bias")
    assert "'module.' dropped" in wrapped["note"] and wrapped["node"] == "head"


def test_where_refuses_an_unknown_key_with_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["where", str(TINY), "stage.1.conv1.weigth", "head.weight"]) == 1
    captured = capsys.readouterr()
    assert "head.weight: parameter" in captured.out  # the known key is still answered
    assert "'stage.1.conv1.weigth' is no parameter" in captured.err
    assert "did you mean 'stage.1.conv1.weight'" in captured.err


def test_where_of_a_spec_with_errors_reports_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "network: n\ninputs: {x: [B, 4]}\nnodes:\n  a: {op: linaer, in: x, out_features: 2}\n"
        "outputs: {y: a}\n"
    )
    assert main(["where", str(bad), "a.weight"]) == 1
    assert "did you mean 'linear'" in capsys.readouterr().err


def test_fx_nodes_carry_the_spec_line_as_their_stack_trace_through_torch_export() -> None:
    gm = netdsl.build(TINY, seed=0)
    conv = next(n for n in gm.graph.nodes if n.meta.get("netdsl", {}).get("node") == "stage.1.conv1")
    assert conv.meta["stack_trace"] == '  File "specs/tiny_cnn.yaml", line 27, in stage.1.conv1\n'
    ep = torch.export.export(gm, (torch.randn(2, 3, 32, 32),))
    traces = [n.meta.get("stack_trace", "") for n in ep.graph.nodes if n.op == "call_function"]
    assert any('tiny_cnn.yaml", line 27, in stage.1.conv1' in t for t in traces)


def _raising(gm: torch.nn.Module, path: str) -> None:
    def boom(module: torch.nn.Module, args: Any) -> None:
        raise RuntimeError("boom")

    gm.get_submodule(path).register_forward_pre_hook(boom)


def test_an_error_in_a_built_modules_forward_names_the_spec_node() -> None:
    gm = netdsl.build(TINY, seed=0)
    with pytest.raises(RuntimeError, match="channels") as info:
        gm(torch.randn(2, 4, 32, 32))
    assert info.value.__notes__ == [f"{NOTE_PREFIX}spec node 'stem' (conv2d) at specs/tiny_cnn.yaml:36:3"]
    _raising(gm, "stage.1.conv1")
    with pytest.raises(RuntimeError, match="boom") as info:
        gm(torch.randn(2, 3, 32, 32))
    (note,) = info.value.__notes__
    assert note.startswith(f"{NOTE_PREFIX}spec node 'stage.1.conv1' (conv2d) at specs/tiny_cnn.yaml:27:")
    assert "in block instance stage.1 of res_unit (specs/tiny_cnn.yaml:43)" in note


@pytest.mark.parametrize("regional", [True, False])
def test_an_error_while_torch_compile_traces_names_the_spec_node(regional: bool) -> None:
    gm = netdsl.build(TINY, seed=0)
    compiled = netdsl.compile(gm, backend="eager", regional=regional)
    with pytest.raises(Exception, match="channels") as info:
        compiled(torch.randn(2, 4, 32, 32))
    notes = [n for n in getattr(info.value, "__notes__", []) if n.startswith(NOTE_PREFIX)]
    assert notes == [f"{NOTE_PREFIX}spec node 'stem' (conv2d) at specs/tiny_cnn.yaml:36:3"]


def test_an_error_outside_netdsl_code_gets_no_note() -> None:
    try:
        raise ValueError("plain")
    except ValueError as e:
        assert spec_origin(e) is None


def test_copies_of_a_built_module_still_name_the_spec_node() -> None:
    import copy

    gm = copy.deepcopy(netdsl.build(TINY, seed=0))
    with pytest.raises(RuntimeError) as info:
        gm(torch.randn(2, 4, 32, 32))
    assert info.value.__notes__[0].startswith(f"{NOTE_PREFIX}spec node 'stem'")


def test_where_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from netdsl.cli import main; "
        "code = main(['where', 'specs/tiny_cnn.yaml', 'stage.1.conv1.weight']); "
        "assert code == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_state_dict_that_does_not_load_says_why_in_the_specs_terms() -> None:
    gm = netdsl.build(TINY, seed=0)
    sd = dict(gm.state_dict())
    sd["stem.weigth"] = sd.pop("stem.weight")
    sd["head.weight"] = torch.zeros(3, 4)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict") as info:
        gm.load_state_dict(sd)
    (note,) = info.value.__notes__
    assert note.startswith("netdsl check-weights:\n")
    assert "specs/tiny_cnn.yaml:50:3: error: shape mismatch for 'head.weight'" in note
    assert "did you mean 'stem.weight'?" in note
    with pytest.raises(RuntimeError) as info:
        gm.load_state_dict({"module." + k: v for k, v in gm.state_dict().items()})
    assert "--map 'module.='" in info.value.__notes__[0]
    gm.load_state_dict(dict(gm.state_dict()))  # what loads still loads, with no note to add

"""Every fx node of a built module knows the spec node it comes from (``node.meta["netdsl"]``)."""

from __future__ import annotations

import pickle

import pytest
import torch

import netdsl
from netdsl.backend.soundness import runtime_mismatches

from .conftest import ROOT, SPECS, spec_id


@pytest.mark.parametrize(
    "spec", [p for p in SPECS if p.stem in ("tiny_cnn", "tiny_attention", "mlp")], ids=spec_id
)
def test_every_fx_node_carries_its_spec_node(spec: object) -> None:
    gm = netdsl.build(spec, seed=0)  # type: ignore[arg-type]
    res = gm.meta["netdsl"]["check"]
    nodes = res.graph.node_map()
    inputs = {gi.name for gi in res.graph.inputs}
    outputs_seen: set[tuple[str, int]] = set()
    for n in gm.graph.nodes:
        meta = n.meta["netdsl"]
        if n.op == "output":  # the spec's `outputs:`, at its first entry
            assert (meta["node"], meta["op"]) == ("outputs", "output")
            assert meta["line"] == res.graph.outputs[0][2].line, meta
        else:
            assert meta["node"] in nodes or meta["node"] in inputs, meta
        assert meta["loc"] == f"{meta['file']}:{meta['line']}:{meta['col']}" and meta["line"] > 0
        if "output" in meta:
            outputs_seen.add((meta["node"], meta["output"]))
            static = res.shapes.types[meta["node"]][meta["output"]]
            assert meta["type"] == str(static) and meta["dtype"] == static.dtype
    # every spec node's first output is held by some fx node (or is an input passed through)
    for node in res.graph.nodes:
        assert (node.id, 0) in outputs_seen or res.shapes.types[node.id][0] is not None
    pickle.loads(pickle.dumps({n.name: n.meta["netdsl"] for n in gm.graph.nodes}))


def test_meta_names_the_spec_line_of_a_node() -> None:
    gm = netdsl.build(ROOT / "specs" / "tiny_cnn.yaml", seed=0)
    by_node = {
        n.meta["netdsl"]["node"]: n.meta["netdsl"]
        for n in gm.graph.nodes
        if "output" in n.meta.get("netdsl", {})
    }
    text = (ROOT / "specs" / "tiny_cnn.yaml").read_text().splitlines()
    for node_id, meta in by_node.items():
        if node_id in ("image",):
            continue
        line = text[meta["line"] - 1]
        local = [part for part in node_id.split(".") if not part.isdigit()][-1]  # stage.0.conv1 -> conv1
        assert local in line, (node_id, line)


def test_soundness_reads_the_meta_and_finds_a_wrong_static_shape() -> None:
    gm = netdsl.build(ROOT / "specs" / "tiny_cnn.yaml", seed=0)
    res = gm.meta["netdsl"]["check"]
    from netdsl.passes.shapes import infer_shapes
    from netdsl.passes.sizes import concrete_inputs

    concrete = infer_shapes(res.graph, concrete_inputs(res.graph, res.graph.example_sizes()))
    inputs = netdsl.api.example_inputs(res)
    assert runtime_mismatches(gm, concrete, inputs) == []
    victim = next(n for n in gm.graph.nodes if "output" in n.meta.get("netdsl", {}) and n.op != "placeholder")
    node_id = victim.meta["netdsl"]["node"]
    t = concrete.types[node_id][0]
    concrete.types[node_id] = [t.with_shape([*t.shape[:-1], t.shape[-1] + 1])]
    problems = runtime_mismatches(gm, concrete, inputs)
    assert problems and problems[0].startswith(f"{node_id}[0]")
    assert torch.is_tensor(inputs[0])

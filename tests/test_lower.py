"""The lowering pass: fx nodes named after the spec nodes at creation, the LowerCtx protocol, and
the checks lowering makes of an op's lowering function."""

from __future__ import annotations

import inspect
import operator
import re
from typing import Any

import pytest
import torch
from torch import fx

import netdsl
from netdsl.backend.lower import LowerCtx, lower
from netdsl.core.errors import SourceLoc
from netdsl.ir.graph import Graph, GraphInput, Node, Ref, Scope
from netdsl.ops import REGISTRY, OpDef
from netdsl.ops.base import NoAttrs, same_type
from netdsl.ops.lowerings import LOWERINGS
from netdsl.ops.lowerings import LowerCtx as LowerCtxProtocol
from netdsl.passes.shapes import infer_shapes

from .conftest import ROOT, SPECS, spec_id

NAMING = """
network: naming
inputs: {x: {shape: [B, T, 8]}, y: {shape: [B, T, 8]}}
dims: {B: 2, T: 6}
blocks:
  mlp:
    inputs: {x: [B, T, C]}
    nodes:
      fc: {op: linear, in: x, out_features: 8}
      relu: {op: relu, in: fc}
    outputs: {y: relu}
nodes:
  proj: {block: mlp, in: x}
  total: {op: add, in: [proj, y, x], other: 1.0}
  heads: {op: split, in: total, dim: 2, chunks: 2}
  tokens: {op: reshape, in: heads.1, shape: [B, -1, 4]}
  bias: {op: parameter, shape: [4]}
  out: {op: add, in: [tokens, bias]}
  tap: {op: identity, in: out}
outputs: {out: tap, first: heads.0}
"""

# one variable per spec node, named after it; the steps on the way (the first sums of `total`, the
# split before its parts, the run-time size B, read from the reshape's own input) keep torch.fx's names
NAMING_CODE = """
def forward(self, x, y):
    proj_fc = self.proj.fc(x)
    proj_relu = torch.relu_(proj_fc);  proj_fc = None
    add = proj_relu + y;  proj_relu = y = None
    add_1 = add + x;  add = x = None
    total = add_1 + 1.0;  add_1 = None
    split = torch.functional.split(total, [4, 4], dim = 2);  total = None
    heads = split[0]
    heads_1 = split[1];  split = None
    size = heads_1.size(0)
    tokens = heads_1.reshape(size, -1, 4);  heads_1 = size = None
    bias = self.bias
    out = tokens + bias;  tokens = bias = None
    return (out, heads)
"""


def test_gm_code_reads_like_the_spec() -> None:
    gm = netdsl.build(netdsl.load("naming.yaml", text=NAMING), seed=0)
    assert gm.code.strip() == NAMING_CODE.strip()
    x, y = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    out, first = gm(x, y)
    assert out.shape == (2, 6, 4) and first.shape == (2, 6, 4)


@pytest.mark.parametrize("spec", [p for p in SPECS if "shunted" not in p.stem], ids=spec_id)
def test_the_fx_node_of_each_output_has_the_spec_node_name(spec: object) -> None:
    gm = netdsl.build(spec, seed=0)  # type: ignore[arg-type]
    for n in gm.graph.nodes:
        meta = n.meta.get("netdsl", {})
        if n.op in ("placeholder", "output") or "output" not in meta:
            continue
        base = meta["node"].replace(".", "_")
        want = base if meta["output"] == 0 else f"{base}_{meta['output']}"
        assert n.name == want, (n.name, meta)


def test_lowering_uses_no_private_fx_naming_api() -> None:
    for path in sorted((ROOT / "netdsl").rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"\._rename\(|_graph_namespace", text), path


def test_lower_ctx_implements_the_protocol_the_ops_see() -> None:
    """mypy checks the signatures (lower() passes its LowerCtx to the ops' lowerings); this, that
    nothing of the protocol is missing."""
    members = {
        name
        for name, value in vars(LowerCtxProtocol).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }
    assert members >= {"module", "fn", "method", "tensor_attr", "unpack", "intermediate", "dim", "shape"}
    ctx = LowerCtx(fx.Graph(), torch.nn.Module())
    for name in members:
        assert hasattr(ctx, name), name
        proto = getattr(LowerCtxProtocol, name)
        if callable(proto):
            want = list(inspect.signature(proto).parameters)[1:]
            assert list(inspect.signature(getattr(ctx, name)).parameters) == want, name


# ---------------------------------------------------------------- an op's lowering, checked


LOC = SourceLoc("<test_lower>")


def _one_node_graph(op: str) -> Graph:
    root = Scope(path="", block=None, parent=None, loc=LOC)
    x = GraphInput("x", [2, 3], "float32", LOC)
    node = Node("stage.n", op, NoAttrs(), [Ref("x")], LOC, root)
    return Graph("t", "network", "<test_lower>", [x], [node], [("y", Ref("stage.n"), LOC)], root)


def _register(monkeypatch: pytest.MonkeyPatch, name: str, lower_fn: Any) -> None:
    op = OpDef(name=name, family="elementwise", doc="test", attrs=NoAttrs, infer=same_type)
    monkeypatch.setitem(REGISTRY, name, op)
    monkeypatch.setitem(LOWERINGS, name, lower_fn)


def test_the_result_is_created_under_the_node_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def lower_fn(ctx: Any, a: Any, args: list[fx.Node]) -> fx.Node:
        twice = ctx.intermediate(operator.mul, args[0], 2)
        return ctx.fn(operator.add, twice, 1)  # type: ignore[no-any-return]

    _register(monkeypatch, "test_twice_plus_one", lower_fn)
    graph = _one_node_graph("test_twice_plus_one")
    gm = lower(graph, infer_shapes(graph), seed=0)
    assert [n.name for n in gm.graph.nodes] == ["x", "mul", "stage_n", "output"]
    x = torch.randn(2, 3)
    assert torch.equal(gm(x), x * 2 + 1)


@pytest.mark.parametrize("bug", ["returns an intermediate", "emits two results"])
def test_an_op_whose_results_are_not_its_outputs_is_an_opdef_bug(
    monkeypatch: pytest.MonkeyPatch, bug: str
) -> None:
    def lower_fn(ctx: Any, a: Any, args: list[fx.Node]) -> fx.Node:
        if bug == "returns an intermediate":
            return ctx.intermediate(torch.relu, args[0])  # type: ignore[no-any-return]
        first = ctx.fn(torch.relu, args[0])
        return ctx.fn(torch.relu, first)  # type: ignore[no-any-return]

    _register(monkeypatch, "test_buggy", lower_fn)
    graph = _one_node_graph("test_buggy")
    with pytest.raises(RuntimeError, match=r"ctx\.intermediate"):
        lower(graph, infer_shapes(graph), seed=0)


INPLACE = """
network: inplace
inputs: {x: [B, 4, H, W]}
dims: {B: 2, H: 6, W: 5}
nodes:
  conv: {op: conv2d, in: x, out_channels: 4, kernel_size: 3, padding: 1}
  bn: {op: batch_norm2d, in: conv}
  act: {op: hardswish, in: bn}
  conv2: {op: conv2d, in: act, out_channels: 4, kernel_size: 1}
  bn2: {op: batch_norm2d, in: conv2}
  res: {op: add, in: [x, bn2]}
  out: {op: relu, in: res}
  tap: {op: relu, in: x}
  both: {op: add, in: [out, tap]}
outputs: {y: both, skip: tap}
"""


def test_activations_and_additions_work_in_place_where_nothing_else_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import netdsl.backend.lower as lower_mod

    spec = netdsl.load("inplace.yaml", text=INPLACE)
    gm = netdsl.build(spec, seed=0)
    code = gm.code
    assert "hardswish(bn, inplace = True)" in code and "torch.relu_(res)" in code
    assert "bn2.add_(x)" in code  # (x is read twice: the batch norm's output is overwritten)
    assert "torch.relu(x)" in code  # (x is an input: never overwritten)
    monkeypatch.setattr(lower_mod, "make_in_place", lambda gm: 0)
    plain = netdsl.build(spec, seed=0)
    assert "_(" not in plain.code and "inplace" not in plain.code
    for training in (False, True):
        gm.train(training), plain.train(training)
        x1 = torch.randn(2, 4, 6, 5, dtype=torch.float64, requires_grad=True)
        x2 = x1.detach().clone().requires_grad_(True)
        y1, y2 = gm.double()(x1), plain.double()(x2)
        assert all(torch.equal(a, b) for a, b in zip(y1, y2, strict=True))
        sum(y.sum() for y in y1).backward()
        sum(y.sum() for y in y2).backward()
        assert x1.grad is not None and x2.grad is not None and torch.equal(x1.grad, x2.grad)
        for (_, p1), (_, p2) in zip(gm.named_parameters(), plain.named_parameters(), strict=True):
            assert p1.grad is not None and p2.grad is not None and torch.equal(p1.grad, p2.grad)

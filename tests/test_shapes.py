"""The shape inference pass: symbolic dims, block unification, `expect`, concrete checks."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import netdsl
from netdsl.core.symbolic import Sym
from netdsl.passes.shapes import infer_shapes
from netdsl.passes.sizes import concrete_inputs, minimum_sizes

FOLD = """network: fold
inputs: {image: [B, 3, H, W]}
dims: {B: 1, H: 16, W: 24}
blocks:
  fold:
    params:
      Hs: {type: dim}
      Ws: {type: dim}
      c: {type: int}
    inputs: {x: [B, N, $c]}
    nodes:
      t: {op: transpose, in: x, dim0: 1, dim1: 2}
      m: {op: reshape, in: t, shape: [B, $c, Hs, Ws]}
    outputs: {y: m}
nodes:
  pe: {op: conv2d, in: image, out_channels: 8, kernel_size: 3, stride: 2, padding: 1, expect: [B, 8, Hp, Wp]}
  tok: {op: flatten, in: pe, start_dim: 2}
  tt: {op: transpose, in: tok, dim0: 1, dim1: 2}
  back: {block: fold, in: tt, Hs: Hp, Ws: Wp, c: 8}
  out: {op: add, in: [back, pe]}
outputs: {y: out}
"""


def shapes_of(text: str) -> dict[str, str]:
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    assert res.ok, [e.render() for e in res.errors]
    assert res.shapes is not None
    return {k: ", ".join(str(t) for t in v) for k, v in res.shapes.types.items()}


def test_expect_names_new_dims_and_dim_params_carry_them() -> None:
    s = shapes_of(FOLD)
    assert s["pe"] == "(B, 8, Hp, Wp)"
    assert s["tt"] == "(B, Hp*Wp, 8)"
    assert s["back.m"] == "(B, 8, Hp, Wp)"
    res = netdsl.check(netdsl.load("t.yaml", text=FOLD))
    assert res.shapes is not None
    assert str(res.shapes.aliases["Hp"]) == "(H - 1)//2 + 1"


@pytest.mark.parametrize(("h", "w"), [(16, 24), (33, 17), (1, 1)])
def test_symbolic_module_runs_for_any_size(h: int, w: int) -> None:
    gm = netdsl.build(netdsl.load("t.yaml", text=FOLD))
    y = gm(torch.randn(2, 3, h, w))
    assert tuple(y.shape) == (2, 8, (h - 1) // 2 + 1, (w - 1) // 2 + 1)


def test_concrete_inference_substitutes_the_symbolic_one() -> None:
    res = netdsl.check("specs/tiny_attention.yaml")
    assert res.graph is not None and res.shapes is not None
    sizes = {"B": 3, "H": 40, "W": 56}
    concrete = infer_shapes(res.graph, concrete_inputs(res.graph, sizes))
    env = {**sizes, **{k: v.subs(sizes).value for k, v in res.shapes.aliases.items()}}
    for node_id, types in res.shapes.types.items():
        for sym_t, con_t in zip(types, concrete.types[node_id], strict=True):
            assert tuple(d.subs(env) for d in sym_t.shape) == con_t.shape, node_id


def test_block_input_unification_checks_fixed_dims() -> None:
    text = FOLD.replace(
        "back: {block: fold, in: tt, Hs: Hp, Ws: Wp, c: 8}",
        "back: {block: fold, in: tt, Hs: Hp, Ws: Wp, c: 6}",
    )
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    (err,) = res.errors
    assert "input 'x' expects (B, N, 6), got (B, Hp*Wp, 8)" in err.message


def test_symbolic_reshape_must_divide() -> None:
    text = """network: r
inputs: {x: [B, N, 64]}
nodes:
  r: {op: reshape, in: x, shape: [B, N, 3, -1]}
outputs: r
"""
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    assert "not divisible by 3*B*N" in res.errors[0].message


def test_minimum_sizes() -> None:
    res = netdsl.check("specs/tiny_attention.yaml")
    assert res.graph is not None
    assert minimum_sizes(res.graph, {"B": 1, "H": 4, "W": 40}) == {"H": 8}
    assert minimum_sizes(res.graph, {"B": 1, "H": 4, "W": 4}) == {"H": 8, "W": 8}
    assert minimum_sizes(res.graph, {"B": 1, "H": 64, "W": 64}) == {}


def test_sym_roundtrip_of_conv_formula() -> None:
    h = Sym.var("H")
    assert ((h + 2 - 3) // 1 + 1) == h
    assert str((h - 1) // 4 + 1) == "(H - 1)//4 + 1"


SPLIT_HEADS = """network: heads
inputs: {x: [B, 12]}
blocks:
  heads:
    params:
      k: {type: dim}
    inputs: {x: [B, N]}
    nodes:
      r: {op: reshape, in: x, shape: [B, k, -1]}
    outputs: {y: r}
nodes:
  a: {block: heads, in: x, k: 2}
  b: {block: heads, in: x, k: 4}
  c: {block: heads, in: x, k: K}
  d: {block: heads, in: x, k: 2}
outputs: {ya: a, yb: b, yc: c, yd: d}
"""


def test_reshape_rules_shared_by_nodes_read_their_own_dims() -> None:
    # the block's reshape attributes are one object: the rule's result is kept per value of `k`
    text = SPLIT_HEADS.replace("inputs: {x: [B, 12]}", "inputs: {x: [B, 12]}\ndims: {B: 2, K: 3}")
    res = netdsl.check(netdsl.load("t.yaml", text=text.replace("k: K}", "k: 3}")), concrete=True)
    assert res.ok, [e.render() for e in res.errors]
    assert res.shapes is not None
    got = {k: str(v[0]) for k, v in res.shapes.types.items() if k.endswith(".r")}
    assert got == {"a.r": "(B, 2, 6)", "b.r": "(B, 4, 3)", "c.r": "(B, 3, 4)", "d.r": "(B, 2, 6)"}
    assert res.shapes.attrs["a.r"].shape == res.shapes.attrs["d.r"].shape  # type: ignore[attr-defined]


def test_reshape_error_after_the_rule_succeeded_for_other_dims() -> None:
    text = SPLIT_HEADS.replace("k: 4}", "k: 5}").replace("k: K}", "k: 3}")  # b (k = 5) does not fit
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    (err,) = res.errors
    assert err.message == (
        "reshape: cannot reshape (B, 12) (12*B elements) to (B, 5, -1): 12*B is not divisible by 5*B"
    )
    assert [c.what for c in err.context] == ["block instance b of heads"]


# ---------------------------------------------------------------- reuse of repeated block instances

REPEATS = """network: rep
inputs: {x: [B, 8, H, W]}
dims: {B: 2, H: 16, W: 12}
blocks:
  squeeze:
    params:
      c: {type: int}
      k: {type: int, default: 1}
    inputs: {x: [B, $c, H, W]}
    nodes:
      d: {op: conv2d, in: x, out_channels: $c, kernel_size: 3, stride: 2, padding: 1, expect: [B, $c, Hd, Wd]}
      t: {op: flatten, in: d, start_dim: 2}
      s: {op: reshape, in: t, shape: [B, $c, Hd, Wd]}
      p: {op: mean, in: s, dim: [2, 3], keepdim: true}
      l: {op: linear, in: p, out_features: $k}
      m: {op: mean, in: l, dim: [3], keepdim: true}
      z: {op: mul, in: [x, p]}
      y: {op: mul, in: [z, m]}
    outputs: {y: y}
nodes:
  a: {block: squeeze, in: x, c: 8, repeat: 4}
  b: {block: squeeze, in: a, c: 8, repeat: 3, repeat_var: i, k: '${1 + i}'}
  c: {block: squeeze, in: b, c: 8, repeat: 3}
outputs: {y: c}
"""


def _snapshot(graph: Any, inputs: Any = None) -> tuple[Any, ...]:
    from netdsl.core.errors import ErrorCollector
    from netdsl.passes.shapes import ShapeInference

    errs = ErrorCollector()
    r = ShapeInference(graph, errs).run(inputs)
    return (
        list(r.types.items()),
        list(r.attrs.items()),
        list(r.params.items()),
        [(s.path, list(env.items())) for s, env in r.envs.items()],
        list(r.aliases.items()),
        [e.render() for e in errs.errors],
        [e.render() for e in errs.warnings],
    )


def _with_and_without_reuse(monkeypatch: pytest.MonkeyPatch, graph: Any, inputs: Any = None) -> int:
    """Assert that inferring with reuse gives what inferring every node does; the copies reused."""
    from netdsl.passes import shapes

    reused: list[str] = []
    reuse = shapes.ShapeInference._reuse

    def spy(self: Any, prev: Any, rep: Any, nodes: Any, env: Any) -> bool:
        done = reuse(self, prev, rep, nodes, env)
        if done:
            reused.append(rep.path)
        return done

    monkeypatch.setattr(shapes.ShapeInference, "_reuse", spy)
    with_reuse = _snapshot(graph, inputs)
    monkeypatch.setattr(shapes, "REUSE", False)
    without = _snapshot(graph, inputs)
    assert with_reuse == without
    return len(reused)


@pytest.mark.parametrize("concrete", [False, True])
def test_reusing_repeated_instances_changes_no_result(
    monkeypatch: pytest.MonkeyPatch, concrete: bool
) -> None:
    graph = netdsl.check(netdsl.load("t.yaml", text=REPEATS)).graph
    assert graph is not None
    inputs = concrete_inputs(graph, graph.example_sizes()) if concrete else None
    reused = _with_and_without_reuse(monkeypatch, graph, inputs)
    # symbolic: the first copy of `a` names Hd (changed state), the second does not: a.2, a.3 and c.1, c.2
    # are reused; `b` is not (its copies differ in k); concrete: no names, a.1.. too
    # symbolic: the first copy of `a` names Hd (it changed the state), the second names it again: a.2, a.3,
    # c.1 and c.2 are reused (c.0 follows another repeat); `b` is not (its copies differ in k);
    # concrete (no names): a.1 too
    assert reused == (5 if concrete else 4)
    res = netdsl.check(netdsl.load("t.yaml", text=REPEATS))
    assert res.ok and res.shapes is not None
    assert str(res.shapes.types["a.3.d"][0]) == "(B, 8, Hd, Wd)"
    assert str(res.shapes.types["c.2.l"][0]) == "(B, 8, 1, 1)"
    assert str(res.shapes.types["b.2.l"][0]) == "(B, 8, 1, 3)"
    assert res.shapes.envs[next(s for s in res.shapes.envs if s.path == "c.2")]["Hd"] == Sym.var("Hd")


def test_reuse_keeps_errors_of_repeated_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = REPEATS.replace("shape: [B, $c, Hd, Wd]", "shape: [B, $c, Hd, 5]")
    graph = netdsl.check(netdsl.load("t.yaml", text=bad)).graph
    assert graph is not None
    assert _with_and_without_reuse(monkeypatch, graph) == 0  # a copy with an error is not reused
    res = netdsl.check(netdsl.load("t.yaml", text=bad))
    assert not res.ok


@pytest.mark.parametrize("concrete", [False, True])
def test_reuse_on_shunted_b_changes_no_result(monkeypatch: pytest.MonkeyPatch, concrete: bool) -> None:
    from pathlib import Path

    path = Path(__file__).parent.parent / "specs" / "shunted_b.yaml"
    graph = netdsl.check(netdsl.load(str(path))).graph
    assert graph is not None
    inputs = concrete_inputs(graph, graph.example_sizes()) if concrete else None
    assert _with_and_without_reuse(monkeypatch, graph, inputs) >= 25

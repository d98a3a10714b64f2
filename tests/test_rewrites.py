"""The graph rewrites of netdsl.compile (netdsl/backend/rewrites), in eager mode: each pattern
rewritten where it is exact and left alone where it is not, the values of every spec and block
unchanged, ``state_dict()`` untouched, and where each rewrite fired (the spec line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import fx

import netdsl
from netdsl.api import example_inputs
from netdsl.backend.rewrites import REWRITES, rewrite
from netdsl.backend.rewrites.base import with_graph

from .conftest import ALL_SPECS, BLOCKS, FIXTURE_BLOCKS, spec_id


def build(text: str) -> fx.GraphModule:
    return netdsl.build(netdsl.load("t.yaml", text=text), seed=0)


def outputs(gm: torch.nn.Module, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        y = gm(*xs)
    return list(y) if isinstance(y, tuple) else [y]


def calls(gm: fx.GraphModule, target: Any) -> int:
    return sum(1 for n in gm.graph.nodes if n.target is target or n.target == target)


# ----------------------------------------------------------------------------------------------------
# every spec and block: same values, same state_dict


@pytest.mark.parametrize("path", ALL_SPECS + BLOCKS, ids=spec_id)
@pytest.mark.parametrize("purpose", sorted(REWRITES))
def test_rewritten_module_computes_the_same(path: Path, purpose: str) -> None:
    blocks = [FIXTURE_BLOCKS] if FIXTURE_BLOCKS in path.parents else None
    res = netdsl.check(path, blocks_path=blocks)
    gm = netdsl.build(path, seed=0, blocks_path=blocks).eval()
    new, fired = rewrite(gm, purpose)
    assert list(new.state_dict()) == list(gm.state_dict())
    shared = zip(new.state_dict(keep_vars=True).values(), gm.state_dict(keep_vars=True).values(), strict=True)
    assert all(a is b for a, b in shared)
    assert [n for n, _ in new.named_modules()] == [n for n, _ in gm.named_modules()]
    xs = example_inputs(res)
    for want, got in zip(outputs(gm, xs), outputs(new.eval(), xs), strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        if want.is_floating_point():
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        else:
            assert torch.equal(got, want)
    for f in fired:
        assert f.loc, f  # every rewrite names the spec line it applied to
    assert new.meta["netdsl"]["rewrites"] == fired


def test_the_original_module_keeps_its_graph() -> None:
    gm = netdsl.build(Path(__file__).parent.parent / "specs/shunted_t.yaml", seed=0).eval()
    code = gm.code
    new, fired = rewrite(gm, "inference")
    assert fired and new.code != code and gm.code == code
    assert type(new) is not type(gm) and type(new).__name__ == type(gm).__name__


def test_with_graph_shares_modules_and_keeps_unread_ones() -> None:
    gm = build(SPEC_DROPOUT)
    g = fx.Graph()
    x = g.placeholder("x")
    g.output(x)
    new = with_graph(gm, g)
    assert new.get_submodule("drop") is gm.get_submodule("drop")  # not read by the graph, still there
    assert new.conv.weight is gm.conv.weight
    assert new(torch.ones(1)).equal(torch.ones(1))


# ----------------------------------------------------------------------------------------------------
# attention


def attention_spec(scores: str, *, out: str = "out", extra: str = "", outputs: str = "") -> str:
    return f"""
network: attn
inputs:
  {{q: [B, 2, 5, 8], k: [B, 2, 7, 8], v: [B, 2, 7, 6], bias: [5, 7], keep: {{shape: [5, 7], dtype: bool}}}}
dims: {{B: 3}}
nodes:
  k_t: {{op: transpose, in: k, dim0: -2, dim1: -1}}
  scores: {{op: matmul, in: [q, k_t]}}
{scores}
  out: {{op: matmul, in: [{out}, v]}}
{extra}
outputs: {{y: out{outputs}}}
"""


ATTENTION = {
    "mul": ("  s: {op: mul, in: scores, other: 0.25}\n  w: {op: softmax, in: s, dim: -1}", "w", 0.25),
    "div": ("  s: {op: div, in: scores, other: 4.0}\n  w: {op: softmax, in: s, dim: 3}", "w", 0.25),
    "unscaled": ("  w: {op: softmax, in: scores, dim: -1}", "w", 1.0),
    "bias": (
        "  s: {op: mul, in: scores, other: 0.5}\n  b: {op: add, in: [s, bias]}\n"
        "  w: {op: softmax, in: b, dim: -1}",
        "w",
        0.5,
    ),
    "mask": (
        "  drop_m: {op: eq, in: keep, other: false}\n"
        "  m: {op: masked_fill, in: [scores, drop_m], value: -.inf}\n  w: {op: softmax, in: m, dim: -1}",
        "w",
        1.0,
    ),
    "dropout-0": ("  w: {op: softmax, in: scores, dim: -1}\n  d: {op: dropout, in: w, p: 0.0}", "d", 1.0),
}


@pytest.mark.parametrize("name", sorted(ATTENTION))
@pytest.mark.parametrize("purpose", ["inference", "training"])
def test_attention_becomes_scaled_dot_product_attention(name: str, purpose: str) -> None:
    scores, out, scale = ATTENTION[name]
    gm = build(attention_spec(scores, out=out)).eval()
    new, fired = rewrite(gm, purpose)
    assert [f.rewrite for f in fired if f.rewrite == "attention"] == ["attention"], new.code
    assert calls(new, F.scaled_dot_product_attention) == 1
    assert calls(new, torch.softmax) == 0 and calls(new, torch.matmul) == 0
    sdpa = next(n for n in new.graph.nodes if n.target is F.scaled_dot_product_attention)
    assert sdpa.kwargs["scale"] == pytest.approx(scale)
    g = torch.Generator().manual_seed(0)
    keep = torch.rand(5, 7, generator=g) > 0.3
    keep[:, 0] = True
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        xs = [torch.randn(3, 2, n, e, dtype=dtype, generator=g) for n, e in ((5, 8), (7, 8), (7, 6))]
        xs += [torch.randn(5, 7, dtype=dtype, generator=g), keep]
        torch.testing.assert_close(outputs(new, xs)[0], outputs(gm, xs)[0], atol=tol, rtol=0)
    fired_at = next(f for f in fired if f.rewrite == "attention")
    assert fired_at.node == "out" and fired_at.loc.startswith("t.yaml:")


NOT_ATTENTION = {
    "softmax-over-dim-2": attention_spec("  w: {op: softmax, in: scores, dim: 2}", out="w"),
    "weights-read-elsewhere": attention_spec(
        "  w: {op: softmax, in: scores, dim: -1}", out="w", outputs=", weights: w"
    ),
    "scores-read-elsewhere": attention_spec(
        "  w: {op: softmax, in: scores, dim: -1}", out="w", outputs=", scores: scores"
    ),
    "finite-fill": attention_spec(
        "  drop_m: {op: eq, in: keep, other: false}\n"
        "  m: {op: masked_fill, in: [scores, drop_m], value: -1.0e+9}\n  w: {op: softmax, in: m, dim: -1}",
        out="w",
    ),
    "k-not-transposed": attention_spec("  w: {op: softmax, in: scores, dim: -1}", out="w").replace(
        "k_t: {op: transpose, in: k, dim0: -2, dim1: -1}", "k_t: {op: transpose, in: k, dim0: 0, dim1: 1}"
    ),
}


@pytest.mark.parametrize("name", sorted(NOT_ATTENTION))
def test_attention_left_alone_where_not_exact(name: str) -> None:
    text = NOT_ATTENTION[name]
    if name == "k-not-transposed":  # (a shape that fits: k [2, B, 8, 7])
        text = text.replace("k: [B, 2, 7, 8]", "k: [2, B, 8, 7]")
    gm = build(text)
    new, fired = rewrite(gm, "inference")
    assert not [f for f in fired if f.rewrite == "attention"]
    assert calls(new, F.scaled_dot_product_attention) == 0


def test_attention_dropout_kept_for_training() -> None:
    """In training mode dropout on the weights draws random numbers: left written out."""
    text = attention_spec(
        "  w: {op: softmax, in: scores, dim: -1}\n  d: {op: dropout, in: w, p: 0.1}", out="d"
    )
    gm = build(text)
    assert not [f for f in rewrite(gm, "training")[1] if f.rewrite == "attention"]
    _, fired = rewrite(gm, "inference")  # eval: the dropout goes first, then the pattern matches
    assert [f.rewrite for f in fired] == ["inactive-regularization", "attention"]


# ----------------------------------------------------------------------------------------------------
# cleanup

SPEC_DROPOUT = """
network: regularized
inputs: {x: [B, 4, H, W]}
dims: {B: 2, H: 5, W: 6}
nodes:
  conv: {op: conv2d, in: x, out_channels: 4, kernel_size: 1}
  drop: {op: dropout, in: conv, p: 0.5}
  path_drop: {op: drop_path, in: drop, p: 0.2}
  same: {op: reshape, in: path_drop, shape: [B, 4, H, W]}
  flat: {op: flatten, in: same, start_dim: 2}
  back: {op: unflatten, in: flat, dim: 2, sizes: [H, W]}
  merged: {op: reshape, in: back, shape: [B, 4, "H*W"]}
outputs: {y: merged}
"""


def test_inactive_regularization_and_same_shape_reshapes_are_dropped() -> None:
    gm = build(SPEC_DROPOUT).eval()
    new, fired = rewrite(gm, "inference")
    assert sorted((f.rewrite, f.node) for f in fired) == [
        ("inactive-regularization", "drop"),
        ("inactive-regularization", "path_drop"),
        ("no-op-reshape", "same"),
    ]
    assert [n.op for n in new.graph.nodes if n.op == "call_module"] == ["call_module"]  # the conv
    x = torch.randn(2, 4, 5, 6)
    torch.testing.assert_close(outputs(new, [x])[0], outputs(gm, [x])[0], rtol=0, atol=0)
    assert new.get_submodule("drop") is gm.get_submodule("drop")  # installed still
    _, fired = rewrite(gm, "training")
    assert [(f.rewrite, f.node) for f in fired] == [("no-op-reshape", "same")]


def test_split_and_squeeze_become_unbind() -> None:
    gm = build(
        """
network: qkv
inputs: {x: [3, B, N, C]}
dims: {B: 2, N: 4, C: 5}
nodes:
  parts: {op: split, in: x, dim: 0, chunks: 3}
  q: {op: squeeze, in: parts.0, dim: 0}
  k: {op: squeeze, in: parts.1, dim: 0}
  v: {op: squeeze, in: parts.2, dim: 0}
  kv: {op: add, in: [k, v]}
  y: {op: mul, in: [q, kv]}
outputs: {y: y}
"""
    )
    new, fired = rewrite(gm, "inference")
    assert [(f.rewrite, f.node) for f in fired] == [("unbind", "q")]
    assert calls(new, torch.unbind) == 1 and calls(new, torch.split) == 0 and calls(new, "squeeze") == 0
    x = torch.randn(3, 2, 4, 5)
    torch.testing.assert_close(outputs(new, [x])[0], outputs(gm, [x])[0], rtol=0, atol=0)


def test_split_left_alone_when_a_part_is_read_unsqueezed() -> None:
    gm = build(
        """
network: qkv
inputs: {x: [2, B, C]}
dims: {B: 2, C: 5}
nodes:
  parts: {op: split, in: x, dim: 0, chunks: 2}
  q: {op: squeeze, in: parts.0, dim: 0}
  y: {op: add, in: [q, parts.1]}
outputs: {y: y}
"""
    )
    assert rewrite(gm, "inference")[1] == []


TOKENS_TO_IMAGE = """
network: tokens_to_image
inputs: {x: [B, 16, 8]}
dims: {B: 2}
nodes:
  t: {op: permute, in: x, dims: [0, 2, 1]}
  img: {op: reshape, in: t, shape: [B, 8, 4, 4]}
  conv: {op: conv2d, in: img, out_channels: 4, kernel_size: 3, padding: 1}
outputs: {y: conv}
"""


def test_conv_input_made_contiguous_for_dynamic_sizes_only() -> None:
    """The copy is needed by inductor with symbolic sizes; with static ones it only costs time."""
    gm = build(TOKENS_TO_IMAGE).eval()
    new, fired = rewrite(gm, "inference")
    assert [(f.rewrite, f.node) for f in fired] == [("contiguous-conv-input", "conv")]
    assert "its input img (reshape) made contiguous" in fired[0].detail
    assert calls(new, "contiguous") == 1
    x = torch.randn(2, 16, 8)
    torch.testing.assert_close(outputs(new, [x])[0], outputs(gm, [x])[0], rtol=0, atol=0)
    _, fired = rewrite(gm, "inference", dynamic=False)
    assert fired == []


def test_a_mask_that_enlarges_the_scores_is_no_attention_mask() -> None:
    """scores [B, 2, 5, 7] + bias [4, B, 2, 5, 7] broadcasts the scores up: left written out."""
    text = attention_spec(
        "  s: {op: add, in: [scores, big]}\n  w: {op: softmax, in: s, dim: -1}", out="w"
    ).replace("bias: [5, 7],", "bias: [5, 7], big: [4, B, 2, 5, 7],")
    gm = build(text)
    assert not [f for f in rewrite(gm, "inference")[1] if f.rewrite == "attention"]

"""scaled_dot_product_attention: what the tables of tests/test_ops.py do not show on their own (torch's
dtype rules over q, k, v and the mask, the shapes it refuses, bool masks, dropout in training mode,
and the written-out attention of a spec against the fused op)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import netdsl
from netdsl.core.errors import ShapeError
from netdsl.core.types import DTYPES, TensorType
from netdsl.ops import REGISTRY

from .test_ops import static_result, torch_result

OP = "scaled_dot_product_attention"


def build(text: str) -> torch.nn.Module:
    return netdsl.build(netdsl.load("t.yaml", text=text), seed=0)


TORCH_DTYPE = {d: getattr(torch, d) for d in DTYPES}


def _t(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    if dtype == "bool":
        return torch.rand(shape, generator=torch.Generator().manual_seed(0)) > 0.3
    return (torch.rand(shape, generator=torch.Generator().manual_seed(1)) + 0.5).to(TORCH_DTYPE[dtype])


@pytest.mark.parametrize("dtypes", list(itertools.product(DTYPES, repeat=3)), ids="-".join)
def test_qkv_dtypes_match_torch(dtypes: tuple[str, str, str]) -> None:
    shapes = [(2, 3, 4), (2, 5, 4), (2, 5, 6)]
    static = static_result(OP, {}, [TensorType.of(s, d) for s, d in zip(shapes, dtypes, strict=True)])
    runtime = torch_result(lambda: F.scaled_dot_product_attention(*map(_t, shapes, dtypes)))
    assert static == runtime, f"{dtypes}: static {static}, torch {runtime}"


@pytest.mark.parametrize(("qkv", "mask"), list(itertools.product(["float32", "float64", "bfloat16"], DTYPES)))
def test_mask_dtypes_match_torch(qkv: str, mask: str) -> None:
    shapes = [(2, 3, 4), (2, 5, 4), (2, 5, 6), (3, 5)]
    dtypes = [qkv, qkv, qkv, mask]
    static = static_result(OP, {}, [TensorType.of(s, d) for s, d in zip(shapes, dtypes, strict=True)])
    runtime = torch_result(
        lambda: F.scaled_dot_product_attention(
            *map(_t, shapes[:3], dtypes[:3]), attn_mask=_t(shapes[3], mask)
        )
    )
    assert static == runtime, f"q, k, v {qkv}, mask {mask}: static {static}, torch {runtime}"


REFUSED = [
    ("rank-1", {}, [(4,), (5, 4), (5, 4)], "rank >= 2"),
    ("ranks", {}, [(2, 5, 8), (2, 4, 6, 8), (2, 4, 6, 8)], "do not broadcast"),
    ("e", {}, [(2, 3, 4), (2, 5, 3), (2, 5, 4)], "last dim of q"),
    ("s", {}, [(2, 3, 4), (2, 5, 4), (2, 6, 4)], "as many rows as k"),
    ("batch", {}, [(2, 3, 4), (3, 5, 4), (3, 5, 4)], "do not broadcast"),
    ("batch-v", {}, [(2, 3, 4), (2, 5, 4), (3, 5, 4)], "do not broadcast"),
    ("mask-shape", {}, [(2, 3, 4), (2, 5, 4), (2, 5, 4), (3, 4)], "must broadcast"),
    ("mask-rank", {}, [(2, 3, 4), (2, 5, 4), (2, 5, 4), (2, 2, 3, 5)], "must broadcast"),
    ("mask-causal", {"is_causal": True}, [(2, 3, 4), (2, 5, 4), (2, 5, 4), (3, 5)], "exclude each other"),
]


@pytest.mark.parametrize(("name", "raw", "shapes", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refuses_what_torch_refuses(name: str, raw: dict, shapes: list[tuple[int, ...]], words: str) -> None:
    op = REGISTRY[OP]
    ins = [
        TensorType.of(s, "bool" if i == 3 and name != "mask-causal" else "float32")
        for i, s in enumerate(shapes)
    ]
    with pytest.raises(ShapeError, match=words):
        op.infer_types(op.attrs.model_validate(raw), ins)
    if name == "mask-causal":
        return  # torch refuses it too, but only for some kernels
    xs = [_t(s, t.dtype) for s, t in zip(shapes, ins, strict=True)]
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(*xs[:3], attn_mask=xs[3] if len(xs) > 3 else None)


WRITTEN = """
network: written
inputs: {q: [B, 2, 5, 8], k: [B, 2, 7, 8], v: [B, 2, 7, 6], keep: {shape: [5, 7], dtype: bool}}
dims: {B: 3}
nodes:
  k_t: {op: transpose, in: k, dim0: -2, dim1: -1}
  scores: {op: matmul, in: [q, k_t]}
  scaled: {op: mul, in: scores, other: 0.35355339059327373}
  masked: {op: masked_fill, in: [scaled, dropped], value: -.inf}
  dropped: {op: eq, in: keep, other: false}
  weights: {op: softmax, in: masked, dim: -1}
  drop: {op: dropout, in: weights, p: 0.25}
  out: {op: matmul, in: [drop, v]}
  fused: {op: scaled_dot_product_attention, in: [q, k, v, keep], dropout_p: 0.25}
outputs: {written: out, fused: fused}
"""


def test_fused_equals_written_out_attention() -> None:
    """A bool mask (True: take part) and the default scale 1 / sqrt(E), in float64 and float32."""
    gm = build(WRITTEN).eval()
    keep = torch.rand(5, 7, generator=torch.Generator().manual_seed(3)) > 0.4
    keep[:, 0] = True  # no row fully masked (0 / 0)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        q, k, v = (torch.randn(3, 2, n, e, dtype=dtype) for n, e in ((5, 8), (7, 8), (7, 6)))
        written, fused = gm(q, k, v, keep)
        torch.testing.assert_close(fused, written, atol=tol, rtol=0)


def test_dropout_only_in_training_mode() -> None:
    gm = build(WRITTEN)
    q, k, v = (torch.randn(3, 2, n, e) for n, e in ((5, 8), (7, 8), (7, 6)))
    keep = torch.ones(5, 7, dtype=torch.bool)
    eval_out = gm.eval()(q, k, v, keep)[1]
    torch.manual_seed(0)
    train_out = gm.train()(q, k, v, keep)[1]
    assert not torch.allclose(train_out, eval_out)
    assert torch.equal(gm.eval()(q, k, v, keep)[1], eval_out)
    sdpa = gm.get_submodule("fused")
    assert type(sdpa).__name__ == "ScaledDotProductAttention" and sdpa.dropout_p == 0.25
    assert not list(sdpa.parameters()) and not list(sdpa.buffers())


def test_causal_matches_a_lower_triangular_mask() -> None:
    spec = """
network: causal
inputs: {x: [B, T, 8]}
dims: {B: 2, T: 6}
nodes:
  a: {op: scaled_dot_product_attention, in: [x, x, x], is_causal: true, scale: 0.5}
outputs: {y: a}
"""
    gm = build(spec)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    want = F.scaled_dot_product_attention(
        x, x, x, attn_mask=torch.ones(6, 6, dtype=torch.bool).tril(), scale=0.5
    )
    torch.testing.assert_close(gm.double()(x), want, atol=1e-12, rtol=0)

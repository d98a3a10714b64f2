"""scaled_dot_product_attention: the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, error_texts, max_diff, run_case

SPEC = BLOCKS / "scaled_dot_product_attention.yaml"


def eager_sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    temperature: float,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """blocks-spec.md §10, written from the spec (eval mode: dropout is the identity)."""
    a = torch.matmul(q / temperature, k.transpose(-2, -1))
    if mask is not None:
        a = a.masked_fill(mask == 0, -1e9)
    attn = torch.softmax(a, dim=-1)
    return torch.matmul(attn, v), attn


def masked_net(mask_shape: str, mask_dtype: str = "float32") -> netdsl.Spec:
    """A tiny network that wires the optional mask (a standalone build leaves it unconnected)."""
    text = f"""network: t
inputs:
  q: [B, h, Lq, dk]
  k: [B, h, Lk, dk]
  v: [B, h, Lk, dv]
  m: {{shape: {mask_shape}, dtype: {mask_dtype}}}
dims: {{B: 2, h: 2, Lq: 5, Lk: 6, dk: 4, dv: 3}}
nodes:
  sdpa: {{block: scaled_dot_product_attention, in: {{q: q, k: k, v: v, mask: m}}, temperature: 1.5}}
outputs: {{output: sdpa.output, attn: sdpa.attn}}
"""
    return netdsl.load("t.yaml", text=text)


SHAPES = [  # (B, h, Lq, Lk, dk, dv)
    (2, 2, 5, 6, 4, 3),
    (1, 3, 7, 4, 8, 8),
    (3, 1, 1, 9, 5, 2),
    (1, 1, 4, 4, 2, 6),
]


@pytest.mark.parametrize("temperature", [2.0, 0.7])
@pytest.mark.parametrize("dims", SHAPES)
def test_matches_eager_reference(dims: tuple[int, ...], temperature: float) -> None:
    b, h, lq, lk, dk, dv = dims
    shapes = {"q": (b, h, lq, dk), "k": (b, h, lk, dk), "v": (b, h, lk, dv)}
    gm = netdsl.build(SPEC, overrides={"temperature": temperature}, input_shapes=shapes, seed=0)
    gm = gm.double().eval()
    assert gm.state_dict() == {}
    ins = {n: torch.randn(s, dtype=torch.float64) for n, s in shapes.items()}
    out, attn = gm(**ins)
    want_out, want_attn = eager_sdpa(ins["q"], ins["k"], ins["v"], temperature)
    torch.testing.assert_close(out, want_out, rtol=0, atol=1e-10)
    torch.testing.assert_close(attn, want_attn, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("mask_shape", "runtime_shape"),
    [
        ("[B, 1, 1, Lk]", (2, 1, 1, 6)),  # key padding
        ("[B, 1, Lq, Lk]", (2, 1, 5, 6)),  # per query (e.g. causal + padding)
        ("[B, h, Lq, Lk]", (2, 2, 5, 6)),
        ("[Lq, Lk]", (5, 6)),  # a lower-rank mask broadcasts too
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "bool", "int64"])
def test_mask_zero_means_masked(mask_shape: str, runtime_shape: tuple[int, ...], dtype: str) -> None:
    spec = masked_net(mask_shape, dtype)
    res = netdsl.check(spec)
    assert res.ok, [e.render() for e in res.errors]
    gm = netdsl.build(spec, seed=0).double().eval()
    q, k, v = torch.randn(2, 2, 5, 4), torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 3)
    q, k, v = q.double(), k.double(), v.double()
    mask = torch.rand(runtime_shape) > 0.4
    mask[..., 0] = True  # no fully masked row
    m = mask.to(getattr(torch, dtype))
    out, attn = gm(q, k, v, m)
    want_out, want_attn = eager_sdpa(q, k, v, 1.5, m)
    torch.testing.assert_close(out, want_out, rtol=0, atol=1e-10)
    torch.testing.assert_close(attn, want_attn, rtol=0, atol=1e-10)
    assert torch.all(attn.masked_select(~mask.expand_as(attn)) == 0)  # exp(-1e9 - max) underflows to 0


def test_mask_that_does_not_broadcast_is_a_static_error() -> None:
    res = netdsl.check(masked_net("[B, h, 3, Lk]"))
    assert any("do not broadcast" in e.message for e in res.errors), [e.render() for e in res.errors]


def test_dropout_only_in_training() -> None:
    shapes = {"q": (2, 2, 5, 4), "k": (2, 2, 6, 4), "v": (2, 2, 6, 3)}
    gm = netdsl.build(SPEC, overrides={"temperature": 2.0, "attn_dropout": 0.5}, input_shapes=shapes)
    gm = gm.double()
    ins = {n: torch.randn(s, dtype=torch.float64) for n, s in shapes.items()}
    out, _ = gm.eval()(**ins)
    want_out, want_attn = eager_sdpa(ins["q"], ins["k"], ins["v"], 2.0)
    torch.testing.assert_close(out, want_out, rtol=0, atol=1e-10)
    torch.manual_seed(0)
    _, attn_train = gm.train()(**ins)
    assert not torch.allclose(attn_train, want_attn)  # some weights dropped, the rest scaled by 2


@pytest.mark.parametrize("path", block_cases("scaled_dot_product_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, gm = run_case(path)
    assert gm.state_dict() == {}
    assert max_diff(got, want) <= 1e-9


def test_temperature_must_be_positive() -> None:
    msgs = error_texts(SPEC, {"temperature": 0.0})
    assert any("requires temperature > 0" in m and "temperature must be positive" in m for m in msgs), msgs


def test_attn_dropout_range() -> None:
    msgs = error_texts(SPEC, {"temperature": 2.0, "attn_dropout": 1.0})
    assert any("attn_dropout must be in [0, 1)" in m for m in msgs), msgs


def test_query_and_key_widths_must_match() -> None:
    msgs = error_texts(SPEC, {"temperature": 2.0}, {"q": (2, 2, 5, 4), "k": (2, 2, 6, 3), "v": (2, 2, 6, 3)})
    assert any("input 'k' expects (B, h, Lk, dk), got (2, 2, 6, 3): dim 3 is 3, not dk" in m for m in msgs), (
        msgs
    )


def test_keys_and_values_same_length() -> None:
    msgs = error_texts(SPEC, {"temperature": 2.0}, {"q": (2, 2, 5, 4), "k": (2, 2, 6, 4), "v": (2, 2, 7, 3)})
    assert any("input 'v' expects (B, h, Lk, dv), got (2, 2, 7, 3): dim 2 is 7, not Lk" in m for m in msgs), (
        msgs
    )


def test_rank_4() -> None:
    msgs = error_texts(SPEC, {"temperature": 2.0}, {"q": (2, 5, 4), "k": (2, 2, 6, 4), "v": (2, 2, 6, 3)})
    assert any("input 'q'" in m and "rank 4" in m for m in msgs), msgs

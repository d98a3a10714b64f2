"""multi_head_attention (post-LN MHA): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, error_texts, max_diff, randomise, run_case

SPEC = BLOCKS / "multi_head_attention.yaml"

KEYS = ["w_qs.weight", "w_ks.weight", "w_vs.weight", "fc.weight", "layer_norm.weight", "layer_norm.bias"]


def eager_mha(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    sd: dict[str, torch.Tensor],
    n_head: int,
    d_k: int,
    d_v: int,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """blocks-spec.md §11 (with §10 inlined), written from the spec; eval mode (dropouts are identities)."""
    b, lq, d_model = q.shape
    lk = k.shape[1]
    qh = (q @ sd["w_qs.weight"].T).reshape(b, lq, n_head, d_k).transpose(1, 2)
    kh = (k @ sd["w_ks.weight"].T).reshape(b, lk, n_head, d_k).transpose(1, 2)
    vh = (v @ sd["w_vs.weight"].T).reshape(b, lk, n_head, d_v).transpose(1, 2)
    a = (qh / d_k**0.5) @ kh.transpose(2, 3)
    if mask is not None:
        a = a.masked_fill(mask.unsqueeze(1) == 0, -1e9)
    attn = torch.softmax(a, dim=-1)
    o = (attn @ vh).transpose(1, 2).reshape(b, lq, n_head * d_v)
    o = o @ sd["fc.weight"].T + q
    out = torch.nn.functional.layer_norm(o, (d_model,), sd["layer_norm.weight"], sd["layer_norm.bias"], 1e-6)
    return out, attn


CONFIGS = [  # (n_head, d_model, d_k, d_v, B, Lq, Lk)
    (2, 16, 8, 8, 2, 5, 6),
    (4, 12, 3, 5, 1, 7, 3),
    (1, 8, 6, 4, 3, 4, 4),
    (3, 10, 4, 2, 1, 1, 9),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_matches_eager_reference(config: tuple[int, ...]) -> None:
    n_head, d_model, d_k, d_v, b, lq, lk = config
    params = {"n_head": n_head, "d_model": d_model, "d_k": d_k, "d_v": d_v}
    shapes = {"q": (b, lq, d_model), "k": (b, lk, d_model), "v": (b, lk, d_model)}
    gm = netdsl.build(SPEC, overrides=params, input_shapes=shapes, seed=0).double().eval()
    sd = randomise(gm, 0.3)
    assert list(sd) == KEYS
    ins = {n: torch.randn(s, dtype=torch.float64) for n, s in shapes.items()}
    out, attn = gm(**ins)
    want_out, want_attn = eager_mha(ins["q"], ins["k"], ins["v"], sd, n_head, d_k, d_v)
    assert attn.shape == (b, n_head, lq, lk)
    torch.testing.assert_close(out, want_out, rtol=0, atol=1e-10)
    torch.testing.assert_close(attn, want_attn, rtol=0, atol=1e-10)


def masked_net(mask_shape: str) -> netdsl.Spec:
    """A tiny network that wires the optional mask (a standalone build leaves it unconnected)."""
    text = f"""network: t
inputs: {{x: [B, L, 12], mem: [B, S, 12], m: {mask_shape}}}
dims: {{B: 2, L: 5, S: 6}}
nodes:
  mha:
    block: multi_head_attention
    in: {{q: x, k: mem, v: mem, mask: m}}
    n_head: 3
    d_model: 12
    d_k: 4
    d_v: 5
outputs: {{out: mha.out, attn: mha.attn}}
"""
    return netdsl.load("t.yaml", text=text)


@pytest.mark.parametrize(
    ("mask_shape", "runtime_shape"), [("[B, L, S]", (2, 5, 6)), ("[B, 1, S]", (2, 1, 6))]
)
def test_mask_zero_means_masked(mask_shape: str, runtime_shape: tuple[int, ...]) -> None:
    spec = masked_net(mask_shape)
    res = netdsl.check(spec)
    assert res.ok, [e.render() for e in res.errors]
    gm = netdsl.build(spec, seed=0).double().eval()
    sd = {k.removeprefix("mha."): v for k, v in randomise(gm, 0.3).items()}
    x, mem = torch.randn(2, 5, 12, dtype=torch.float64), torch.randn(2, 6, 12, dtype=torch.float64)
    mask = (torch.rand(runtime_shape) > 0.4).double()
    mask[..., 0] = 1  # no fully masked row
    out, attn = gm(x, mem, mask)
    want_out, want_attn = eager_mha(x, mem, mem, sd, 3, 4, 5, mask)
    torch.testing.assert_close(out, want_out, rtol=0, atol=1e-10)
    torch.testing.assert_close(attn, want_attn, rtol=0, atol=1e-10)
    assert torch.all(attn.masked_select(mask.unsqueeze(1).expand_as(attn) == 0) == 0)


def test_mask_with_other_query_length_is_a_static_error() -> None:
    res = netdsl.check(masked_net("[B, 3, S]"))
    assert any("do not broadcast" in e.message for e in res.errors), [e.render() for e in res.errors]


def test_uses_the_library_sdpa_block() -> None:
    res = netdsl.check(SPEC)
    assert res.graph is not None
    ids = [n.id for n in res.graph.nodes]
    assert "attention.scores" in ids and "attention.attn" in ids


def test_dropout_is_identity_in_eval() -> None:
    params = {"n_head": 2, "d_model": 8, "d_k": 4, "d_v": 4, "dropout": 0.5, "attn_dropout": 0.5}
    shapes = {"q": (2, 5, 8), "k": (2, 6, 8), "v": (2, 6, 8)}
    gm = netdsl.build(SPEC, overrides=params, input_shapes=shapes, seed=0).double().eval()
    sd = randomise(gm, 0.3)
    ins = {n: torch.randn(s, dtype=torch.float64) for n, s in shapes.items()}
    out, _ = gm(**ins)
    torch.testing.assert_close(
        out, eager_mha(ins["q"], ins["k"], ins["v"], sd, 2, 4, 4)[0], rtol=0, atol=1e-10
    )


def test_default_init() -> None:
    sd = netdsl.build(SPEC, overrides={"n_head": 2, "d_model": 16, "d_k": 8, "d_v": 6}, seed=0).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "w_qs.weight": (16, 16),
        "w_ks.weight": (16, 16),
        "w_vs.weight": (12, 16),
        "fc.weight": (16, 12),
        "layer_norm.weight": (16,),
        "layer_norm.bias": (16,),
    }
    assert torch.equal(sd["layer_norm.weight"], torch.ones(16))
    assert torch.equal(sd["layer_norm.bias"], torch.zeros(16))
    for key in ("w_qs.weight", "fc.weight"):  # nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        w = sd[key]
        assert w.abs().max() <= w.shape[1] ** -0.5 and w.std() > 0


@pytest.mark.parametrize("path", block_cases("multi_head_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_keys_and_values_same_length() -> None:
    msgs = error_texts(SPEC, {}, {"q": (2, 5, 16), "k": (2, 6, 16), "v": (2, 7, 16)})
    assert any("input 'v' expects (B, Lk, 16), got (2, 7, 16): dim 1 is 7, not Lk" in m for m in msgs), msgs


def test_last_dims_are_d_model() -> None:
    msgs = error_texts(SPEC, {}, {"q": (2, 5, 16), "k": (2, 6, 12), "v": (2, 6, 16)})
    assert any("input 'k' expects (B, Lk, 16), got (2, 6, 12): dim 2 is 12, not 16" in m for m in msgs), msgs


def test_sizes_must_be_positive() -> None:
    msgs = error_texts(SPEC, {"n_head": 0})
    assert any("n_head, d_model, d_k and d_v must be positive" in m for m in msgs), msgs


def test_dropout_range() -> None:
    msgs = error_texts(SPEC, {"dropout": 1.0})
    assert any("dropout must be in [0, 1)" in m for m in msgs), msgs
    msgs = error_texts(SPEC, {"attn_dropout": -0.1})  # checked by the inner scaled_dot_product_attention
    assert any("attn_dropout must be in [0, 1)" in m for m in msgs), msgs

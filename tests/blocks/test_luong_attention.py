"""luong_attention (multiplicative): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, error_texts, max_diff, randomise, run_case

SPEC = BLOCKS / "luong_attention.yaml"

METHODS = ["dot", "general", "concat"]


def eager_luong(
    hidden: torch.Tensor,
    enc: torch.Tensor,
    sd: dict[str, torch.Tensor],
    method: str,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """blocks-spec.md §16, written from the spec (the chatbot tutorial's Attn, batch-first)."""
    if method == "dot":
        score = torch.sum(hidden * enc, dim=2)
    elif method == "general":
        score = torch.sum(hidden * (enc @ sd["attn.weight"].T + sd["attn.bias"]), dim=2)
    else:
        pair = torch.cat([hidden.expand(-1, enc.shape[1], -1), enc], dim=2)  # [h_t; h̄_s]
        energy = torch.tanh(pair @ sd["attn.weight"].T + sd["attn.bias"])
        score = torch.sum(sd["v"] * energy, dim=2)
    if mask is not None:
        score = score.masked_fill(mask == 0, -1e9)
    weights = torch.softmax(score, dim=1).unsqueeze(1)
    return torch.matmul(weights, enc), weights


def layout(method: str, h: int) -> dict[str, tuple[int, ...]]:
    return {
        "dot": {},
        "general": {"attn.weight": (h, h), "attn.bias": (h,)},
        "concat": {"attn.weight": (h, 2 * h), "attn.bias": (h,), "v": (h,)},
    }[method]


@pytest.mark.parametrize("dims", [(8, 2, 5), (5, 1, 9), (3, 4, 1), (6, 1, 6)])
@pytest.mark.parametrize("method", METHODS)
def test_matches_eager_reference(method: str, dims: tuple[int, int, int]) -> None:
    h, b, t = dims
    shapes = {"hidden": (b, 1, h), "encoder_outputs": (b, t, h)}
    params = {"hidden_size": h, "method": method}
    gm = netdsl.build(SPEC, overrides=params, input_shapes=shapes, seed=0).double().eval()
    sd = randomise(gm, 0.4)
    assert {k: tuple(v.shape) for k, v in sd.items()} == layout(method, h)
    hidden = torch.randn(shapes["hidden"], dtype=torch.float64)
    enc = torch.randn(shapes["encoder_outputs"], dtype=torch.float64)
    context, weights = gm(hidden, enc)
    want_context, want_weights = eager_luong(hidden, enc, sd, method)
    assert context.shape == (b, 1, h) and weights.shape == (b, 1, t)
    torch.testing.assert_close(context, want_context, rtol=0, atol=1e-10)
    torch.testing.assert_close(weights, want_weights, rtol=0, atol=1e-10)


def masked_net(method: str) -> netdsl.Spec:
    text = f"""network: t
inputs: {{h: [B, 1, 6], enc: [B, T, 6], m: [B, T]}}
dims: {{B: 3, T: 5}}
nodes:
  att:
    block: luong_attention
    in: {{hidden: h, encoder_outputs: enc, mask: m}}
    hidden_size: 6
    method: {method}
outputs: {{context: att.context, weights: att.weights}}
"""
    return netdsl.load("t.yaml", text=text)


@pytest.mark.parametrize("method", METHODS)
def test_mask_zero_means_padding(method: str) -> None:
    spec = masked_net(method)
    res = netdsl.check(spec)
    assert res.ok, [e.render() for e in res.errors]
    gm = netdsl.build(spec, seed=0).double().eval()
    sd = {k.removeprefix("att."): v for k, v in randomise(gm, 0.4).items()}
    hidden, enc = torch.randn(3, 1, 6, dtype=torch.float64), torch.randn(3, 5, 6, dtype=torch.float64)
    mask = (torch.arange(5)[None, :] < torch.tensor([5, 2, 1])[:, None]).long()
    context, weights = gm(hidden, enc, mask)
    want_context, want_weights = eager_luong(hidden, enc, sd, method, mask)
    torch.testing.assert_close(context, want_context, rtol=0, atol=1e-10)
    torch.testing.assert_close(weights, want_weights, rtol=0, atol=1e-10)
    assert torch.all(weights[:, 0][mask == 0] == 0)


def test_default_init_of_attn() -> None:
    sd = netdsl.build(SPEC, overrides={"hidden_size": 16, "method": "general"}, seed=0).state_dict()
    bound = 16**-0.5  # nn.Linear default
    assert sd["attn.weight"].abs().max() <= bound and sd["attn.bias"].abs().max() <= bound


def test_v_init_is_uniform_over_inverse_sqrt_h() -> None:
    h = 64
    sd = netdsl.build(SPEC, overrides={"hidden_size": h, "method": "concat"}, seed=0).state_dict()
    v = sd["v"]
    assert v.abs().max() <= h**-0.5
    assert v.abs().max() > 0.5 * h**-0.5 and v.std() > 0


@pytest.mark.parametrize("path", block_cases("luong_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_hidden_is_one_step() -> None:
    msgs = error_texts(SPEC, {}, {"hidden": (2, 3, 8), "encoder_outputs": (2, 6, 8)})
    assert any("input 'hidden' expects (B, 1, 8), got (2, 3, 8): dim 1 is 3, not 1" in m for m in msgs), msgs


def test_widths_are_hidden_size() -> None:
    msgs = error_texts(SPEC, {}, {"hidden": (2, 1, 8), "encoder_outputs": (2, 6, 7)})
    assert any("input 'encoder_outputs' expects (B, T, 8), got (2, 6, 7)" in m for m in msgs), msgs


def test_unknown_method() -> None:
    msgs = error_texts(SPEC, {"method": "additive"})
    assert any("'additive' is not one of ['dot', 'general', 'concat']" in m for m in msgs), msgs


def test_hidden_size_must_be_positive() -> None:
    assert any("hidden_size must be positive" in m for m in error_texts(SPEC, {"hidden_size": 0}))

"""bahdanau_attention (additive): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, error_texts, max_diff, randomise, run_case

SPEC = BLOCKS / "bahdanau_attention.yaml"


def eager_bahdanau(
    query: torch.Tensor, keys: torch.Tensor, sd: dict[str, torch.Tensor], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """blocks-spec.md §15, written from the spec."""

    def lin(x: torch.Tensor, p: str) -> torch.Tensor:
        return x @ sd[f"{p}.weight"].T + sd[f"{p}.bias"]

    e = lin(torch.tanh(lin(query, "Wa") + lin(keys, "Ua")), "Va")  # (B, T, 1)
    e = e.squeeze(2).unsqueeze(1)  # (B, 1, T)
    if mask is not None:
        e = e.masked_fill(mask.unsqueeze(1) == 0, -1e9)
    weights = torch.softmax(e, dim=-1)
    return torch.matmul(weights, keys), weights


CONFIGS = [  # (hidden_size, query_size, key_size, B, T)
    (8, None, None, 2, 5),
    (6, 4, 10, 1, 7),
    (5, 9, None, 3, 1),
    (4, None, 3, 1, 6),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_matches_eager_reference(config: tuple[int | None, ...]) -> None:
    hidden, qs, ks, b, t = config
    assert hidden is not None and b is not None and t is not None
    dq, dk = qs or hidden, ks or hidden
    params = {"hidden_size": hidden, "query_size": qs, "key_size": ks}
    shapes = {"query": (b, 1, dq), "keys": (b, t, dk)}
    gm = netdsl.build(SPEC, overrides=params, input_shapes=shapes, seed=0).double().eval()
    sd = randomise(gm, 0.5)
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "Wa.weight": (hidden, dq),
        "Wa.bias": (hidden,),
        "Ua.weight": (hidden, dk),
        "Ua.bias": (hidden,),
        "Va.weight": (1, hidden),
        "Va.bias": (1,),
    }
    query, keys = (
        torch.randn(shapes["query"], dtype=torch.float64),
        torch.randn(shapes["keys"], dtype=torch.float64),
    )
    context, weights = gm(query, keys)
    want_context, want_weights = eager_bahdanau(query, keys, sd)
    assert context.shape == (b, 1, dk) and weights.shape == (b, 1, t)
    torch.testing.assert_close(context, want_context, rtol=0, atol=1e-10)
    torch.testing.assert_close(weights, want_weights, rtol=0, atol=1e-10)


MASKED_NET = """network: t
inputs: {s: [B, 1, 6], h: [B, T, 10], m: [B, T]}
dims: {B: 3, T: 7}
nodes:
  att:
    block: bahdanau_attention
    in: {query: s, keys: h, mask: m}
    hidden_size: 8
    query_size: 6
    key_size: 10
outputs: {context: att.context, weights: att.weights}
"""


def test_mask_zero_means_padding() -> None:
    spec = netdsl.load("t.yaml", text=MASKED_NET)
    res = netdsl.check(spec)
    assert res.ok, [e.render() for e in res.errors]
    gm = netdsl.build(spec, seed=0).double().eval()
    sd = {k.removeprefix("att."): v for k, v in randomise(gm, 0.5).items()}
    s, h = torch.randn(3, 1, 6, dtype=torch.float64), torch.randn(3, 7, 10, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 1])
    mask = (torch.arange(7)[None, :] < lengths[:, None]).double()  # padded sequences
    context, weights = gm(s, h, mask)
    want_context, want_weights = eager_bahdanau(s, h, sd, mask)
    torch.testing.assert_close(context, want_context, rtol=0, atol=1e-10)
    torch.testing.assert_close(weights, want_weights, rtol=0, atol=1e-10)
    assert torch.all(weights[:, 0][mask == 0] == 0)
    torch.testing.assert_close(weights[2, 0, 0], torch.tensor(1.0, dtype=torch.float64))


def test_default_init() -> None:
    sd = netdsl.build(SPEC, overrides={"hidden_size": 16}, seed=0).state_dict()
    for p in ("Wa", "Ua", "Va"):  # nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = sd[f"{p}.weight"].shape[1] ** -0.5
        assert sd[f"{p}.weight"].abs().max() <= bound and sd[f"{p}.bias"].abs().max() <= bound


@pytest.mark.parametrize("path", block_cases("bahdanau_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_query_has_length_1() -> None:
    msgs = error_texts(SPEC, {}, {"query": (2, 2, 8), "keys": (2, 6, 8)})
    assert any("input 'query' expects (B, 1, 8), got (2, 2, 8): dim 1 is 2, not 1" in m for m in msgs), msgs


def test_query_is_3d() -> None:
    msgs = error_texts(SPEC, {}, {"query": (2, 8), "keys": (2, 6, 8)})
    assert any("input 'query'" in m and "rank 3" in m for m in msgs), msgs


def test_sizes_follow_the_parameters() -> None:
    msgs = error_texts(SPEC, {"query_size": 6}, {"query": (2, 1, 8), "keys": (2, 6, 8)})
    assert any("input 'query' expects (B, 1, 6), got (2, 1, 8)" in m for m in msgs), msgs


def test_sizes_must_be_positive() -> None:
    assert any("hidden_size must be positive" in m for m in error_texts(SPEC, {"hidden_size": 0}))
    assert any("query_size must be null or a positive int" in m for m in error_texts(SPEC, {"query_size": 0}))
    assert any("key_size must be null or a positive int" in m for m in error_texts(SPEC, {"key_size": -2}))

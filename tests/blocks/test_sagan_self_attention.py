"""sagan_self_attention (SAGAN Self_Attn): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "sagan_self_attention.yaml"


def eager_sagan(x: torch.Tensor, sd: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """blocks-spec.md §6, written from the spec (= the official Self_Attn.forward)."""
    b, c, w, h = x.shape
    n = w * h
    q = F.conv2d(x, sd["query_conv.weight"], sd["query_conv.bias"]).reshape(b, -1, n).permute(0, 2, 1)
    k = F.conv2d(x, sd["key_conv.weight"], sd["key_conv.bias"]).reshape(b, -1, n)
    attention = torch.softmax(torch.bmm(q, k), dim=-1)
    v = F.conv2d(x, sd["value_conv.weight"], sd["value_conv.bias"]).reshape(b, c, n)
    o = torch.bmm(v, attention.permute(0, 2, 1)).reshape(b, c, w, h)
    return sd["gamma"] * o + x, attention


def _random_block(in_dim: int, shape: tuple[int, ...]) -> torch.fx.GraphModule:
    gm = netdsl.build(SPEC, overrides={"in_dim": in_dim}, input_shapes={"x": shape}, seed=0).double().eval()
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.randn_like(p))
    return gm


@pytest.mark.parametrize(
    ("in_dim", "shape"),
    [(16, (2, 16, 5, 6)), (8, (1, 8, 7, 3)), (12, (3, 12, 4, 4)), (20, (2, 20, 1, 1)), (9, (1, 9, 2, 5))],
)
def test_matches_eager_reference(in_dim: int, shape: tuple[int, ...]) -> None:
    gm = _random_block(in_dim, shape)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out, attention = gm(x)
    want_out, want_attention = eager_sagan(x, gm.state_dict())
    n = shape[2] * shape[3]
    assert tuple(attention.shape) == (shape[0], n, n)
    torch.testing.assert_close(attention, want_attention, rtol=0, atol=1e-10)
    torch.testing.assert_close(out, want_out, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        attention.sum(-1), torch.ones(shape[0], n, dtype=torch.float64), rtol=0, atol=1e-12
    )


def test_identity_at_init() -> None:
    gm = netdsl.build(SPEC, overrides={"in_dim": 16}, input_shapes={"x": (2, 16, 5, 6)}, seed=0).eval()
    sd = gm.state_dict()
    assert torch.equal(sd["gamma"], torch.zeros(1))
    x = torch.randn(2, 16, 5, 6)
    with torch.no_grad():
        out, _ = gm(x)
    assert torch.equal(out, x)


def test_state_dict_layout() -> None:
    sd = netdsl.build(SPEC, overrides={"in_dim": 17}, input_shapes={"x": (1, 17, 3, 3)}).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "query_conv.weight": (2, 17, 1, 1),
        "query_conv.bias": (2,),
        "key_conv.weight": (2, 17, 1, 1),
        "key_conv.bias": (2,),
        "value_conv.weight": (17, 17, 1, 1),
        "value_conv.bias": (17,),
        "gamma": (1,),
    }


@pytest.mark.parametrize("path", block_cases("sagan_self_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def _hints(res: netdsl.CheckResult) -> list[str]:
    return [f"{e.message} | {e.hint}" for e in res.errors]


def test_in_dim_at_least_8() -> None:
    res = netdsl.check(SPEC, overrides={"in_dim": 7}, input_shapes={"x": (2, 7, 5, 6)})
    assert any("in_dim must be at least 8" in h for h in _hints(res)), _hints(res)


def test_input_channels_must_equal_in_dim() -> None:
    res = netdsl.check(SPEC, overrides={"in_dim": 16}, input_shapes={"x": (2, 8, 5, 6)})
    assert any("dim 1 is 8, not 16" in h for h in _hints(res)), _hints(res)

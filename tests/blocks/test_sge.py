"""sge (Spatial Group-wise Enhance): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "sge.yaml"


def eager_sge(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int) -> torch.Tensor:
    """blocks-spec.md §3, written from the spec (fixed behaviour: bias initialised to 1)."""
    b, c, h, w = x.shape
    xg = x.reshape(b * groups, c // groups, h, w)
    xn = (xg * xg.mean(dim=(2, 3), keepdim=True)).sum(dim=1, keepdim=True)
    t = xn.reshape(b * groups, h * w)
    t = t - t.mean(dim=1, keepdim=True)
    t = t / (t.std(dim=1, keepdim=True, unbiased=True) + 1e-5)
    t = t.reshape(b, groups, h, w) * weight + bias
    t = t.reshape(b * groups, 1, h, w)
    return (xg * torch.sigmoid(t)).reshape(b, c, h, w)


@pytest.mark.parametrize(("groups", "shape"), [(4, (2, 16, 5, 6)), (2, (1, 6, 7, 3)), (8, (3, 8, 2, 1))])
def test_matches_eager_reference(groups: int, shape: tuple[int, ...]) -> None:
    gm = netdsl.build(SPEC, overrides={"groups": groups}, input_shapes={"x": shape}, seed=0).double().eval()
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.randn_like(p))
    x = torch.randn(shape, dtype=torch.float64)
    sd = gm.state_dict()
    want = eager_sge(x, sd["weight"], sd["bias"], groups)
    torch.testing.assert_close(gm(x), want, rtol=0, atol=1e-12)


def test_official_init() -> None:
    sd = netdsl.build(SPEC, overrides={"groups": 4}).state_dict()
    assert torch.equal(sd["weight"], torch.zeros(1, 4, 1, 1))
    assert torch.equal(sd["bias"], torch.ones(1, 4, 1, 1))


@pytest.mark.parametrize("path", block_cases("sge"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_channels_not_divisible_by_groups() -> None:
    res = netdsl.check(SPEC, overrides={"groups": 4}, input_shapes={"x": (2, 18, 5, 6)})
    assert any("18, which is not 4*Cg for any whole Cg" in e.message for e in res.errors), res.errors


def test_single_position_is_a_static_error() -> None:
    res = netdsl.check(SPEC, overrides={"groups": 4}, input_shapes={"x": (2, 16, 1, 1)})
    assert any("unbiased std" in e.message for e in res.errors), [e.render() for e in res.errors]

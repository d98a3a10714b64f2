"""shuffle_attention (SA-Net): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "shuffle_attention.yaml"


def eager_shuffle_attention(x: torch.Tensor, sd: dict[str, torch.Tensor], groups: int) -> torch.Tensor:
    """blocks-spec.md §1, written from the spec (fixed behaviour: the channel branch adds cbias)."""
    b, ch, h, w = x.shape
    c = ch // (2 * groups)
    xg = x.reshape(b * groups, 2 * c, h, w)
    x0, x1 = xg[:, :c], xg[:, c:]
    t = x0.mean(dim=(2, 3), keepdim=True)
    xn = x0 * torch.sigmoid(sd["cweight"] * t + sd["cbias"])
    gn = F.group_norm(x1, c, sd["gn.weight"], sd["gn.bias"], eps=1e-5)
    xs = x1 * torch.sigmoid(sd["sweight"] * gn + sd["sbias"])
    out = torch.cat([xn, xs], dim=1).reshape(b, ch, h, w)
    return out.reshape(b, 2, ch // 2, h, w).permute(0, 2, 1, 3, 4).reshape(b, ch, h, w)


def _random_block(channel: int, groups: int, shape: tuple[int, ...]) -> torch.fx.GraphModule:
    gm = netdsl.build(
        SPEC, overrides={"channel": channel, "groups": groups}, input_shapes={"x": shape}, seed=0
    )
    gm = gm.double().eval()
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.randn_like(p))
    return gm


@pytest.mark.parametrize(
    ("channel", "groups", "shape"),
    [
        (32, 4, (2, 32, 5, 6)),
        (12, 2, (1, 12, 7, 3)),
        (8, 4, (3, 8, 2, 1)),  # c = 1
        (16, 1, (2, 16, 4, 4)),
        (24, 3, (2, 24, 1, 1)),  # H = W = 1: the GroupNorm output is gn.bias
    ],
)
def test_matches_eager_reference(channel: int, groups: int, shape: tuple[int, ...]) -> None:
    gm = _random_block(channel, groups, shape)
    x = torch.randn(shape, dtype=torch.float64)
    want = eager_shuffle_attention(x, gm.state_dict(), groups)
    with torch.no_grad():
        got = gm(x)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_single_position_uses_gn_bias() -> None:
    gm = _random_block(8, 2, (2, 8, 1, 1))
    x = torch.randn(2, 8, 1, 1, dtype=torch.float64)
    sd = gm.state_dict()
    c = 2
    xg = x.reshape(4, 4, 1, 1)
    xs = xg[:, c:] * torch.sigmoid(sd["sweight"] * sd["gn.bias"].reshape(1, c, 1, 1) + sd["sbias"])
    with torch.no_grad():
        got = gm(x)
    want = eager_shuffle_attention(x, sd, 2)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    # the spatial half (channels 2, 3) of group 0 of sample 0 lands on channels 4, 6 after the shuffle
    torch.testing.assert_close(got[0, [4, 6]], xs[0], rtol=0, atol=1e-10)


def test_cbias_is_used() -> None:
    """The seed added cweight twice; with cweight = 0 the channel gate must be sigmoid(cbias)."""
    gm = _random_block(8, 1, (1, 8, 3, 4))
    with torch.no_grad():
        gm.get_parameter("cweight").zero_()
        gm.get_parameter("cbias").fill_(-2.0)
    x = torch.randn(1, 8, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        got = gm(x)
    # channel shuffle with groups=1: output channel 2*i is the channel-branch channel i (i < 4)
    gate = torch.sigmoid(torch.tensor(-2.0, dtype=torch.float64))
    torch.testing.assert_close(got[:, 0::2], x[:, :4] * gate, rtol=0, atol=1e-12)


def test_official_init() -> None:
    sd = netdsl.build(SPEC, overrides={"channel": 32, "groups": 4}).state_dict()
    assert set(sd) == {"cweight", "cbias", "sweight", "sbias", "gn.weight", "gn.bias"}
    assert torch.equal(sd["cweight"], torch.zeros(1, 4, 1, 1))
    assert torch.equal(sd["cbias"], torch.ones(1, 4, 1, 1))
    assert torch.equal(sd["sweight"], torch.zeros(1, 4, 1, 1))
    assert torch.equal(sd["sbias"], torch.ones(1, 4, 1, 1))
    assert torch.equal(sd["gn.weight"], torch.ones(4))
    assert torch.equal(sd["gn.bias"], torch.zeros(4))


def test_default_groups(tmp_path: Path) -> None:
    net = tmp_path / "net.yaml"
    net.write_text(
        "network: uses_sa\n"
        "inputs: {x: [B, 256, H, W]}\n"
        "dims: {B: 1, H: 2, W: 3}\n"
        "nodes:\n"
        "  sa: {block: shuffle_attention, in: x, channel: 256}\n"
        "outputs: {y: sa}\n"
    )
    sd = netdsl.build(net).state_dict()
    assert tuple(sd["sa.cweight"].shape) == (1, 2, 1, 1)  # groups=64 -> c = 256 / 128


@pytest.mark.parametrize("path", block_cases("shuffle_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def _hints(res: netdsl.CheckResult) -> list[str]:
    return [f"{e.message} | {e.hint}" for e in res.errors]


def test_channel_not_divisible_by_two_groups() -> None:
    res = netdsl.check(SPEC, overrides={"channel": 36, "groups": 4}, input_shapes={"x": (2, 36, 5, 6)})
    assert any("channel must be divisible by 2*groups" in h for h in _hints(res)), _hints(res)


def test_channel_smaller_than_two_groups() -> None:
    res = netdsl.check(SPEC, overrides={"channel": 0, "groups": 4}, input_shapes={"x": (2, 0, 5, 6)})
    assert any("channel must be at least 2*groups" in h for h in _hints(res)), _hints(res)


def test_groups_must_be_positive() -> None:
    res = netdsl.check(SPEC, overrides={"channel": 8, "groups": 0}, input_shapes={"x": (2, 8, 5, 6)})
    assert any("groups must be positive" in h for h in _hints(res)), _hints(res)


def test_input_channels_must_equal_channel() -> None:
    res = netdsl.check(SPEC, overrides={"channel": 32, "groups": 4}, input_shapes={"x": (2, 16, 5, 6)})
    assert any("dim 1 is 16, not 32" in h for h in _hints(res)), _hints(res)

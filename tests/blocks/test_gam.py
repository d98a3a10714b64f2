"""gam (Global Attention Mechanism): the block against an eager reference, the reference outputs, init,
constraints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, randomise, run_case

SPEC = BLOCKS / "gam.yaml"


def eager_gam(x: torch.Tensor, sd: dict[str, torch.Tensor], padding_mode: str) -> torch.Tensor:
    """blocks-spec.md §14 written from the spec (eval mode; fixed: sigmoid on the channel map)."""
    b, c, h, w = x.shape
    t = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    a = F.linear(
        F.relu(F.linear(t, sd["linear1.weight"], sd["linear1.bias"])),
        sd["linear2.weight"],
        sd["linear2.bias"],
    )
    x = x * torch.sigmoid(a.reshape(b, h, w, c).permute(0, 3, 1, 2))

    def conv_bn(t: torch.Tensor, conv: str, norm: str) -> torch.Tensor:
        if padding_mode == "zeros":
            t = F.conv2d(t, sd[f"{conv}.weight"], sd[f"{conv}.bias"], padding=3)
        else:
            t = F.conv2d(F.pad(t, (3, 3, 3, 3), mode=padding_mode), sd[f"{conv}.weight"], sd[f"{conv}.bias"])
        return F.batch_norm(
            t, sd[f"{norm}.running_mean"], sd[f"{norm}.running_var"], sd[f"{norm}.weight"], sd[f"{norm}.bias"]
        )

    s = F.relu(conv_bn(x, "conv1", "norm1"))
    s = torch.sigmoid(conv_bn(s, "conv2", "norm2"))
    return x * s


@pytest.mark.parametrize(
    ("in_channels", "rate", "padding_mode", "shape"),
    [
        (16, 4, "replicate", (2, 16, 5, 6)),
        (16, 4, "zeros", (2, 16, 5, 6)),
        (8, 2, "replicate", (1, 8, 7, 3)),
        (12, 3, "zeros", (1, 12, 4, 9)),
        (10, 2.5, "replicate", (3, 10, 2, 1)),  # Cr = int(10 / 2.5) = 4; maps smaller than the 7x7 kernel
        (3, 3, "zeros", (2, 3, 1, 1)),  # Cr = 1
    ],
)
def test_matches_eager_reference(
    in_channels: int, rate: float, padding_mode: str, shape: tuple[int, ...]
) -> None:
    params = {"in_channels": in_channels, "rate": rate, "padding_mode": padding_mode}
    gm = netdsl.build(SPEC, overrides=params, input_shapes={"x": shape}, seed=0).double().eval()
    sd = randomise(gm)
    assert tuple(sd["linear1.weight"].shape) == (int(in_channels / rate), in_channels)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        got = gm(x)
    torch.testing.assert_close(got, eager_gam(x, sd, padding_mode), rtol=0, atol=1e-10)


@pytest.mark.parametrize("path", block_cases("gam"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_default_init_and_padding_mode() -> None:
    gm = netdsl.build(SPEC, overrides={"in_channels": 16}, seed=0)
    sd = gm.state_dict()
    for norm, c in (("norm1", 4), ("norm2", 16)):  # PyTorch's BatchNorm defaults
        assert torch.equal(sd[f"{norm}.weight"], torch.ones(c))
        assert torch.equal(sd[f"{norm}.bias"], torch.zeros(c))
        assert torch.equal(sd[f"{norm}.running_var"], torch.ones(c))
    for key, fan_in in (("linear1", 16), ("linear2", 4), ("conv1", 16 * 49), ("conv2", 4 * 49)):
        bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) and the bias rule of nn.Linear / nn.Conv2d
        for p in ("weight", "bias"):
            t = sd[f"{key}.{p}"]
            assert t.abs().max() <= bound and t.std() > bound / 4, (key, p)
    convs = [m for m in gm.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.padding_mode for m in convs] == ["replicate", "replicate"]


def messages(params: dict[str, object], shape: tuple[int, ...] | None = None) -> list[str]:
    res = netdsl.check(SPEC, overrides=params, input_shapes={"x": shape} if shape else None)
    return [e.message + " " + (e.hint or "") for e in res.errors]


def test_out_channels_must_equal_in_channels() -> None:
    assert not messages({"in_channels": 16, "out_channels": 16})
    msgs = messages({"in_channels": 16, "out_channels": 32})
    assert any("out_channels must equal in_channels" in m for m in msgs), msgs


def test_hidden_width_must_be_positive() -> None:
    msgs = messages({"in_channels": 3, "rate": 4})
    assert any("int(in_channels / rate) must be at least 1" in m for m in msgs), msgs


def test_rate_must_be_positive() -> None:
    msgs = messages({"in_channels": 16, "rate": 0})
    assert any("rate must be positive" in m for m in msgs), msgs


def test_padding_mode_choices() -> None:
    msgs = messages({"in_channels": 16, "padding_mode": "reflect"})
    assert any("'reflect' is not one of ['replicate', 'zeros']" in m for m in msgs), msgs


def test_input_channels_must_equal_in_channels() -> None:
    msgs = messages({"in_channels": 16}, (2, 8, 5, 6))
    assert any("dim 1 is 8, not 16" in m for m in msgs), msgs

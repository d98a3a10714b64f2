"""double_attention (A2-Nets): the block against an eager reference and the reference outputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, randomise, run_case

SPEC = BLOCKS / "double_attention.yaml"


def eager_double_attention(x: torch.Tensor, sd: dict[str, torch.Tensor], reconstruct: bool) -> torch.Tensor:
    """blocks-spec.md §4, written from the spec (fixed behaviour: explicit softmax dims)."""
    b, _, h, w = x.shape
    a = F.conv2d(x, sd["convA.weight"], sd["convA.bias"])
    c_m = a.shape[1]
    a = a.reshape(b, c_m, h * w)
    maps = F.conv2d(x, sd["convB.weight"], sd["convB.bias"])
    c_n = maps.shape[1]
    maps = torch.softmax(maps.reshape(b, c_n, h * w), dim=2)
    vecs = torch.softmax(F.conv2d(x, sd["convV.weight"], sd["convV.bias"]).reshape(b, c_n, h * w), dim=1)
    g = torch.matmul(a, maps.permute(0, 2, 1))
    z = torch.matmul(g, vecs).reshape(b, c_m, h, w)
    if reconstruct:
        z = F.conv2d(z, sd["conv_reconstruct.weight"], sd["conv_reconstruct.bias"])
    return z


def _random_block(params: dict[str, object], shape: tuple[int, ...]) -> torch.fx.GraphModule:
    gm = netdsl.build(SPEC, overrides=params, input_shapes={"x": shape}, seed=0).double().eval()
    randomise(gm)
    return gm


@pytest.mark.parametrize("reconstruct", [True, False])
@pytest.mark.parametrize(
    ("in_channels", "c_m", "c_n", "shape"),
    [
        (16, 8, 4, (2, 16, 5, 6)),
        (6, 10, 3, (1, 6, 7, 3)),
        (4, 4, 1, (3, 4, 1, 5)),  # c_n = 1: the attention vectors are all ones
        (5, 3, 7, (2, 5, 1, 1)),
    ],
)
def test_matches_eager_reference(
    in_channels: int, c_m: int, c_n: int, shape: tuple[int, ...], reconstruct: bool
) -> None:
    params = {"in_channels": in_channels, "c_m": c_m, "c_n": c_n, "reconstruct": reconstruct}
    gm = _random_block(params, shape)
    sd = gm.state_dict()
    assert ("conv_reconstruct.weight" in sd) == reconstruct
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        got = gm(x)
    b, _, h, w = shape
    assert tuple(got.shape) == (b, in_channels if reconstruct else c_m, h, w)
    torch.testing.assert_close(got, eager_double_attention(x, sd, reconstruct), rtol=0, atol=1e-10)


def test_samples_are_independent() -> None:
    """The seed's implicit softmax ran over the batch; here each sample only sees itself."""
    gm = _random_block({"in_channels": 6, "c_m": 4, "c_n": 3}, (3, 6, 4, 5))
    x = torch.randn(3, 6, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        whole = gm(x)
        alone = torch.cat([gm(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, alone, rtol=0, atol=1e-12)


def test_state_dict_layout() -> None:
    sd = netdsl.build(SPEC, overrides={"in_channels": 16, "c_m": 8, "c_n": 4}).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "convA.weight": (8, 16, 1, 1),
        "convA.bias": (8,),
        "convB.weight": (4, 16, 1, 1),
        "convB.bias": (4,),
        "convV.weight": (4, 16, 1, 1),
        "convV.bias": (4,),
        "conv_reconstruct.weight": (16, 8, 1, 1),
        "conv_reconstruct.bias": (16,),
    }
    sd = netdsl.build(
        SPEC, overrides={"in_channels": 16, "c_m": 8, "c_n": 4, "reconstruct": False}
    ).state_dict()
    assert not any(k.startswith("conv_reconstruct") for k in sd)


def test_init_kaiming_fan_out_and_zero_biases() -> None:
    """kaiming_normal(mode=fan_out), default gain sqrt(2): std = sqrt(2 / out_channels) for 1x1 convs."""
    sd = netdsl.build(SPEC, overrides={"in_channels": 400, "c_m": 300, "c_n": 200}, seed=1).state_dict()
    for name, fan_out in [("convA", 300), ("convB", 200), ("convV", 200), ("conv_reconstruct", 400)]:
        assert torch.equal(sd[f"{name}.bias"], torch.zeros_like(sd[f"{name}.bias"])), name
        std = float(sd[f"{name}.weight"].std())
        assert abs(std - math.sqrt(2 / fan_out)) < 0.03 * math.sqrt(2 / fan_out), (name, std)
        assert abs(float(sd[f"{name}.weight"].mean())) < 0.01 * math.sqrt(2 / fan_out), name


@pytest.mark.parametrize("path", block_cases("double_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def _hints(res: netdsl.CheckResult) -> list[str]:
    return [f"{e.message} | {e.hint}" for e in res.errors]


def test_input_channels_must_equal_in_channels() -> None:
    res = netdsl.check(
        SPEC, overrides={"in_channels": 16, "c_m": 8, "c_n": 4}, input_shapes={"x": (2, 12, 5, 6)}
    )
    assert any("dim 1 is 12, not 16" in h for h in _hints(res)), _hints(res)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"in_channels": 0, "c_m": 8, "c_n": 4}, "in_channels must be positive"),
        ({"in_channels": 16, "c_m": 0, "c_n": 4}, "c_m must be positive"),
        ({"in_channels": 16, "c_m": 8, "c_n": 0}, "c_n must be positive"),
    ],
)
def test_sizes_must_be_positive(params: dict[str, int], message: str) -> None:
    res = netdsl.check(SPEC, overrides=params, input_shapes={"x": (2, params["in_channels"], 5, 6)})
    assert any(message in h for h in _hints(res)), _hints(res)

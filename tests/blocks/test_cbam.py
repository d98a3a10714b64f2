"""cbam (Convolutional Block Attention Module): the block against an eager reference, reference outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "cbam.yaml"


class ChannelGate(nn.Module):
    def __init__(self, c: int, reduction_ratio: int, pool_types: list[str]) -> None:
        super().__init__()
        self.pool_types = pool_types
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(c, c // reduction_ratio), nn.ReLU(), nn.Linear(c // reduction_ratio, c)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(())
        for p in self.pool_types:  # one call of the shared MLP per pool, as in the official loop
            if p == "avg":
                s = x.mean(dim=(2, 3))
            elif p == "max":
                s = x.amax(dim=(2, 3))
            elif p == "lp":
                s = (x * x).sum(dim=(2, 3)).sqrt()
            else:  # lse
                flat = x.flatten(2)
                m = flat.amax(dim=2, keepdim=True)
                s = (m + (flat - m).exp().sum(dim=2, keepdim=True).log()).squeeze(2)
            total = total + self.mlp(s)
        return x * torch.sigmoid(total)[:, :, None, None]


class Spatial(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)


class SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = Spatial()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial.bn(self.spatial.conv(c)))


class EagerCBAM(nn.Module):
    """blocks-spec.md §12, written from the spec (official CBAM; fixed: no_spatial defaults to False)."""

    def __init__(
        self,
        gate_channels: int,
        reduction_ratio: int = 16,
        pool_types: list[str] | None = None,
        no_spatial: bool = False,
    ) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(gate_channels, reduction_ratio, pool_types or ["avg", "max"])
        self.no_spatial = no_spatial
        if not no_spatial:
            self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ChannelGate(x)
        return x if self.no_spatial else self.SpatialGate(x)


CASES = [
    # (params, input shape)
    ({"gate_channels": 32, "reduction_ratio": 16, "pool_types": ["avg", "max"]}, (2, 32, 5, 7)),
    ({"gate_channels": 16, "reduction_ratio": 4, "pool_types": ["avg"]}, (1, 16, 6, 3)),
    ({"gate_channels": 8, "reduction_ratio": 2, "pool_types": ["lse"]}, (2, 8, 1, 9)),
    ({"gate_channels": 8, "reduction_ratio": 8, "pool_types": ["lp", "lse"]}, (3, 8, 4, 4)),
    ({"gate_channels": 12, "reduction_ratio": 3, "pool_types": ["max", "avg", "lp", "lse"]}, (1, 12, 7, 5)),
    ({"gate_channels": 8, "reduction_ratio": 2, "pool_types": ["avg", "max", "avg"]}, (2, 8, 3, 4)),
    (
        {"gate_channels": 16, "reduction_ratio": 4, "pool_types": ["avg", "max"], "no_spatial": True},
        (2, 16, 5, 6),
    ),
    ({"gate_channels": 8, "reduction_ratio": 4, "pool_types": ["lp"], "no_spatial": True}, (1, 8, 2, 3)),
]


def built(params: dict[str, Any], shape: tuple[int, ...]) -> tuple[torch.fx.GraphModule, EagerCBAM]:
    gm = netdsl.build(SPEC, overrides=params, input_shapes={"x": shape}, seed=0).double()
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.randn_like(p))
        for name, b in gm.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand_like(b))
    ref = EagerCBAM(**params).double()
    ref.load_state_dict(gm.state_dict(), strict=True)  # same names and shapes as the official module
    return gm, ref


@pytest.mark.parametrize(("params", "shape"), CASES)
def test_matches_eager_reference(params: dict[str, Any], shape: tuple[int, ...]) -> None:
    gm, ref = built(params, shape)
    gm.eval()
    ref.eval()
    x = 2 * torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x), rtol=0, atol=1e-10)


def test_training_mode_batch_statistics_and_momentum() -> None:
    """In training the spatial BN uses batch statistics and updates its running stats with momentum 0.01."""
    gm, ref = built({"gate_channels": 16, "reduction_ratio": 4, "pool_types": ["avg", "max"]}, (3, 16, 5, 6))
    gm.train()
    ref.train()
    x = torch.randn(3, 16, 5, 6, dtype=torch.float64)
    before = gm.state_dict()["SpatialGate.spatial.bn.running_mean"].clone()
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x), rtol=0, atol=1e-10)
    sd, want = gm.state_dict(), ref.state_dict()
    for key in ["running_mean", "running_var", "num_batches_tracked"]:
        torch.testing.assert_close(sd[f"SpatialGate.spatial.bn.{key}"], want[f"SpatialGate.spatial.bn.{key}"])
    with torch.no_grad():  # by hand: running_mean <- 0.99 * running_mean + 0.01 * batch mean
        xc = ref.ChannelGate(x)
        bn_in = ref.SpatialGate.spatial.conv(
            torch.cat([xc.amax(1, keepdim=True), xc.mean(1, keepdim=True)], 1)
        )
    torch.testing.assert_close(sd["SpatialGate.spatial.bn.running_mean"], 0.99 * before + 0.01 * bn_in.mean())


def test_spatial_bn_momentum_is_001() -> None:
    res = netdsl.check(SPEC)
    assert res.graph is not None
    (bn,) = [n for n in res.graph.nodes if n.id == "SpatialGate.spatial.bn"]
    assert bn.attrs.momentum == 0.01 and bn.attrs.eps == 1e-5


def test_state_dict_layout_and_defaults() -> None:
    sd = netdsl.build(
        SPEC, overrides={"gate_channels": 32, "reduction_ratio": 16, "pool_types": ["avg", "max"]}
    )
    layout = {k: tuple(v.shape) for k, v in sd.state_dict().items()}
    assert layout == {
        "ChannelGate.mlp.1.weight": (2, 32),
        "ChannelGate.mlp.1.bias": (2,),
        "ChannelGate.mlp.3.weight": (32, 2),
        "ChannelGate.mlp.3.bias": (32,),
        "SpatialGate.spatial.conv.weight": (1, 2, 7, 7),
        "SpatialGate.spatial.bn.weight": (1,),
        "SpatialGate.spatial.bn.bias": (1,),
        "SpatialGate.spatial.bn.running_mean": (1,),
        "SpatialGate.spatial.bn.running_var": (1,),
        "SpatialGate.spatial.bn.num_batches_tracked": (),
    }
    no_spatial = netdsl.build(SPEC, overrides={"gate_channels": 32, "no_spatial": True}).state_dict()
    assert not any(k.startswith("SpatialGate") for k in no_spatial)


def test_built_alone_pools_with_the_default_pool_types() -> None:
    """Built on its own without `pool_types`, cbam pools with the declared default [avg, max].

    Regression: the file's `example:` used to override the defaults, so this pooled with the
    example's [avg, max, lp, lse].
    """
    overrides = {"gate_channels": 32, "reduction_ratio": 16}
    res = netdsl.check(SPEC, overrides=overrides)
    assert res.ok and res.graph is not None, [e.render() for e in res.errors]
    assert res.graph.root.params["pool_types"] == ["avg", "max"]
    pools = {"avg", "max", "x_sq", "x_sq_sum", "lp", "lse"}
    assert [n.id for n in res.graph.nodes if n.id in pools] == ["avg", "max"]
    gm, ref = built(overrides, (2, 32, 5, 6))
    (pooled,) = [n for n in gm.graph.nodes if n.name == "pooled"]
    assert [a.target for a in pooled.args[0]] == [torch.mean, torch.amax]
    assert ref.ChannelGate.pool_types == ["avg", "max"]
    gm.eval()
    ref.eval()
    x = 2 * torch.randn((2, 32, 5, 6), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x), rtol=0, atol=1e-10)


def test_default_is_the_official_one() -> None:
    """Seed 003 defaulted to no_spatial=True; the official default is False (spatial gate on)."""
    spec = netdsl.load(SPEC)
    assert spec.model.params["no_spatial"].default is False  # type: ignore[union-attr]
    assert spec.model.params["pool_types"].default == ["avg", "max"]  # type: ignore[union-attr]
    assert spec.model.params["reduction_ratio"].default == 16  # type: ignore[union-attr]


@pytest.mark.parametrize("path", block_cases("cbam"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gate_channels": 8, "reduction_ratio": 16}, "gate_channels // reduction_ratio must be >= 1"),
        ({"gate_channels": 8, "reduction_ratio": 0}, "gate_channels and reduction_ratio must be positive"),
        ({"gate_channels": 8, "reduction_ratio": 2, "pool_types": []}, "pool_types is a non-empty list"),
        ({"gate_channels": 8, "reduction_ratio": 2, "pool_types": ["avg"] * 9}, "at most 8 entries"),
        (
            {"gate_channels": 8, "reduction_ratio": 2, "pool_types": ["avg", "mean"]},
            "one of avg, max, lp, lse",
        ),
        ({"gate_channels": 8, "reduction_ratio": 2, "pool_types": ["x"]}, "one of avg, max, lp, lse"),
    ],
)
def test_constraints(overrides: dict[str, Any], message: str) -> None:
    res = netdsl.check(SPEC, overrides=overrides)
    msgs = [e.render() for e in res.errors]
    assert any(message in m for m in msgs), msgs


def test_channels_must_be_gate_channels() -> None:
    res = netdsl.check(
        SPEC, overrides={"gate_channels": 16, "reduction_ratio": 4}, input_shapes={"x": (2, 12, 5, 5)}
    )
    assert any("expects (B, 16, H, W), got (2, 12, 5, 5)" in e.message for e in res.errors), [
        e.render() for e in res.errors
    ]

"""Seed 003's white-patch networks: parameter counts, state_dict prefixes, outputs (blocks-spec.md)."""

from __future__ import annotations

import pytest
import torch

import netdsl

from .conftest import ROOT

NETS = {
    "white_patch_cnn": 53_857,
    "white_patch_cnn_mha": 58_017,
    "white_patch_cnn_cbam": 54_019,
    "white_patch_cnn_conv1d_mha": 72_897,
}


@pytest.mark.parametrize(("name", "params"), NETS.items())
def test_parameters_prefixes_and_outputs(name: str, params: int) -> None:
    gm = netdsl.build(ROOT / "specs" / f"{name}.yaml", seed=0).eval()
    assert sum(p.numel() for p in gm.parameters()) == params
    prefixes = {k.split(".")[0] for k in gm.state_dict()}
    assert prefixes == ({"conv", "final"} if name == "white_patch_cnn" else {"conv", "attn1", "final"})
    assert "conv.c1a.weight" in gm.state_dict() and "conv.bn2a.running_var" in gm.state_dict()
    out = gm(torch.randn(2, 3, 96, 96))
    p = out[0] if isinstance(out, tuple) else out
    assert p.shape == (2,) and bool(((p > 0) & (p < 1)).all())
    if isinstance(out, tuple):
        assert out[1].shape == (2, 32, 24, 24)


def test_mha_tokenisation_fixed_vs_seed() -> None:
    """The fixed tokens are (B, HW, C) with channels last; the seed's reshape mixes them."""
    spec = ROOT / "specs" / "white_patch_cnn_mha.yaml"
    fixed = netdsl.build(spec, seed=0).eval()
    seed = netdsl.build(spec, "seed_reshape", seed=0).eval()
    seed.load_state_dict(fixed.state_dict())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert not torch.allclose(fixed(x)[1], seed(x)[1])

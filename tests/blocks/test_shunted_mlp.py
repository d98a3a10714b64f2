"""shunted_mlp (Shunted Transformer FFN): the block against an eager reference and the reference outputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "shunted_mlp.yaml"


class DWConv(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)


class EagerMlp(nn.Module):
    """blocks-spec.md §9, written from the spec (official `Mlp` + `DWConv`), eval mode."""

    def __init__(
        self, in_features: int, hidden_features: int | None = None, out_features: int | None = None
    ) -> None:
        super().__init__()
        hid = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hid)
        self.dwconv = DWConv(hid)
        self.fc2 = nn.Linear(hid, out_features or in_features)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b = x.shape[0]
        y = self.fc1(x)
        img = y.transpose(1, 2).reshape(b, y.shape[-1], h, w)
        dw = self.dwconv.dwconv(img).flatten(2).transpose(1, 2)
        return self.fc2(nn.functional.gelu(y + dw))


DEFAULTS = {"hidden_features": None, "out_features": None}  # the declared defaults, given explicitly


def build(
    params: dict[str, Any], shape: tuple[int, ...], h: int, w: int, seed: int = 0
) -> torch.fx.GraphModule:
    overrides = {**DEFAULTS, **params, "H": h, "W": w}
    return netdsl.build(SPEC, overrides=overrides, input_shapes={"x": shape}, seed=seed)


def unprefixed(gm: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in gm.state_dict().items()}


CASES = [
    # (params, B, H, W)
    ({"in_features": 8}, 2, 3, 5),
    ({"in_features": 8, "hidden_features": 24}, 1, 4, 4),
    ({"in_features": 6, "hidden_features": 12, "out_features": 10}, 3, 1, 7),
    ({"in_features": 4, "out_features": 2, "hidden_features": None}, 1, 6, 2),
]


@pytest.mark.parametrize(("params", "b", "h", "w"), CASES)
def test_matches_eager_reference(params: dict[str, Any], b: int, h: int, w: int) -> None:
    shape = (b, h * w, params["in_features"])
    gm = build(params, shape, h, w).double().eval()
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.randn_like(p))
    ref = EagerMlp(**params).double().eval()
    ref.load_state_dict(unprefixed(gm), strict=True)  # same names and shapes as the official module
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x, h, w), rtol=0, atol=1e-10)


def test_symbolic_token_map_runs_for_any_size() -> None:
    """H, W as symbolic dims of the caller (as in the Shunted Transformer): one module, several sizes."""
    text = (
        "network: wrap\n"
        "inputs: {img: [B, 8, H, W]}\n"
        "dims: {B: 1, H: 4, W: 4}\n"
        "nodes:\n"
        "  flat: {op: flatten, in: img, start_dim: 2}\n"
        "  x: {op: transpose, in: flat, dim0: 1, dim1: 2}\n"
        "  mlp: {block: shunted_mlp, in: x, H: H, W: W, in_features: 8, hidden_features: 16}\n"
        "outputs: {y: mlp}\n"
    )
    gm = netdsl.build(netdsl.load("wrap.yaml", text=text)).double().eval()
    ref = EagerMlp(8, 16).double().eval()
    ref.load_state_dict(unprefixed(gm, "mlp."), strict=True)
    for b, h, w in [(2, 3, 7), (1, 5, 1)]:
        img = torch.randn(b, 8, h, w, dtype=torch.float64)
        with torch.no_grad():
            torch.testing.assert_close(gm(img), ref(img.flatten(2).transpose(1, 2), h, w), rtol=0, atol=1e-10)


def test_state_dict_layout_and_defaults() -> None:
    sd = unprefixed(build({"in_features": 8}, (1, 6, 8), 2, 3))
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "fc1.weight": (8, 8),
        "fc1.bias": (8,),
        "dwconv.dwconv.weight": (8, 1, 3, 3),
        "dwconv.dwconv.bias": (8,),
        "fc2.weight": (8, 8),
        "fc2.bias": (8,),
    }


@pytest.mark.parametrize("path", block_cases("shunted_mlp"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_official_init() -> None:
    sd = unprefixed(build({"in_features": 64, "hidden_features": 256}, (1, 4, 64), 2, 2))
    for name in ["fc1", "fc2"]:  # trunc_normal(std .02) in [-2, 2], bias 0
        w = sd[f"{name}.weight"]
        assert abs(float(w.std()) / 0.02 - 1) < 0.1 and float(w.abs().max()) <= 2
    w = sd["dwconv.dwconv.weight"]  # normal(0, sqrt(2 / fan_out)), fan_out = 3*3*hid/hid = 9
    assert abs(float(w.std()) / math.sqrt(2 / 9) - 1) < 0.15
    for name in ["fc1", "fc2", "dwconv.dwconv"]:
        b = sd[f"{name}.bias"]
        assert torch.equal(b, torch.zeros_like(b)), name


def test_tokens_must_match_the_map() -> None:
    overrides = {**DEFAULTS, "in_features": 8, "H": 3, "W": 3}
    res = netdsl.check(SPEC, overrides=overrides, input_shapes={"x": (1, 10, 8)})
    assert any("dim 1 is 10, not H*W (H*W = 9)" in e.message for e in res.errors), [
        e.render() for e in res.errors
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"in_features": 0}, "in_features must be positive"),
        ({"in_features": 8, "hidden_features": -2}, "hidden_features and out_features must be positive"),
        ({"in_features": 8, "out_features": -3}, "hidden_features and out_features must be positive"),
        ({"in_features": 8, "drop": 1.0}, "drop is a probability in [0, 1)"),
    ],
)
def test_constraints(overrides: dict[str, Any], message: str) -> None:
    res = netdsl.check(SPEC, overrides=overrides)
    msgs = [e.render() for e in res.errors]
    assert any(message in m for m in msgs), msgs

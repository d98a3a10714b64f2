"""shunted_self_attention (Shunted Transformer SSA): block vs an eager reference, reference outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "shunted_self_attention.yaml"


class EagerSSA(nn.Module):
    """blocks-spec.md §8, written from the spec (official Shunted Transformer `Attention`), eval mode."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        qk_scale: float | None = None,
        sr_ratio: int = 1,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr1 = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm1 = nn.LayerNorm(dim, eps=1e-5)
            self.sr2 = nn.Conv2d(dim, dim, sr_ratio // 2, sr_ratio // 2)
            self.norm2 = nn.LayerNorm(dim, eps=1e-5)
            self.kv1 = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv2 = nn.Linear(dim, dim, bias=qkv_bias)
            self.local_conv1 = nn.Conv2d(dim // 2, dim // 2, 3, padding=1, groups=dim // 2)
            self.local_conv2 = nn.Conv2d(dim // 2, dim // 2, 3, padding=1, groups=dim // 2)
        else:
            self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
            self.local_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def attn(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)

    @staticmethod
    def toimg(v: torch.Tensor, c: int, a: int, b: int) -> torch.Tensor:
        return v.permute(0, 1, 3, 2).reshape(v.shape[0], c, a, b)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        heads, d = self.num_heads, c // self.num_heads
        q = self.q(x).reshape(b, n, heads, d).permute(0, 2, 1, 3)
        if self.sr_ratio == 1:
            k, v = self.kv(x).reshape(b, n, 2, heads, d).permute(2, 0, 3, 1, 4)
            out = (self.attn(q, k) @ v).transpose(1, 2).reshape(b, n, c)
            le = self.local_conv(self.toimg(v, c, h, w)).reshape(b, c, n).transpose(1, 2)
            out = out + le
        else:
            r = self.sr_ratio
            x_ = x.permute(0, 2, 1).reshape(b, c, h, w)
            outs = []
            branches = [
                (q[:, : heads // 2], self.sr1, self.norm1, self.kv1, self.local_conv1, h // r, w // r),
                (
                    q[:, heads // 2 :],
                    self.sr2,
                    self.norm2,
                    self.kv2,
                    self.local_conv2,
                    2 * h // r,
                    2 * w // r,
                ),
            ]
            for qi, sr, norm, kv, local_conv, hi, wi in branches:
                xi = nn.functional.gelu(norm(sr(x_).reshape(b, c, -1).permute(0, 2, 1)))
                ni = xi.shape[1]
                assert ni == hi * wi
                k, v = kv(xi).reshape(b, ni, 2, heads // 2, d).permute(2, 0, 3, 1, 4)
                le = local_conv(self.toimg(v, c // 2, hi, wi)).reshape(b, heads // 2, d, ni).transpose(-1, -2)
                v = v + le
                outs.append((self.attn(qi, k) @ v).transpose(1, 2).reshape(b, n, c // 2))
            out = torch.cat(outs, dim=-1)
        return self.proj(out)


DEFAULTS = {"num_heads": 8, "qkv_bias": False, "qk_scale": None, "sr_ratio": 1}  # the declared defaults


def build(
    params: dict[str, Any], shape: tuple[int, ...], h: int, w: int, seed: int = 0
) -> torch.fx.GraphModule:
    overrides = {**DEFAULTS, **params, "H": h, "W": w}
    return netdsl.build(SPEC, overrides=overrides, input_shapes={"x": shape}, seed=seed)


def check(params: dict[str, Any], shape: tuple[int, ...], h: int, w: int) -> list[str]:
    overrides = {**DEFAULTS, **params, "H": h, "W": w}
    return [e.render() for e in netdsl.check(SPEC, overrides=overrides, input_shapes={"x": shape}).errors]


def unprefixed(gm: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in gm.state_dict().items()}


def randomise(gm: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(0.5 * torch.randn_like(p))


CASES = [
    # (params, B, H, W)
    ({"dim": 16, "num_heads": 4}, 2, 5, 3),
    ({"dim": 8, "num_heads": 2, "qkv_bias": True, "qk_scale": 0.3}, 1, 4, 4),
    ({"dim": 12, "num_heads": 3, "qkv_bias": True}, 1, 1, 6),
    ({"dim": 16, "num_heads": 2, "sr_ratio": 2, "qkv_bias": True}, 2, 5, 7),
    ({"dim": 16, "num_heads": 4, "sr_ratio": 4}, 1, 9, 6),
    ({"dim": 16, "num_heads": 4, "sr_ratio": 4, "qk_scale": 0.25}, 2, 4, 4),
    ({"dim": 16, "num_heads": 4, "sr_ratio": 2, "qk_scale": 0}, 1, 3, 2),  # 0 falls back to d ** -0.5
    ({"dim": 8, "num_heads": 2, "sr_ratio": 8, "qkv_bias": True, "qk_scale": 0.5}, 2, 8, 17),
    ({"dim": 16, "num_heads": 8, "sr_ratio": 8}, 1, 15, 9),
]


@pytest.mark.parametrize(("params", "b", "h", "w"), CASES)
def test_matches_eager_reference(params: dict[str, Any], b: int, h: int, w: int) -> None:
    shape = (b, h * w, params["dim"])
    gm = build(params, shape, h, w).double().eval()
    randomise(gm)
    ref = EagerSSA(**params).double().eval()
    ref.load_state_dict(unprefixed(gm), strict=True)  # same names and shapes as the official module
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), ref(x, h, w), rtol=0, atol=1e-10)


@pytest.mark.parametrize("sr_ratio", [1, 2, 4, 8])
def test_symbolic_token_map_runs_for_any_size(sr_ratio: int) -> None:
    """H, W as symbolic dims of the caller (as in the Shunted Transformer): one module, several sizes."""
    params = {"dim": 8, "num_heads": 2, "sr_ratio": sr_ratio, "qkv_bias": True}
    text = (
        "network: wrap\n"
        "inputs: {img: [B, 8, H, W]}\n"
        "dims: {B: 1, H: 8, W: 8}\n"
        "nodes:\n"
        "  flat: {op: flatten, in: img, start_dim: 2}\n"
        "  x: {op: transpose, in: flat, dim0: 1, dim1: 2}\n"
        f"  ssa: {{block: shunted_self_attention, in: x, H: H, W: W, {json.dumps(params)[1:-1]}}}\n"
        "outputs: {y: ssa}\n"
    )
    gm = netdsl.build(netdsl.load("wrap.yaml", text=text)).double().eval()
    randomise(gm)
    ref = EagerSSA(**params).double().eval()
    ref.load_state_dict(unprefixed(gm, "ssa."), strict=True)
    for b, h, w in [(2, 8, 11), (1, 17, 9)]:
        img = torch.randn(b, 8, h, w, dtype=torch.float64)
        with torch.no_grad():
            want = ref(img.flatten(2).transpose(1, 2), h, w)
            torch.testing.assert_close(gm(img), want, rtol=0, atol=1e-10)


def test_state_dict_layout() -> None:
    sd = unprefixed(build({"dim": 16, "num_heads": 4, "sr_ratio": 4}, (1, 64, 16), 8, 8))
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "q.weight": (16, 16),
        "proj.weight": (16, 16),
        "proj.bias": (16,),
        "sr1.weight": (16, 16, 4, 4),
        "sr1.bias": (16,),
        "norm1.weight": (16,),
        "norm1.bias": (16,),
        "sr2.weight": (16, 16, 2, 2),
        "sr2.bias": (16,),
        "norm2.weight": (16,),
        "norm2.bias": (16,),
        "kv1.weight": (16, 16),
        "kv2.weight": (16, 16),
        "local_conv1.weight": (8, 1, 3, 3),
        "local_conv1.bias": (8,),
        "local_conv2.weight": (8, 1, 3, 3),
        "local_conv2.bias": (8,),
    }


@pytest.mark.parametrize("path", block_cases("shunted_self_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def _std_close(t: torch.Tensor, std: float, tol: float = 0.15) -> bool:
    return abs(float(t.double().std()) / std - 1) < tol


@pytest.mark.parametrize("sr_ratio", [1, 2, 8])
def test_official_init(sr_ratio: int) -> None:
    dim = 64
    sd = unprefixed(
        build({"dim": dim, "num_heads": 8, "sr_ratio": sr_ratio, "qkv_bias": True}, (1, 64, dim), 8, 8)
    )
    for key, t in sd.items():
        if key.endswith(".bias") and not key.startswith("norm"):
            assert torch.equal(t, torch.zeros_like(t)), key
    linears = ["q", "proj", *(["kv1", "kv2"] if sr_ratio > 1 else ["kv"])]
    for name in linears:  # trunc_normal(std .02) in [-2, 2]
        w = sd[f"{name}.weight"]
        assert _std_close(w, 0.02) and float(w.abs().max()) <= 2, name
    locals_ = ["local_conv1", "local_conv2"] if sr_ratio > 1 else ["local_conv"]
    for name in locals_:  # depthwise: fan_out = 3*3*out/groups = 9
        assert _std_close(sd[f"{name}.weight"], math.sqrt(2 / 9), tol=0.25), name
    if sr_ratio > 1:
        for name, k in [("sr1", sr_ratio), ("sr2", sr_ratio // 2)]:  # fan_out = k*k*dim
            assert _std_close(sd[f"{name}.weight"], math.sqrt(2 / (k * k * dim)), tol=0.25), name
        for name in ["norm1", "norm2"]:
            assert torch.equal(sd[f"{name}.weight"], torch.ones(dim))
            assert torch.equal(sd[f"{name}.bias"], torch.zeros(dim))


def test_no_qkv_bias_by_default() -> None:
    sd = unprefixed(build({"dim": 8, "num_heads": 2}, (1, 4, 8), 2, 2))
    assert "q.bias" not in sd and "kv.bias" not in sd and "proj.bias" in sd


def _errors(overrides: dict[str, Any]) -> list[str]:
    res = netdsl.check(SPEC, overrides={**DEFAULTS, **overrides})
    return [e.render() for e in res.errors]


def test_dim_not_divisible_by_heads() -> None:
    msgs = _errors({"dim": 30, "num_heads": 4, "sr_ratio": 1})
    assert any(
        "requires dim % num_heads == 0" in m and "dim must be divisible by num_heads" in m for m in msgs
    ), msgs


def test_odd_heads_with_reduction() -> None:
    msgs = _errors({"dim": 24, "num_heads": 3, "sr_ratio": 2})
    assert any("num_heads must be even" in m for m in msgs), msgs
    assert _errors({"dim": 24, "num_heads": 3, "sr_ratio": 1}) == []


def test_sr_ratio_choices() -> None:
    msgs = _errors({"dim": 16, "num_heads": 2, "sr_ratio": 3})
    assert any("3 is not one of [1, 2, 4, 8]" in m for m in msgs), msgs


def test_bad_qk_scale() -> None:
    msgs = _errors({"dim": 16, "num_heads": 2, "qk_scale": -1.0})
    assert any("qk_scale is a non-negative number or null" in m for m in msgs), msgs


def test_tokens_must_match_the_map() -> None:
    msgs = check({"dim": 16, "num_heads": 2}, (1, 10, 16), 3, 3)
    assert any("dim 1 is 10, not H*W (H*W = 9)" in m for m in msgs), msgs


@pytest.mark.parametrize(("h", "w"), [(3, 8), (8, 2)])
def test_map_smaller_than_the_reduction(h: int, w: int) -> None:
    """r > 1 needs H, W >= r: a static error at sr1 (the r x r reduction), before any run."""
    params = {"dim": 16, "num_heads": 2, "sr_ratio": 4}
    msgs = check(params, (1, h * w, 16), h, w)
    assert any(
        "[nodes.two_scales.nodes.sr1]" in m
        and "kernel 4, stride 4" in m
        and "would be 0 (must be >= 1): the input is too small" in m
        for m in msgs
    ), msgs

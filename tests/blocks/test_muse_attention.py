"""muse_attention (MUSE): the block against an eager reference and the reference outputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, error_texts, max_diff, randomise, run_case

SPEC = BLOCKS / "muse_attention.yaml"


def eager_muse(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    sd: dict[str, torch.Tensor],
    d_k: int,
    d_v: int,
    h: int,
    attention_mask: torch.Tensor | None = None,
    attention_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """blocks-spec.md §2, written from the spec (fixed: dy_paras stays a Parameter, softmax taken locally)."""
    b, nq, _ = queries.shape
    nk = keys.shape[1]

    def lin(x: torch.Tensor, p: str) -> torch.Tensor:
        return x @ sd[f"{p}.weight"].T + sd[f"{p}.bias"]

    q = lin(queries, "fc_q").reshape(b, nq, h, d_k).permute(0, 2, 1, 3)
    k = lin(keys, "fc_k").reshape(b, nk, h, d_k).permute(0, 2, 3, 1)
    v = lin(values, "fc_v").reshape(b, nk, h, d_v).permute(0, 2, 1, 3)
    a = torch.matmul(q, k) / math.sqrt(d_k)
    if attention_weights is not None:
        a = a * attention_weights
    if attention_mask is not None:
        a = a.masked_fill(attention_mask, -math.inf)
    a = torch.softmax(a, dim=-1)
    out = lin(torch.matmul(a, v).permute(0, 2, 1, 3).reshape(b, nq, h * d_v), "fc_o")

    dd = h * d_v
    v2 = v.permute(0, 1, 3, 2).reshape(b, dd, nk)

    def conv(z: torch.Tensor, kk: int) -> torch.Tensor:
        p = f"conv{kk}"
        if kk > 1:
            z = F.conv1d(
                z, sd[f"{p}.depth_conv.weight"], sd[f"{p}.depth_conv.bias"], padding=kk // 2, groups=dd
            )
        return F.conv1d(z, sd[f"{p}.pointwise_conv.weight"], sd[f"{p}.pointwise_conv.bias"])

    w = torch.softmax(sd["dy_paras"], 0)
    out2 = w[0] * conv(v2, 1) + w[1] * conv(v2, 3) + w[2] * conv(v2, 5)
    return out + out2.permute(0, 2, 1)


def layout(d_model: int, d_k: int, d_v: int, h: int) -> dict[str, tuple[int, ...]]:
    dd = h * d_v
    return {
        "fc_q.weight": (h * d_k, d_model),
        "fc_q.bias": (h * d_k,),
        "fc_k.weight": (h * d_k, d_model),
        "fc_k.bias": (h * d_k,),
        "fc_v.weight": (dd, d_model),
        "fc_v.bias": (dd,),
        "fc_o.weight": (d_model, dd),
        "fc_o.bias": (d_model,),
        "conv1.pointwise_conv.weight": (d_model, dd, 1),
        "conv1.pointwise_conv.bias": (d_model,),
        "conv3.depth_conv.weight": (dd, 1, 3),
        "conv3.depth_conv.bias": (dd,),
        "conv3.pointwise_conv.weight": (d_model, dd, 1),
        "conv3.pointwise_conv.bias": (d_model,),
        "conv5.depth_conv.weight": (dd, 1, 5),
        "conv5.depth_conv.bias": (dd,),
        "conv5.pointwise_conv.weight": (d_model, dd, 1),
        "conv5.pointwise_conv.bias": (d_model,),
        "dy_paras": (3,),
    }


CONFIGS = [  # (d_model, d_k, d_v, h, B, N)
    (16, 8, 8, 2, 2, 6),
    (12, 5, 3, 4, 1, 7),
    (8, 4, 6, 1, 3, 1),
    (10, 3, 2, 3, 1, 2),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_matches_eager_reference(config: tuple[int, ...]) -> None:
    d_model, d_k, d_v, h, b, n = config
    params = {"d_model": d_model, "d_k": d_k, "d_v": d_v, "h": h}
    shapes = {name: (b, n, d_model) for name in ("queries", "keys", "values")}
    gm = netdsl.build(SPEC, overrides=params, input_shapes=shapes, seed=0).double().eval()
    sd = randomise(gm, 0.3)
    assert {k: tuple(v.shape) for k, v in sd.items()} == layout(d_model, d_k, d_v, h)
    ins = {name: torch.randn(s, dtype=torch.float64) for name, s in shapes.items()}
    out = gm(**ins)
    want = eager_muse(ins["queries"], ins["keys"], ins["values"], sd, d_k, d_v, h)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-10)


def optional_net(mask_shape: str | None, weights_shape: str | None) -> netdsl.Spec:
    """A tiny network that wires the optional inputs (a standalone build leaves them unconnected)."""
    inputs = ["q: [B, N, 12]", "kv: [B, N, 12]"]
    wiring = ["queries: q", "keys: kv", "values: kv"]
    if mask_shape is not None:
        inputs.append(f"m: {{shape: {mask_shape}, dtype: bool}}")
        wiring.append("attention_mask: m")
    if weights_shape is not None:
        inputs.append(f"aw: {weights_shape}")
        wiring.append("attention_weights: aw")
    text = f"""network: t
inputs: {{{", ".join(inputs)}}}
dims: {{B: 2, N: 5}}
nodes:
  muse: {{block: muse_attention, in: {{{", ".join(wiring)}}}, d_model: 12, d_k: 4, d_v: 3, h: 2}}
outputs: {{out: muse}}
"""
    return netdsl.load("t.yaml", text=text)


@pytest.mark.parametrize(
    ("mask_shape", "weights_shape"),
    [
        ("[B, 1, 1, N]", None),
        ("[B, 2, N, N]", None),
        (None, "[B, 2, N, N]"),
        (None, "[N, N]"),
        ("[B, 1, N, N]", "[B, 2, N, N]"),
    ],
)
def test_optional_mask_and_weights(mask_shape: str | None, weights_shape: str | None) -> None:
    spec = optional_net(mask_shape, weights_shape)
    res = netdsl.check(spec)
    assert res.ok, [e.render() for e in res.errors]
    gm = netdsl.build(spec, seed=0).double().eval()
    sd = {k.removeprefix("muse."): v for k, v in randomise(gm, 0.3).items()}
    q, kv = torch.randn(2, 5, 12, dtype=torch.float64), torch.randn(2, 5, 12, dtype=torch.float64)
    args: list[torch.Tensor] = [q, kv]
    mask = weights = None
    if mask_shape is not None:
        size = {"[B, 1, 1, N]": (2, 1, 1, 5), "[B, 2, N, N]": (2, 2, 5, 5), "[B, 1, N, N]": (2, 1, 5, 5)}
        mask = torch.rand(size[mask_shape]) > 0.6
        mask[..., 0] = False  # no fully masked row
        args.append(mask)
    if weights_shape is not None:
        weights = torch.rand((2, 2, 5, 5) if weights_shape == "[B, 2, N, N]" else (5, 5), dtype=torch.float64)
        args.append(weights)
    out = gm(*args)
    want = eager_muse(q, kv, kv, sd, 4, 3, 2, attention_mask=mask, attention_weights=weights)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-10)


def test_fully_masked_row_gives_nan() -> None:
    gm = netdsl.build(optional_net("[B, 1, 1, N]", None), seed=0).double().eval()
    q = torch.randn(2, 5, 12, dtype=torch.float64)
    mask = torch.zeros(2, 1, 1, 5, dtype=torch.bool)
    mask[1] = True
    out = gm(q, q, mask)
    assert not out[0].isnan().any() and out[1].isnan().all()


def test_mask_must_be_bool() -> None:
    text = optional_net("[B, 1, 1, N]", None).doc.text.replace("dtype: bool", "dtype: float32")
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    assert any("the mask must be a bool tensor" in e.message for e in res.errors), res.errors


def test_init() -> None:
    params = {"d_model": 64, "d_k": 32, "d_v": 32, "h": 4}
    sd = netdsl.build(SPEC, overrides=params, seed=0).state_dict()
    assert torch.equal(sd["dy_paras"], torch.ones(3))
    for p in ("fc_q", "fc_k", "fc_v", "fc_o"):  # N(0, 0.001²), bias 0
        assert torch.equal(sd[f"{p}.bias"], torch.zeros_like(sd[f"{p}.bias"]))
        assert 0.0009 < float(sd[f"{p}.weight"].std()) < 0.0011
    # convolutions keep PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups * k
    assert sd["conv3.depth_conv.weight"].abs().max() <= 3**-0.5
    assert 0.3 < float(sd["conv3.depth_conv.weight"].abs().max()) * 3**0.5
    assert sd["conv5.pointwise_conv.weight"].abs().max() <= 128**-0.5


def test_dy_paras_stays_the_registered_parameter() -> None:
    """Seed bug: forward replaced dy_paras by softmax(dy_paras) on every call; outputs drifted."""
    shapes = {name: (2, 6, 16) for name in ("queries", "keys", "values")}
    gm = netdsl.build(
        SPEC, overrides={"d_model": 16, "d_k": 8, "d_v": 8, "h": 2}, input_shapes=shapes, seed=0
    )
    gm = gm.double().eval()
    sd = randomise(gm, 0.3)
    param = dict(gm.named_parameters())["dy_paras"]
    before = param.detach().clone()
    ins = {name: torch.randn(s, dtype=torch.float64) for name, s in shapes.items()}
    first, second = gm(**ins), gm(**ins)
    assert torch.equal(first, second)
    assert dict(gm.named_parameters())["dy_paras"] is param and torch.equal(param.detach(), before)
    torch.testing.assert_close(first, eager_muse(ins["queries"], ins["keys"], ins["values"], sd, 8, 8, 2))
    first.sum().backward()
    assert param.grad is not None and param.grad.abs().sum() > 0


@pytest.mark.parametrize("path", block_cases("muse_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_queries_and_keys_same_length() -> None:
    msgs = error_texts(SPEC, {}, {"queries": (2, 5, 16), "keys": (2, 6, 16), "values": (2, 6, 16)})
    assert any(
        "input 'keys' expects (B, N, 16), got (2, 6, 16): dim 1 is 6, not N (N = 5)" in m for m in msgs
    ), msgs


def test_keys_and_values_same_length() -> None:
    msgs = error_texts(SPEC, {}, {"queries": (2, 6, 16), "keys": (2, 6, 16), "values": (2, 7, 16)})
    assert any("input 'values' expects (B, N, 16), got (2, 7, 16): dim 1 is 7" in m for m in msgs), msgs


def test_width_is_d_model() -> None:
    msgs = error_texts(SPEC, {}, {"queries": (2, 6, 12), "keys": (2, 6, 16), "values": (2, 6, 16)})
    assert any("input 'queries' expects (B, N, 16), got (2, 6, 12)" in m for m in msgs), msgs


def test_sizes_must_be_positive() -> None:
    msgs = error_texts(SPEC, {"h": 0})
    assert any("d_model, d_k, d_v and h must be positive" in m for m in msgs), msgs


def test_dropout_range() -> None:
    msgs = error_texts(SPEC, {"dropout": 1.5})
    assert any("dropout must be in [0, 1)" in m for m in msgs), msgs

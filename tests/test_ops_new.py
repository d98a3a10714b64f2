"""The ops added for torchvision's models (MobileNetV3, EfficientNet, ConvNeXt, ViT, Swin): what the
tables of tests/test_ops.py do not show on their own (torch's scalar rules, the modules installed,
torchvision's own formulations, dim expressions at run time in a whole spec)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.core.errors import ShapeError
from netdsl.core.symbolic import Sym
from netdsl.core.types import DTYPES, TensorType
from netdsl.ops import REGISTRY

from .test_ops import SCALARS, _int_sample, static_result, torch_result

# ---------------------------------------------------------------- constants torch takes as Scalars


@settings(max_examples=700, deadline=None)
@given(dtype=st.sampled_from(DTYPES), bound=st.sampled_from(["min", "max"]), value=SCALARS)
def test_clamp_bound_matches_torch(dtype: str, bound: str, value: float | int) -> None:
    """clamp's result dtype (integer and bool inputs promote) and the bounds torch refuses (overflow of
    that dtype); NaN bounds are refused on purpose."""
    static = static_result("clamp", {bound: value}, [TensorType.of((3,), dtype)])
    if isinstance(value, float) and math.isnan(value):
        assert static is None
        return
    runtime = torch_result(lambda: torch.clamp(_int_sample(dtype), **{bound: value}))
    assert static == runtime, f"{dtype} clamp {bound}={value!r}: static {static}, torch {runtime}"


@settings(max_examples=700, deadline=None)
@given(dtype=st.sampled_from(DTYPES), value=SCALARS | st.booleans())
def test_where_other_matches_torch(dtype: str, value: float | int | bool) -> None:
    ins = [TensorType.of((3,), "bool"), TensorType.of((3,), dtype)]
    static = static_result("where", {"other": value}, ins)
    cond = torch.tensor([True, False, True])
    runtime = torch_result(lambda: torch.where(cond, _int_sample(dtype), value))
    assert static == runtime, f"{dtype} where other={value!r}: static {static}, torch {runtime}"


def test_clamp_of_bool_promotes_as_torch() -> None:
    x = TensorType.of((3,), "bool")
    assert static_result("clamp", {"min": 0}, [x]) == "int64"
    assert static_result("clamp", {"min": 0, "max": 0.5}, [x]) == "float32"
    assert str(torch.clamp(torch.tensor([True]), min=0, max=0.5).dtype) == "torch.float32"


# ---------------------------------------------------------------- specs built end to end


def build(text: str) -> torch.nn.Module:
    return netdsl.build(netdsl.load("t.yaml", text=text), seed=0)


def check_fails(text: str, *needles: str) -> None:
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    assert not res.ok
    message = "\n".join(e.render() for e in res.errors)
    for needle in needles:
        assert needle in message, message


SWIN_SHIFT = """
network: swin_shift
inputs: {x: [B, H, W, C]}
dims: {B: 2, H: 9, W: 11, C: 4}
nodes:
  padded: {op: pad, in: x, pad: [0, 0, 0, "(7 - W % 7) % 7", 0, "(7 - H % 7) % 7"]}
  shifted: {op: roll, in: padded, shifts: ["-(H//2)", "-(W//2)"], dims: [1, 2]}
  back: {op: roll, in: shifted, shifts: ["H//2", "W//2"], dims: [1, 2]}
  cropped: {op: pad, in: back, pad: [0, 0, 0, "-((7 - W % 7) % 7)", 0, "-((7 - H % 7) % 7)"]}
outputs: {shifted: shifted, cropped: cropped}
"""


@pytest.mark.parametrize(("h", "w"), [(9, 11), (7, 14), (8, 8), (1, 20)])
def test_swin_window_padding_and_shift_at_run_time(h: int, w: int) -> None:
    """Amounts and shifts are dim expressions computed from the input's sizes at run time: one module
    pads to a multiple of the window at every size, as Swin's torchvision code does."""
    gm = build(SWIN_SHIFT)
    x = torch.randn(2, h, w, 4, dtype=torch.float64)
    shifted, cropped = gm(x)
    pad_w, pad_h = (7 - w % 7) % 7, (7 - h % 7) % 7
    want = torch.roll(F.pad(x, (0, 0, 0, pad_w, 0, pad_h)), shifts=(-(h // 2), -(w // 2)), dims=(1, 2))
    assert torch.equal(shifted, want)
    assert shifted.shape[1] % 7 == 0 and shifted.shape[2] % 7 == 0
    assert torch.equal(cropped, x)


def test_swin_shapes_are_symbolic() -> None:
    res = netdsl.check(netdsl.load("t.yaml", text=SWIN_SHIFT))
    assert res.ok, [e.render() for e in res.errors]


def test_layer_norm_over_channels_is_convnext_layer_norm_2d() -> None:
    """`dim: 1` on NCHW: torchvision's LayerNorm2d (permute, F.layer_norm over the last dim, permute
    back), bit for bit in float64; weight and bias [C] at the node's path."""
    spec = (
        "network: t\ninputs: {x: [B, 6, H, W]}\ndims: {B: 2, H: 5, W: 3}\n"
        "nodes:\n  norm: {op: layer_norm, in: x, dim: 1, eps: 1e-6}\noutputs: {y: norm}\n"
    )
    gm = build(spec).to(torch.float64)
    assert {k: tuple(v.shape) for k, v in gm.state_dict().items()} == {"norm.weight": (6,), "norm.bias": (6,)}
    with torch.no_grad():
        gm.norm.weight.copy_(torch.randn(6, dtype=torch.float64))
        gm.norm.bias.copy_(torch.randn(6, dtype=torch.float64))
    x = torch.randn(2, 6, 5, 3, dtype=torch.float64)
    ln = gm.get_submodule("norm")
    assert isinstance(ln, torch.nn.LayerNorm) and ln.normalized_shape == (6,) and ln.eps == 1e-6
    want = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, 1e-6).permute(0, 3, 1, 2)
    y = gm(x)
    assert torch.equal(y, want)
    assert y.stride() == want.stride()


def test_layer_norm_default_is_still_nn_layer_norm() -> None:
    spec = (
        "network: t\ninputs: {x: [B, 4]}\ndims: {B: 2}\n"
        "nodes:\n  n: {op: layer_norm, in: x}\noutputs: {y: n}\n"
    )
    assert type(build(spec).get_submodule("n")) is torch.nn.LayerNorm


DROP_PATH = (
    "network: t\ninputs: {x: [B, 4]}\ndims: {B: 2}\n"
    "nodes:\n  sd: {op: drop_path, in: x, p: 0.25, mode: row}\noutputs: {y: sd}\n"
)


def test_drop_path_is_a_module_with_torchvision_attributes() -> None:
    gm = build(DROP_PATH)
    mod: Any = gm.get_submodule("sd")
    assert (mod.p, mod.mode) == (0.25, "row")
    assert dict(gm.state_dict()) == {}
    assert "StochasticDepth(p=0.25, mode=row)" in repr(mod)


def _torchvision_stochastic_depth() -> Any:
    try:
        from torchvision.ops import stochastic_depth
    except Exception:  # not installed, or built for another torch
        pytest.skip("torchvision is not importable here")
    return stochastic_depth


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_drop_path_matches_torchvision(mode: str, p: float) -> None:
    stochastic_depth = _torchvision_stochastic_depth()
    gm = build(DROP_PATH.replace("p: 0.25, mode: row", f"p: {p}, mode: {mode}")).to(torch.float64)
    x = torch.randn(64, 4, dtype=torch.float64)
    for training in (True, False):
        gm.train(training)
        torch.manual_seed(3)
        y = gm(x)
        torch.manual_seed(3)
        assert torch.equal(y, stochastic_depth(x, p, mode, training))


def test_drop_path_drops_rows_or_the_batch() -> None:
    gm = build(DROP_PATH.replace("p: 0.25", "p: 0.5")).to(torch.float64)
    x = torch.ones(400, 4, dtype=torch.float64)
    torch.manual_seed(0)
    y = gm(x)
    assert set(y[:, 0].tolist()) == {0.0, 2.0}
    assert torch.equal(y, y[:, :1].expand_as(y))  # whole rows
    gm.eval()
    assert torch.equal(gm(x), x)
    batch = build(DROP_PATH.replace("mode: row", "mode: batch"))
    torch.manual_seed(0)
    y = batch(torch.ones(50, 4))
    assert len(set(y.flatten().tolist())) == 1  # one draw for the whole input


def test_embedding_init_and_padding_row() -> None:
    spec = (
        "network: t\ninputs: {i: {shape: [B, T], dtype: int64}}\ndims: {B: 2, T: 3}\n"
        "nodes:\n  emb: {op: embedding, in: i, num_embeddings: 500, embedding_dim: 8, padding_idx: 2}\n"
        "outputs: {y: emb}\n"
    )
    gm = build(spec)
    w = gm.state_dict()["emb.weight"]
    assert tuple(w.shape) == (500, 8)
    assert torch.equal(w[2], torch.zeros(8))
    assert abs(w.std().item() - 1) < 0.1  # normal(0, 1), as torch
    assert isinstance(gm.get_submodule("emb"), torch.nn.Embedding)
    i = torch.tensor([[0, 2, 5], [1, 1, 499]])
    assert torch.equal(gm(i), w[i])


def test_interpolate_symbolic_integer_scale_runs_at_any_size() -> None:
    spec = (
        "network: t\ninputs: {x: [B, 3, H, W]}\ndims: {B: 1, H: 4, W: 6}\n"
        "nodes:\n  up: {op: interpolate, in: x, scale_factor: [2, 0.5], mode: bilinear}\n"
        "  y: {op: reshape, in: up, shape: [B, 3, H*2*(W//2)]}\noutputs: {y: y}\n"
    )
    gm = build(spec)
    for h, w in ((4, 6), (5, 9), (1, 3)):
        x = torch.randn(1, 3, h, w)
        want = F.interpolate(x, scale_factor=(2.0, 0.5), mode="bilinear").reshape(1, 3, -1)
        assert torch.equal(gm(x), want)


def test_interpolate_float_scale_of_a_symbolic_dim_is_refused() -> None:
    spec = (
        "network: t\ninputs: {x: [B, 3, L]}\nnodes:\n  up: {op: interpolate, in: x, scale_factor: 1.5}\n"
        "outputs: {y: up}\n"
    )
    check_fails(spec, "scale_factor 1.5", "symbolic dim 2 (L)")


def test_gather_compares_what_it_can() -> None:
    op = REGISTRY["gather"]
    a = op.attrs.model_validate({"dim": 0})
    b, t, length = Sym.var("B"), Sym.var("T"), Sym.var("L")
    # unknown relations are left to run time; a constant excess is an error
    x, i = TensorType.of((b, length)), TensorType.of((t, length - 1), "int64")
    assert op.infer_types(a, [x, i]) == [TensorType.of((t, length - 1))]
    with pytest.raises(ShapeError, match="larger"):
        op.infer_types(a, [x, TensorType.of((t, length + 2), "int64")])
    assert op.infer_types(a, [x, TensorType.of((t, t), "int64")])[0].shape == (t, t)


def test_pad_crop_of_a_symbolic_dim() -> None:
    op = REGISTRY["pad"]
    a = op.attrs.model_construct(pad=[Sym.const(-1), Sym.var("W") // 2], mode="constant", value=None)
    (out,) = op.infer_types(a, [TensorType.of((2, Sym.var("W")))])
    assert out.shape == (Sym.const(2), Sym.var("W") - 1 + Sym.var("W") // 2)


def test_where_with_other_in_a_spec() -> None:
    spec = (
        "network: t\ninputs: {x: [B, 4]}\ndims: {B: 2}\nnodes:\n"
        "  pos: {op: gt, in: x, other: 0}\n  y: {op: where, in: [pos, x], other: -1.0}\noutputs: {y: y}\n"
    )
    gm = build(spec)
    x = torch.randn(2, 4)
    assert torch.equal(gm(x), torch.where(x > 0, x, -1.0))

"""Dims that follow the input size: a spec that pads a map to whole windows, shifts the windows by an
amount that depends on the padded size (a select: 0 where one window covers the map), builds the
shifted windows' mask in forward from `full` + `cat`, and slices the padding back off (Swin's window
attention, smaller: no heads, no parameters). Its static shapes, inferred with symbolic H and W, are
the runtime ones at every size, on both sides of the condition, and its output is an eager
reference's; a slice bound static inference cannot prove within the dim is a located error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

import netdsl
from netdsl.core.symbolic import Sym

from .conftest import cli_validate as validate

K, S, C = 4, 2, 3  # window side, shift, channels

SPEC = """\
network: shifted_windows
inputs:
  x: [B, H, W, $c]
dims: {B: 2, H: 10, W: 7}
vars: {k: 4, s: 2, c: 3}
nodes:
  # pad to whole windows (bottom and right); the shift is 0 where one window covers the padded map
  padded:
    op: pad
    in: x
    pad: [0, 0, 0, "(${k} - W % ${k}) % ${k}", 0, "(${k} - H % ${k}) % ${k}"]
    expect: [B, pH, pW, $c]
  rolled:
    op: roll
    in: padded
    shifts: ["-(0 if pH <= ${k} else ${s})", "-(0 if pW <= ${k} else ${s})"]
    dims: [1, 2]
  grid: {op: reshape, in: rolled, shape: [B, "pH // ${k}", $k, "pW // ${k}", $k, $c]}
  perm: {op: permute, in: grid, dims: [0, 1, 3, 2, 4, 5]}
  windows: {op: reshape, in: perm, shape: ["B * (pH // ${k}) * (pW // ${k})", "${k * k}", $c]}
  windows_t: {op: transpose, in: windows, dim0: 1, dim1: 2}
  scores: {op: matmul, in: [windows, windows_t]}
  # the region of each position of the padded map, made in forward from its size
  row0: {op: full, shape: ["pH - ${k}"], value: 0}
  row1: {op: full, shape: ["${k} - (0 if pH <= ${k} else ${s})"], value: 3}
  row2: {op: full, shape: ["0 if pH <= ${k} else ${s}"], value: 6}
  rows: {op: cat, in: [row0, row1, row2], dim: 0}
  col0: {op: full, shape: ["pW - ${k}"], value: 0}
  col1: {op: full, shape: ["${k} - (0 if pW <= ${k} else ${s})"], value: 1}
  col2: {op: full, shape: ["0 if pW <= ${k} else ${s}"], value: 2}
  cols: {op: cat, in: [col0, col1, col2], dim: 0}
  rows_c: {op: unsqueeze, in: rows, dim: 1}
  cols_r: {op: unsqueeze, in: cols, dim: 0}
  region: {op: add, in: [rows_c, cols_r]}
  region_g: {op: reshape, in: region, shape: ["pH // ${k}", $k, "pW // ${k}", $k]}
  region_p: {op: permute, in: region_g, dims: [0, 2, 1, 3]}
  region_w: {op: reshape, in: region_p, shape: ["(pH // ${k}) * (pW // ${k})", "${k * k}"]}
  region_a: {op: unsqueeze, in: region_w, dim: 1}
  region_b: {op: unsqueeze, in: region_w, dim: 2}
  region_d: {op: sub, in: [region_a, region_b]}
  apart: {op: ne, in: region_d, other: 0}
  mask: {op: mul, in: apart, other: -100.0}
  mask_b: {op: unsqueeze, in: mask, dim: 0}
  scores_w: {op: reshape, in: scores, shape: [B, "(pH // ${k}) * (pW // ${k})", "${k * k}", "${k * k}"]}
  scores_m: {op: add, in: [scores_w, mask_b]}
  scores_back: {op: reshape, in: scores_m, shape: ["B * (pH // ${k}) * (pW // ${k})", "${k * k}", "${k * k}"]}
  attn: {op: softmax, in: scores_back, dim: -1}
  mixed: {op: matmul, in: [attn, windows]}
  # windows back to the map, the shift undone, the padding cut off
  back_grid: {op: reshape, in: mixed, shape: [B, "pH // ${k}", "pW // ${k}", $k, $k, $c]}
  back_perm: {op: permute, in: back_grid, dims: [0, 1, 3, 2, 4, 5]}
  back_map: {op: reshape, in: back_perm, shape: [B, pH, pW, $c]}
  unrolled:
    op: roll
    in: back_map
    shifts: ["0 if pH <= ${k} else ${s}", "0 if pW <= ${k} else ${s}"]
    dims: [1, 2]
  crop_h: {op: slice, in: unrolled, dim: 1, end: H}
  crop_w: {op: slice, in: crop_h, dim: 2, end: W}
outputs: {y: crop_w}
"""

#: (H, W): one window or more, on each side of the condition (padded size <= K or > K), multiples
#: of K and not
SIZES = [(1, 1), (3, 2), (4, 4), (4, 5), (5, 4), (7, 8), (8, 9), (10, 7), (13, 16)]


def reference(x: torch.Tensor, k: int = K, s: int = S) -> torch.Tensor:
    """What the spec computes, written eagerly (after torchvision's shifted_window_attention)."""
    b, h, w, c = x.shape
    x = F.pad(x, (0, 0, 0, (k - w % k) % k, 0, (k - h % k) % k))
    ph, pw = x.shape[1], x.shape[2]
    sh, sw = (0 if ph <= k else s), (0 if pw <= k else s)
    x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
    nh, nw = ph // k, pw // k
    win = x.view(b, nh, k, nw, k, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, k * k, c)
    scores = win @ win.transpose(1, 2)
    # regions: the last window row / column split where the shift wrapped the map around
    row = torch.tensor([0 if i < ph - k else 3 if i < ph - sh else 6 for i in range(ph)])
    col = torch.tensor([0 if j < pw - k else 1 if j < pw - sw else 2 for j in range(pw)])
    region = (row[:, None] + col[None, :]).view(nh, k, nw, k).permute(0, 2, 1, 3).reshape(nh * nw, k * k)
    mask = (region[:, None, :] != region[:, :, None]).float() * -100.0
    scores = (scores.view(b, nh * nw, k * k, k * k) + mask[None]).view(b * nh * nw, k * k, k * k)
    out = scores.softmax(-1) @ win
    out = out.view(b, nh, nw, k, k, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
    out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))
    return out[:, :h, :w]


@pytest.fixture(scope="module")
def spec() -> netdsl.Spec:
    return netdsl.load("shifted_windows.yaml", text=SPEC)


@pytest.fixture(scope="module")
def module(spec: netdsl.Spec) -> fx.GraphModule:
    return netdsl.build(spec, seed=0)


def test_validates_with_symbolic_sizes(spec: netdsl.Spec) -> None:
    res = netdsl.check(spec)
    assert res.ok, res.errors
    assert res.shapes is not None
    ((name, out),) = res.shapes.outputs
    assert name == "y" and out.shape == (Sym.var("B"), Sym.var("H"), Sym.var("W"), C)
    types = res.shapes.types
    assert [str(d) for d in types["padded"][0].shape] == ["B", "pH", "pW", "3"]
    assert str(types["row2"][0].shape[0]) == "(0 if pH <= 4 else 2)"
    assert types["rows"][0].shape == (Sym.var("pH"),)  # (pH - 4) + (4 - shift) + shift
    assert str(res.shapes.aliases["pH"]) == str(Sym.var("H") + (K - Sym.var("H") % K) % K)


def test_the_forward_reads_the_condition_from_the_input(module: fx.GraphModule) -> None:
    targets = [n.target for n in module.graph.nodes if n.op == "call_function"]
    assert torch.sym_ite in targets  # the shift: chosen in forward from the padded size
    assert torch.full in targets  # the mask: made in forward (its size follows the input)
    assert dict(module.named_buffers()) == {} and dict(module.named_parameters()) == {}


def _static_shape(res: netdsl.CheckResult, node: str, index: int, env: dict[str, int]) -> tuple[int, ...]:
    assert res.shapes is not None
    aliases = res.shapes.aliases
    full_env = dict(env)
    for name, value in aliases.items():
        if name not in full_env:
            full_env[name] = value.evaluate(env)
    return tuple(Sym.of(d).evaluate(full_env) for d in res.shapes.types[node][index].shape)


@pytest.mark.parametrize(("h", "w"), SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_runtime_shapes_are_the_static_ones(
    spec: netdsl.Spec, module: fx.GraphModule, h: int, w: int
) -> None:
    """Every node's runtime shape is its symbolic shape at (H, W), and the shape a concrete check at
    those sizes infers; the output is the eager reference's."""
    env = {"B": 2, "H": h, "W": w}
    symbolic = netdsl.check(spec)
    concrete = netdsl.check(spec, dims=env)
    assert concrete.ok, concrete.errors
    x = torch.randn(2, h, w, C)
    ShapeProp(module).propagate(x)
    seen = set()
    for n in module.graph.nodes:
        meta = n.meta.get("netdsl", {})
        if "output" not in meta or n.op == "output":
            continue
        node, index = meta["node"], meta["output"]
        runtime = tuple(n.meta["tensor_meta"].shape)
        assert runtime == _static_shape(symbolic, node, index, env), (node, env)
        assert runtime == _static_shape(concrete, node, index, env), (node, env)
        seen.add(node)
    assert {"padded", "rolled", "row1", "row2", "rows", "mask", "unrolled", "crop_w"} <= seen
    y = module(x)
    assert y.shape == (2, h, w, C)
    torch.testing.assert_close(y, reference(x))


def test_the_condition_flips_with_the_size(module: fx.GraphModule) -> None:
    """The shift is applied where the padded map is larger than a window, and only there: at one
    window the output is the unshifted computation's."""
    x = torch.randn(1, 3, 4, C)  # pads to 4 x 4: one window, no shift
    torch.testing.assert_close(module(x), reference(x, s=0))
    x = torch.randn(1, 6, 4, C)  # pads to 8 x 4: shifted along H only
    y = module(x)
    torch.testing.assert_close(y, reference(x))
    assert not torch.allclose(y, reference(x, s=0))


# ---------------------------------------------------------------- unprovable slice bounds


def _with_crop(crop: str) -> str:
    old = "  crop_h: {op: slice, in: unrolled, dim: 1, end: H}\n"
    assert old in SPEC
    return SPEC.replace(old, f"  crop_h: {{op: slice, in: unrolled, dim: 1, {crop}}}\n")


CROP_LINE = SPEC.splitlines().index("  crop_h: {op: slice, in: unrolled, dim: 1, end: H}") + 1


@pytest.mark.parametrize(
    ("crop", "what"),
    [
        ('end: "H + 1"', "end (H + 1) <= the size (pH)"),
        ("end: W", "end (W) <= the size (pH)"),
        ('start: H, end: "H - 1"', "start (H) <= end (H - 1)"),
        ('start: "H - 2", end: H', "0 <= start (H - 2)"),
        ("start: -2, end: H", "start (max(0, pH - 2)) <= end (H)"),
    ],
)
def test_an_unprovable_slice_bound_is_a_located_static_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], crop: str, what: str
) -> None:
    rc, err = validate(tmp_path, capsys, _with_crop(crop))
    assert rc == 1, err
    assert f"spec.yaml:{CROP_LINE}:3: error: slice [" in err, err
    assert f"of dim 1 (size pH): cannot prove {what} for every input size [nodes.crop_h]" in err, err
    assert "hint: a bound that may fall outside the dim is clamped by torch" in err
    assert err.count("error:") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("crop", "length"),
    [
        ("end: H", "H"),
        ("end: pH", "pH"),
        ('end: "pH - 1"', "pH - 1"),
        ('start: "pH - H", end: pH', "H"),
        ("start: 1, end: H", "H - 1"),
        ('start: "H // 2", end: H', "H - H//2"),
        ('end: "H // 2"', "H//2"),
    ],
)
def test_a_provable_slice_bound_validates(crop: str, length: str) -> None:
    res = netdsl.check(netdsl.load("t.yaml", text=_with_crop(crop)))
    assert res.ok, [e.message for e in res.errors]
    assert res.shapes is not None
    assert str(res.shapes.types["crop_h"][0].shape[1]) == length


def test_an_unprovable_slice_of_the_input_is_a_located_static_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "network: t\ninputs: {x: [B, H, W]}\ndims: {B: 1, H: 5, W: 3}\nnodes:\n"
        "  y: {op: slice, in: x, dim: 1, end: W}\noutputs: {y: y}\n"
    )
    rc, err = validate(tmp_path, capsys, text)
    assert rc == 1 and "spec.yaml:5:3: error:" in err, err
    assert "slice [0:W:1] of dim 1 (size H): cannot prove end (W) <= the size (H)" in err, err


@pytest.mark.parametrize(
    "node", ['{op: full, shape: ["H - 3"], value: 1.0}', "{op: arange, start: 3, end: H, dtype: float32}"]
)
def test_a_made_size_that_may_be_negative_is_a_static_error(node: str) -> None:
    text = (
        f"network: t\ninputs: {{x: [B, H]}}\ndims: {{B: 1, H: 5}}\nnodes:\n  made: {node}\n"
        "  y: {op: relu, in: made}\noutputs: {y: y}\n"
    )
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    assert not res.ok

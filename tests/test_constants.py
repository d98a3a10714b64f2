"""Constants: tensors made from attributes alone (arange, full, zeros, ones, and what is computed from
them only), computed once when the module is built (netdsl.passes.constants, netdsl.backend.lower),
and `op: buffer`, which stores one in the state_dict (torchvision Swin's relative_position_index)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.core.errors import NetdslError

from .conftest import cli_validate as validate
from .zoo.tv import import_torchvision, torchvision_reason

needs_torchvision = pytest.mark.skipif(torchvision_reason() is not None, reason=str(torchvision_reason()))


def window_attention(wh: int, ww: int) -> torch.nn.Module:
    """torchvision's ShiftedWindowAttention(dim 8, window [wh, ww], no shift, 2 heads)."""
    tv = import_torchvision()
    return tv.models.swin_transformer.ShiftedWindowAttention(8, [wh, ww], [0, 0], 2)


def build(text: str, **kw: object) -> torch.fx.GraphModule:
    return netdsl.build(netdsl.load("t.yaml", text=text), seed=0, **kw)  # type: ignore[arg-type]


def calls(gm: torch.fx.GraphModule) -> list[str]:
    """The targets the forward calls (functions and methods by name), and the attributes it reads."""
    out = []
    for n in gm.graph.nodes:
        if n.op in ("call_function", "call_method"):
            out.append(getattr(n.target, "__name__", str(n.target)))
        elif n.op == "get_attr":
            out.append(f"get_attr:{n.target}")
    return out


# ---------------------------------------------------------------- Swin's relative_position_index


def relative_position_index(wh: int, ww: int) -> torch.Tensor:
    """torchvision.models.swin_transformer.ShiftedWindowAttention.define_relative_position_index."""
    coords_h = torch.arange(wh)
    coords_w = torch.arange(ww)
    coords = torch.stack(torch.meshgrid(coords_h, coords_w, indexing="ij"))  # 2, Wh, Ww
    coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww
    relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]  # 2, Wh*Ww, Wh*Ww
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()  # Wh*Ww, Wh*Ww, 2
    relative_coords[:, :, 0] += wh - 1  # shift to start from 0
    relative_coords[:, :, 1] += ww - 1
    relative_coords[:, :, 0] *= 2 * ww - 1
    return relative_coords.sum(-1).flatten()  # Wh*Ww*Wh*Ww


def swin_spec(wh: int, ww: int) -> str:
    """A block computing the index with the constant ops, stored at `attn.relative_position_index`
    (torchvision's key below a block), and reading the bias table with it as Swin does."""
    heads = 2
    return f"""\
network: relidx
inputs: {{x: [B, {heads}, {wh * ww}, {wh * ww}]}}
dims: {{B: 2}}
blocks:
  window_bias:
    params: {{wh: {{type: int}}, ww: {{type: int}}, heads: {{type: int}}}}
    inputs: {{x: [B, $heads, N, N]}}
    nodes:
      h: {{op: arange, end: $wh}}
      h_col: {{op: reshape, in: h, shape: [$wh, 1]}}
      h_grid: {{op: expand, in: h_col, shape: [$wh, $ww]}}
      coords_h: {{op: flatten, in: h_grid}}
      w: {{op: arange, end: $ww}}
      w_grid: {{op: expand, in: w, shape: [$wh, $ww]}}
      coords_w: {{op: flatten, in: w_grid}}
      h_i: {{op: unsqueeze, in: coords_h, dim: 1}}
      h_j: {{op: unsqueeze, in: coords_h, dim: 0}}
      w_i: {{op: unsqueeze, in: coords_w, dim: 1}}
      w_j: {{op: unsqueeze, in: coords_w, dim: 0}}
      dh: {{op: sub, in: [h_i, h_j]}}
      dw: {{op: sub, in: [w_i, w_j]}}
      dh_shifted: {{op: add, in: dh, other: "${{wh - 1}}"}}
      dh_scaled: {{op: mul, in: dh_shifted, other: "${{2 * ww - 1}}"}}
      dw_shifted: {{op: add, in: dw, other: "${{ww - 1}}"}}
      index: {{op: add, in: [dh_scaled, dw_shifted]}}
      index_flat: {{op: flatten, in: index}}
      relative_position_index: {{op: buffer, in: index_flat}}
      relative_position_bias_table:
        op: parameter
        shape: ["${{(2 * wh - 1) * (2 * ww - 1)}}", $heads]
        init: {{fn: normal, std: 0.02}}
      picked: {{op: index_select, in: [relative_position_bias_table, relative_position_index], dim: 0}}
      grid: {{op: reshape, in: picked, shape: ["${{wh * ww}}", "${{wh * ww}}", $heads]}}
      bias: {{op: permute, in: grid, dims: [2, 0, 1]}}
      out: {{op: add, in: [x, bias]}}
    outputs: {{y: out}}
nodes:
  attn: {{block: window_bias, in: x, wh: {wh}, ww: {ww}, heads: {heads}}}
outputs: {{y: attn}}
"""


WINDOWS = [(7, 7), (3, 5), (4, 2), (1, 3)]


@pytest.mark.parametrize(("wh", "ww"), WINDOWS)
def test_swin_relative_position_index(wh: int, ww: int) -> None:
    want = relative_position_index(wh, ww)
    gm = build(swin_spec(wh, ww))
    sd = gm.state_dict()
    got = sd["attn.relative_position_index"]
    assert got.dtype == torch.int64
    assert torch.equal(got, want)
    assert set(sd) == {"attn.relative_position_index", "attn.relative_position_bias_table"}
    assert "arange" not in calls(gm)  # computed when the module was built
    gm.load_state_dict(gm.state_dict(), strict=True)


@needs_torchvision
@pytest.mark.parametrize(("wh", "ww"), WINDOWS)
def test_swin_relative_position_index_is_torchvisions(wh: int, ww: int) -> None:
    """The formula above is torchvision's own, its checkpoint entries load with strict=True, and
    the bias read with the index is torchvision's."""
    tv = window_attention(wh, ww)
    want = relative_position_index(wh, ww)
    assert torch.equal(want, tv.relative_position_index)
    gm = build(swin_spec(wh, ww))
    tv_sd = {
        "attn.relative_position_index": tv.relative_position_index,
        "attn.relative_position_bias_table": tv.relative_position_bias_table.detach(),
    }
    gm.load_state_dict(tv_sd, strict=True)
    x = torch.randn(2, 2, wh * ww, wh * ww)
    bias = tv.get_relative_position_bias()  # 1, heads, N, N
    torch.testing.assert_close(gm(x), x + bias[0])

    # a wrong index in a checkpoint is loaded as given (a buffer, not recomputed)
    gm.load_state_dict({**tv_sd, "attn.relative_position_index": torch.zeros_like(want)})
    assert not gm.state_dict()["attn.relative_position_index"].any()


@needs_torchvision
def test_swin_index_loads_into_torchvision() -> None:
    gm = build(swin_spec(7, 7))
    tv = window_attention(7, 7)
    own = {k.removeprefix("attn."): v for k, v in gm.state_dict().items()}
    missing, unexpected = tv.load_state_dict(own, strict=False)
    assert "relative_position_index" not in missing and not unexpected


# ---------------------------------------------------------------- constants computed at build time

CONSTANTS = """\
network: consts
inputs: {x: [B, 4]}
dims: {B: 2}
nodes:
  scale: {op: full, shape: [4], value: 0.5}
  ramp: {op: arange, end: 4}
  ramp_f: {op: cast, in: ramp, dtype: float32}
  offset: {op: mul, in: [ramp_f, scale]}
  ones: {op: ones, shape: [1, 4]}
  y: {op: add, in: [x, offset, ones]}
  index: {op: arange, start: 3, end: -1, step: -1}
  picked: {op: index_select, in: [x, index], dim: 1}
outputs: {y: y, picked: picked}
"""


def test_a_constant_is_computed_once_at_build_time() -> None:
    gm = build(CONSTANTS)
    code = gm.code
    assert not any(f"torch.{f}(" in code for f in ("arange", "full", "ones")), code
    assert not {"arange", "full", "to", "mul"} & set(calls(gm))
    attrs = [c for c in calls(gm) if c.startswith("get_attr:")]
    # the forward reads what it uses: offset, ones, index (not scale, ramp, ramp_f: folded into offset)
    assert sorted(attrs) == ["get_attr:index", "get_attr:offset", "get_attr:ones"]
    buffers = dict(gm.named_buffers())
    assert set(buffers) == {"index", "offset", "ones"}
    assert buffers["offset"].dtype == torch.float32 and buffers["index"].dtype == torch.int64
    assert torch.equal(buffers["offset"], torch.tensor([0.0, 0.5, 1.0, 1.5]))
    assert torch.equal(buffers["index"], torch.tensor([3, 2, 1, 0]))

    x = torch.randn(2, 4)
    y, picked = gm(x)
    torch.testing.assert_close(y, x + torch.tensor([0.0, 0.5, 1.0, 1.5]) + 1)
    assert torch.equal(picked, x.flip(1))

    # a float constant moves with the module's dtype, as buffers do; an int one stays int64
    gm.double()
    buffers = dict(gm.named_buffers())
    assert buffers["offset"].dtype == torch.float64 and buffers["ones"].dtype == torch.float64
    assert buffers["index"].dtype == torch.int64
    y, picked = gm(x.double())
    assert y.dtype == torch.float64
    gm.to(torch.float16)
    assert dict(gm.named_buffers())["offset"].dtype == torch.float16
    assert dict(gm.named_buffers())["index"].dtype == torch.int64


def test_constants_are_not_in_the_state_dict() -> None:
    gm = build(CONSTANTS)
    assert set(dict(gm.named_buffers())) == {"index", "offset", "ones"}
    assert gm.state_dict() == {}  # non-persistent buffers
    gm.load_state_dict({}, strict=True)  # nothing to load: the constants are no checkpoint entries


def test_a_constant_output_of_the_network() -> None:
    """A constant that is an output of the network is read from its buffer, too."""
    text = (
        "network: t\ninputs: {x: [B, 2]}\ndims: {B: 2}\nnodes:\n"
        "  z: {op: zeros, shape: [2, 3], dtype: int32}\n  y: {op: relu, in: x}\n"
        "outputs: {y: y, z: z}\n"
    )
    gm = build(text)
    _, z = gm(torch.randn(2, 2))
    assert z.dtype == torch.int32 and torch.equal(z, torch.zeros(2, 3, dtype=torch.int32))
    assert "torch.full(" not in gm.code


BUFFERS = (
    "network: t\ninputs: {x: [B, 3]}\ndims: {B: 2}\nnodes:\n"
    "  kept: {op: buffer, in: k}\n  k: {op: full, shape: [3], value: 2.0}\n"
    "  dropped: {op: buffer, in: d, persistent: false}\n  d: {op: arange, end: 3, dtype: float32}\n"
    "  y: {op: add, in: [x, kept, dropped]}\noutputs: {y: y}\n"
)


def test_a_buffer_is_in_the_state_dict() -> None:
    gm = build(BUFFERS)
    assert "kept" in gm.state_dict() and "torch.full(" not in gm.code
    assert set(dict(gm.named_buffers())) == {"kept", "dropped"}  # no reads of k and d: taken by the buffers
    kept = {k: v for k, v in gm.state_dict().items() if k == "kept"}
    assert torch.equal(kept["kept"], torch.full((3,), 2.0))
    gm.load_state_dict({"kept": torch.full((3,), 5.0)}, strict=False)
    torch.testing.assert_close(gm(torch.zeros(2, 3)), torch.tensor([5.0, 6.0, 7.0]).expand(2, 3))


def test_a_buffer_with_persistent_false_is_not_in_the_state_dict() -> None:
    gm = build(BUFFERS)
    assert set(gm.state_dict()) == {"kept"}
    gm.load_state_dict({"kept": torch.full((3,), 5.0)}, strict=True)
    torch.testing.assert_close(gm(torch.zeros(2, 3)), torch.tensor([5.0, 6.0, 7.0]).expand(2, 3))
    with pytest.raises(RuntimeError, match="dropped"):
        gm.load_state_dict({"kept": torch.zeros(3), "dropped": torch.zeros(3)}, strict=True)


# ---------------------------------------------------------------- sizes from the input: in forward


def test_arange_to_an_input_size_is_computed_in_forward() -> None:
    text = (
        "network: t\ninputs: {x: [B, H]}\ndims: {B: 2, H: 5}\nnodes:\n"
        "  pos: {op: arange, end: H}\n  pos_f: {op: cast, in: pos, dtype: float32}\n"
        "  from1: {op: arange, start: 1, end: H}\n"
        "  tail: {op: slice, in: x, dim: 1, start: 1}\n"
        "  shifted: {op: add, in: [tail, from1]}\n"
        "  y: {op: add, in: [x, pos_f]}\noutputs: {y: y, shifted: shifted}\n"
    )
    gm = build(text)
    assert "arange" in calls(gm)  # the size is the input's
    assert gm.state_dict() == {} and dict(gm.named_buffers()) == {}
    for b, h in ((2, 5), (3, 9)):
        x = torch.randn(b, h)
        y, shifted = gm(x)
        torch.testing.assert_close(y, x + torch.arange(h).float())
        torch.testing.assert_close(shifted, x[:, 1:] + torch.arange(1, h))


def test_a_buffer_of_an_input_size_is_an_error() -> None:
    text = (
        "network: t\ninputs: {x: [B, H]}\ndims: {B: 2, H: 5}\nnodes:\n"
        "  pos: {op: arange, end: H}\n  stored: {op: buffer, in: pos}\n"
        "  y: {op: add, in: [x, stored]}\noutputs: {y: y}\n"
    )
    with pytest.raises(NetdslError, match=r"fixed shape"):
        build(text)


# ---------------------------------------------------------------- static errors


def test_a_buffer_of_the_input_is_a_located_static_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "network: t\ninputs: {x: [2, 3]}\nnodes:\n"
        "  doubled: {op: mul, in: x, other: 2}\n"
        "  stored: {op: buffer, in: doubled}\n"
        "  y: {op: add, in: [x, stored]}\noutputs: {y: y}\n"
    )
    rc, err = validate(tmp_path, capsys, text)
    assert rc == 1
    assert "spec.yaml:5:" in err, err  # the buffer's node
    assert "buffer 'stored'" in err and "'doubled'" in err and "network's inputs" in err, err
    assert "Traceback" not in err


def test_a_buffer_of_a_parameter_is_a_static_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "network: t\ninputs: {x: [3]}\nnodes:\n"
        "  p: {op: parameter, shape: [3]}\n  stored: {op: buffer, in: p}\n"
        "  y: {op: add, in: [x, stored]}\noutputs: {y: y}\n"
    )
    rc, err = validate(tmp_path, capsys, text)
    assert rc == 1 and "buffer 'stored'" in err and "spec.yaml:5:" in err, err


def test_a_constant_reshape_that_does_not_divide_is_a_static_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "network: t\ninputs: {x: [3]}\nnodes:\n"
        "  r: {op: arange, end: 10}\n"
        "  grid: {op: reshape, in: r, shape: [3, -1]}\n"
        "  stored: {op: buffer, in: grid}\n"
        "  y: {op: add, in: x, other: 1}\noutputs: {y: y}\n"
    )
    rc, err = validate(tmp_path, capsys, text)
    assert rc == 1
    assert "spec.yaml:5:" in err and "(10,)" in err and "not divisible" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("node", "needles"),
    [
        ("{op: arange, end: 5, step: -1}", ["from 0 to 5", "step -1"]),
        ("{op: full, shape: [2], value: 1.0e+39}", ["1e+39", "float32"]),
        ("{op: arange, end: H, step: 2}", ["step 1", "step 2"]),
        ("{op: zeros, shape: [3], value: 1}", ["zeros", "value"]),
    ],
)
def test_constant_attribute_errors_are_static(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], node: str, needles: list[str]
) -> None:
    text = (
        "network: t\ninputs: {x: [2, H]}\ndims: {H: 4}\nnodes:\n"
        f"  c: {node}\n  y: {{op: relu, in: x}}\noutputs: {{y: y}}\n"
    )
    rc, err = validate(tmp_path, capsys, text)
    assert rc == 1 and "spec.yaml:5:" in err, err
    for needle in needles:
        assert needle in err, err


# ---------------------------------------------------------------- devices


def test_building_on_the_meta_device() -> None:
    with torch.device("meta"):
        gm = build(swin_spec(3, 5))
        gm2 = build(CONSTANTS)
    sd = gm.state_dict()
    assert sd["attn.relative_position_index"].is_meta
    assert sd["attn.relative_position_index"].shape == (225,)
    assert sd["attn.relative_position_index"].dtype == torch.int64
    assert all(b.is_meta for b in gm2.buffers())
    # materialised and loaded from a real checkpoint, it computes as built on the CPU
    cpu = build(swin_spec(3, 5))
    gm.to_empty(device="cpu")
    gm.load_state_dict(cpu.state_dict(), strict=True)
    x = torch.randn(2, 2, 15, 15)
    torch.testing.assert_close(gm(x), cpu(x))

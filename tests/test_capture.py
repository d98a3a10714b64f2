"""netdsl.capture: values inside a built module by spec name (netdsl/backend/capture.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import netdsl
from netdsl.core.errors import UsageError
from netdsl.pipeline import Pipeline

from .conftest import ROOT

SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def tiny() -> torch.fx.GraphModule:
    return netdsl.build(SPECS / "tiny_cnn.yaml", seed=0).eval()


@pytest.fixture(scope="module")
def conv1d_mha() -> torch.fx.GraphModule:
    return netdsl.build(SPECS / "white_patch_cnn_conv1d_mha.yaml", seed=0).eval()


def _unit(gm: torch.fx.GraphModule, i: int, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Copy ``i`` of tiny_cnn's res_unit, eagerly, from its submodules."""
    unit = getattr(gm.stage, str(i))
    conv1 = unit.conv1(x)
    bn1 = unit.bn1(conv1)
    bn2 = unit.bn2(unit.conv2(F.relu(bn1)))
    skip = bn2 + x
    return {"conv1": conv1, "bn1": bn1, "bn2": bn2, "skip": skip, "out": F.relu(skip)}


def test_values_equal_an_eager_recomputation_inside_blocks_and_repeats(tiny: torch.fx.GraphModule) -> None:
    x = torch.randn(2, 3, 16, 16)
    names = ["stem", "act", "stage.0.bn1", "stage.0.skip", "stage.1.bn1", "stage.1.skip", "stage.1.out"]
    with torch.no_grad():
        out, got = netdsl.capture(tiny, names, x)
        assert torch.equal(out, tiny(x))  # the outputs are the module's
        stem = tiny.stem(x)
        act = F.relu(stem)
        u0 = _unit(tiny, 0, act)
        u1 = _unit(tiny, 1, u0["out"])
    assert list(got) == names
    want = {
        "stem": stem,
        "act": act,
        "stage.0.bn1": u0["bn1"],
        "stage.0.skip": u0["skip"],
        "stage.1.bn1": u1["bn1"],
        "stage.1.skip": u1["skip"],
        "stage.1.out": u1["out"],
    }
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_in_place_rewrites_do_not_change_captured_values(tiny: torch.fx.GraphModule) -> None:
    """tiny_cnn's ReLUs and residual additions run in place (the module overwrites bn1, bn2 and skip);
    the captured values are still the nodes' own: negative numbers before each ReLU."""
    assert "relu_" in tiny.code and "add_" in tiny.code  # (the test is not vacuous)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        _, got = netdsl.capture(tiny, ["stem", "stage.0.bn1", "stage.0.bn2", "stage.0.skip"], x)
        u0 = _unit(tiny, 0, F.relu(tiny.stem(x)))
    assert (got["stem"] < 0).any() and (got["stage.0.bn1"] < 0).any() and (got["stage.0.skip"] < 0).any()
    for k in ("bn1", "bn2", "skip"):
        torch.testing.assert_close(got[f"stage.0.{k}"], u0[k], rtol=1e-5, atol=1e-6)


def test_in_place_additions_of_the_conv1d_attention(conv1d_mha: torch.fx.GraphModule) -> None:
    """proj_down's output is overwritten by the residual's add_, mixing_layer1's by relu_."""
    gm = conv1d_mha
    assert "attn1_proj_down.add_" in gm.code and "relu_(attn1_mixing_layer1)" in gm.code
    x = torch.randn(2, 3, 32, 32)
    names = ["attn1.z1", "attn1.proj_down", "attn1.x1", "attn1.res1", "attn1.z2", "attn1.mixing_layer1"]
    with torch.no_grad():
        _, got = netdsl.capture(gm, names, x)
        proj = gm.attn1.proj_down(got["attn1.z1"])
        mix1 = gm.attn1.mixing_layer1(got["attn1.z2"])
    torch.testing.assert_close(got["attn1.proj_down"], proj)
    torch.testing.assert_close(got["attn1.res1"], proj + got["attn1.x1"])
    torch.testing.assert_close(got["attn1.mixing_layer1"], mix1)
    assert (got["attn1.mixing_layer1"] < 0).any()


def test_names_inputs_outputs_instances_and_pass_throughs() -> None:
    gm = netdsl.build(SPECS / "white_patch_cnn_cbam.yaml", seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    names = ["image", "p", "attention_map", "attn1", "attn1.0", "attn1.out", "attn1.x_channel", "conv"]
    with torch.no_grad():
        (p, amap), got = netdsl.capture(gm, names, x)
    assert torch.equal(got["image"], x) and torch.equal(got["p"], p)
    # attn1's output is the identity node `out` of the x_channel value; `conv` is conv.c3
    for name in ("attention_map", "attn1", "attn1.0", "attn1.out"):
        assert torch.equal(got[name], got["attn1.x_channel"]), name
    torch.testing.assert_close(got["attention_map"], amap)
    _, more = netdsl.capture(gm, ["conv.c3"], x)
    torch.testing.assert_close(got["conv"], more["conv.c3"])
    # a repeated block: the whole repeat is its last copy; each copy by its path
    tiny = netdsl.build(SPECS / "tiny_cnn.yaml", seed=0).eval()
    with torch.no_grad():
        _, got = netdsl.capture(tiny, ["stage", "stage.0", "stage.1", "stage.0.out", "stage.1.out"], x)
    assert torch.equal(got["stage"], got["stage.1.out"]) and torch.equal(got["stage.1"], got["stage.1.out"])
    assert torch.equal(got["stage.0"], got["stage.0.out"])


def test_block_outputs_by_their_names_in_the_block(tiny: torch.fx.GraphModule) -> None:
    """``inst.name`` is the output the block calls ``name`` (res_unit's ``y``, MHA's ``out`` and
    ``attn``), for an instance, each copy of a repeat (stamped from the first) and the repeat."""
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        _, got = netdsl.capture(tiny, ["stage.y", "stage.0.y", "stage.1.y", "stage.0.out", "stage.1.out"], x)
    assert torch.equal(got["stage.0.y"], got["stage.0.out"])
    assert torch.equal(got["stage.1.y"], got["stage.1.out"])
    assert torch.equal(got["stage.y"], got["stage.1.out"])
    gm = netdsl.build(SPECS / "white_patch_cnn_mha.yaml", seed=0).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        _, got = netdsl.capture(gm, ["attn1.out", "attn1.attn", "attn1", "attn1.1"], x)
    assert torch.equal(got["attn1.out"], got["attn1"]) and torch.equal(got["attn1.attn"], got["attn1.1"])


def test_several_outputs_of_a_block_and_of_a_node() -> None:
    gm = netdsl.build(SPECS / "white_patch_cnn_mha.yaml", seed=0).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        _, got = netdsl.capture(gm, ["attn1", "attn1.1", "attn1.layer_norm", "attn1.attention.attn"], x)
    assert torch.equal(got["attn1"], got["attn1.layer_norm"])
    assert torch.equal(got["attn1.1"], got["attn1.attention.attn"])
    assert got["attn1.1"].shape == (1, 4, 64, 64)
    torch.testing.assert_close(got["attn1.1"].sum(-1), torch.ones(1, 4, 64))


def test_unknown_names_say_what_exists(tiny: torch.fx.GraphModule) -> None:
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(UsageError) as e:
        netdsl.capture(tiny, ["stage.0.bn3"], x)
    assert "no node, input or output 'stage.0.bn3' in tiny_cnn" in str(e.value)
    assert "did you mean" in (e.value.hint or "") and "'stage.0.bn1'" in (e.value.hint or "")
    assert "stage.0.bn2" in e.value.expected
    with pytest.raises(UsageError) as e:
        netdsl.capture(tiny, ["stage.1.q"], x)  # nothing close: what the instance has
    assert "'stage.1' is a block instance of res_unit" in (e.value.hint or "")
    assert "'stage.1.y'" in (e.value.hint or "") and "stage.1.out" in (e.value.hint or "")
    with pytest.raises(UsageError, match=r"did you mean 'stage\.1\.y'"):
        netdsl.capture(tiny, ["stage.1.yy"], x)
    with pytest.raises(UsageError, match="did you mean 'stem'"):
        netdsl.capture(tiny, ["sterm"], x)
    with pytest.raises(UsageError, match=r"expected the torch\.fx\.GraphModule"):
        netdsl.capture(torch.nn.Linear(2, 2), ["x"], x)


def test_gradients_flow_and_parameters_are_shared(tiny: torch.fx.GraphModule) -> None:
    gm = netdsl.build(SPECS / "tiny_cnn.yaml", seed=0)
    model = netdsl.capturing(gm, ["stage.0.bn1"])
    assert set(model.state_dict()) == set(gm.state_dict())
    assert {id(p) for p in model.parameters()} == {id(p) for p in gm.parameters()}
    x = torch.randn(2, 3, 8, 8)
    out, got = model(x)
    (out.sum() + got["stage.0.bn1"].pow(2).sum()).backward()
    assert gm.stage.get_submodule("0").conv1.weight.grad is not None
    # train / eval mode is the module's: batch norm uses running statistics after gm.eval()
    gm.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], gm(x))


def test_wrappers_and_modules_without_their_ir() -> None:
    gm = netdsl.build(SPECS / "tiny_cnn.yaml", seed=0).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        _, a = netdsl.capture(torch.nn.DataParallel(gm), ["stage.1.conv1"], x)
        _, b = netdsl.capture(gm, "stage.1.conv1", x)
    assert torch.equal(a["stage.1.conv1"], b["stage.1.conv1"])
    # a module lowered without netdsl.build has no IR: node paths still work (fx meta)
    bare = Pipeline(SPECS / "tiny_cnn.yaml").module(seed=0).eval()
    with torch.no_grad():
        _, c = netdsl.capture(bare, ["stage.1.conv1", "image"], x)
    assert torch.equal(c["stage.1.conv1"], b["stage.1.conv1"])


CONSTANTS = """\
network: consts
inputs: {x: [B, 4]}
dims: {B: 2}
nodes:
  scale: {op: full, shape: [4], value: 0.5}
  ramp: {op: arange, end: 4}
  ramp_f: {op: cast, in: ramp, dtype: float32}
  offset: {op: mul, in: [ramp_f, scale]}
  y: {op: add, in: [x, offset]}
  tap: {op: identity, in: y}
  drop: {op: dropout, in: x, p: 0.5}
outputs: {y: tap}
"""


def test_constants_pass_throughs_and_nodes_the_forward_does_not_run() -> None:
    gm = netdsl.build(netdsl.load("consts.yaml", text=CONSTANTS), seed=0)
    x = torch.randn(2, 4)
    _, got = netdsl.capture(gm, ["offset", "tap", "y"], x)
    assert torch.equal(got["offset"], torch.tensor([0.0, 0.5, 1.0, 1.5]))
    assert torch.equal(got["tap"], got["y"])
    with pytest.raises(UsageError, match=r"'ramp_f' .* a constant, computed at build time"):
        netdsl.capture(gm, ["ramp_f"], x)  # (folded into offset: the forward never sees it)
    with pytest.raises(UsageError, match=r"'drop' .* the forward does not compute it"):
        netdsl.capture(gm, ["drop"], x)  # (a dropout nothing reads is not called)

"""The resolve pass: variables, variants, blocks, repeats, wiring, module paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.core.errors import NetdslError

from .conftest import FIXTURE_BLOCKS

BLOCK = """
blocks:
  unit:
    params:
      c: {type: int}
      k: {type: int, default: 3}
      mode: {type: str, default: sum, choices: [sum, prod]}
    require:
      - check: k % 2 == 1
        message: k must be odd
    inputs: {x: [B, $c, H, W]}
    nodes:
      conv: {op: conv2d, in: x, out_channels: $c, kernel_size: $k, padding: "${k // 2}"}
      bn: {op: batch_norm2d, in: conv}
      res: {op: add, in: [bn, x]}
    outputs: {y: res, pre: conv}
"""


def spec(body: str, name: str = "t.yaml") -> netdsl.Spec:
    return netdsl.load(name, text=body)


def check(body: str, **kw: object) -> netdsl.CheckResult:
    return netdsl.check(spec(body), **kw)  # type: ignore[arg-type]


def errors(body: str, **kw: object) -> list[str]:
    return [e.message for e in check(body, **kw).errors]


def net(nodes: str, extra: str = "", inputs: str = "{x: [B, 4, H, W]}", outputs: str = "{y: out}") -> str:
    head = f"network: t\ninputs: {inputs}\ndims: {{B: 2, H: 6, W: 5}}\n{extra}\n"
    return head + f"nodes:\n{nodes}\noutputs: {outputs}\n"


def test_repeat_and_block_module_paths() -> None:
    body = net("  stage: {block: unit, repeat: 3, in: x, c: 4}\n  out: {op: relu, in: stage}\n", BLOCK)
    gm = netdsl.build(spec(body))
    keys = list(gm.state_dict())
    assert "stage.0.conv.weight" in keys and "stage.2.bn.running_mean" in keys
    assert not any(k.startswith("stage.3") for k in keys)


def test_named_block_outputs_and_order_independent_wiring() -> None:
    body = net(
        "  out: {op: add, in: [blk.y, blk.pre]}\n  blk: {block: unit, in: x, c: 4}\n",
        BLOCK,
    )
    res = check(body)
    assert res.ok, [e.render() for e in res.errors]
    assert [n.id for n in res.graph.nodes][-1] == "out"  # type: ignore[union-attr]


def test_require_violation_is_reported_at_the_callers_line() -> None:
    body = net("  out: {block: unit, in: x, c: 4, k: 4}\n", BLOCK)
    res = check(body)
    (err,) = res.errors
    assert "requires k % 2 == 1 (k=4)" in err.message and err.hint == "k must be odd"
    assert err.loc.file == "t.yaml" and err.loc.path == ("nodes", "out")


def test_block_param_checks() -> None:
    assert "needs parameter 'c'" in errors(net("  out: {block: unit, in: x}\n", BLOCK))[0]
    assert "no parameter 'cc'" in errors(net("  out: {block: unit, in: x, c: 4, cc: 1}\n", BLOCK))[0]
    assert "expected int" in errors(net("  out: {block: unit, in: x, c: '4'}\n", BLOCK))[0]
    assert "not one of" in errors(net("  out: {block: unit, in: x, c: 4, mode: max}\n", BLOCK))[0]


def test_block_input_shape_is_checked() -> None:
    msgs = errors(net("  out: {block: unit, in: x, c: 8}\n", BLOCK))
    assert len(msgs) == 1 and "input 'x' expects (B, 8, H, W), got (B, 4, H, W)" in msgs[0]


def test_variables_variants_and_overrides() -> None:
    extra = "vars: {w: 8, h: '${w * 2}'}\nvariants: {big: {w: 16}}"
    body = net("  out: {op: linear, in: x, out_features: $h}\n", extra, inputs="{x: [B, 3]}")
    assert check(body).shapes.types["out"][0].shape[-1] == 16  # type: ignore[union-attr]
    assert check(body, variant="big").shapes.types["out"][0].shape[-1] == 32  # type: ignore[union-attr]
    res = check(body, variant="big", overrides={"w": 5})
    assert res.shapes.types["out"][0].shape[-1] == 10  # type: ignore[union-attr]


def test_variable_cycle() -> None:
    extra = "vars: {a: '${b}', b: '${a + 1}'}"
    msgs = errors(net("  out: {op: relu, in: x}\n", extra))
    assert any("cycle" in m for m in msgs)


def test_graph_cycle() -> None:
    msgs = errors(net("  a: {op: relu, in: out}\n  out: {op: relu, in: a}\n"))
    assert msgs == ["the graph has a cycle: a -> out -> a (each feeds the next)"]


def test_repeat_var_and_when() -> None:
    body = net(
        "  lin: {op: linear, in: x, repeat: 3, repeat_var: i, out_features: '${4 + i}'}\n"
        "  skip: {op: relu, in: lin, when: '${False}'}\n"
        "  out: {op: relu, in: lin}\n",
        inputs="{x: [B, 3]}",
    )
    res = check(body)
    assert res.ok
    assert [n.id for n in res.graph.nodes] == ["lin.0", "lin.1", "lin.2", "out"]  # type: ignore[union-attr]
    assert res.shapes.types["out"][0].shape[-1] == 6  # type: ignore[union-attr]


def test_several_outputs_are_a_tuple_in_order() -> None:
    body = net("  a: {op: relu, in: x}\n  b: {op: sigmoid, in: x}\n", outputs="{second: b, first: a}")
    gm = netdsl.build(spec(body))
    x = torch.randn(2, 4, 6, 5)
    second, first = gm(x)
    assert torch.equal(second, torch.sigmoid(x)) and torch.equal(first, torch.relu(x))


def test_inputs_are_forward_arguments_by_name() -> None:
    body = net("  out: {op: sub, in: [a, b]}\n", inputs="{a: [B, 3], b: [B, 3]}")
    gm = netdsl.build(spec(body))
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.equal(gm(b=b, a=a), a - b)


def test_user_blocks_path_and_clash(tmp_path: Path) -> None:
    body = net("  out: {block: gated_mlp, in: x, dim: 4}\n", inputs="{x: [B, 7, 4]}")
    res = netdsl.check(spec(body), blocks_path=[FIXTURE_BLOCKS])
    assert res.ok, [e.render() for e in res.errors]
    assert "unknown block 'gated_mlp'" in errors(body)[0]
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "gated_mlp.yaml").write_text((FIXTURE_BLOCKS / "gated_mlp.yaml").read_text())
    res = netdsl.check(spec(body), blocks_path=[FIXTURE_BLOCKS, clash])
    assert "defined twice" in res.errors[0].message


def test_env_var_blocks_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETDSL_BLOCKS_PATH", str(FIXTURE_BLOCKS))
    body = net("  out: {block: gated_mlp, in: x, dim: 4}\n", inputs="{x: [B, 7, 4]}")
    assert check(body).ok


def test_block_recursion_is_an_error() -> None:
    extra = """blocks:
  loop:
    inputs: {x: [B, 4]}
    nodes: {y: {block: loop, in: x}}
    outputs: {y: y}"""
    msgs = errors(net("  out: {block: loop, in: x}\n", extra, inputs="{x: [B, 4]}"))
    assert any("uses itself" in m for m in msgs)


def test_unused_node_is_a_warning() -> None:
    res = check(net("  dead: {op: relu, in: x}\n  out: {op: relu, in: x}\n"))
    assert res.ok and [w.message for w in res.warnings] == ["node 'dead' is not used by any output"]


def test_a_dotted_node_read_by_its_outputs_is_used() -> None:
    extra = """blocks:
  two:
    inputs: {x: [B, 4]}
    nodes:
      a: {op: relu, in: x}
      b: {op: sigmoid, in: x}
    outputs: {y: a, z: b}"""
    body = "  layer2.0: {block: two, in: x}\n  out: {op: add, in: [layer2.0.y, layer2.0.z]}\n"
    res = check(net(body, extra, inputs="{x: [B, 4]}"))
    assert res.ok and res.warnings == []


def test_init_override() -> None:
    body = net(
        "  out: {op: linear, in: x, out_features: 3,\n"
        "        init: {weight: zeros, bias: {fn: constant, value: 2}}}\n",
        inputs="{x: [B, 3]}",
    )
    gm = netdsl.build(spec(body))
    assert torch.equal(gm(torch.randn(2, 3)), torch.full((2, 3), 2.0))
    bad = body.replace("zeros", "zeroes")
    assert "did you mean 'zeros'" in (check(bad).errors[0].hint or "")


def test_parameter_op() -> None:
    body = net(
        "  gamma: {op: parameter, shape: [1, 4, 1, 1], init: ones}\n  out: {op: mul, in: [x, gamma]}\n"
    )
    gm = netdsl.build(spec(body))
    assert list(gm.state_dict()) == ["gamma"]
    x = torch.randn(2, 4, 6, 5)
    assert torch.equal(gm(x), x)


def test_huge_repeat_is_refused() -> None:
    msgs = errors(net("  out: {op: relu, in: x, repeat: 100000000}\n"))
    assert "repeat" in msgs[0]


def test_errors_are_netdsl_errors() -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.build(spec(net("  out: {op: relu, in: nope}\n")))
    assert isinstance(info.value, ValueError)
    assert "unknown node or input 'nope'" in str(info.value)


FEATURES = """block: feat
params:
  c: {type: int, default: 4}
  heads: {type: int, default: 3}
  dimension: {type: int, default: 2}
dims: {B: 2, S: [5, 6]}
inputs:
  x: [B, $c, "*S"]
  mask: {shape: [B, 6, "*S"], optional: true}
blocks:
  head:
    params: {c: {type: int}}
    inputs: {x: [B, $c, N]}
    nodes:
      q: {op: conv1d, in: x, out_channels: 2, kernel_size: 1}
    outputs: {y: q}
nodes:
  conv: {op: "conv${dimension}d", in: x, out_channels: $c, kernel_size: 1}
  flat: {op: reshape, in: conv, shape: [B, $c, -1]}
  layers: {block: head, parallel: $heads, in: flat, c: $c}
  z: {op: cat, in: layers.*, dim: 1}
  back: {op: reshape, in: z, shape: [B, "${2 * heads}", "*S"]}
  masked: {op: mul, in: [back, mask], when: $has_mask}
  out: {op: identity, in: "${'masked' if has_mask else 'back'}"}
outputs: {y: out}
"""


def test_parallel_copies_star_inputs_variadic_dims_and_op_expressions() -> None:
    gm = netdsl.build(spec(FEATURES))
    assert [k for k in gm.state_dict() if k.startswith("layers")] == [
        f"layers.{i}.q.{p}" for i in range(3) for p in ("weight", "bias")
    ]
    x = torch.randn(1, 4, 3, 7)  # *S binds (3, 7) at run time
    assert tuple(gm(x).shape) == (1, 6, 3, 7)
    assert "conv2d" in [n.op for n in netdsl.check(spec(FEATURES)).graph.nodes]  # type: ignore[union-attr]


def test_optional_input_wired_in_a_network(tmp_path: Path) -> None:
    (tmp_path / "feat.yaml").write_text(FEATURES)
    body = net(
        "  f: {block: feat, in: {x: x, mask: m}}\n",
        inputs="{x: [B, 4, 3, 7], m: [B, 6, 3, 7]}",
        outputs="{y: f}",
    )
    res = netdsl.check(spec(body), blocks_path=[tmp_path])
    assert res.ok, [e.render() for e in res.errors]
    assert "f.masked" in [n.id for n in res.graph.nodes]  # type: ignore[union-attr]
    gm = netdsl.build(spec(body), blocks_path=[tmp_path])
    x, m = torch.randn(2, 4, 3, 7), torch.randn(2, 6, 3, 7)
    unmasked = netdsl.build(spec(body.replace("{x: x, mask: m}", "x")), blocks_path=[tmp_path])
    unmasked.load_state_dict(gm.state_dict())
    torch.testing.assert_close(gm(x, m), unmasked(x, m) * m)


def test_unconnected_optional_input_needs_when() -> None:
    body = FEATURES.replace(
        "  masked: {op: mul, in: [back, mask], when: $has_mask}", "  masked: {op: mul, in: [back, mask]}"
    )
    msgs = errors(body)
    assert any("optional input 'mask' is not connected" in m for m in msgs)


def test_block_alias_fixes_parameters(tmp_path: Path) -> None:
    (tmp_path / "base_blk.yaml").write_text(
        "block: base_blk\nparams:\n  c: {type: int}\n  dimension: {type: int, default: 2}\n"
        "example: {c: 4}\ndims: {B: 2, S: [3, 5]}\ninputs:\n  x: [B, $c, '*S']\n"
        "nodes:\n  conv: {op: 'conv${dimension}d', in: x, out_channels: $c, kernel_size: 1}\n"
        "outputs: {y: conv}\n"
    )
    alias = tmp_path / "base_blk_1d.yaml"
    alias.write_text(
        "block: base_blk_1d\nextends: base_blk\nfixed: {dimension: 1}\n"
        "example: {c: 3}\ndims: {B: 2, S: [7]}\n"
    )
    gm = netdsl.build(alias, blocks_path=[tmp_path])
    assert {k: tuple(v.shape) for k, v in gm.state_dict().items()} == {
        "conv.weight": (3, 3, 1),
        "conv.bias": (3,),
    }
    body = net("  a: {block: base_blk_1d, in: x, c: 4}\n", inputs="{x: [B, 4, 9]}", outputs="{y: a}")
    assert netdsl.check(spec(body), blocks_path=[tmp_path]).ok
    bad = netdsl.check(spec(body.replace("c: 4}", "c: 4, dimension: 2}")), blocks_path=[tmp_path])
    assert "has no parameter 'dimension'" in bad.errors[0].message


# ----------------------------------------------------------------------------------------------------
# A block file built on its own: overrides, then defaults; `example:` fills only required parameters

EXAMPLE_BLOCK = """\
block: blk
params:
  c: {type: int}
  k: {type: int, default: 3}
  act: {type: str, default: relu, choices: [relu, gelu]}
example: {c: 4, k: 5}
dims: {B: 2, H: 6, W: 6}
inputs:
  x: [B, $c, H, W]
nodes:
  conv: {op: conv2d, in: x, out_channels: $c, kernel_size: $k, padding: "${k // 2}"}
  out: {op: $act, in: conv}
outputs: {y: out}
"""


def _example_block(tmp_path: Path, text: str = EXAMPLE_BLOCK) -> Path:
    path = tmp_path / "blk.yaml"
    path.write_text(text)
    return path


def test_example_does_not_override_a_default(tmp_path: Path) -> None:
    path = _example_block(tmp_path)
    res = netdsl.check(path)
    assert res.ok and res.graph is not None, [e.render() for e in res.errors]
    assert res.graph.root.params == {"c": 4, "k": 3, "act": "relu"}  # k is the default, not the example's 5
    (w,) = res.warnings
    assert w.message.startswith("`example` sets 'k', which has a default (3)") and "not used" in w.message
    assert (w.loc.line, w.loc.col, w.loc.path) == (6, 17, ("example", "k"))
    assert w.hint is not None and "--set k=" in w.hint
    gm = netdsl.build(path)
    assert tuple(gm.state_dict()["conv.weight"].shape) == (4, 4, 3, 3)


def test_overrides_come_before_defaults_and_example(tmp_path: Path) -> None:
    path = _example_block(tmp_path)
    res = netdsl.check(path, overrides={"k": 5, "act": "gelu"})
    assert res.ok and res.graph is not None, [e.render() for e in res.errors]
    assert res.graph.root.params == {"c": 4, "k": 5, "act": "gelu"}
    assert not res.warnings  # the example's k is not what was built, but --set k is given
    res = netdsl.check(path, overrides={"c": 2})
    assert res.ok and res.graph is not None
    assert res.graph.root.params == {"c": 2, "k": 3, "act": "relu"}
    gm = netdsl.build(path, overrides={"c": 2, "k": 1})
    assert tuple(gm.state_dict()["conv.weight"].shape) == (2, 2, 1, 1)


def test_example_fills_required_parameters_only(tmp_path: Path) -> None:
    path = _example_block(tmp_path, EXAMPLE_BLOCK.replace("example: {c: 4, k: 5}", "example: {c: 6}"))
    res = netdsl.check(path)
    assert res.ok and res.graph is not None and not res.warnings
    assert res.graph.root.params == {"c": 6, "k": 3, "act": "relu"}
    missing = _example_block(tmp_path, EXAMPLE_BLOCK.replace("example: {c: 4, k: 5}", "example: {k: 5}"))
    res = netdsl.check(missing)
    assert any("needs parameter 'c'" in e.message for e in res.errors), [e.render() for e in res.errors]
    (err,) = [e for e in res.errors if "needs parameter 'c'" in e.message]
    assert err.hint is not None and "--set c=" in err.hint and "example" in err.hint


def test_alias_example_fills_only_required_parameters(tmp_path: Path) -> None:
    _example_block(tmp_path)
    alias = tmp_path / "blk_gelu.yaml"
    alias.write_text(
        "block: blk_gelu\nextends: blk\nfixed: {act: gelu}\nexample: {c: 2}\ndims: {B: 1, H: 4, W: 4}\n"
    )
    res = netdsl.check(alias, blocks_path=[tmp_path])
    assert res.ok and res.graph is not None and not res.warnings, [w.render() for w in res.warnings]
    assert res.graph.root.params == {"c": 2, "k": 3}  # `act` is fixed: a variable, not a parameter
    alias.write_text(alias.read_text().replace("example: {c: 2}", "example: {c: 2, k: 1}"))
    res = netdsl.check(alias, blocks_path=[tmp_path])
    assert res.ok and res.graph is not None
    assert res.graph.root.params == {"c": 2, "k": 3}
    assert [w.message.split(":")[0] for w in res.warnings] == ["`example` sets 'k', which has a default (3)"]

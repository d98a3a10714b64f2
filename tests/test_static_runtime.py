"""What would fail at run time (or while building) is a static error, located in the spec.

The static pass (``netdsl validate``, torch-free) must foresee what torch will refuse: dtypes an op
does not take, constants that overflow, node names that clash with attributes of the GraphModule.
The lists it uses for that are fixed (torch-free) and kept in sync with torch here.
"""

from __future__ import annotations

import keyword
import math
import re
from pathlib import Path

import pytest
import torch
import torch.fx as fx
from hypothesis import given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.core.errors import ResolveError
from netdsl.ir.reserved import CODEGEN_NAMES, RESERVED, reserved_reason, safe_name
from netdsl.ops import REGISTRY

from .conftest import ROOT

# ---------------------------------------------------------------- the reserved names against torch


def _built() -> fx.GraphModule:
    return netdsl.build(ROOT / "specs" / "mlp.yaml", seed=0)


def test_reserved_names_cover_the_graph_module() -> None:
    """Every attribute of a GraphModule (class and built instance) and of a plain nn.Module container
    is in RESERVED: a module installed under such a name breaks or silently replaces it."""
    gm = _built()
    torch_names = (
        set(dir(fx.GraphModule)) | set(vars(gm)) | set(dir(torch.nn.Module)) | set(vars(torch.nn.Module()))
    )
    missing = sorted(torch_names - RESERVED)
    assert not missing, f"add to RESERVED in netdsl/ir/reserved.py: {missing}"


def test_codegen_names_cover_fx() -> None:
    """The globals torch.fx's generated code imports (an argument of that name would shadow them)."""
    from torch.fx.graph import _custom_builtins  # private: this test keeps CODEGEN_NAMES in sync

    missing = sorted(({"self"} | set(_custom_builtins)) - CODEGEN_NAMES)
    assert not missing, f"add to CODEGEN_NAMES in netdsl/ir/reserved.py: {missing}"


def test_reserved_module_is_torch_free() -> None:
    import subprocess
    import sys

    code = "import sys, netdsl.ir.reserved, netdsl.passes.resolve; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- node names


INSTALLS = sorted(name for name, op in REGISTRY.items() if op.installs)
NO_MODULE = ["relu", "identity", "softmax", "add"]
# one node of each op, reading x: [2, 4, 5]
NODE_TEXT: dict[str, str] = {
    "linear": "{op: linear, in: x, out_features: 3}",
    "conv1d": "{op: conv1d, in: x, out_channels: 2, kernel_size: 1}",
    "batch_norm1d": "{op: batch_norm1d, in: x}",
    "layer_norm": "{op: layer_norm, in: x}",
    "group_norm": "{op: group_norm, in: x, num_groups: 2}",
    "dropout": "{op: dropout, in: x, p: 0.5}",
    "parameter": "{op: parameter, shape: [2, 4]}",
    "relu": "{op: relu, in: x}",
    "identity": "{op: identity, in: x}",
    "softmax": "{op: softmax, in: x, dim: -1}",
    "add": "{op: add, in: [x, x]}",
}


def _net(name: str, op: str, where: str) -> tuple[str, int]:
    """A network whose node (or block instance) gets ``name`` (quoted: YAML would read `0E0`, `true`
    or `null` as other types); the line of the key that gives the name."""
    node = NODE_TEXT.get(op, NODE_TEXT["linear"])
    q = f'"{name}"'
    block = "network: t\ninputs:\n  x: [2, 4, 5]\nblocks:\n  b:\n    inputs:\n      x: [2, 4, 5]\n"
    if where == "block":  # the block instance is named `name`, its node is `inner`
        text = (
            f"{block}    nodes:\n      inner: {node}\n    outputs: {{y: inner}}\n"
            f"nodes:\n  {q}: {{block: b, in: x}}\n  out: {{op: identity, in: {q}}}\noutputs: {{y: out}}\n"
        )
        return text, 12
    if where == "inside":  # the node inside a block instance `blk` is named `name`
        text = (
            f"{block}    nodes:\n      {q}: {node}\n    outputs: {{y: {q}}}\n"
            "nodes:\n  blk: {block: b, in: x}\n  out: {op: identity, in: blk}\noutputs: {y: out}\n"
        )
        return text, 9
    key = f'"stage.{name}"' if where == "dotted" else q
    text = (
        f"network: t\ninputs:\n  x: [2, 4, 5]\nnodes:\n  {key}: {node}\n"
        f"  out: {{op: identity, in: {key}}}\noutputs: {{y: out}}\n"
    )
    return text, 5


def _check(text: str) -> netdsl.CheckResult:
    return netdsl.check(netdsl.load("t.yaml", text=text))


def _plain_key(name: str) -> bool:
    """Not one of the fixed names of :func:`_net`, nor a number (YAML reads 0 as a number)."""
    return name not in ("out", "x", "blk", "stage", "inner") and not name.isdigit()


BAD_NAMES = sorted(n for n in RESERVED | set(keyword.kwlist) if _plain_key(n))
WHERE = ["top", "dotted", "block", "inside"]


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(BAD_NAMES), op=st.sampled_from(INSTALLS), where=st.sampled_from(WHERE))
def test_reserved_name_is_a_located_resolve_error(name: str, op: str, where: str) -> None:
    text, line = _net(name, op, where)
    res = _check(text)
    errs = [e for e in res.errors if isinstance(e, ResolveError) and repr(name) in e.message]
    assert errs, [str(e) for e in res.errors]
    e = errs[0]
    assert (e.loc.file, e.loc.line) == ("t.yaml", line), str(e)
    assert e.hint is not None and safe_name(name) in e.hint
    assert reserved_reason(safe_name(name)) is None


@pytest.mark.parametrize("name", ["forward", "eval", "training", "_modules", "code", "graph", "class", "to"])
def test_reserved_name_is_an_error_of_validate(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`netdsl validate` (torch-free) reports it, at the node's key."""
    from netdsl.cli import main

    text, line = _net(name, "linear", "top")
    spec = tmp_path / "t.yaml"
    spec.write_text(text)
    code = main(["validate", str(spec)])
    out = capsys.readouterr()
    assert code == 1
    assert f"t.yaml:{line}:3: error: the name {name!r}" in out.out + out.err
    assert f"{name}_" in out.out + out.err


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}|[0-9][A-Za-z0-9_]{0,4}", fullmatch=True).filter(_plain_key)


@settings(max_examples=150, deadline=None)
@given(
    name=NAMES | st.sampled_from(BAD_NAMES),
    op=st.sampled_from(INSTALLS + NO_MODULE),
    where=st.sampled_from(WHERE),
)
def test_node_names_build_exactly_when_accepted(name: str, op: str, where: str) -> None:
    """Whatever validates also builds and runs (names starting with a digit, keywords and GraphModule
    attributes on ops without modules included); only reserved components of module paths fail."""
    text, _ = _net(name, op, where)
    res = _check(text)
    refused = REGISTRY[op].installs and reserved_reason(name) is not None
    if refused:
        assert not res.ok and all(isinstance(e, ResolveError) for e in res.errors), str(res.errors)
        return
    assert res.ok, [str(e) for e in res.errors]
    gm = netdsl.build(netdsl.load("t.yaml", text=text), seed=0)
    for training in (True, False):
        gm.train(training)
        assert isinstance(gm(torch.rand(2, 4, 5)), torch.Tensor)


@pytest.mark.parametrize(
    "name", ["class", "self", "torch", "None_", "inf", "device", "pytree", "lambda", "forward"]
)
def test_input_names_that_fx_cannot_take_as_arguments(name: str) -> None:
    """An input named like a keyword or a name the generated code uses gets a '_' as argument."""
    text = (
        f"network: t\ninputs:\n  {name}: [2, 3]\nnodes:\n  fc: {{op: linear, in: {name}, out_features: 3}}\n"
        "  act: {op: relu, in: fc}\noutputs: {y: act}\n"
    )
    gm = netdsl.build(netdsl.load("t.yaml", text=text), seed=0)
    assert gm(torch.randn(2, 3)).shape == (2, 3)
    if name not in ("class", "lambda"):  # keywords cannot be passed by keyword anyway
        arg = name if name in ("None_", "forward") else f"{name}_"
        assert gm(**{arg: torch.randn(2, 3)}).shape == (2, 3)


@pytest.mark.parametrize("order", ["dropout first", "linear first"])
def test_dropout_path_is_a_module_path(order: str) -> None:
    """dropout lowers to a module too: nothing may live below its path (a crash of the build before)."""
    nodes = ["  a: {op: dropout, in: x}\n", "  a.b: {op: linear, in: x, out_features: 2}\n"]
    if order == "linear first":
        nodes.reverse()
    text = "network: t\ninputs:\n  x: [2, 3]\nnodes:\n" + "".join(nodes) + "outputs: {y: a, z: a.b}\n"
    res = _check(text)
    assert any("module path clash" in e.message for e in res.errors), [str(e) for e in res.errors]


# ---------------------------------------------------------------- dtypes and constants, located

NET = """network: t
inputs:
  x: {{shape: [2, 4], dtype: {dtype}}}
nodes:
  n: {node}
outputs: {{y: n}}
"""


@pytest.mark.parametrize(
    ("dtype", "node", "needles", "line"),
    [
        ("float16", "{op: linear, in: x, out_features: 3}", ["float16", "accepted dtypes: float32"], 5),
        ("int64", "{op: pow, in: x, other: -1}", ["negative integer power"], 5),
        ("float16", "{op: masked_fill, in: [x, x], value: 0}", ["mask must be a bool tensor"], 5),
        ("float16", "{op: pow, in: x, other: 100000}", ["100000", "float16"], 5),
        ("bool", "{op: sub, in: [x, x]}", ["sub does not accept bool tensors"], 5),
        ("float64", "{op: layer_norm, in: x}", ["elementwise_affine: false"], 5),
        ("float32", "{op: layer_norm, in: x, eps: -1.0e-5}", ["eps must be a finite number > 0"], 5),
        ("float32", "{op: batch_norm1d, in: x, eps: .nan}", ["eps must be a finite number > 0"], 5),
        ("float32", "{op: batch_norm1d, in: x, momentum: -1}", ["momentum must be from 0 to 1"], 5),
        ("float32", "{op: dropout, in: x, p: 1.5}", ["p must be from 0 to 1"], 5),
        ("float32", '{op: add, in: x, other: "${-2**62 * 2 - 1}"}', ["fits in int64"], 5),  # not in YAML
    ],
)
def test_static_errors_are_located(dtype: str, node: str, needles: list[str], line: int) -> None:
    res = _check(NET.format(dtype=dtype, node=node))
    assert len(res.errors) == 1, [str(e) for e in res.errors]
    (e,) = res.errors
    for needle in needles:
        assert needle in str(e), str(e)
    assert e.loc.line == line
    attr = re.search(r"\b(eps|momentum|p|other): ", node)
    if attr and "must be" in e.message:  # errors of the attribute schema point at the attribute
        assert e.loc.path[-1] == attr.group(1), str(e)
        assert e.loc.col == 6 + attr.end(), str(e)


def test_the_specs_still_validate(in_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The dtype and attribute rules are not stricter than the specs and blocks of the repository."""
    from netdsl.cli import main

    assert main(["validate", "specs", "blocks", "tests/fixtures/blocks"]) == 0, capsys.readouterr().out


def test_built_module_of_any_dtype_input_runs() -> None:
    """An accepted non-float32 input builds and runs with that dtype end to end."""
    text = NET.format(dtype="int32", node="{op: sigmoid, in: x}")
    gm = netdsl.build(netdsl.load("t.yaml", text=text), seed=0)
    y = gm(torch.ones(2, 4, dtype=torch.int32))
    assert y.dtype == torch.float32 and math.isclose(float(y[0, 0]), 1 / (1 + math.exp(-1)), rel_tol=1e-6)

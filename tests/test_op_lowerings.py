"""The op registry in two halves: torch-free definitions (netdsl/ops/<family>.py) and their lowerings
to torch.fx (netdsl/ops/lowerings/<family>.py), registered by op name in LOWERINGS."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import fx

import netdsl
from netdsl.ops import REGISTRY
from netdsl.ops.lowerings import LOWERINGS, LowerCtx, lowering

from .conftest import ROOT

OPS = ROOT / "netdsl" / "ops"


def test_every_op_has_exactly_one_lowering() -> None:
    """A lowering per registered op (registering a second one fails), and no lowering of an op
    that is not registered."""
    missing = sorted(set(REGISTRY) - set(LOWERINGS))
    unknown = sorted(set(LOWERINGS) - set(REGISTRY))
    assert not missing, f"ops without a lowering in netdsl/ops/lowerings: {missing}"
    assert not unknown, f"lowerings of ops netdsl.ops does not register: {unknown}"
    assert all(callable(fn) for fn in LOWERINGS.values())


def test_a_second_lowering_of_an_op_is_refused() -> None:
    def again(ctx: LowerCtx, a: Any, args: list[fx.Node]) -> fx.Node:
        return args[0]

    before = LOWERINGS["relu"]
    with pytest.raises(RuntimeError, match="'relu': lowering registered twice"):
        lowering("relu")(again)
    assert LOWERINGS["relu"] is before


def test_each_lowering_sits_beside_its_definition() -> None:
    """The lowering of an op defined in netdsl/ops/<family>.py is in netdsl/ops/lowerings/<family>.py."""
    misplaced = []
    for name, op in REGISTRY.items():
        family_module = op.infer.__module__  # (its shape rule is defined with it)
        want = family_module.replace("netdsl.ops.", "netdsl.ops.lowerings.", 1)
        if LOWERINGS[name].__module__ != want:
            misplaced.append(f"{name}: {LOWERINGS[name].__module__} (want {want})")
    assert not misplaced, misplaced


def test_lowerings_look_torch_functions_up_when_lowering(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch function patched after the lowerings were registered is the one the module calls
    (tests/test_cli_values.py patches torch.nn.functional.gelu to fake an allocation failure)."""

    def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
        return x + 1

    monkeypatch.setattr(torch.nn.functional, "gelu", gelu)
    spec = "network: g\ninputs: {x: {shape: [2]}}\nnodes:\n  y: {op: gelu, in: x}\noutputs: {y: y}\n"
    gm = netdsl.build(netdsl.load("g.yaml", text=spec), seed=0)
    assert torch.equal(gm(torch.zeros(2)), torch.ones(2))


def _torch_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{node.lineno}: {n}" for n in names if n == "torch" or n.startswith("torch.")]
    return found


def test_the_definitions_name_no_torch() -> None:
    """No `import torch` in the definition half, not inside functions, not under TYPE_CHECKING."""
    found = [
        f"{path.relative_to(ROOT)}:{where}"
        for path in sorted(OPS.rglob("*.py"))
        if OPS / "lowerings" not in path.parents
        for where in _torch_imports(path.read_text())
    ]
    assert not found, found
    assert _torch_imports("def f():\n    from torch import fx\n") == ["2: torch"]


def test_importing_the_definitions_does_not_import_torch() -> None:
    """Every module of netdsl.ops but the lowerings, and the spec schema, in a fresh interpreter."""
    code = (
        "import pkgutil, sys\n"
        "import netdsl.ops, netdsl.frontend.schema\n"
        "for m in pkgutil.iter_modules(netdsl.ops.__path__, 'netdsl.ops.'):\n"
        "    if m.name != 'netdsl.ops.lowerings':\n"
        "        __import__(m.name)\n"
        "leaked = sorted(n for n in sys.modules if n.split('.')[0] == 'torch' or 'lowerings' in n)\n"
        "assert not leaked, leaked[:5]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [sys.executable, "-c", "import netdsl.ops, sys; assert 'torch' not in sys.modules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr

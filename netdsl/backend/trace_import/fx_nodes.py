"""What the walk knows of an fx node besides its call: the shape and dtype of its value in the
example run (:class:`_Recorder`), the user's source line it was traced at, the module calls it is
in (its scopes), a target's printable name; and a module's attribute by its dotted path."""

from __future__ import annotations

import os
import re
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from netdsl.backend.import_graph import CallScope, Source
from netdsl.backend.trace_import.calls import _dtype_name


def _summary(value: Any) -> Any:
    """What the importer keeps of a value of the example run: a tensor's shape, a tuple's items."""
    if isinstance(value, torch.Tensor):
        return tuple(int(d) for d in value.shape)
    if isinstance(value, tuple | list) and not isinstance(value, torch.Size):
        return [_summary(v) for v in value]
    return None


class _Recorder(fx.Interpreter):
    """Runs the traced graph once on the example inputs, keeping the shape and dtype of each value."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.results: dict[fx.Node, Any] = {}
        self.dtypes: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.results[n] = _summary(out)
        if isinstance(out, torch.Tensor):
            self.dtypes[n] = _dtype_name(out.dtype)
        elif isinstance(out, tuple | list) and not isinstance(out, torch.Size):
            self.dtypes[n] = [_dtype_name(o.dtype) if isinstance(o, torch.Tensor) else None for o in out]
        return out


def _qualname(target: Any) -> str:
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    if module in ("_operator", "builtins"):
        module = "operator" if module == "_operator" else ""
    return f"{module}.{name}" if module else str(name)


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in [^\n]*\n(?P<code>[^\n]*)')
_TORCH_DIR = os.path.dirname(torch.__file__)


def _source(node: fx.Node) -> Source | None:
    """The user's line a node was traced at: the innermost frame outside torch's own code."""
    trace = node.stack_trace or ""
    frames = list(_FRAME.finditer(trace))
    user = [m for m in frames if not m["file"].startswith(_TORCH_DIR)]
    pick = user[-1] if user else None
    if pick is None:
        return None
    return Source(pick["file"], int(pick["line"]), pick["code"].strip())


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _scopes(node: fx.Node) -> tuple[CallScope, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for key, (path, cls) in stack.items():
        if node.op == "call_module" and path == node.target:
            continue  # (the leaf module itself)
        real = cls if isinstance(cls, type) else None
        name = f"{real.__module__}.{real.__qualname__}" if real is not None else str(cls)
        out.append(CallScope(str(key), str(path), name, container=real in _CONTAINERS))
    return tuple(out)


def _attr(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj

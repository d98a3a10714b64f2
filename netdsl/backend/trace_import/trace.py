"""Tracing: :func:`trace_module` traces an ``nn.Module`` with ``torch.fx`` (the table's modules are
leaves; other modules are traced through), runs the traced graph once on the example inputs, and hands
it to the walk over its nodes (:mod:`.convert`)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from netdsl.backend.import_graph import ImportedGraph
from netdsl.backend.trace_import.convert import _Converter
from netdsl.backend.trace_import.fx_nodes import _Recorder
from netdsl.backend.trace_import.table import _module_handler
from netdsl.core.errors import BuildError, NetdslError, UsageError


class _Tracer(fx.Tracer):
    """Leaves: the modules of the table, and the other ``torch.nn`` modules (reported unsupported)."""

    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if _module_handler(m) is not None:
            return True
        return bool(super().is_leaf_module(m, module_qualified_name))


def _defaults_after(module: nn.Module, given: int) -> dict[str, Any] | None:
    """The arguments of ``forward`` after the ``given`` ones that have defaults (``mask=None``):
    traced with those values."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    rest = params[given:]
    if rest and all(p.default is not inspect.Parameter.empty for p in rest):
        return {p.name: p.default for p in rest}
    return None


def trace_module(
    module: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    input_names: Sequence[str] | None = None,
) -> ImportedGraph:
    """Trace ``module`` (in its current mode) and map it to netdsl ops: an
    :class:`~netdsl.backend.import_graph.ImportedGraph`. Raises :class:`NetdslErrors` of
    :class:`UnsupportedCall` listing every call without a netdsl op, with its source line."""
    if not isinstance(module, nn.Module):
        raise UsageError(f"import: expected a torch.nn.Module, got {type(module).__name__}")
    inputs = list(example_inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise UsageError("import: the example inputs must be one or more tensors")
    tracer = _Tracer()
    fixed = _defaults_after(module, len(inputs))
    try:
        graph = tracer.trace(module, concrete_args=fixed)
    except NetdslError:
        raise
    except Exception as e:  # torch.fx cannot trace it: data-dependent control flow, ...
        raise BuildError(
            f"torch.fx cannot trace {type(module).__name__}: {type(e).__name__}: {e}",
            hint="netdsl import reads the module through torch.fx.symbolic_trace: control flow on "
            "tensor values or sizes cannot be traced",
        ) from None
    gm = fx.GraphModule(tracer.root, graph, class_name=type(module).__name__)
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if fixed:  # (the arguments left at their defaults have placeholders too, last)
        placeholders = placeholders[: len(placeholders) - len(fixed)]
    if len(placeholders) != len(inputs):
        raise UsageError(
            f"import: {type(module).__name__}.forward takes {len(placeholders)} input(s) "
            f"({', '.join(str(p.target) for p in placeholders)}), {len(inputs)} example input(s) given"
        )
    names = (
        list(input_names) if input_names is not None else [str(p.target).lstrip("*") for p in placeholders]
    )
    if len(names) != len(inputs):
        raise UsageError(f"import: {len(names)} input names for {len(inputs)} example inputs")
    recorder = _Recorder(gm)
    with torch.no_grad():
        try:
            recorder.run(*[t.clone() for t in inputs])
        except Exception as e:
            raise UsageError(
                f"import: the module does not run on the example inputs: {type(e).__name__}: {e}",
                hint="give inputs of the shapes the module expects (--input NAME=AxBxC)",
            ) from None
    converter = _Converter(module, recorder)
    return converter.convert(graph, names, inputs)

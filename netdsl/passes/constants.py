"""Constants: the nodes whose value depends on no input tensor and no input size (a static shape,
made from attributes alone: `arange`, `full`, ... and what is computed from them only). The backend
computes them once, when the module is built, and stores those that the rest of the graph reads as
buffers (in the state_dict through `op: buffer`); a value made from an input size (`arange` to `H`)
is computed in forward. Torch-free."""

from __future__ import annotations

from netdsl.core.errors import ErrorCollector, ShapeError
from netdsl.ir.graph import Graph
from netdsl.passes.shapes import ShapeResult


def constant_nodes(graph: Graph, shapes: ShapeResult) -> set[str]:
    """The ids of the constant nodes (a `buffer` node is not one: it is read from the module)."""
    const: set[str] = set()
    for n in graph.nodes:
        opdef = n.opdef
        types = shapes.types.get(n.id)
        if types is None or not all(d.is_const for t in types for d in t.shape):
            continue
        if opdef.creates and not n.inputs:
            const.add(n.id)
        elif n.inputs and opdef.foldable and not opdef.installs and all(r.node in const for r in n.inputs):
            const.add(n.id)
    return const


def check_buffers(graph: Graph, shapes: ShapeResult, errors: ErrorCollector) -> None:
    """A `buffer` node stores a constant: report one whose input depends on an input of the graph."""
    buffers = [
        n for n in graph.nodes if n.opdef.constant_input and n.inputs and n.inputs[0].node in shapes.types
    ]
    if not buffers:
        return
    const = constant_nodes(graph, shapes)
    for n in buffers:
        if n.inputs[0].node not in const:
            errors.add(
                ShapeError(
                    f"{n.op} {n.id!r} stores a value computed when the module is built, but its input "
                    f"{str(n.inputs[0])!r} depends on the network's inputs (or is random, or has "
                    "parameters)",
                    n.loc,
                    hint="make it from arange / full / zeros / ones and ops on them only",
                )
            )

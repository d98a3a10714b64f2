"""The spec's side of a checkpoint comparison (:mod:`netdsl.passes.weights`), torch-free: the
``state_dict()`` entries the spec's module will have, from the static list of shape inference
(:attr:`ShapeResult.params`): every parameter and persistent buffer, keyed by its module path.
"""

from __future__ import annotations

from dataclasses import dataclass

from netdsl.core.errors import ContextFrame, NetdslError
from netdsl.core.symbolic import Sym, format_shape
from netdsl.ir.graph import Node
from netdsl.passes.shapes import ShapeResult

FILLED_BUFFER = "num_batches_tracked"  # BatchNorm's: filled with 0 when missing (no version metadata)


@dataclass(frozen=True)
class Expected:
    """A parameter or persistent buffer of the spec: its ``state_dict`` key, static shape, dtype,
    kind (``parameter`` / ``buffer``) and the node that owns it."""

    key: str
    shape: tuple[Sym, ...]
    dtype: str
    kind: str
    node: Node

    @property
    def shape_text(self) -> str:
        return format_shape(self.shape)


def _param_dtype(shapes: ShapeResult, node: Node, name: str) -> str:
    """The dtype torch gives a parameter: a node's own tensor (`parameter`, `buffer`) has the
    node's output dtype; BatchNorm's step counter is int64; weights and statistics are float32
    (torch's default dtype)."""
    if not name:
        types = shapes.types.get(node.id)
        return types[0].dtype if types else "float32"
    return "int64" if name == FILLED_BUFFER else "float32"


def expected_state(shapes: ShapeResult) -> dict[str, Expected]:
    """The spec's ``state_dict()`` entries, in the graph's order, from its static parameter list
    (buffers with ``persistent: false`` are not in a state_dict)."""
    out: dict[str, Expected] = {}
    for node in shapes.graph.nodes:
        specs = shapes.params.get(node.id)
        if not specs:
            continue
        if not getattr(shapes.attrs.get(node.id, node.attrs), "persistent", True):
            continue
        for name, spec in specs.items():
            key = f"{node.id}.{name}" if name else node.id
            out[key] = Expected(key, spec.shape, _param_dtype(shapes, node, name), spec.kind, node)
    return out


def at_node(err: NetdslError, node: Node) -> NetdslError:
    """``err`` with a context frame for each block instance ``node`` is in, innermost first."""
    for s in reversed(node.scope.chain()):
        if s.block is not None and s.parent is not None:
            err = err.in_context(ContextFrame(f"block instance {s.path} of {s.block}", s.loc))
    return err

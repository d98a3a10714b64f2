"""What the graph rewrites share: the record of a rewrite that fired, the spec node an fx node comes
from, and a copy of a GraphModule with a graph of its own (the same parameters, buffers and modules,
so that its ``state_dict()`` is the original's, keys and order)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torch import fx

from netdsl.backend.provenance import track
from netdsl.ops import REGISTRY, OpDef


@dataclass(frozen=True)
class Fired:
    """One rewrite applied at one place: the spec node (and its line) it applied to."""

    rewrite: str
    node: str
    loc: str
    detail: str

    def render(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        return f"{where}{self.rewrite}: {self.node}: {self.detail}"


def spec_meta(n: Any) -> dict[str, Any]:
    """The netdsl meta of an fx node (empty for a node netdsl did not make, or a non-node)."""
    meta = n.meta.get("netdsl", {}) if isinstance(n, fx.Node) else {}
    return meta if isinstance(meta, dict) else {}


def spec_op(n: Any) -> str | None:
    """The spec op whose result ``n`` holds (None for an fx node on the way to a result)."""
    meta = spec_meta(n)
    op = meta.get("op") if "output" in meta else None
    return op if isinstance(op, str) else None


def spec_def(n: Any) -> OpDef | None:
    """The registry's definition of the spec op whose result ``n`` holds (None for inputs, outputs
    and intermediates)."""
    op = spec_op(n)
    return None if op is None else REGISTRY.get(op)


def fired(rewrite: str, n: fx.Node, detail: str) -> Fired:
    meta = spec_meta(n)
    return Fired(rewrite, str(meta.get("node", n.name)), str(meta.get("loc", "")), detail)


def only_user(n: fx.Node, user: fx.Node) -> bool:
    """``n`` is read by ``user`` alone (its value is needed nowhere else)."""
    return list(n.users) == [user]


def erase_unread(graph: fx.Graph, nodes: Iterable[Any]) -> None:
    """Erase those of ``nodes`` that nothing reads any more and that compute a pure function of their
    inputs (the size and arithmetic nodes of a dim expression, the result of a view or arithmetic
    op: an op that is ``foldable`` and installs nothing), then their inputs likewise."""
    pending = [n for n in nodes if isinstance(n, fx.Node)]
    erased: set[fx.Node] = set()
    while pending:
        n = pending.pop()
        if n in erased or n.users or n.graph is not graph:
            continue
        if n.op not in ("call_function", "call_method", "get_attr"):
            continue
        op = spec_def(n)
        if spec_op(n) is not None and (op is None or not op.foldable or op.installs):
            continue
        inputs = list(n.all_input_nodes)
        graph.erase_node(n)
        erased.add(n)
        pending.extend(inputs)


def with_graph(gm: fx.GraphModule, graph: fx.Graph) -> fx.GraphModule:
    """A GraphModule running ``graph`` over ``gm``'s own parameters, buffers and submodules (shared,
    not copied: its ``state_dict()`` has ``gm``'s keys in ``gm``'s order; ``gm`` keeps its forward).

    ``fx.GraphModule(gm, graph)`` would copy only the attributes ``graph`` reads, in the order it reads
    them: modules the rewrites stopped calling (an inactive dropout) would leave the module tree."""
    cls = type(gm)
    new = cls.__new__(cls)  # fx gives every GraphModule instance a class of its own
    state = {k: copy.copy(v) if isinstance(v, dict) else v for k, v in gm.__dict__.items()}
    new.__dict__.update(state)  # own dicts of modules, parameters, buffers and hooks; same values
    type(new).__name__ = cls.__name__
    new.graph = graph  # (the setter takes ownership of the graph and generates forward)
    return track(new)

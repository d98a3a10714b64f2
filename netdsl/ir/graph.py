"""The typed IR: a flat graph of primitive op nodes, each with its source location.

Block instances are kept as :class:`Scope` objects (the hierarchy used for module
paths, summaries and diagrams); nodes are listed in topological order.
:meth:`Graph.lint` checks the invariants every pass must keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netdsl.core.errors import GraphError, SourceLoc
from netdsl.ops.base import REGISTRY, Attrs, OpDef
from netdsl.ops.initializers import InitSpec

DimEntry = int | str


@dataclass(eq=False, slots=True)
class Scope:
    """A block instance (or the root network) that nodes belong to."""

    path: str
    block: str | None
    parent: Scope | None
    loc: SourceLoc
    #: declared input shapes of the block: name -> (dims, loc); unified with the actual inputs
    input_decls: dict[str, tuple[list[DimEntry], SourceLoc]] = field(default_factory=dict)
    #: where each block input comes from in the caller
    input_refs: dict[str, Ref] = field(default_factory=dict)
    #: parameters of type `dim`: name -> dim expression in the parent scope
    dim_params: dict[str, tuple[str | int, SourceLoc]] = field(default_factory=dict)
    #: (group path, index, count) when this instance is one of a `repeat`
    repeat: tuple[str, int, int] | None = None
    #: the values of the block's parameters (given or defaulted; a `dim` parameter as written); not
    #: used by the passes: the tests of block defaults and `example:` read it
    params: dict[str, object] = field(default_factory=dict)
    #: the nodes written in this scope's body, in order: (local name, op or block, repeat count, outputs)
    entries: list[Entry] = field(default_factory=list)
    #: the local name of the node (the entry of the parent's body) this block instance is a copy of
    entry: str = ""
    #: the block's outputs by name (its `outputs:` keys, or the node names they list), in order
    outputs: tuple[tuple[str, Ref], ...] = ()

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def chain(self) -> list[Scope]:
        out: list[Scope] = []
        s: Scope | None = self
        while s is not None:
            out.append(s)
            s = s.parent
        return out[::-1]


@dataclass(frozen=True, slots=True)
class Entry:
    """One node as written in a body: an op or a block instance (maybe repeated)."""

    name: str  # local name
    path: str  # module path prefix of everything it created
    kind: str  # op name or block name
    is_block: bool
    count: int | None  # the repeat count, None if not repeated
    outputs: tuple[Ref, ...]
    #: the module path of each copy (one without a repeat); a block instance's nodes lie below it,
    #: except for `path: ''`, whose copies share the path of the scope
    copies: tuple[str, ...] = ()

    def copy_paths(self) -> tuple[str, ...]:
        """The module path of each copy (``path.i`` for entries made without :attr:`copies`)."""
        if self.copies:
            return self.copies
        return (
            tuple(f"{self.path}.{i}" for i in range(self.count)) if self.count is not None else (self.path,)
        )


@dataclass(frozen=True, slots=True)
class Ref:
    """Output ``index`` of node ``node`` (a node id or a graph input name)."""

    node: str
    index: int = 0

    def __str__(self) -> str:
        return self.node if self.index == 0 else f"{self.node}.{self.index}"


@dataclass(eq=False, slots=True)
class Node:
    id: str  # the module path, unique in the graph
    op: str
    attrs: Attrs
    inputs: list[Ref]
    loc: SourceLoc
    scope: Scope
    #: initialisers of the op's parameters, by parameter name (`init: {weight: zeros}`)
    init: dict[str, InitSpec] = field(default_factory=dict)
    expect: list[DimEntry] | None = None
    num_outputs: int = 1
    init_locs: dict[str, SourceLoc] = field(default_factory=dict)

    @property
    def opdef(self) -> OpDef:
        return REGISTRY[self.op]


@dataclass(frozen=True, slots=True)
class GraphInput:
    name: str
    shape: list[DimEntry]
    dtype: str
    loc: SourceLoc


@dataclass(eq=False, slots=True)
class Graph:
    name: str
    kind: str  # "network" or "block"
    file: str
    inputs: list[GraphInput]
    nodes: list[Node]
    outputs: list[tuple[str, Ref, SourceLoc]]
    root: Scope
    dims: dict[str, int | list[int]] = field(default_factory=dict)
    variant: str | None = None

    def example_sizes(self, extra: Mapping[str, int] | None = None) -> dict[str, int | list[int]]:
        """Sizes for a concrete check or run: `dims:`, integer `dim` parameters of a block built on its
        own, then ``extra`` (command line)."""
        fixed = {k: v for k, (v, _) in self.root.dim_params.items() if isinstance(v, int)}
        return {**self.dims, **fixed, **(extra or {})}

    def node_map(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    def users(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for r in n.inputs:
                out.setdefault(r.node, []).append(n)
        return out

    def lint(self) -> None:
        """Check the IR invariants (like ``torch.fx.Graph.lint``); raise GraphError on a broken one."""
        seen: dict[str, int] = {i.name: 1 for i in self.inputs}
        if len(seen) != len(self.inputs):
            raise GraphError("duplicate graph input names")
        owners: set[str] = set()
        #: by op: its definition, whether it installs a module, and the input counts it takes
        ops: dict[str, tuple[OpDef, bool, set[int]]] = {}
        for n in self.nodes:
            nid, op, inputs = n.id, n.op, n.inputs
            if nid in seen:
                raise GraphError(f"node id {nid!r} is defined twice", n.loc)
            known = ops.get(op)
            if known is None:
                opdef = REGISTRY.get(op)
                if opdef is None:
                    raise GraphError(f"node {nid!r} has unknown op {op!r}", n.loc)
                known = ops[op] = (opdef, opdef.installs, set())
            for r in inputs:
                have = seen.get(r.node)
                if have is None:
                    raise GraphError(f"node {nid!r} uses {r} before it is defined", n.loc)
                if r.index >= have:
                    raise GraphError(
                        f"node {nid!r} uses output {r.index} of {r.node!r}, which has {have}", n.loc
                    )
            count = len(inputs)
            if count not in known[2]:
                if not known[0].arity_ok(count):
                    raise GraphError(
                        f"op {op!r} takes {known[0].arity_text()}, node {nid!r} gives {count}", n.loc
                    )
                known[2].add(count)
            seen[nid] = n.num_outputs
            if known[1]:
                owners.add(nid)
        for o in owners:
            dot = o.find(".")
            while dot >= 0:
                prefix = o[:dot]
                if prefix in owners:
                    node = self.node_map()[o]
                    raise GraphError(
                        f"module path clash: {prefix!r} is a module, so {o!r} cannot live below it",
                        node.loc,
                        hint=f"rename one of the nodes '{prefix}' / '{o}'",
                    )
                dot = o.find(".", dot + 1)
        for name, r, loc in self.outputs:
            if r.node not in seen or r.index >= seen[r.node]:
                raise GraphError(f"output {name!r} refers to {r}, which does not exist", loc)

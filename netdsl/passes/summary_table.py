"""The layer table of ``netdsl summary``, torch-free: one row per node as written (an op or a block
instance) down to a nesting depth, with its output shape, parameters, MACs and share of the MACs,
then the totals. :mod:`netdsl.passes.summary_render` renders it as text, Markdown or JSON (schema
``netdsl.summary/1``, docs/toolbox.md), with the cell formatting of :mod:`netdsl.passes.summary_format`.

Row sums are exact: a row counts the nodes it made (a block instance: every node inside it, a
repeat: every copy), so the rows of one level add up to the totals (:func:`param_count` and
:func:`mac_count` of :mod:`netdsl.passes.summary`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from netdsl.core.symbolic import Sym, SymbolicError
from netdsl.core.types import TensorType
from netdsl.ir.graph import Entry, Graph, Scope
from netdsl.passes.memory import param_bytes
from netdsl.passes.shapes import ShapeResult

#: ``--depth auto``: the deepest level whose table has at most this many rows
AUTO_ROWS = 60
#: where the sizes of the shapes came from
SizesFrom = Literal["command-line", "spec-dims", "symbolic"]

_ZERO = Sym.const(0)


@dataclass(frozen=True)
class TableRow:
    """One node as written: an op, or a block instance (all its copies for a repeat)."""

    #: the spec node path shown: the module path, or the local name where the path is ``''``
    name: str
    #: the module path of what it made (``''`` for a block written with ``path: ''``)
    path: str
    #: its local name in the body it is written in
    entry: str
    #: 1 for the top-level nodes, 2 for the nodes of their block instances, ...
    level: int
    #: op name or block name
    kind: str
    is_block: bool
    #: the repeat count, None when not repeated
    repeat: int | None
    outputs: tuple[TensorType, ...]
    params: Sym
    buffers: Sym
    macs: Sym

    @property
    def label(self) -> str:
        """The kind with the repeat: ``res_unit x2``."""
        return self.kind + (f" x{self.repeat}" if self.repeat is not None else "")


@dataclass(frozen=True)
class Totals:
    """The whole graph's parameters (all trainable: a frozen tensor is a buffer), buffers, MACs."""

    params: Sym
    buffers: Sym
    macs: Sym
    #: bytes of the parameters and buffers in float32 (those of static size)
    param_bytes: int


@dataclass(frozen=True)
class Summary:
    """What ``netdsl summary`` prints for one graph."""

    graph: Graph
    shapes: ShapeResult
    rows: list[TableRow]
    #: the depth shown (None: every level)
    depth: int | None
    sizes_from: SizesFrom
    totals: Totals
    #: the source file as the user named it
    spec: str = ""


@dataclass
class _Index:
    """Per node its counts; per (scope, entry) the nodes it made and its block instances."""

    params: dict[str, Sym]
    buffers: dict[str, Sym]
    macs: dict[str, Sym]
    made: dict[tuple[int, str], list[str]]
    instances: dict[tuple[int, str], dict[int, Scope]]


def _add(a: Sym, b: Sym) -> Sym:
    try:
        return a + b
    except SymbolicError:  # beyond 2**63: not a network anyone runs (the build refuses it)
        return a


def _index(shapes: ShapeResult) -> _Index:
    g = shapes.graph
    params: dict[str, Sym] = {}
    buffers: dict[str, Sym] = {}
    for node_id, specs in shapes.params.items():
        for p in specs.values():
            target = params if p.kind == "parameter" else buffers
            try:
                n = p.numel
            except SymbolicError:
                continue
            target[node_id] = _add(target.get(node_id, _ZERO), n)
    macs: dict[str, Sym] = {}
    ops_of: dict[int, dict[str, str]] = {}
    made: dict[tuple[int, str], list[str]] = {}
    instances: dict[tuple[int, str], dict[int, Scope]] = {}
    for node in g.nodes:
        if node.id in shapes.types:
            ins = [shapes.type_of(r) for r in node.inputs]
            try:
                macs[node.id] = node.opdef.mac_count(shapes.attrs[node.id], ins, shapes.types[node.id])
            except SymbolicError:
                pass
        s = node.scope
        ops = ops_of.get(id(s))
        if ops is None:
            ops = ops_of[id(s)] = {c: e.name for e in s.entries if not e.is_block for c in e.copy_paths()}
        owner = ops.get(node.id)
        if owner is not None:
            made.setdefault((id(s), owner), []).append(node.id)
        child: Scope = s
        while child.parent is not None:
            key = (id(child.parent), child.entry)
            made.setdefault(key, []).append(node.id)
            instances.setdefault(key, {}).setdefault(id(child), child)
            child = child.parent
    return _Index(params, buffers, macs, made, instances)


def _total(counts: dict[str, Sym], ids: Sequence[str]) -> Sym:
    total = _ZERO
    for i in ids:
        c = counts.get(i)
        if c is not None:
            total = _add(total, c)
    return total


def table_rows(shapes: ShapeResult, depth: int | None = None, idx: _Index | None = None) -> list[TableRow]:
    """The rows down to nesting ``depth`` (1: the top-level nodes; None: every level), in the order
    written, each block instance followed by its nodes (every copy of a repeat, in turn)."""
    idx = idx or _index(shapes)
    out: list[TableRow] = []
    stack: list[Iterator[tuple[int, Scope, Entry]]] = [
        iter([(1, shapes.graph.root, e) for e in shapes.graph.root.entries])
    ]
    while stack:  # depth-first with an explicit stack: deep nesting does not recurse
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        level, scope, e = item
        key = (id(scope), e.name)
        ids = idx.made.get(key, [])
        name = e.path or (f"{scope.path}.{e.name}" if scope.path else e.name)
        outputs = tuple(shapes.type_of(r) for r in e.outputs if r.node in shapes.types)
        out.append(
            TableRow(
                name=name,
                path=e.path,
                entry=e.name,
                level=level,
                kind=e.kind,
                is_block=e.is_block,
                repeat=e.count,
                outputs=outputs,
                params=_total(idx.params, ids),
                buffers=_total(idx.buffers, ids),
                macs=_total(idx.macs, ids),
            )
        )
        if e.is_block and (depth is None or level < depth):
            children = [
                (level + 1, inst, child)
                for inst in idx.instances.get(key, {}).values()
                for child in inst.entries
            ]
            stack.append(iter(children))
    return out


def auto_depth(rows: Sequence[TableRow], max_rows: int = AUTO_ROWS) -> int:
    """The deepest level whose table (the rows of ``rows``, every level, down to it) has at most
    ``max_rows`` rows; 1 when even the top level has more."""
    deepest = max((r.level for r in rows), default=1)
    best = 1
    for d in range(1, deepest + 1):
        if sum(1 for r in rows if r.level <= d) <= max_rows:
            best = d
    return best


def totals(shapes: ShapeResult, idx: _Index | None = None) -> Totals:
    """The totals of the whole graph (equal to :func:`~netdsl.passes.summary.param_count` and
    :func:`~netdsl.passes.summary.mac_count`)."""
    idx = idx or _index(shapes)
    ids = [n.id for n in shapes.graph.nodes]
    return Totals(
        _total(idx.params, ids),
        _total(idx.buffers, ids),
        _total(idx.macs, ids),
        param_bytes(shapes),
    )


def summarize(
    shapes: ShapeResult,
    depth: int | Literal["auto", "all"] = "auto",
    sizes_from: SizesFrom = "spec-dims",
    spec: str = "",
) -> Summary:
    """The summary of ``shapes`` (concrete or symbolic) at ``depth``: a level (0: the totals
    only), ``"auto"`` (:func:`auto_depth`) or ``"all"``."""
    idx = _index(shapes)
    every = table_rows(shapes, None, idx)
    shown: int | None
    if depth == "all":
        shown = None
    elif depth == "auto":
        shown = auto_depth(every)
    else:
        shown = depth
    rows = [r for r in every if shown is None or r.level <= shown]
    return Summary(
        shapes.graph, shapes, rows, shown, sizes_from, totals(shapes, idx), spec or shapes.graph.file
    )


__all__ = [
    "AUTO_ROWS",
    "SizesFrom",
    "Summary",
    "TableRow",
    "Totals",
    "auto_depth",
    "summarize",
    "table_rows",
    "totals",
]

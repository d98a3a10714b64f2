"""The dims of an export (see :mod:`netdsl.backend.export`): the axes of the spec's inputs that follow
a spec dim (``B``, ``H``, ``2*Hh``), how each dim is exported (:class:`DimPlan`, :class:`Root`),
and the bounds of its range that the spec sets: the smallest size shape inference accepts, and
the size from which every size computed from that dim alone stays 2 or more (torch.export
specialises sizes 0 and 1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from netdsl.core.errors import ErrorCollector, NetdslError, SourceLoc
from netdsl.core.symbolic import Sym, SymbolicError
from netdsl.core.types import TensorType
from netdsl.ir.graph import Graph
from netdsl.passes.dims import IDENT, dim_value, star_index, unknowns
from netdsl.passes.shapes import ShapeResult, infer_shapes


@dataclass(frozen=True)
class Axis:
    """One axis of an input that follows a spec dim: its size is ``k * dim + c``."""

    input: int
    axis: int
    dim: str
    k: int = 1
    c: int = 0

    def size(self, value: int) -> int:
        return self.k * value + self.c


@dataclass
class DimPlan:
    """How one dim of the spec's inputs is exported. Dynamic: ``k * root + c`` where ``root`` is a
    ``torch.export.Dim`` (the dim's own name, or ``_H`` when torch.export asked for a multiple, or
    another dim it must equal) ranging over ``low .. high`` (None: unbounded). ``example``: its
    size in the example (the run's sizes); ``notes``: why its range is what it is."""

    name: str
    example: int
    dynamic: bool
    root: str = ""
    k: int = 1
    c: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root or self.name

    def value(self, root_value: int) -> int:
        return self.k * root_value + self.c


@dataclass
class Root:
    """A ``torch.export.Dim``: its range (``high`` None: unbounded) and the size it is traced at."""

    name: str
    low: int
    high: int | None
    trace: int


def input_axes(graph: Graph, example: Mapping[str, TensorType]) -> tuple[list[Axis], dict[str, str]]:
    """The axes of the inputs that follow a spec dim (``B``, ``H``, ``2*Hh``), and the dims that
    cannot be dynamic, with the entry that keeps them static (``H*W``)."""
    axes: list[Axis] = []
    fixed: dict[str, str] = {}
    for i, gi in enumerate(graph.inputs):
        rank = example[gi.name].rank
        star = star_index(gi.shape)
        for j, entry in enumerate(gi.shape):
            if not isinstance(entry, str) or (star is not None and j == star):
                continue
            axis = j if star is None or j < star else rank - (len(gi.shape) - j)
            names = unknowns(entry, {})
            if IDENT.match(entry):
                axes.append(Axis(i, axis, entry))
                continue
            linear = _linear(entry, names, gi.loc) if len(names) == 1 else None
            if linear is None:
                for n in names:
                    fixed.setdefault(n, f"input {gi.name!r} has a dim {entry!r}")
                continue
            axes.append(Axis(i, axis, names[0], *linear))
    return [a for a in axes if a.dim not in fixed], fixed


def _linear(entry: str, names: Sequence[str], loc: SourceLoc) -> tuple[int, int] | None:
    """(k, c) when ``entry`` is ``k * name + c`` with k >= 1."""
    (name,) = names
    try:
        s = dim_value(entry, {name: Sym.var(name)}, loc)
        c = s.subs({name: 0})
        k = s.subs({name: 1}) - c
        if not (c.is_const and k.is_const) or s != c + k * Sym.var(name) or k.value < 1:
            return None
        return k.value, c.value
    except (NetdslError, SymbolicError):
        return None


def example_values(axes: Sequence[Axis], graph: Graph, example: Mapping[str, TensorType]) -> dict[str, int]:
    """The size of each dim in the example."""
    out: dict[str, int] = {}
    for a in axes:
        size = example[graph.inputs[a.input].name].shape[a.axis].value
        out.setdefault(a.dim, (size - a.c) // a.k)
    return out


def input_types(
    graph: Graph, example: Mapping[str, TensorType], axes: Sequence[Axis], values: Mapping[str, int]
) -> dict[str, TensorType]:
    """The input types with the dims at ``values`` (the other sizes as in the example)."""
    shapes = {gi.name: [d.value for d in example[gi.name].shape] for gi in graph.inputs}
    for a in axes:
        if a.dim in values:
            shapes[graph.inputs[a.input].name][a.axis] = a.size(values[a.dim])
    return {gi.name: TensorType.of(shapes[gi.name], gi.dtype) for gi in graph.inputs}


def _fits(graph: Graph, types: Mapping[str, TensorType]) -> bool:
    errors = ErrorCollector()
    try:
        infer_shapes(graph, dict(types), errors)
    except NetdslError:
        return False
    return not errors.errors


def _smallest(low: int, high: int, ok: Callable[[int], bool]) -> int:
    """The smallest value in ``low .. high`` for which ``ok`` holds (``ok(high)`` is taken to hold;
    ``ok`` growing with the value)."""
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid + 1, high)
    return high


def spec_minimum(
    graph: Graph, example: Mapping[str, TensorType], axes: Sequence[Axis], values: Mapping[str, int], dim: str
) -> int:
    """The smallest size of ``dim`` that the spec accepts (shape inference without errors) with the
    other dims at ``values``."""
    low = max([1, *(-((a.c - 1) // a.k) for a in axes if a.dim == dim)])  # every axis of it >= 1
    if low >= values[dim]:
        return values[dim]
    return _smallest(
        low, values[dim], lambda v: _fits(graph, input_types(graph, example, axes, {**values, dim: v}))
    )


def _in_dims(expr: Sym, aliases: Mapping[str, Sym], dims: set[str]) -> Sym | None:
    """``expr`` written in the input dims (the names `expect:` gave replaced), or None."""
    for _ in range(64):
        free = expr.free_symbols
        if free <= dims:
            return expr
        repl = {n: aliases[n] for n in free - dims if n in aliases and aliases[n] != Sym.var(n)}
        if not repl:
            return None
        expr = expr.subs(repl)
    return None


def one_dim_sizes(
    shapes: ShapeResult, dim: str, statics: Mapping[str, int], dims: set[str]
) -> dict[Sym, str]:
    """The distinct sizes in the network computed from ``dim`` alone (the static dims put in), such
    as ``H//8``, each with its text (``H1//8 = (H - 31)//32 + 1`` for one written with the names
    `expect:` gave); ``dim`` itself and multiples of it are left out."""
    seen: dict[Sym, None] = {}
    for types in shapes.types.values():
        for ty in types:
            for d in ty.shape:
                if d.is_const or d in seen:
                    continue
                seen[d] = None
    out: dict[Sym, str] = {}
    for d in seen:
        e = _in_dims(d, shapes.aliases, dims)
        if e is None:
            continue
        e = e.subs(dict(statics))
        if e.free_symbols != {dim} or _linear_in(e, dim) or e in out:
            continue
        out[e] = str(e) if str(e) == str(d) else f"{d} = {e}"
    return out


def _linear_in(e: Sym, dim: str) -> bool:
    c = e.subs({dim: 0})
    k = e.subs({dim: 1}) - c
    return c.is_const and k.is_const and k.value >= 1 and c.value >= 0 and e == c + k * Sym.var(dim)


def _at(e: Sym, dim: str, value: int) -> int | None:
    try:
        v = e.subs({dim: value})
        return v.value if v.is_const else None
    except (SymbolicError, ZeroDivisionError):
        return None


def size_one_floor(sizes: Mapping[Sym, str], dim: str, low: int, trace: int) -> tuple[int, str | None]:
    """The smallest size of ``dim`` from ``low`` on at which every size in ``sizes`` that is 2 or
    more at ``trace`` stays 2 or more (torch.export specialises sizes 0 and 1), and the size that
    sets it (None when ``low`` is already enough)."""
    watched = [e for e in sizes if (_at(e, dim, trace) or 0) >= 2]

    def ok(v: int) -> bool:
        return all((_at(e, dim, v) or 0) >= 2 for e in watched)

    if not watched or ok(low) or low >= trace:
        return low, None
    best = _smallest(low, trace, ok)
    culprit = next((sizes[e] for e in watched if (_at(e, dim, best - 1) or 0) < 2), None)
    return best, culprit


def axis_names(graph: Graph, axes: Sequence[Axis]) -> dict[tuple[str, int], str]:
    """The spec's entry of each (input, axis) that follows a dim (``H``, ``2*Hh``), for writing
    torch's guards in the spec's names (:func:`~netdsl.backend.export_violations.read_violation`)."""
    out: dict[tuple[str, int], str] = {}
    for a in axes:
        gi = graph.inputs[a.input]
        entry = [e for e in gi.shape if isinstance(e, str) and unknowns(e, {}) == [a.dim]]
        out[(gi.name, a.axis)] = entry[0] if entry else a.dim
    return out

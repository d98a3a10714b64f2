"""Concrete sizes: the input types of a run from ``dims:`` / ``--dim`` / ``--input-shape``, and the
smallest sizes that make a graph fit (the hint of a map that shrinks to nothing)."""

from __future__ import annotations

from collections.abc import Mapping

from netdsl.core.errors import ErrorCollector, NetdslError, UsageError
from netdsl.core.symbolic import Sym
from netdsl.core.types import TensorType
from netdsl.ir.graph import Graph
from netdsl.passes.dims import IDENT, Sizes, dim_value, unknowns
from netdsl.passes.shapes import infer_shapes


def concrete_inputs(
    graph: Graph,
    sizes: Sizes,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> dict[str, TensorType]:
    """Concrete input types from explicit shapes, or from symbol sizes (``dims:``, ``--dim``)."""
    out: dict[str, TensorType] = {}
    for gi in graph.inputs:
        if shapes and gi.name in shapes:
            out[gi.name] = TensorType.of(shapes[gi.name], gi.dtype)
            continue
        dims: list[int] = []
        for d in gi.shape:
            if isinstance(d, int):
                dims.append(d)
            elif d.startswith("*") and isinstance(sizes.get(d[1:]), list):
                dims.extend(sizes[d[1:]])  # type: ignore[arg-type]
            elif d in sizes:
                dims.append(sizes[d])  # type: ignore[arg-type]
            elif not IDENT.match(d) and not d.startswith("*") and all(n in sizes for n in unknowns(d, {})):
                dims.append(
                    dim_value(d, {k: Sym.of(v) for k, v in sizes.items() if isinstance(v, int)}, gi.loc).value
                )
            else:
                raise UsageError(
                    f"no size for dim {d!r} of input {gi.name!r}",
                    gi.loc,
                    hint=f"declare `dims: {{{d}: ...}}` in the spec, or pass --dim {d}=N or "
                    f"--input-shape {gi.name}="
                    + "x".join(str(x) if isinstance(x, int) else "N" for x in gi.shape),
                )
        out[gi.name] = TensorType.of(dims, gi.dtype)
    return out


def _fits(graph: Graph, sizes: Sizes) -> bool:
    errs = ErrorCollector()
    try:
        infer_shapes(graph, concrete_inputs(graph, sizes), errs)
    except NetdslError:
        return False
    return not errs.errors


def minimum_sizes(graph: Graph, sizes: Sizes, limit: int = 1 << 16) -> dict[str, int]:
    """For inputs that are too small: the smallest size of each symbolic dim that makes the graph
    fit when the dims grow together (by doubling, then bisection); {} when growing does not help."""
    ints = {k: v for k, v in sizes.items() if isinstance(v, int)}
    names = sorted({d for gi in graph.inputs for d in gi.shape if isinstance(d, str) and d in ints})
    if not names or _fits(graph, sizes):
        return {}

    def scaled(k: int) -> dict[str, int | list[int]]:  # every dim at least k (larger ones keep their size)
        return {**sizes, **{n: max(ints[n], k) for n in names}}

    hi = 1
    while not _fits(graph, scaled(hi)):
        hi *= 2
        if hi > limit:
            return {}
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _fits(graph, scaled(mid)) else (mid, hi)
    out = {}
    for n in names:  # dims that must grow (others are fine as they are)
        trial = {**scaled(hi), n: ints[n]}
        if not _fits(graph, trial):
            out[n] = hi
    return out or {n: hi for n in names}

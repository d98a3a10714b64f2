"""Model summaries (Keras-style) and static parameter/MAC counts, torch-free."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netdsl.core.symbolic import Sym, SymbolicError, format_shape
from netdsl.core.types import TensorType
from netdsl.ir.graph import Entry, Scope
from netdsl.passes.shapes import ShapeResult


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    shapes: str
    params: int
    macs: Sym


def _under(node_id: str, path: str) -> bool:
    return node_id == path or node_id.startswith(path + ".")


def param_count(
    shapes: ShapeResult, path: str | None = None, kind: str = "parameter", ids: set[str] | None = None
) -> int:
    """Elements of the parameters (``kind="buffer"``: buffers) of the nodes below module path
    ``path``, or of the nodes ``ids``; of all nodes by default."""
    total = 0
    for node_id, specs in shapes.params.items():
        if (path is None or _under(node_id, path)) and (ids is None or node_id in ids):
            for p in specs.values():
                if p.kind == kind:
                    total += _numel(p.shape)
    return total


def mac_count(shapes: ShapeResult, path: str | None = None, ids: set[str] | None = None) -> Sym:
    """The MACs of the nodes below module path ``path``, or of the nodes ``ids``; of all by default."""
    total = Sym.const(0)
    for node in shapes.graph.nodes:
        if node.id not in shapes.types or (path is not None and not _under(node.id, path)):
            continue
        if ids is not None and node.id not in ids:
            continue
        ins = [shapes.type_of(r) for r in node.inputs]
        try:
            total = total + node.opdef.mac_count(shapes.attrs[node.id], ins, shapes.types[node.id])
        except SymbolicError:  # beyond 2**63: not a network anyone runs; the build refuses it anyway
            continue
    return total


def activation_count(shapes: ShapeResult) -> int:
    """Values produced by one forward pass (all node outputs); symbolic dims count as unknown (0)."""
    total = 0
    for types in shapes.types.values():
        for t in types:
            if all(d.is_const for d in t.shape):
                total += _numel(t.shape)
    return total


def _numel(shape: tuple[Sym, ...]) -> int:
    n = 1
    for d in shape:
        n *= d.value  # python ints: no overflow
    return n


def members(shapes: ShapeResult, scope: Scope) -> dict[str, set[str]]:
    """The ids of the nodes that each entry (node as written) of ``scope``'s body made, by its name:
    its op nodes, and every node in the block instances it made."""
    ops = {c: e.name for e in scope.entries if not e.is_block for c in e.copy_paths()}
    out: dict[str, set[str]] = {e.name: set() for e in scope.entries}
    for n in shapes.graph.nodes:
        s: Scope | None = n.scope
        if s is scope:
            owner = ops.get(n.id)
        else:
            while s is not None and s.parent is not scope:
                s = s.parent
            owner = s.entry if s is not None else None
        if owner in out:
            out[owner].add(n.id)
    return out


def rows(shapes: ShapeResult, scope: Scope | None = None) -> list[Row]:
    scope = scope or shapes.graph.root
    out = []
    made = members(shapes, scope)
    for e in scope.entries:
        kind = e.kind + (f" x{e.count}" if e.count is not None else "")
        types = [shapes.type_of(r) for r in e.outputs if r.node in shapes.types]
        ids = made[e.name]
        out.append(
            Row(
                e.name,
                kind,
                ", ".join(str(t) for t in types),
                param_count(shapes, ids=ids),
                mac_count(shapes, ids=ids),
            )
        )
    return out


def human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:g}"


def render(
    shapes: ShapeResult, concrete: ShapeResult | None = None, dims: Mapping[str, int] | None = None
) -> str:
    """The summary table: per top-level node its output shape and parameter count, then the totals."""
    g = shapes.graph
    shown = concrete or shapes
    table = [("node", "op / block", "output shape", "params")]
    for r in rows(shown):
        table.append((r.name, r.kind, r.shapes, f"{r.params:,}"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    line = "-" * (sum(widths) + 6)
    out = [f"{g.kind} {g.name}" + (f" (variant {g.variant})" if g.variant else "")]
    ins = ", ".join(f"{gi.name} {shown.types[gi.name][0]}" for gi in g.inputs if gi.name in shown.types)
    out.append(f"inputs: {ins}")
    out.append(line)
    for i, row in enumerate(table):
        out.append(
            "  ".join(
                (c.rjust(w) if j == 3 else c.ljust(w))
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            out.append(line)
    out.append(line)
    outs = ", ".join(f"{n} {t}" for n, t in shown.outputs)
    out.append(f"outputs: {outs}")
    trainable = param_count(shapes)
    buffers = param_count(shapes, kind="buffer")
    out.append(f"parameters: {trainable:,} trainable, {buffers:,} in buffers")
    macs = mac_count(shown)
    sym_macs = mac_count(shapes)
    if macs.is_const:
        symbolic = f"; symbolic: {sym_macs}" if len(str(sym_macs)) <= 80 else ""
        out.append(f"MACs: {macs.value:,} ({human(macs.value)}) for the input above{symbolic}")
    else:
        out.append(f"MACs: {macs}")
    return "\n".join(out)


def shapes_table(shapes: ShapeResult) -> str:
    """Every node's inferred output type (``netdsl shapes``)."""
    g = shapes.graph
    lines = []
    width = max([len(n.id) for n in g.nodes] + [len(i.name) for i in g.inputs] + [4])
    for gi in g.inputs:
        t = shapes.types.get(gi.name)
        lines.append(f"{gi.name.ljust(width)}  {'input'.ljust(14)}  {_fmt(t)}")
    for n in g.nodes:
        lines.append(f"{n.id.ljust(width)}  {n.op.ljust(14)}  {_fmt(shapes.types.get(n.id))}")
    for name, ref, _ in g.outputs:
        lines.append(f"-> {name}: {ref} {_fmt(shapes.types.get(ref.node, [])[ref.index : ref.index + 1])}")
    named = [f"{k} = {v}" for k, v in shapes.aliases.items() if v != Sym.var(k)]
    if named:
        lines.append("where " + ", ".join(named))
    return "\n".join(lines)


def _fmt(types: list[TensorType] | None) -> str:
    if not types:
        return "?"
    return ", ".join(
        f"{format_shape(t.shape)}" + ("" if t.dtype == "float32" else f" {t.dtype}") for t in types
    )


__all__ = ["Entry", "render", "rows", "shapes_table"]

"""The plan of an export's dims (see :mod:`netdsl.backend.export`): which dims are dynamic and
their ranges (:func:`plan_dims`), torch.export's suggested fixes applied to them (:class:`Plan`),
the ``dynamic_shapes`` it is given, and the ranges read back from the exported program."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from netdsl.backend.export_dims import (
    Axis,
    DimPlan,
    Root,
    example_values,
    input_axes,
    one_dim_sizes,
    size_one_floor,
    spec_minimum,
)
from netdsl.backend.export_violations import FIX_FORM, FIX_RANGE, FIX_VALUE, Violation, static_refused
from netdsl.core.errors import UsageError
from netdsl.core.suggest import did_you_mean
from netdsl.core.types import TensorType
from netdsl.ir.graph import Graph
from netdsl.passes.shapes import ShapeResult


class Plan:
    """The dims of one export: their plans, the torch Dims (roots) and what was adjusted."""

    def __init__(self, dims: list[DimPlan], roots: dict[str, Root], asked: set[str] | None) -> None:
        self.dims = {d.name: d for d in dims}
        self.roots = roots
        #: dims the caller named explicitly (they are not made static without an error)
        self.asked = asked
        self.adjustments: list[str] = []
        #: torch's symbol of each root in the exported program (``s44`` -> ``Hh``)
        self.symbols: dict[str, str] = {}
        #: sizes from one dim that must stay >= 2, not applied yet: dim -> (its floor, the size)
        self.floors: dict[str, tuple[int, str]] = {}

    def raise_floors(self, v: Violation) -> list[str]:
        """Raise the dims torch.export named to their floors (sizes from them alone >= 2)."""
        done = []
        for name in v.dims:
            d = self.dims.get(name)
            if d is None or not d.dynamic or d.root != name or name not in self.floors:
                continue
            floor, culprit = self.floors.pop(name)
            root = self.roots[name]
            if floor > root.low:
                root.low, root.trace = floor, max(root.trace, floor)
                d.notes.append(f"{name} >= {floor}: {_stays(culprit)}")
                done.append(f"{name} >= {floor} (it refused {culprit.split(' = ')[0]} = 1)")
        return done

    def dynamic_shapes(self, graph: Graph, axes: Sequence[Axis]) -> tuple[dict[int, Any], ...]:
        objects: dict[str, Any] = {}
        for r in self.roots.values():
            kwargs: dict[str, int] = {"min": r.low}
            if r.high is not None:
                kwargs["max"] = r.high
            objects[r.name] = torch.export.Dim(r.name, **kwargs)
        out: tuple[dict[int, Any], ...] = tuple({} for _ in graph.inputs)
        for a in axes:
            d = self.dims[a.dim]
            if not d.dynamic:
                continue
            obj = objects[d.root]
            obj = obj if d.k == 1 else d.k * obj
            obj = obj if d.c == 0 else obj + d.c
            obj = obj if a.k == 1 else a.k * obj
            obj = obj if a.c == 0 else obj + a.c
            out[a.input][a.axis] = obj
        return out

    def trace_values(self) -> dict[str, int]:
        return {
            d.name: d.value(self.roots[d.root].trace) if d.dynamic else d.example for d in self.dims.values()
        }

    def apply(self, v: Violation) -> list[str]:
        """Apply torch.export's suggested fixes; what changed (nothing: they cannot be applied)."""
        done: list[str] = []
        new_roots: dict[str, Root] = {}
        for fix in v.fixes:
            m = FIX_RANGE.match(fix)
            if m:
                name = m.group(1)
                bounds = dict(kv.split("=") for kv in m.group(3).strip(", ").split(", ") if kv)
                if name.startswith("_") and name not in self.roots:
                    new_roots[name] = Root(name, _bound(bounds.get("min"), 0), _maybe(bounds.get("max")), 0)
                    continue
                root = self._root_of(name)
                if root is None:
                    return []
                low = max(root.low, _bound(bounds.get("min"), root.low))
                high = _maybe(bounds.get("max"))
                high = root.high if high is None else high if root.high is None else min(high, root.high)
                if (low, high) != (root.low, root.high):
                    root.low, root.high = low, high
                    root.trace = max(low, root.trace) if high is None else min(max(low, root.trace), high)
                    done.append(f"{fix} (the range torch.export can export)")
                continue
            m = FIX_VALUE.match(fix)
            if m:
                name, value = m.group(1), int(m.group(2))
                d = self.dims.get(name)
                if d is None or not d.dynamic:
                    return []
                if self.asked is not None and name in self.asked:
                    raise static_refused(name, value, v)
                d.dynamic = False
                d.example = value
                d.notes.append(f"{name} static: torch.export specialises it to {value}")
                done.append(f"{name} = {value} (static: the traced program only works at this size)")
                continue
            m = FIX_FORM.match(fix)
            if m:
                name, k, root_name = m.group(1), int(m.group(2) or 1), m.group(3)
                c = int(m.group(5) or 0) * (-1 if m.group(4) == "-" else 1)
                d = self.dims.get(name)
                if d is None or not d.dynamic:
                    return []
                if root_name in new_roots:
                    r = new_roots.pop(root_name)
                    old = self.roots[d.root]
                    r.low = max(r.low, -((c - d.value(old.low)) // k))
                    r.trace = max(r.low, (d.value(old.trace) - c) // k)
                    self.roots[root_name] = r
                elif root_name in self.dims and self.dims[root_name].dynamic:
                    other = self.dims[root_name]
                    old, root_name = self.roots[d.root], other.root
                    k, c = k * other.k, k * other.c + c
                    r = self.roots[root_name]
                    r.low = max(r.low, -((c - d.value(old.low)) // k))
                    r.trace = max(r.trace, r.low)
                else:
                    return []
                d.root, d.k, d.c = root_name, k, c
                done.append(f"{fix} ({'a multiple' if k > 1 else 'the same size'} as torch.export requires)")
                continue
            return []
        used = {d.root for d in self.dims.values() if d.dynamic}
        for name in list(self.roots):
            if name not in used:
                del self.roots[name]
        return done

    def _root_of(self, name: str) -> Root | None:
        if name in self.roots:
            return self.roots[name]
        d = self.dims.get(name)
        return self.roots.get(d.root) if d is not None and d.dynamic else None


def _bound(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _maybe(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def plan_dims(
    graph: Graph,
    shapes: ShapeResult,
    example: Mapping[str, TensorType],
    dynamic: Sequence[str] | None,
    *,
    above_one: bool = True,
) -> tuple[Plan, list[Axis]]:
    """The dims of the inputs, which are dynamic (``dynamic``: those named; None: all that can be)
    and their ranges (the module docstring). ``above_one=False`` leaves the sizes computed from one
    dim out of the ranges at first (they are applied when torch.export refuses the ranges)."""
    axes, fixed = input_axes(graph, example)
    values = example_values(axes, graph, example)
    known = sorted(set(values) | set(fixed))
    if dynamic is not None:
        for name in dynamic:
            if name not in known:
                raise UsageError(
                    f"--dynamic {name}: the spec's inputs have no dim {name!r}",
                    expected=known or ["none"],
                    hint=did_you_mean(name, known),
                )
            if name in fixed:
                raise UsageError(
                    f"--dynamic {name}: {fixed[name]}, which torch.export cannot make dynamic",
                    hint="leave it out of --dynamic",
                )
    wanted = set(values) if dynamic is None else set(dynamic)
    plans = [DimPlan(n, v, n in wanted) for n, v in values.items()]
    # a dim only in entries such as H*W keeps the example's sizes (its own size is not needed)
    plans += [DimPlan(n, 0, False, notes=[f"{n} static: {why}"]) for n, why in fixed.items()]
    roots: dict[str, Root] = {}
    floors: dict[str, tuple[int, str]] = {}
    trace = {p.name: (max(p.example, 2) if p.dynamic else p.example) for p in plans if p.name in values}
    statics = {p.name: p.example for p in plans if not p.dynamic and p.name in values}
    for p in plans:
        if not p.dynamic:
            continue
        low = spec_minimum(graph, example, axes, trace, p.name)
        floor, culprit = size_one_floor(
            one_dim_sizes(shapes, p.name, statics, set(values) | set(fixed)), p.name, low, trace[p.name]
        )
        if low > 1:
            p.notes.append(f"{p.name} >= {low}: the smallest size the network accepts")
        if culprit is not None and not above_one:
            floors[p.name] = (floor, culprit)
            floor = low
        elif culprit is not None:
            p.notes.append(f"{p.name} >= {floor}: {_stays(culprit)}")
        roots[p.name] = Root(p.name, floor, None, max(trace[p.name], floor))
    plan = Plan(plans, roots, None if dynamic is None else set(dynamic))
    plan.floors = floors
    return plan, axes


def _stays(culprit: str) -> str:
    return f"{culprit} must stay >= 2 (torch.export specialises sizes 0 and 1)"


def program_ranges(program: Any, graph: Graph, axes: Sequence[Axis], plan: Plan) -> dict[str, str]:
    """Read back the ranges of the roots in the exported program (torch may narrow them: a derived
    dim's root starts at 2), narrowing the plan's; and torch's symbol of each root (``s44`` ->
    ``Hh``), for naming the axes of an ONNX model."""
    user = list(program.graph_signature.user_inputs)
    vals = {
        n.name: n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in user
    }
    symbols: dict[str, str] = {}
    for a in axes:
        d = plan.dims[a.dim]
        val = vals.get(user[a.input]) if a.input < len(user) else None
        if not d.dynamic or val is None or a.axis >= len(val.shape):
            continue
        size = val.shape[a.axis]
        if not isinstance(size, torch.SymInt):
            continue
        free = list(size.node.expr.free_symbols)
        if len(free) != 1:
            continue
        symbols[str(free[0])] = d.root
        vr = program.range_constraints.get(free[0])
        root = plan.roots[d.root]
        if vr is None:
            continue
        low = _finite(vr.lower)
        if low is None:
            continue
        if low > root.low:
            plan.adjustments.append(f"{d.root} >= {low} (the program's own lower bound)")
            root.low = low
        high = _finite(vr.upper)
        if high is not None and high < 2**62 and (root.high is None or high < root.high):
            plan.adjustments.append(f"{d.root} <= {high} (the program's own upper bound)")
            root.high = high
    return symbols


def _finite(bound: Any) -> int | None:
    """A bound of torch's value ranges as an int (None: infinite)."""
    if not getattr(bound, "is_finite", True) or not getattr(bound, "is_integer", True):
        return None
    try:
        return int(bound)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None

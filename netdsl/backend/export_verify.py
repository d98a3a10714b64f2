"""Verifying an exported file (see :mod:`netdsl.backend.export`): the sizes it is run at
(:func:`check_points`), its runners (``torch.export.load``, onnxruntime), and the comparison with
the eager module, relative to a tolerance that follows the output's dtype."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import fx

from netdsl.backend.export_dims import Axis, DimPlan, Root, input_types
from netdsl.backend.export_plan import Plan
from netdsl.backend.inputs import output_tensors, random_inputs
from netdsl.core.errors import BuildError, UsageError
from netdsl.core.types import TensorType
from netdsl.ir.graph import Graph

#: relative tolerance of the verification for float32 / float64 outputs
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Check:
    """One verification run: the sizes of the spec's dims, the largest difference from eager (over
    all outputs) and the largest difference allowed."""

    sizes: dict[str, int]
    max_difference: float
    tolerance: float


def tolerance_for(dtype: torch.dtype, base: float | None = None) -> float:
    """The relative tolerance of a floating output: ``base`` (default 1e-4) for float32 / float64,
    more where the dtype is coarser (16 epsilons: 0.016 for float16, 0.125 for bfloat16)."""
    base = TOLERANCE if base is None else base
    return max(base, 16 * torch.finfo(dtype).eps) if dtype.is_floating_point else 0.0


def ratio(diff: float, tol: float) -> float:
    return diff / tol if tol > 0 else (0.0 if diff == 0 else float("inf"))


def difference(
    got: Sequence[torch.Tensor], want: Sequence[torch.Tensor], base: float | None
) -> tuple[float, float]:
    """(difference, tolerance) of the output furthest from eager, relative to its tolerance: the
    largest |got - want| of that output and the largest allowed, ``tolerance * max(1, max |want|)``
    for floats (non-finite values must match exactly), 0 for integers and bools (the count of
    differing elements)."""
    if len(got) != len(want):
        raise BuildError(f"the exported file has {len(got)} outputs; the module has {len(want)}")
    worst = (0.0, 0.0)
    for g, w in zip(got, want, strict=True):
        g, w = g.detach().to("cpu"), w.detach().to("cpu")
        if tuple(g.shape) != tuple(w.shape):
            raise BuildError(
                f"an output of the exported file has shape {tuple(g.shape)}; eager's is {tuple(w.shape)}"
            )
        if not w.dtype.is_floating_point:
            diff, tol = float((g.to(w.dtype) != w).sum()), 0.0
        else:
            g64, w64 = g.to(torch.float64), w.to(torch.float64)
            finite = torch.isfinite(w64)
            same_rest = torch.equal(finite, torch.isfinite(g64)) and bool(
                ((g64 == w64) | (torch.isnan(g64) & torch.isnan(w64)) | finite).all()
            )
            tol = tolerance_for(w.dtype, base)
            if not same_rest:
                diff = float("inf")
            elif bool(finite.any()):
                tol *= max(1.0, float(w64[finite].abs().max()))
                diff = float((g64[finite] - w64[finite]).abs().max())
            else:
                diff = 0.0
        if ratio(diff, tol) >= ratio(*worst):
            worst = (diff, tol)
    return worst


def check_points(
    plan: Plan, axes: Sequence[Axis], graph: Graph, extra: Sequence[Mapping[str, int]] | None = None
) -> list[dict[str, int]]:
    """The sizes the written file is run at: two batch sizes (the dims of axis 0: the example's,
    then 1, or one more) times two image sizes (the other dims: the example's, then about 1/7 more),
    within the ranges; or the caller's sizes (``extra``, the other dims at their examples)."""
    dims = list(plan.dims.values())
    base = {d.name: d.example for d in dims}
    if extra is not None:
        for p in extra:
            for name in p:
                if name not in plan.dims or not plan.dims[name].dynamic:
                    raise UsageError(
                        f"check size {name}={p[name]}: {name} is not a dynamic dim of this export",
                        expected=[d.name for d in dims if d.dynamic],
                    )
        return [{**base, **dict(p)} for p in extra]
    batch = {a.dim for a in axes if a.axis == 0}
    groups: list[list[DimPlan]] = [
        [d for d in dims if d.dynamic and d.name in batch],
        [d for d in dims if d.dynamic and d.name not in batch],
    ]
    firsts: dict[str, int] = {}
    seconds: dict[str, int] = {}
    for i, group in enumerate(groups):
        for r in dict.fromkeys(d.root for d in group):
            root = plan.roots[r]
            owner = next(d for d in group if d.root == r)
            start = _root_at(root, (owner.example - owner.c) // owner.k)
            if i == 0:
                other = 1 if start != 1 and root.low <= 1 else start + 1
            else:
                other = start + max(1, start // 7)
            if root.high is not None and other > root.high:
                other = max(root.low, start - max(1, start // 7))
            firsts[r], seconds[r] = start, other
    points: list[dict[str, int]] = []
    for b in (firsts, seconds):
        for s in (firsts, seconds):
            p = dict(base)
            for d in dims:
                if d.dynamic:
                    r = d.root
                    p[d.name] = d.value(b[r] if d.name in batch else s[r])
            if p not in points:
                points.append(p)
    return points


def _root_at(root: Root, value: int) -> int:
    value = max(value, root.low)
    return value if root.high is None else min(value, root.high)


def runner_pt2(path: str) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    module = torch.export.load(path).module()

    def run(args: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            return output_tensors(module(*args))

    return run


def runner_onnx(path: str, names: Sequence[str]) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    import onnxruntime  # type: ignore[import-untyped, unused-ignore]

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(args: list[torch.Tensor]) -> list[torch.Tensor]:
        feeds = {n: a.detach().to("cpu").numpy() for n, a in zip(names, args, strict=True)}
        return [torch.from_numpy(o) for o in session.run(None, feeds)]

    return run


def verify(
    run: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    gm: fx.GraphModule,
    graph: Graph,
    example: Mapping[str, TensorType],
    axes: Sequence[Axis],
    points: Sequence[Mapping[str, int]],
    *,
    seed: int,
    device: torch.device,
    tolerance: float | None,
    what: str,
) -> list[Check]:
    """Run the exported file and the eager module at each of ``points``; BuildError on a mismatch or
    a failure of the exported file."""
    checks: list[Check] = []
    for point in points:
        types = input_types(graph, example, axes, point)
        args = [x.to(device) for x in random_inputs([gi.name for gi in graph.inputs], types, seed + 1)]
        shown = ", ".join(f"{k}={v}" for k, v in point.items()) or "the example sizes"
        with torch.no_grad():
            want = output_tensors(gm.forward(*args))
        try:
            got = run(args)
        except Exception as e:
            first = " ".join(str(e).strip().splitlines()[:2])[:500]
            raise BuildError(
                f"the exported {what} does not run at {shown}: {type(e).__name__}: {first}",
                hint="export with --dynamic naming fewer dims, or report it (a difference between "
                "torch.export and netdsl's shape inference)",
            ) from None
        diff, tol = difference(got, want, tolerance)
        if not diff <= tol:
            raise BuildError(
                f"the exported {what} differs from the eager module at {shown}: max |exported - eager| = "
                f"{diff:.3g}, more than the tolerance {tol:.3g}; nothing was written",
                hint="a larger tolerance (--tolerance) if the difference is rounding, else report it",
            )
        checks.append(Check(dict(point), diff, tol))
    return checks

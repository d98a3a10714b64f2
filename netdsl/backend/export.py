"""Exporting a built module with dynamic sizes (``netdsl export``, ``netdsl build --out x.pt2``): a
torch.export program (.pt2) or an ONNX model (.onnx, ``torch.onnx.export(..., dynamo=True)``),
written atomically and verified before it replaces anything.

Which sizes are dynamic: every symbolic dim of the spec's inputs (``B``, ``H``, ``W``) is a
``torch.export.Dim`` of that name, unless ``dynamic`` names fewer (``()``: a static export). An
input entry linear in one dim (``2*Hh``, ``Hh + 1``) is a derived dim of it, so that multiples the
spec declares stay multiples; a dim that also appears in another kind of entry (``H*W``) stays
static. The range of each dynamic dim:

- its smallest size the spec accepts (netdsl's shape inference, the other dims at their example
  sizes): a network that downsamples 32 times needs ``H >= 31``;
- torch.export specialises sizes 0 and 1: a size computed from that dim alone (``H//32``) that is
  2 or more at the example must stay 2 or more, so the dim starts where it does (``H >= 63``);
- what torch.export's constraint solver still refuses is fixed as it suggests (a minimum or
  maximum, a multiple, two dims equal, a dim that must be static), reported, and the export runs
  again; a refusal it suggests no fix for is a :class:`~netdsl.core.errors.BuildError` naming the
  dim and torch's guard in the spec's names.

Verification: the file written (still under its temporary name) is loaded back
(``torch.export.load``, or an ``onnxruntime.InferenceSession``) and run at two batch sizes times
two image sizes (within the ranges) on fresh random inputs, against the eager module; each output
must be within ``tolerance * max(1, max |eager|)`` of eager's (1e-4 for float32/float64, more for
float16/bfloat16; integer and bool outputs exactly). A mismatch is a BuildError and the file is
not left behind (an existing file of that name is kept as it was).

A failure of the exporter inside the module names the spec node that raised it (file:line).

This module holds the report and the steps in order; the parts: :mod:`~netdsl.backend.export_dims`
(the dims and the bounds the spec sets), :mod:`~netdsl.backend.export_plan` (which are dynamic,
their ranges, torch's fixes applied), :mod:`~netdsl.backend.export_violations` (torch's complaints
read, and the errors), :mod:`~netdsl.backend.export_verify` (the runs against eager),
:mod:`~netdsl.backend.export_formats` (the output file, the [onnx] extra and opsets, ONNX axis names).
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import fx

from netdsl.backend.export_dims import Axis, DimPlan, Root, axis_names, input_types
from netdsl.backend.export_formats import (
    DEFAULT_OPSET,
    FORMATS,
    check_opset,
    check_target,
    name_onnx_axes,
)
from netdsl.backend.export_plan import Plan, plan_dims, program_ranges
from netdsl.backend.export_verify import (
    TOLERANCE,
    Check,
    check_points,
    ratio,
    runner_onnx,
    runner_pt2,
    verify,
)
from netdsl.backend.export_violations import (
    Violation,
    export_failed,
    failure_origin,
    read_violation,
    violation_error,
)
from netdsl.backend.inputs import random_inputs
from netdsl.backend.progress import heartbeat
from netdsl.core.errors import BuildError, NetdslError, UsageError
from netdsl.core.outfile import atomic_write
from netdsl.core.types import TensorType
from netdsl.ir.graph import Graph
from netdsl.passes.shapes import ShapeResult
from netdsl.passes.summary import human

#: torch.export runs at most this many times while its suggested fixes are applied
MAX_ATTEMPTS = 4
#: the loggers quietened by ``quiet``
NOISY_LOGGERS = ("torch", "onnxscript", "onnx_ir", "onnx")


@dataclass
class ExportReport:
    """What :func:`export_module` wrote and checked."""

    path: Path
    #: "torch.export" or "onnx"
    format: str
    dims: list[DimPlan]
    roots: dict[str, Root]
    #: fixes torch.export asked for (and netdsl applied), one line each
    adjustments: list[str]
    checks: list[Check]
    export_seconds: float
    verify_seconds: float
    #: the ONNX opset written (None for .pt2)
    opset: int | None = None
    #: the spec's warnings (:func:`netdsl.export` fills them in)
    spec_warnings: list[NetdslError] = field(default_factory=list)

    @property
    def dynamic(self) -> list[str]:
        """The dims exported dynamic, in input order."""
        return [d.name for d in self.dims if d.dynamic]

    def range_text(self, d: DimPlan) -> str:
        """``H >= 63``, ``H = 2*_H (_H >= 8)``, ``W = H``, ``B = 2 (static)``."""
        if not d.dynamic:
            return f"{d.name} = {d.example}" if d.example > 0 else d.name
        r = self.roots[d.root]
        low, high = d.value(r.low), None if r.high is None else d.value(r.high)
        span = f"{d.name} >= {low}" if high is None else f"{low} <= {d.name} <= {high}"
        if d.root == d.name:
            return span
        form = d.root if d.k == 1 else f"{d.k}*{d.root}"
        form += "" if d.c == 0 else f" {'+' if d.c > 0 else '-'} {abs(d.c)}"
        return f"{span}, {d.name} = {form}"

    def lines(self) -> list[str]:
        """The report as the command line prints it."""
        runner = "onnxruntime" if self.format == "onnx" else "torch.export.load"
        what = f"ONNX, opset {self.opset}" if self.format == "onnx" else "torch.export program"
        size = self.path.stat().st_size if self.path.exists() else 0
        out = [f"wrote {self.path} ({what}, {human(size)}B) in {self.export_seconds:.1f} s"]
        dyn = [self.range_text(d) for d in self.dims if d.dynamic]
        static = [self.range_text(d) for d in self.dims if not d.dynamic]
        out.append("dynamic: " + ("; ".join(dyn) if dyn else "none (every size static)"))
        if static and dyn:
            out.append("static: " + "; ".join(static))
        for d in self.dims:
            out += [f"  {note}" for note in d.notes]
        out += [f"  torch.export: {a}" for a in self.adjustments]
        if self.checks:
            names = list(self.checks[0].sizes)
            grid = ", ".join(
                f"{n}={','.join(str(v) for v in dict.fromkeys(c.sizes[n] for c in self.checks))}"
                for n in names
            )
            worst = max(self.checks, key=lambda c: ratio(c.max_difference, c.tolerance))
            runs = f"{len(self.checks)} run{'s' if len(self.checks) > 1 else ''}"
            out.append(
                f"verified with {runner}: {runs} at {grid or 'the example sizes'}; "
                f"max |exported - eager| = {worst.max_difference:.1e} (tolerance {worst.tolerance:.1e}) "
                f"in {self.verify_seconds:.1f} s"
            )
        return out


@contextmanager
def torch_noise(quiet: bool) -> Iterator[None]:
    """torch's deprecation chatter (FutureWarning / DeprecationWarning from its own modules) always
    silenced; with ``quiet`` also its other warnings and its log records (torch, onnxscript)."""
    loggers = [logging.getLogger(n) for n in NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        if quiet:
            warnings.simplefilter("ignore")
            for lg in loggers:
                lg.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def example_types(graph: Graph, tensors: Sequence[torch.Tensor]) -> dict[str, TensorType]:
    """The input types of example tensors (one per spec input, in order)."""
    return {
        gi.name: TensorType.of(list(t.shape), gi.dtype) for gi, t in zip(graph.inputs, tensors, strict=True)
    }


def _export(
    gm: fx.GraphModule,
    graph: Graph,
    example: Mapping[str, TensorType],
    axes: Sequence[Axis],
    plan: Plan,
    seed: int,
    device: torch.device,
) -> tuple[Any, list[torch.Tensor]]:
    """torch.export with the plan's dims, torch's suggested fixes applied until it accepts them."""
    names = axis_names(graph, axes)
    last: Violation | None = None
    for _ in range(MAX_ATTEMPTS):
        types = input_types(graph, example, axes, plan.trace_values())
        args = [x.to(device) for x in random_inputs([gi.name for gi in graph.inputs], types, seed)]
        try:
            program = torch.export.export(gm, tuple(args), dynamic_shapes=plan.dynamic_shapes(graph, axes))
        except Exception as e:
            if isinstance(e, NetdslError):
                raise
            v = read_violation(str(e), names)
            if v is None:
                if os.environ.get("NETDSL_DEBUG"):
                    raise
                raise export_failed(e) from None
            saved = copy.deepcopy((plan.dims, plan.roots))
            changed = plan.apply(v)
            if not changed:  # (fixes it suggests that netdsl cannot apply: none applied)
                plan.dims, plan.roots = saved
                changed = plan.raise_floors(v)
            if not changed:
                raise violation_error(v, origin=failure_origin(e)) from None
            plan.adjustments += changed
            last = v
            continue
        plan.symbols = program_ranges(program, graph, axes, plan)
        return program, args
    assert last is not None
    raise violation_error(last)


def export_module(
    gm: fx.GraphModule,
    graph: Graph,
    shapes: ShapeResult,
    example: Mapping[str, TensorType],
    out: str | os.PathLike[str],
    *,
    dynamic: Sequence[str] | None = None,
    opset: int | None = None,
    seed: int = 0,
    tolerance: float | None = None,
    check_sizes: Sequence[Mapping[str, int]] | None = None,
    quiet: bool = False,
    progress: TextIO | None = None,
    flag: str | None = None,
    above_one: bool = True,
) -> ExportReport:
    """Export ``gm`` (built from ``graph``; ``shapes``: its symbolic shapes; ``example``: the input
    types of the run's sizes) to ``out``, a .pt2 or .onnx file, with the dims ``dynamic`` names
    (None: every dim of the inputs; ``()``: static), verify it and write it atomically (see the
    module docstring). ``check_sizes``: the dims' sizes of the verification runs instead of the
    default grid. ``quiet``: torch's warnings and logs silenced; ``progress``: a heartbeat during
    long steps; ``flag``: the option ``out`` came from, for messages. ``above_one=False``: the sizes
    computed from one dim are kept >= 2 only once torch.export refuses them (see :func:`plan_dims`)."""
    target = check_target(out, flag)
    fmt = FORMATS[target.suffix]
    if fmt == "onnx":
        opset = check_opset(DEFAULT_OPSET if opset is None else opset)
    if tolerance is not None and not (isinstance(tolerance, float | int) and 0 < tolerance < 1):
        raise UsageError(f"tolerance {tolerance!r}: expected a number between 0 and 1 (default {TOLERANCE})")
    gm = gm.eval()
    device = next((t.device for t in [*gm.parameters(), *gm.buffers()]), torch.device("cpu"))
    if fmt == "onnx" and device.type != "cpu":
        gm = gm.to("cpu")
        device = torch.device("cpu")
    plan, axes = plan_dims(graph, shapes, example, dynamic, above_one=above_one)
    name = graph.name
    t0 = time.perf_counter()
    with torch_noise(quiet):
        with heartbeat(progress, f"torch.export of {name}"):
            program, args = _export(gm, graph, example, axes, plan, seed, device)
        onnx_program: Any = None
        if fmt == "onnx":
            with heartbeat(progress, f"torch.onnx.export of {name} (opset {opset})"):
                try:
                    onnx_program = torch.onnx.export(
                        program,
                        tuple(args),
                        dynamo=True,
                        verbose=False,
                        opset_version=opset,
                        input_names=[gi.name for gi in graph.inputs],
                        output_names=[o[0] for o in graph.outputs],
                        dynamic_shapes=plan.dynamic_shapes(graph, axes),
                    )
                except NetdslError:
                    raise
                except Exception as e:
                    if os.environ.get("NETDSL_DEBUG"):
                        raise
                    raise export_failed(e, "torch.onnx.export") from None
        t_export = time.perf_counter() - t0
        points = check_points(plan, axes, graph, check_sizes)
        checks: list[Check] = []
        timing: list[float] = []
        written: list[int | None] = []  # the opset in the ONNX file

        def write(tmp: str) -> None:
            t1 = time.perf_counter()
            step = "saving"
            try:
                if onnx_program is not None:
                    onnx_program.save(tmp, external_data=False)
                    written.append(name_onnx_axes(tmp, plan.symbols))
                    step = "loading it back into onnxruntime"
                    run = runner_onnx(tmp, [gi.name for gi in graph.inputs])
                else:
                    torch.export.save(program, tmp)
                    step = "loading it back (torch.export.load)"
                    run = runner_pt2(tmp)
            except (OSError, NetdslError):
                raise
            except Exception as e:
                first = " ".join(str(e).strip().splitlines()[:2])[:500]
                raise BuildError(
                    f"{step} {target.name} failed: {type(e).__name__}: {first}; nothing was written"
                ) from None
            with heartbeat(progress, f"checking {target.name} against the eager module"):
                checks.extend(
                    verify(
                        run,
                        gm,
                        graph,
                        example,
                        axes,
                        points,
                        seed=seed,
                        device=device,
                        tolerance=tolerance,
                        what=f"{'ONNX model' if onnx_program is not None else 'program'}",
                    )
                )
            timing.append(time.perf_counter() - t1)

        atomic_write(target, write, flag=flag)
    return ExportReport(
        target,
        fmt,
        list(plan.dims.values()),
        plan.roots,
        plan.adjustments,
        checks,
        t_export,
        timing[0] if timing else 0.0,
        (written[0] if written and written[0] is not None else opset) if fmt == "onnx" else None,
    )


__all__ = [
    "ExportReport",
    "example_types",
    "export_module",
    "torch_noise",
]

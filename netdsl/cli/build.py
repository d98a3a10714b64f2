"""`netdsl build`, scriptable: lower a spec, run one forward pass, summarise, optionally compile and
save. The command line turns its arguments into :class:`BuildOptions`; Python can do the same::

    from netdsl.cli.build import BuildOptions, run_build

    report = run_build("specs/tiny_cnn.yaml", BuildOptions(dims={"H": 64}, out="tiny_cnn.pt"))
    report.module, report.summary, report.forward_seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TextIO

from netdsl.api import check_seed, example_inputs
from netdsl.backend.torch_extra import require_torch
from netdsl.cli.args import _ints, _overrides, _shapes
from netdsl.cli.output import EXIT_OK, print_diagnostics, safe_text, show
from netdsl.cli.weights import key_map
from netdsl.core.errors import BuildError, SourceLoc, UsageError
from netdsl.core.outfile import check_target
from netdsl.passes.memory import (
    Budget,
    activation_bytes,
    check_fits,
    is_out_of_memory,
    memory_budget,
    out_of_memory_error,
    param_bytes,
)
from netdsl.passes.shapes import ShapeResult
from netdsl.passes.summary import activation_count, human, param_count, render
from netdsl.pipeline import CheckResult, PathLike, Pipeline, Spec

if TYPE_CHECKING:
    import torch
    from torch import fx

    from netdsl.backend.rewrites import Fired
    from netdsl.backend.run import CompileReport
    from netdsl.passes.weights_report import WeightsReport

MAX_PARAMS = 2**32  # elements: 16 GiB of float32
MAX_ACTIVATIONS = 2**31  # elements summed over all node outputs: 8 GiB of float32
OUT_SUFFIXES = (".pt2", ".pt", ".pth")
#: torch.compile's modes (torch._inductor.list_mode_options)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _compile_mode(mode: str | None) -> str | None:
    """--compile-mode, refused (UsageError, with the modes) when torch.compile has no such mode."""
    if mode is None or mode in COMPILE_MODES:
        return mode
    from netdsl.core.suggest import did_you_mean

    raise UsageError(
        f"--compile-mode {show(mode)} is not a mode of torch.compile",
        expected=COMPILE_MODES,
        hint=did_you_mean(mode, COMPILE_MODES),
    )


def check_budget(res: CheckResult, concrete: ShapeResult) -> None:
    """Refuse, before allocating anything, a build whose weights or forward pass are beyond netdsl's
    fixed limits (the memory guard of :mod:`netdsl.passes.memory` checks what this machine has)."""
    assert res.shapes is not None
    n_params = param_count(res.shapes) + param_count(res.shapes, kind="buffer")
    if n_params > MAX_PARAMS:
        raise BuildError(
            f"the network has {n_params:,} parameters ({human(n_params * 4)}B in float32); "
            f"netdsl builds at most {MAX_PARAMS:,}",
            SourceLoc(res.graph.file if res.graph else "<spec>"),
        )
    acts = activation_count(concrete)
    if acts > MAX_ACTIVATIONS:
        raise BuildError(
            f"one forward pass would produce {acts:,} activation values ({human(acts * 4)}B in float32); "
            f"the build's test pass allows {MAX_ACTIVATIONS:,}",
            SourceLoc(res.graph.file if res.graph else "<spec>"),
            hint="use a smaller --input-shape / --dim",
        )


# ---------------------------------------------------------------- arguments


def check_out(out: str) -> Path:
    """The --out file, refused before anything is built when it cannot be written."""
    writes = "a .pt2 (torch.export program) or a .pt/.pth (state_dict) file"
    return check_target(out, list(OUT_SUFFIXES), writes, flag="--out")


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``netdsl build`` takes besides the spec, typed (the CLI's flags in brackets).

    ``variant`` [--variant], ``overrides`` [--set], ``input_shapes`` [--input-shape], ``dims``
    [--dim], ``blocks_path`` [--blocks-path], ``root`` [--root]: which graph and which sizes;
    ``seed`` [--seed] of the initialisation; ``device`` [--device] of the forward pass; ``out``
    [--out] a .pt2 (torch.export) or .pt/.pth (state_dict) file; ``compile`` [--compile] also
    netdsl.compile and time it, for ``purpose`` [--purpose] with torch's ``compile_mode``
    [--compile-mode], weights frozen in with ``freeze`` [--freeze]; ``explain`` [--explain]
    list the graph rewrites of the purpose; ``quiet`` [-q] no warnings and no progress;
    ``max_memory`` [--max-memory] bytes or a size like ``"8G"`` (default: ``$NETDSL_MAX_MEMORY``, the
    cgroup limit or MemAvailable); ``weights`` [--weights] a checkpoint checked (as by
    ``netdsl check-weights``, with ``weights_key`` [--weights-key] and ``weights_map``
    [--weights-map]) before anything is built, then loaded before the forward pass.
    The mappings are copied read-only.
    """

    variant: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    input_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    dims: Mapping[str, int] = field(default_factory=dict)
    blocks_path: Sequence[PathLike] = ()
    root: Sequence[PathLike] = ()
    seed: int = 0
    device: str = "cpu"
    out: PathLike | None = None
    compile: bool = False
    purpose: str = "inference"
    compile_mode: str | None = None
    freeze: bool = False
    explain: bool = False
    quiet: bool = False
    max_memory: int | str | None = None
    weights: PathLike | None = None
    weights_key: str | None = None
    weights_map: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("overrides", "input_shapes", "dims", "weights_map"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name) or {})))
        for name in ("blocks_path", "root"):
            value = getattr(self, name) or ()
            object.__setattr__(self, name, (value,) if isinstance(value, str | os.PathLike) else tuple(value))


@dataclass(frozen=True)
class BuildTarget:
    """The validated output, device and memory budget of a build."""

    out: Path | None
    device: torch.device
    budget: Budget


def build_target(options: BuildOptions) -> BuildTarget:
    """Validate the seed, --out, --device and --max-memory: refused before the spec is even read."""
    check_seed(options.seed)
    out = check_out(os.fspath(options.out)) if options.out is not None else None
    from netdsl.backend.run import parse_device

    device = parse_device(options.device)
    budget = memory_budget(options.max_memory, what="--max-memory")
    return BuildTarget(out, device, budget)


# ---------------------------------------------------------------- the build


@dataclass
class BuildReport:
    """What :func:`run_build` did: the module, its inputs and outputs, the summary and timings."""

    result: CheckResult
    #: the static shapes for the sizes built
    concrete: ShapeResult
    module: fx.GraphModule
    device: torch.device
    inputs: list[torch.Tensor]
    outputs: Any
    summary: str
    build_seconds: float
    forward_seconds: float
    compiled: CompileReport | None = None
    #: the --out file written
    written: Path | None = None


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream)


def run_build(
    spec: PathLike | Spec,
    options: BuildOptions | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> BuildReport:
    """Build ``spec`` as ``netdsl build`` does: check it (concrete shapes included), refuse what does
    not fit, lower it, run one forward pass on the device, compare every runtime shape with the
    static one, then optionally compile and write ``options.out``.

    The summary and timings go to ``stdout``, warnings to ``stderr`` (nothing is printed when they
    are None). Raises :class:`~netdsl.core.errors.NetdslError`: ``UsageError`` for bad options,
    ``BuildError`` for a build that cannot fit or fails, the spec's errors otherwise.
    """
    require_torch("netdsl build")
    from netdsl.backend.run import compile_and_compare, save_module, timed_forward

    options = options or BuildOptions()
    target = build_target(options)
    run = Pipeline(
        spec,
        options.variant,
        options.overrides,
        blocks_path=options.blocks_path,
        root=options.root,
        input_shapes=options.input_shapes,
        dims=options.dims,
    )
    res = run.check(concrete=True)
    if res.warnings and not options.quiet and stderr is not None:
        print_diagnostics(res.warnings, "text", stderr)
    res.raise_if_errors()
    assert res.graph is not None and res.shapes is not None
    graph, device, out = res.graph, target.device, target.out
    concrete = run.concrete_shapes()
    check_budget(res, concrete)
    # on another device the activations live there: its allocator reports what does not fit
    acts = activation_bytes(concrete) if device.type == "cpu" else 0
    check_fits(target.budget, SourceLoc(graph.file), params=param_bytes(res.shapes), activations=acts)
    weights = _check_weights(run, options, stderr)
    gm: Any = None
    phase = "building the module"
    try:
        t0 = time.perf_counter()
        gm = run.module(options.seed)
        t_build = time.perf_counter() - t0
        if weights is not None and options.weights is not None:
            from netdsl.backend.checkpoint_io import load_weights

            phase = f"loading {weights.checkpoint}"
            load_weights(gm, options.weights, weights)
            _say(stdout, safe_text(f"loaded {weights.matched} tensors from {weights.checkpoint}"))
        phase = f"moving the module to {device}"
        gm = gm.to(device).eval()
        phase = "making the example inputs"
        inputs = [x.to(device) for x in example_inputs(run, max_memory=target.budget.limit)]
        phase = "running the forward pass"
        outputs, t_fwd = timed_forward(gm, inputs)
        from netdsl.backend.soundness import runtime_mismatches

        phase = "checking the runtime shapes"
        problems = runtime_mismatches(gm, concrete, inputs)
        if problems:  # a bug in a shape rule: report it rather than print a wrong summary
            raise BuildError("runtime shapes differ from the static ones: " + "; ".join(problems[:5]))
        summary = render(res.shapes, concrete)
        _say(stdout, summary)
        _say(stdout, f"built in {t_build * 1000:.0f} ms; eager forward {t_fwd * 1000:.1f} ms on {device}")
        report = BuildReport(res, concrete, gm, device, inputs, outputs, summary, t_build, t_fwd)
        if options.explain and not options.compile:
            from netdsl.backend.rewrites import rewrite

            _say(stdout, explain(rewrite(gm, options.purpose)[1], options.purpose))
            gm.eval()
        if options.compile:
            phase = "compiling the module"
            report.compiled = compile_and_compare(
                gm,
                inputs,
                outputs,
                purpose=options.purpose,
                mode=options.compile_mode,
                freeze=options.freeze,
                progress=None if options.quiet else stderr,
            )
            c = report.compiled
            if options.explain:
                _say(stdout, explain(c.rewrites, options.purpose))
            diff = "not compared (random ops)" if c.max_difference is None else f"{c.max_difference:.2e}"
            _say(
                stdout,
                f"netdsl.compile ({c.purpose}, {len(c.rewrites)} rewrites): first call (compile) "
                f"{c.first_call_seconds:.1f} s, then {c.call_seconds * 1000:.1f} ms; "
                f"max |compiled - eager| = {diff}",
            )
        if out is not None:
            phase = f"writing {out}"
            if out.suffix == ".pt2":  # dynamic batch and image sizes, verified: as `netdsl export`
                from netdsl.backend.export import example_types, export_module

                exported = export_module(
                    gm,
                    graph,
                    res.shapes,
                    example_types(graph, inputs),
                    out,
                    seed=options.seed,
                    quiet=options.quiet,
                    progress=None if options.quiet else stderr,
                    flag="--out",
                )
                for line in exported.lines()[1:]:
                    _say(stdout, safe_text(line))
            else:
                save_module(gm, inputs, out, flag="--out")
            report.written = out
            _say(stdout, safe_text(f"wrote {out} ({human(out.stat().st_size)}B)"))
    except Exception as e:
        if is_out_of_memory(e):
            raise out_of_memory_error(e, graph, phase, gm, target.budget) from e
        raise
    return report


def _check_weights(run: Pipeline, options: BuildOptions, stderr: TextIO | None) -> WeightsReport | None:
    """--weights checked before anything is built: WeightsError (the report) when it would not load;
    its notes and warnings go to ``stderr``."""
    if options.weights is None:
        return None
    from netdsl.api import weights_report

    report = weights_report(run, options.weights, key=options.weights_key, key_map=options.weights_map)
    report.raise_if_not_loadable()
    if stderr is not None and not options.quiet:
        for note in report.notes:
            print(safe_text(f"{report.checkpoint}: note: {note}"), file=stderr)
        print_diagnostics(report.warnings, "text", stderr)
    return report


def explain(fired: Sequence[Fired], purpose: str) -> str:
    """The rewrites of ``purpose`` that fired, one line each (spec file:line: rewrite: node: what),
    and a count per rewrite."""
    if not fired:
        return f"rewrites for {purpose}: none apply"
    counts: dict[str, int] = {}
    for f in fired:
        counts[f.rewrite] = counts.get(f.rewrite, 0) + 1
    total = ", ".join(f"{name} x{n}" for name, n in counts.items())
    return "\n".join([f"rewrites for {purpose} ({total}):", *(f"  {safe_text(f.render())}" for f in fired)])


# ---------------------------------------------------------------- the command


def build_options(args: argparse.Namespace) -> BuildOptions:
    """The :class:`~netdsl.cli.build.BuildOptions` of ``netdsl build``'s arguments (--set, --input-shape
    and --dim read here: a bad one is a usage error naming it)."""
    return BuildOptions(
        variant=args.variant,
        overrides=_overrides(args.set),
        input_shapes=_shapes(args.input_shape),
        dims=_ints(args.dim, "--dim"),
        blocks_path=args.blocks_path or (),
        root=args.root or (),
        seed=args.seed,
        device=args.device,
        out=args.out,
        compile=args.compile,
        purpose=args.purpose,
        compile_mode=_compile_mode(args.compile_mode),
        freeze=args.freeze,
        explain=args.explain,
        quiet=args.quiet,
        max_memory=args.max_memory,
        weights=args.weights,
        weights_key=args.weights_key,
        weights_map=key_map(args.weights_map, "--weights-map"),
    )


def cmd_build(args: argparse.Namespace) -> int:
    run_build(args.spec, build_options(args), stdout=sys.stdout, stderr=sys.stderr)
    return EXIT_OK

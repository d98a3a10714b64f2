"""`netdsl build`: lower, run one forward pass, summarise, optionally compile and save."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .api import CheckResult, example_inputs
from .errors import BuildError, SourceLoc, UsageError
from .shapes import ShapeResult, concrete_inputs, infer_shapes
from .summary import activation_count, human, param_count, render

MAX_PARAMS = 2**32  # elements: 16 GiB of float32
MAX_ACTIVATIONS = 2**31  # elements summed over all node outputs: 8 GiB of float32


def check_budget(res: CheckResult, concrete: ShapeResult) -> None:
    """Refuse, before allocating anything, a build whose weights or forward pass cannot fit."""
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


def atomic_write(path: str | os.PathLike[str], write: Any) -> None:
    """Write a file via a temporary file in the same folder, then rename: never half a file."""
    target = Path(path)
    if not target.parent.exists():
        raise UsageError(f"--out: folder {str(target.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_build(
    res: CheckResult, args: argparse.Namespace, shapes: Mapping[str, tuple[int, ...]], dims: Mapping[str, int]
) -> int:
    import torch

    from .lower import lower

    out = args.out
    if out and Path(out).suffix not in (".pt2", ".pt", ".pth"):
        raise UsageError(f"--out {out!r}: use a .pt2 (torch.export program) or .pt/.pth (state_dict) file")
    assert res.graph is not None and res.shapes is not None
    sizes = res.graph.example_sizes(dims)
    concrete = infer_shapes(res.graph, concrete_inputs(res.graph, sizes, shapes))
    check_budget(res, concrete)
    t0 = time.perf_counter()
    gm = lower(res.graph, res.shapes, seed=args.seed)
    t_build = time.perf_counter() - t0
    device = torch.device(args.device)
    gm = gm.to(device).eval()
    inputs = [x.to(device) for x in example_inputs(res, shapes, dims)]
    with torch.no_grad():
        t0 = time.perf_counter()
        outputs = gm(*inputs)
        t_fwd = time.perf_counter() - t0
    from .soundness import runtime_mismatches

    problems = runtime_mismatches(gm, concrete, inputs)
    if problems:  # a bug in a shape rule: report it rather than print a wrong summary
        raise BuildError("runtime shapes differ from the static ones: " + "; ".join(problems[:5]))
    print(render(res.shapes, concrete))
    print(f"built in {t_build * 1000:.0f} ms; eager forward {t_fwd * 1000:.1f} ms on {device}")
    if args.compile:
        compiled = torch.compile(gm)
        with torch.no_grad():
            t0 = time.perf_counter()
            c_out = compiled(*inputs)
            t_compile = time.perf_counter() - t0
            t0 = time.perf_counter()
            compiled(*inputs)
            t_run = time.perf_counter() - t0
        ref = outputs if isinstance(outputs, tuple) else (outputs,)
        got = c_out if isinstance(c_out, tuple) else (c_out,)
        diff = max(float((a - b).abs().max()) for a, b in zip(ref, got, strict=True))
        print(
            f"torch.compile: first call (compile) {t_compile:.1f} s, then {t_run * 1000:.1f} ms; "
            f"max |compiled - eager| = {diff:.2e}"
        )
    if out:
        if Path(out).suffix == ".pt2":
            program = torch.export.export(gm, tuple(inputs))
            atomic_write(out, lambda p: torch.export.save(program, p))
        else:
            atomic_write(out, lambda p: torch.save(gm.state_dict(), p))
        print(f"wrote {out} ({human(Path(out).stat().st_size)}B)")
    return 0

"""`netdsl build`: lower, run one forward pass, summarise, optionally compile and save."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import CheckResult, example_inputs
from .cli import safe_text, show
from .diagram.render import file_mode
from .errors import BuildError, SourceLoc, UsageError
from .memory import (
    Budget,
    activation_bytes,
    check_fits,
    is_out_of_memory,
    memory_budget,
    out_of_memory_error,
    param_bytes,
)
from .shapes import ShapeResult, concrete_inputs, infer_shapes
from .suggest import did_you_mean
from .summary import activation_count, human, param_count, render

if TYPE_CHECKING:
    import torch

MAX_PARAMS = 2**32  # elements: 16 GiB of float32
MAX_ACTIVATIONS = 2**31  # elements summed over all node outputs: 8 GiB of float32
OUT_SUFFIXES = (".pt2", ".pt", ".pth")
#: device types netdsl runs on (when this machine and torch build have them)
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def check_budget(res: CheckResult, concrete: ShapeResult) -> None:
    """Refuse, before allocating anything, a build whose weights or forward pass are beyond netdsl's
    fixed limits (the memory guard of :mod:`netdsl.memory` checks what this machine has)."""
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
    shown = show(out)
    if "\0" in out:
        raise UsageError(f"--out {shown}: a file name cannot contain a NUL character")
    target = Path(out)
    try:
        is_dir = target.is_dir()
        folder = target.parent
        folder_ok = folder.is_dir()
        writable = folder_ok and os.access(folder, os.W_OK | os.X_OK)
        odd = target.exists() and not target.is_file()
    except (OSError, ValueError) as e:  # names the OS refuses (too long, undecodable, ...)
        raise UsageError(f"--out {shown}: cannot use this file name ({e})") from None
    if is_dir:
        raise UsageError(
            f"--out {shown} is a folder: give a file name ending in .pt2, .pt or .pth",
            expected=list(OUT_SUFFIXES),
        )
    if target.suffix not in OUT_SUFFIXES:
        raise UsageError(
            f"--out {shown}: use a .pt2 (torch.export program) or .pt/.pth (state_dict) file",
            expected=list(OUT_SUFFIXES),
        )
    if not folder_ok:
        raise UsageError(f"--out {shown}: folder {show(str(folder))} does not exist")
    if not writable:
        raise UsageError(f"--out {shown}: folder {show(str(folder))} is not writable")
    if odd:
        raise UsageError(f"--out {shown} exists and is not a regular file")
    return target


def available_devices() -> list[str]:
    """The devices of this machine that a build can run on: cpu, cuda:N, mps, xpu:N."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        out += ["cuda"] + [f"cuda:{i}" for i in range(n)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        out += ["xpu"] + [f"xpu:{i}" for i in range(xpu.device_count())]
    return out


def parse_device(text: str) -> torch.device:
    """The --device, refused (UsageError) when it is not a device this machine can run on."""
    import torch

    avail = available_devices()
    shown = show(text)
    try:
        dev = torch.device(text.strip()) if text.isascii() and len(text) <= 64 else None
    except (RuntimeError, ValueError, TypeError):
        dev = None
    if dev is None or dev.type not in DEVICE_TYPES:
        raise UsageError(
            f"--device {shown} is not a device netdsl runs on", expected=avail, hint=did_you_mean(text, avail)
        )
    if dev.type == "cpu":
        return dev
    index = dev.index if dev.index is not None else 0
    name = f"{dev.type}:{index}"
    if dev.type not in avail:
        raise UsageError(
            f"--device {shown}: {dev.type} is not available on this machine (or in this torch build)",
            expected=avail,
        )
    if name not in avail and dev.type in ("cuda", "xpu"):
        raise UsageError(f"--device {shown}: this machine has no {name}", expected=avail)
    return dev


@dataclass(frozen=True)
class BuildArgs:
    """The validated arguments of ``netdsl build`` besides the spec."""

    out: Path | None
    device: torch.device
    budget: Budget


def parse_build_args(args: argparse.Namespace) -> BuildArgs:
    """Validate --out, --device and --max-memory before the spec is even read."""
    out = check_out(args.out) if args.out is not None else None
    device = parse_device(args.device)
    budget = memory_budget(args.max_memory, what="--max-memory")
    return BuildArgs(out, device, budget)


# ---------------------------------------------------------------- writing


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], Any]) -> None:
    """Write a file via a temporary file in the same folder, then rename: never half a file.

    The temporary file ends in the target's suffix (torch.export.save wants ``.pt2``) and gets the
    mode a plain ``open`` would give (``0o666 & ~umask``) before the rename.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise UsageError(f"--out: folder {show(str(target.parent))} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as e:
        raise UsageError(f"--out {show(os.fspath(path))}: cannot write there ({e.strerror})") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"--out {show(os.fspath(path))}: cannot write it ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- the build


def run_build(
    res: CheckResult,
    args: argparse.Namespace,
    shapes: Mapping[str, tuple[int, ...]],
    dims: Mapping[str, int],
    opts: BuildArgs | None = None,
) -> int:
    import torch

    from .lower import lower

    opts = opts or parse_build_args(args)
    out = opts.out
    device = opts.device
    assert res.graph is not None and res.shapes is not None
    graph = res.graph
    sizes = graph.example_sizes(dims)
    concrete = infer_shapes(graph, concrete_inputs(graph, sizes, shapes))
    check_budget(res, concrete)
    # on another device the activations live there: its allocator reports what does not fit
    acts = activation_bytes(concrete) if device.type == "cpu" else 0
    check_fits(opts.budget, SourceLoc(graph.file), params=param_bytes(res.shapes), activations=acts)
    gm: Any = None
    phase = "building the module"
    try:
        t0 = time.perf_counter()
        gm = lower(graph, res.shapes, seed=args.seed)
        t_build = time.perf_counter() - t0
        phase = f"moving the module to {device}"
        gm = gm.to(device).eval()
        phase = "making the example inputs"
        inputs = [x.to(device) for x in example_inputs(res, shapes, dims, max_memory=opts.budget.limit)]
        phase = "running the forward pass"
        with torch.no_grad():
            t0 = time.perf_counter()
            outputs = gm.forward(*inputs)  # not gm(): fx prints its own traceback to stderr on errors
            t_fwd = time.perf_counter() - t0
        from .soundness import runtime_mismatches

        phase = "checking the runtime shapes"
        problems = runtime_mismatches(gm, concrete, inputs)
        if problems:  # a bug in a shape rule: report it rather than print a wrong summary
            raise BuildError("runtime shapes differ from the static ones: " + "; ".join(problems[:5]))
        print(render(res.shapes, concrete))
        print(f"built in {t_build * 1000:.0f} ms; eager forward {t_fwd * 1000:.1f} ms on {device}")
        if args.compile:
            phase = "compiling the module"
            _compile(gm, inputs, outputs)
        if out is not None:
            phase = f"writing {out}"
            if out.suffix == ".pt2":
                program = torch.export.export(gm, tuple(inputs))
                atomic_write(out, lambda p: torch.export.save(program, p))
            else:
                atomic_write(out, lambda p: torch.save(gm.state_dict(), p))
            print(safe_text(f"wrote {out} ({human(out.stat().st_size)}B)"))
    except Exception as e:
        if is_out_of_memory(e):
            raise out_of_memory_error(e, graph, phase, gm, opts.budget) from e
        raise
    return 0


def _compile(gm: Any, inputs: list[Any], outputs: Any) -> None:
    import torch

    compiled: Any = torch.compile(gm)
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

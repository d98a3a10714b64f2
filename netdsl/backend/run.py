"""Running a built module (torch): the devices of this machine, one timed forward pass, a timed
``torch.compile`` compared with eager, and saving (torch.export program or state_dict)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import fx

from netdsl.backend.compile import compile_module
from netdsl.core.errors import UsageError, show_value
from netdsl.core.outfile import atomic_write
from netdsl.core.suggest import did_you_mean

#: device types netdsl runs on (when this machine and torch build have them)
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def available_devices() -> list[str]:
    """The devices of this machine that a build can run on: cpu, cuda:N, mps, xpu:N."""
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
    avail = available_devices()
    shown = show_value(text)
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


@dataclass
class CompileReport:
    """``--compile``: the first call (compiling), a second call, and the largest difference from eager."""

    first_call_seconds: float
    call_seconds: float
    max_difference: float


def compile_and_compare(gm: Any, inputs: list[Any], outputs: Any) -> CompileReport:
    """torch.compile ``gm``, time its first (compiling) and second call, compare with eager."""
    compiled: Any = compile_module(gm)
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
    return CompileReport(t_compile, t_run, diff)


def timed_forward(gm: fx.GraphModule, inputs: list[torch.Tensor]) -> tuple[Any, float]:
    """One forward pass without autograd, and its time in seconds."""
    with torch.no_grad():
        t0 = time.perf_counter()
        outputs = gm.forward(*inputs)  # not gm(): fx prints its own traceback to stderr on errors
        return outputs, time.perf_counter() - t0


def save_module(gm: fx.GraphModule, inputs: list[torch.Tensor], out: Path, flag: str) -> None:
    """Write ``out`` atomically: a .pt2 torch.export program, else the state_dict."""
    if out.suffix == ".pt2":
        program = torch.export.export(gm, tuple(inputs))
        atomic_write(out, lambda p: torch.export.save(program, p), flag=flag)
    else:
        atomic_write(out, lambda p: torch.save(gm.state_dict(), p), flag=flag)

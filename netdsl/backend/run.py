"""Running a built module (torch): the devices of this machine, one timed forward pass, a timed
``torch.compile`` compared with eager, and saving (torch.export program or state_dict)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import fx

from netdsl.backend.compile import compile_module
from netdsl.backend.progress import heartbeat
from netdsl.backend.rewrites import Fired
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
    """``--compile``: the first call (compiling), a second call, the largest difference from eager
    (None when not compared: random ops in training mode), the purpose and the rewrites that fired."""

    first_call_seconds: float
    call_seconds: float
    max_difference: float | None
    purpose: str = "inference"
    rewrites: list[Fired] = field(default_factory=list)


def has_random_ops(gm: torch.nn.Module) -> bool:
    """Whether ``gm`` draws random numbers in training mode (a dropout or stochastic depth with p > 0,
    attention dropout)."""
    return any(float(getattr(m, "p", 0.0) or getattr(m, "dropout_p", 0.0) or 0.0) > 0 for m in gm.modules())


def compile_and_compare(
    gm: Any,
    inputs: list[Any],
    outputs: Any,
    *,
    purpose: str = "inference",
    mode: str | None = None,
    freeze: bool = False,
    progress: TextIO | None = None,
) -> CompileReport:
    """netdsl.compile ``gm`` for ``purpose``, time its first (compiling) and second call, compare with
    eager (``outputs``: eager's in eval mode; for training, eager runs again in training mode, from the
    same state, unless the module draws random numbers). ``progress``: a heartbeat while compiling."""
    kwargs: dict[str, Any] = {} if mode is None else {"mode": mode}
    eager_train = None
    state = {k: v.clone() for k, v in gm.state_dict().items()}  # (training moves batch-norm statistics)
    if purpose == "training" and not has_random_ops(gm):
        with torch.no_grad():
            eager_train = gm.train()(*inputs)
        gm.load_state_dict(state)
    compiled: Any = compile_module(gm, purpose=purpose, freeze=freeze, **kwargs)
    fired = compiled.meta.get("netdsl", {}).get("rewrites", []) if hasattr(compiled, "meta") else []
    name = gm.meta.get("netdsl", {}).get("name", "the module") if hasattr(gm, "meta") else "the module"
    with torch.no_grad():
        with heartbeat(progress, f"torch.compile of {name} for {purpose} (first call)"):
            t0 = time.perf_counter()
            c_out = compiled(*inputs)
            t_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        compiled(*inputs)
        t_run = time.perf_counter() - t0
    if purpose == "training":  # the parameters are shared: leave them as built
        for key, value in compiled.state_dict(keep_vars=True).items():
            value.data.copy_(state[key])
        gm.eval()
    want = outputs if purpose == "inference" else eager_train
    diff = None
    if want is not None:
        ref = want if isinstance(want, tuple) else (want,)
        got = c_out if isinstance(c_out, tuple) else (c_out,)
        diff = max(float((a - b).abs().max()) for a, b in zip(ref, got, strict=True))
    return CompileReport(t_compile, t_run, diff, purpose, list(fired))


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

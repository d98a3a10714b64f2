"""Where the time of Shunted-T goes, eager and compiled: a torch.profiler breakdown by kind of kernel.

    python benchmarks/profile_compiled.py                   # Shunted-T, batch 1 and 8, 2 threads
    python benchmarks/profile_compiled.py --variant s --batches 8

For the hand-written reference (eager), netdsl's built module (eager) and ``netdsl.compile`` as
shipped (dynamic sizes, regional), each call is profiled (torch.profiler, CPU) after warm-up, and the
self time of every profiled op is put in one of these kinds:

- ``convolution``: oneDNN / aten convolutions (the patch embeddings, the spatial reductions of the
  shunted attention, the depthwise convolutions of the MLP and of the local enhancement);
- ``matmul``: linear layers, ``mm``/``bmm``/``addmm`` and oneDNN linear;
- ``attention``: the fused scaled-dot-product attention kernel;
- ``normalization``: layer and batch norm kernels run by aten;
- ``copies``: ``copy_``, ``clone``, ``contiguous`` and friends run by aten;
- ``other aten``: every other aten op (elementwise, softmax, GELU, reductions ...);
- ``compiled code``: what the compiled module runs outside aten: inductor's generated C++ kernels
  (fused elementwise, norms, softmax) and its Python wrapper.

The table gives milliseconds per call of each kind (the median call of ``--calls``), so that the
eager and compiled columns can be compared line by line: what compilation sped up (the fused
kernels replace "other aten", "normalization" and "copies") and what it cannot (convolution and
matmul run the same oneDNN / MKL kernels either way).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import netdsl  # noqa: E402
from tests.blockref import reference_state_dict  # noqa: E402
from tests.test_shunted import CONFIGS, ShuntedReference, official_layout, spec_path  # noqa: E402

KINDS = ("convolution", "matmul", "attention", "normalization", "copies", "other aten", "compiled code")

_CONV = ("conv", "mkldnn_convolution")
_MATMUL = ("addmm", "::mm", "bmm", "matmul", "linear", "mkldnn_linear", "baddbmm", "_mkl_linear")
_COPY = ("copy_", "clone", "contiguous", "_to_copy", "empty_like", "as_strided_")


def kind(name: str) -> str:
    low = name.lower()
    if not low.startswith("aten::") and not low.startswith("mkldnn::") and not low.startswith("onednn::"):
        return "compiled code"
    if "scaled_dot_product" in low or "flash_attention" in low:
        return "attention"
    if any(k in low for k in _CONV):
        return "convolution"
    if any(k in low for k in _MATMUL):
        return "matmul"
    if "norm" in low:
        return "normalization"
    if any(k in low for k in _COPY):
        return "copies"
    return "other aten"


def breakdown(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, calls: int) -> dict[str, float]:
    """Milliseconds per call by kind: self CPU time of the profiled events, median over ``calls``."""
    per_call: list[dict[str, float]] = []
    with torch.no_grad():
        for _ in range(3):
            fn(x)
        for _ in range(calls):
            start = time.perf_counter()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                fn(x)
            wall = (time.perf_counter() - start) * 1e3
            totals: dict[str, float] = defaultdict(float)
            for event in prof.events():
                totals[kind(event.name)] += event.self_cpu_time_total / 1e3
            totals["wall"] = wall
            per_call.append(totals)
    keys = {*KINDS, "wall"}
    return {k: statistics.median(c.get(k, 0.0) for c in per_call) for k in keys}


def weights(variant: str) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in reference_state_dict(official_layout(variant)).items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="t", choices=sorted(CONFIGS))
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 8])
    ap.add_argument("--calls", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ref = ShuntedReference(CONFIGS[args.variant]).eval()
    ref.load_state_dict(weights(args.variant), strict=True)
    gm = netdsl.build(spec_path(args.variant)).eval()
    gm.load_state_dict(weights(args.variant), strict=True)
    models: dict[str, Callable[[torch.Tensor], Any]] = {
        "reference eager": ref,
        "netdsl eager": gm,
        "netdsl.compile": netdsl.compile(gm),
    }
    print(
        f"Shunted-{args.variant.upper()}, 224 x 224, float32, CPU, torch {torch.__version__}, "
        f"{args.threads} threads: ms per call by kind of kernel (self CPU time under torch.profiler, "
        f"median of {args.calls} calls; the profiler adds its own overhead to every op)"
    )
    for b in args.batches:
        x = torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(b))
        with torch.no_grad():
            for m in models.values():  # compile (both sizes) before anything is profiled
                m(x)
        cols = {name: breakdown(m, x, args.calls) for name, m in models.items()}
        print(f"\nbatch {b}\n")
        print("| kind |" + "".join(f" {name} |" for name in cols))
        print("|---|" + "---|" * len(cols))
        for k in (*KINDS, "wall"):
            label = "**wall time of the call**" if k == "wall" else k
            print(f"| {label} |" + "".join(f" {c[k]:.1f} |" for c in cols.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

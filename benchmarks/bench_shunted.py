"""CPU inference time of the Shunted Transformer: netdsl eager, the eager reference, netdsl compiled.

    /work/venv/bin/python benchmarks/bench_shunted.py --variants t,s,b --compile-reference

For each variant, in one process, on the same weights (the reference rule of tests/data) and the same
input: netdsl's module (specs/shunted_<v>.yaml) in eager mode, the hand-written eager reference of
tests/test_shunted.py (`ShuntedReference`, the official architecture), netdsl's module under
torch.compile and, with --compile-reference, the reference under torch.compile. The first call of a
compiled module (which compiles) is timed on its own; netdsl's is compiled first, with a fresh inductor
cache (a cold compile), and the reference after it in the same process, where it reuses kernels that
netdsl's compile built (so its compile time is a warm one, not comparable). All models then take turns,
run by run, so that load on the machine hits them alike; times are medians of --runs runs after
--warmup runs, float32, torch.no_grad. Prints the parameters, the static MACs (netdsl's count for the
concrete input), the timings and the numerical checks as Markdown tables.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# torch.compile's on-disk caches would make a second run's "compile" a cache hit: use a fresh folder
# unless the caller chose one (set TORCHINDUCTOR_CACHE_DIR to measure warm-cache compiles)
FRESH_CACHE = "TORCHINDUCTOR_CACHE_DIR" not in os.environ
if FRESH_CACHE:
    _cache = tempfile.mkdtemp(prefix="bench_shunted_inductor_")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

import torch  # noqa: E402

import netdsl  # noqa: E402
from netdsl.passes.summary import mac_count, param_count  # noqa: E402
from tests.blockref import reference_state_dict  # noqa: E402
from tests.test_shunted import (  # noqa: E402
    CONFIGS,
    ShuntedReference,
    concrete_shapes,
    official_layout,
    spec_path,
)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores; /proc/stat), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    t = os.times()
    return t.user + t.system


def others_cpu(before: tuple[float | None, float, float], after: tuple[float | None, float, float]) -> float:
    """Cores that other processes kept busy between two `snapshot()`s (0 where /proc/stat is missing)."""
    (b0, o0, w0), (b1, o1, w1) = before, after
    if b0 is None or b1 is None or w1 <= w0:
        return 0.0
    return max(0.0, (b1 - b0) - (o1 - o0)) / (w1 - w0)


def snapshot() -> tuple[float | None, float, float]:
    return busy_seconds(), own_seconds(), time.perf_counter()


@dataclass
class Timing:
    median: dict[str, float]  # seconds per call
    rounds: int  # rounds run (each: every fn once)
    kept: int  # rounds the medians come from
    others: float  # mean cores other processes used during the kept rounds


def medians(fns: dict[str, Callable[[], object]], args: argparse.Namespace) -> Timing:
    """Median seconds per call of each fn. The fns take turns (a round runs each once), so that drift
    affects all alike; a round during which other processes used more than --max-others cores is
    dropped and tried again (after a pause), for at most --max-wait seconds; if fewer than --runs
    clean rounds came by then, all rounds count (and the table says how busy the machine was)."""
    for _ in range(args.warmup):
        for fn in fns.values():
            fn()
    clean: list[tuple[dict[str, float], float]] = []
    every: list[tuple[dict[str, float], float]] = []
    deadline = time.perf_counter() + args.max_wait
    while len(clean) < args.runs:
        before = snapshot()
        times = {k: timed(fn) for k, fn in fns.items()}
        busy = others_cpu(before, snapshot())
        every.append((times, busy))
        if busy <= args.max_others:
            clean.append((times, busy))
        elif time.perf_counter() < deadline:
            time.sleep(2.0)  # let the other work go on without us
        if time.perf_counter() >= deadline and len(every) >= args.runs:
            break
    used = clean if len(clean) >= args.runs else every
    return Timing(
        {k: statistics.median(t[k] for t, _ in used) for k in fns},
        len(every),
        len(used),
        statistics.fmean(b for _, b in used),
    )


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def bench(variant: str, args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """One variant: (the timing row, the checks row)."""
    load_start = os.getloadavg()[0]
    shape = (args.batch, 3, args.size[0], args.size[1])
    res = netdsl.check(spec_path(variant))
    res.raise_if_errors()
    assert res.shapes is not None
    macs = mac_count(concrete_shapes(res, shape))
    assert macs.is_const

    weights = {k: v.float() for k, v in reference_state_dict(official_layout(variant)).items()}
    t0 = time.perf_counter()
    gm = netdsl.build(spec_path(variant)).eval()
    build_s = time.perf_counter() - t0
    gm.load_state_dict(weights, strict=True)
    ref = ShuntedReference(CONFIGS[variant]).eval()
    ref.load_state_dict(weights, strict=True)
    n_params = sum(p.numel() for p in gm.parameters())
    assert n_params == param_count(res.shapes) == sum(p.numel() for p in ref.parameters())

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    row = {
        "variant": variant,
        "params": f"{n_params:,}",
        "static GMACs": f"{macs.value / 1e9:.3f}",
        "paper GFLOPs": f"{CONFIGS[variant].gflops}",
        "build s": f"{build_s:.1f}",
    }
    checks = {"variant": variant}
    fns: dict[str, Callable[[], object]] = {"netdsl": lambda: gm(x), "reference": lambda: ref(x)}
    with torch.no_grad():
        y_gm, y_ref = gm(x), ref(x)
        checks["max abs diff netdsl vs reference (eager)"] = f"{max_diff(y_gm, y_ref):.1e}"
        compile_s: dict[str, float] = {}
        if not args.no_compile:
            models: dict[str, tuple[torch.nn.Module, torch.Tensor]] = {"netdsl": (gm, y_gm)}
            if args.compile_reference:
                models["reference"] = (ref, y_ref)
            for name, (model, y_eager) in models.items():  # netdsl first: its compile is the cold one
                compiled = torch.compile(model)
                t0 = time.perf_counter()
                y_c = compiled(x)
                compile_s[name] = time.perf_counter() - t0
                checks[f"max abs diff {name} compiled vs eager"] = f"{max_diff(y_c, y_eager):.1e}"
                fns[f"{name} compiled"] = partial(compiled, x)
                log(f"[{variant}] {name}: torch.compile first call {compile_s[name]:.1f} s")
        timing = medians(fns, args)
        t = timing.median
    row["netdsl eager ms"] = f"{t['netdsl'] * 1e3:.1f}"
    row["reference eager ms"] = f"{t['reference'] * 1e3:.1f}"
    row["netdsl / reference"] = f"{t['netdsl'] / t['reference']:.2f}"
    if "netdsl" in compile_s:
        row["netdsl compile s"] = f"{compile_s['netdsl']:.1f}"
        row["netdsl compiled ms"] = f"{t['netdsl compiled'] * 1e3:.1f}"
        row["compiled / eager"] = f"{t['netdsl compiled'] / t['netdsl']:.2f}"
    if "reference" in compile_s:
        row["reference compile s (warm)"] = f"{compile_s['reference']:.1f}"
        row["reference compiled ms"] = f"{t['reference compiled'] * 1e3:.1f}"
    # other processes on the machine inflate the times (badly when they take a core that torch's threads
    # wait for): the CPU they used during the timed rounds, in cores, and how many rounds were clean
    checks["timed rounds kept / run"] = f"{timing.kept} / {timing.rounds}"
    checks["other processes' CPU in kept rounds (cores)"] = f"{timing.others:.2f}"
    checks["load average 1 min (start / end)"] = f"{load_start:.2f} / {os.getloadavg()[0]:.2f}"
    log(f"[{variant}] {row} {checks}")
    return row, checks


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def markdown(rows: list[dict[str, str]]) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(r.get(c, "") for c in cols) + " |")
    return "\n".join(lines)


def run_child(variant: str, argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Benchmark one variant in a fresh process (its own inductor cache: a cold compile)."""
    env = dict(os.environ)
    if FRESH_CACHE:
        env.pop("TORCHINDUCTOR_CACHE_DIR")  # the child makes its own
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        *argv,
        "--variants",
        variant,
        "--in-process",
        "--json",
    ]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    row, checks = json.loads(out.strip().splitlines()[-1])
    return row, checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="t", help="comma-separated variants among t, s, b (default t)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per model (median; default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all)")
    p.add_argument(
        "--max-others",
        type=float,
        default=0.2,
        help="drop a timed round in which other processes kept more than this many cores busy (default 0.2)",
    )
    p.add_argument(
        "--max-wait", type=float, default=900, help="seconds to wait for clean rounds (default 900)"
    )
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"))
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--compile-reference", action="store_true", help="also torch.compile the eager reference")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run all variants in this process (by default each variant runs in its own process, so that "
        "each netdsl compile is a cold one)",
    )
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a child's result, for the parent
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in CONFIGS]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose among {sorted(CONFIGS)}")

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    if args.in_process or len(variants) == 1:
        results = [bench(v, args) for v in variants]
    else:
        common = [
            *("--runs", str(args.runs), "--warmup", str(args.warmup), "--threads", str(args.threads)),
            *("--max-others", str(args.max_others), "--max-wait", str(args.max_wait)),
            *("--batch", str(args.batch), "--size", str(args.size[0]), str(args.size[1])),
            *(["--no-compile"] if args.no_compile else []),
            *(["--compile-reference"] if args.compile_reference else []),
        ]
        results = [run_child(v, common) for v in variants]
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps(results[0]))
        return 0
    print(
        f"Shunted Transformer, batch {args.batch}, {args.size[0]}x{args.size[1]}, float32, CPU "
        f"({cpu_name()}, {os.cpu_count()} cores), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"median of {args.runs} timed rounds (each model once per round, in turn) after {args.warmup} "
        f"warm-up rounds, dropping rounds in which other processes kept > {args.max_others} cores busy; "
        + ("one process per variant" if len(results) > 1 and not args.in_process else "one process")
    )
    print(
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        + (
            "torch.compile with a fresh inductor cache (cold compiles)"
            if FRESH_CACHE
            else f"torch.compile with inductor cache {os.environ['TORCHINDUCTOR_CACHE_DIR']}"
        )
    )
    print()
    print(markdown([r for r, _ in results]))
    print()
    print(markdown([c for _, c in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

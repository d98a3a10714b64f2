"""What netdsl.compile costs: cold and warm compile of Shunted T / S / B, regional against whole-graph.

    python benchmarks/compile_cost.py                        # T, S, B; regional; batch 8
    python benchmarks/compile_cost.py --variants t b --whole  # also the whole-graph compile

Each measurement runs in a fresh process (so nothing of torch.compile's in-memory state carries
over): build Shunted-<variant>, ``netdsl.compile`` it for inference (dynamic sizes, as shipped) and
time its first call at ``--batch`` (the compile) and the second call (the run). "cold" starts from an
empty inductor cache of its own; "warm" is a second process on the cache the cold one left (what a
user sees the second time they compile the same network). The table also gives the depth (blocks
of the network) and the number of distinct compiled pieces (regions of the same code compile once).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(variant: str, batch: int, regional: bool, threads: int) -> None:
    sys.path.insert(0, str(ROOT))
    import torch

    import netdsl
    from tests.test_shunted import spec_path

    torch.set_num_threads(threads)
    gm = netdsl.build(spec_path(variant), seed=0).eval()
    x = torch.randn(batch, 3, 224, 224)
    start = time.perf_counter()
    model = netdsl.compile(gm, regional=regional)
    model(x)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model(x)
    second = time.perf_counter() - start
    from torch._dynamo.utils import counters

    pieces = len(model.meta.get("netdsl", {}).get("regions", [])) if regional else 1
    instances = gm.meta["netdsl"]["instances"]
    depth = sum(not any(i.startswith(o + ".") for o in instances) for i in instances)  # outermost
    graphs = int(counters["stats"]["unique_graphs"])
    print(json.dumps({"first": first, "second": second, "pieces": pieces, "graphs": graphs, "depth": depth}))


def run(variant: str, batch: int, regional: bool, threads: int, cache: str) -> dict[str, float]:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    cmd = [sys.executable, __file__, "--child", variant, "--batch", str(batch), "--threads", str(threads)]
    if not regional:
        cmd.append("--whole")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant}: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="*", default=["t", "s", "b"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--whole", action="store_true", help="also time the whole-graph compile (regional=False)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.batch, not args.whole, args.threads)
        return 0
    import torch

    rows = []
    for regional in [True, False] if args.whole else [True]:
        for variant in args.variants:
            with tempfile.TemporaryDirectory(prefix="compile_cost_") as cache:
                cold = run(variant, args.batch, regional, args.threads, cache)
                warm = run(variant, args.batch, regional, args.threads, cache)
            rows.append((variant, regional, cold, warm))
            print(f"{variant} regional={regional}: cold {cold}, warm {warm}", file=sys.stderr, flush=True)
    print(
        f"netdsl.compile (inference, dynamic sizes) of Shunted, first call at batch {args.batch}, 224 x 224, "
        f"CPU, torch {torch.__version__}, {args.threads} threads; each number from a process of its own"
    )
    print("| variant | compile | blocks | compiled graphs | cold (s) | warm cache (s) | vs T cold |")
    print("|---|---|---|---|---|---|---|")
    base = {r: c["first"] for v, r, c, _ in rows if v == "t"}
    for variant, regional, cold, warm in rows:
        ratio = f"{cold['first'] / base[regional]:.2f}x" if regional in base else ""
        kind = "regional" if regional else "whole graph"
        print(
            f"| {variant.upper()} | {kind} | {cold['depth']:.0f} | {cold['graphs']:.0f} "
            f"| {cold['first']:.0f} | {warm['first']:.0f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""netdsl.compile of zoo models against torchvision, on CPU, side by side in one process.

    python benchmarks/compile_zoo.py                               # resnet50 and vit_b_16, batch 1 and 8
    python benchmarks/compile_zoo.py --models swin_t --batches 1

For each model, with the same random weights (netdsl's build, loaded into torchvision's twin) and
inputs, float32, 224 x 224:

- ``torchvision eager``: the baseline of every ratio;
- ``netdsl eager``: the built GraphModule;
- ``netdsl.compile``: as shipped (inference: the graph rewrites, regional compilation, dynamic batch
  and image size);
- ``torch.compile(torchvision)``: torch.compile of the torchvision model (dynamic=True, so that it too
  serves every batch size without recompiling).

Each compile's first call is timed at the larger batch (cold: a fresh inductor cache per run), then the
other batch. Then every model takes turns, round by round (each round runs each model for about
0.2 s), and the table gives the median time per call and the median of the per-round ratios to
torchvision eager (above 1 is faster), and the largest absolute difference of the logits from
torchvision eager's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or tempfile.mkdtemp(prefix="compile_zoo_")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = CACHE

import torch  # noqa: E402

import netdsl  # noqa: E402
from tests.zoo.tv import import_torchvision  # noqa: E402

SPECS = {
    "resnet18": "specs/resnet18.yaml",
    "resnet50": "specs/resnet50.yaml",
    "mobilenet_v2": "specs/mobilenet_v2.yaml",
    "mobilenet_v3_large": "specs/mobilenet_v3_large.yaml",
    "efficientnet_b0": "specs/efficientnet_b0.yaml",
    "vit_b_16": "specs/vit_b_16.yaml",
    "convnext_tiny": "specs/convnext_tiny.yaml",
    "swin_t": "specs/swin_t.yaml",
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def per_call(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - start) / calls


def bench(name: str, batches: list[int], rounds: int) -> list[str]:
    tv = import_torchvision()
    gm = netdsl.build(ROOT / SPECS[name], seed=0).eval()
    theirs = getattr(tv.models, name)().eval()
    theirs.load_state_dict(gm.state_dict(), strict=True)
    xs = {b: torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(b)) for b in batches}
    models: dict[str, Callable[[torch.Tensor], Any]] = {"torchvision eager": theirs, "netdsl eager": gm}
    first: dict[str, list[float]] = {}
    diffs: dict[str, float] = {}
    with torch.no_grad():
        want = {b: theirs(x) for b, x in xs.items()}
        makers: dict[str, Callable[[], Callable[[torch.Tensor], Any]]] = {
            "netdsl.compile": lambda: netdsl.compile(gm),
            "torch.compile(torchvision)": lambda: torch.compile(theirs, dynamic=True),
        }
        for peer, make in makers.items():
            model = make()
            first[peer] = []
            for b in sorted(batches, reverse=True):
                start = time.perf_counter()
                y = model(xs[b])
                first[peer].append(time.perf_counter() - start)
                diffs[peer] = max(diffs.get(peer, 0.0), float((y - want[b]).abs().max()))
            log(f"{name} {peer}: first calls {first[peer]}, max |difference| {diffs[peer]:.1e}")
            models[peer] = model
        diffs["netdsl eager"] = max(float((gm(x) - want[b]).abs().max()) for b, x in xs.items())
        rows: dict[str, dict[int, tuple[float, float]]] = {k: {} for k in models}
        for b, x in xs.items():
            for fn in models.values():
                fn(x)
            calls = max(1, round(0.2 / per_call(theirs, x, 1)))
            times: dict[str, list[float]] = {k: [] for k in models}
            for r in range(rounds):
                for k in list(models) if r % 2 == 0 else list(reversed(models)):
                    times[k].append(per_call(models[k], x, calls))
            for k in models:
                ratios = [base / t for base, t in zip(times["torchvision eager"], times[k], strict=True)]
                rows[k][b] = (statistics.median(times[k]), statistics.median(ratios))
    out = []
    for k, per_batch in rows.items():
        compile_s = " / ".join(f"{s:.0f}" for s in first[k]) if k in first else ""
        cells = "".join(f" {per_batch[b][0] * 1e3:.1f} | {per_batch[b][1]:.2f}x |" for b in batches)
        out.append(f"| {name} | {k} | {compile_s} |{cells} {diffs.get(k, 0.0):.1e} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=["resnet50", "vit_b_16"], choices=sorted(SPECS))
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = [line for name in args.models for line in bench(name, args.batches, args.rounds)]
    print(
        f"224 x 224, float32, CPU, torch {torch.__version__}, {args.threads} threads; {args.rounds} rounds "
        "of ~0.2 s per model: median ms per call, median of the per-round speed-ups over torchvision eager"
    )
    head = "| model | peer | first calls (s) |" + "".join(
        f" batch {b}: ms | speed-up |" for b in args.batches
    )
    print(head + " max abs diff |")
    print("|" + "---|" * (4 + 2 * len(args.batches)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

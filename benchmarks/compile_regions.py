"""netdsl.compile by regions against whole-graph, on a zoo model, next to torch.compile of torchvision.

    python benchmarks/compile_regions.py resnet50

The model built by netdsl (seed 0) and torchvision's twin with the same weights; four callables:
torchvision eager (the baseline), ``netdsl.compile(gm, regional=True)``,
``netdsl.compile(gm, regional=False)`` and ``torch.compile(torchvision model, dynamic=True)``. First
calls at batch 8 then 1 (the compile; the inductor cache as it is), then 5 rounds in which each model
runs for about 0.3 s: the median time per call and the median per-round speed-up over the baseline.
This measurement chose netdsl.compile's default (``netdsl.backend.regions.prefer_regional``).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import netdsl  # noqa: E402
from tests.zoo.tv import import_torchvision  # noqa: E402


def main() -> int:
    torch.set_num_threads(2)
    name = sys.argv[1] if len(sys.argv) > 1 else "resnet50"
    tv = import_torchvision()
    gm = netdsl.build(ROOT / "specs" / f"{name}.yaml", seed=0).eval()
    theirs = getattr(tv.models, name)().eval()
    theirs.load_state_dict(gm.state_dict())
    models = {
        "torchvision eager": theirs,
        "netdsl.compile regional=True": netdsl.compile(gm, regional=True),
        "netdsl.compile regional=False": netdsl.compile(gm, regional=False),
        "torch.compile(torchvision)": torch.compile(theirs, dynamic=True),
    }
    with torch.no_grad():
        for b in (8, 1):
            x = torch.randn(b, 3, 224, 224)
            for k, m in models.items():
                start = time.perf_counter()
                m(x)
                print(f"{k}: first call at batch {b}: {time.perf_counter() - start:.0f} s", flush=True)
        for b in (1, 8):
            x = torch.randn(b, 3, 224, 224)
            times: dict[str, list[float]] = {k: [] for k in models}
            for _ in range(5):
                for k, m in models.items():
                    start, n = time.perf_counter(), 0
                    while time.perf_counter() - start < 0.3:
                        m(x)
                        n += 1
                    times[k].append((time.perf_counter() - start) / n)
            base = times["torchvision eager"]
            for k in models:
                ratio = statistics.median(a / c for a, c in zip(base, times[k], strict=True))
                print(f"{name} batch {b} {k}: {statistics.median(times[k]) * 1e3:.1f} ms, {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

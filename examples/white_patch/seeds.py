"""Several runs of the experiment side by side: how much of a result is the seed's luck.

    python -m examples.white_patch --seed 1 --out /tmp/wp1     # (and 2, ...: one run per seed)
    python -m examples.white_patch.seeds examples/white_patch/results /tmp/wp1 /tmp/wp2

Reads each folder's ``results.json`` (runs of one configuration but for the seed, which draws the
images, the labels, the patches and the initialisation) and prints a Markdown table: per network the
min test loss and final test accuracy of each seed and their mean, and how much the attention output
highlights the patch (mean |z| of channels 1-3) beside its input ``conv``'s, per seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

from .report import CONV


def load(folders: list[Path]) -> list[dict[str, Any]]:
    """Each folder's results.json; they must share the configuration but for the seed."""
    results = []
    for f in folders:
        path = f / "results.json" if f.is_dir() else f
        results.append(json.loads(path.read_text(encoding="utf-8")))
    base = {k: v for k, v in results[0]["config"].items() if k != "seed"}
    for f, r in zip(folders, results, strict=True):
        other = {k: v for k, v in r["config"].items() if k != "seed"}
        if other != base:
            raise ValueError(f"{f}: another configuration than {folders[0]}: {other} against {base}")
    return results


def _row(values: list[float], digits: str) -> str:
    return " / ".join(format(v, digits) for v in values) + f" | {format(mean(values), digits)}"


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table of ``results`` (one per seed)."""
    seeds = [r["config"]["seed"] for r in results]
    names = [n for n in results[0]["runs"] if all(n in r["runs"] for r in results)]
    head = "seeds " + ", ".join(map(str, seeds))
    lines = [
        f"| run | min test loss ({head}) | mean | final test acc | mean | map: mean abs z, ch 1-3 | "
        f"`{CONV}`: the same |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for name in names:
        rows = [r["runs"][name] for r in results]
        loss = _row([row["min_test_loss"] for row in rows], ".3g")
        acc = _row([row["final_test_acc"] for row in rows], ".3f")
        maps = [row.get("maps") or {} for row in rows]
        first = next((k for k in maps[0] if k not in ("images", CONV)), None)
        if first is None:
            shown = conv = "-"
        else:
            shown = " / ".join(f"{m[first]['mean_abs_z_shown']:.2f}" for m in maps)
            conv = " / ".join(f"{m[CONV]['mean_abs_z_shown']:.2f}" for m in maps)
        lines.append(f"| `{name}` | {loss} | {acc} | {shown} | {conv} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    about = (__doc__ or "").split("\n")[0]
    ap = argparse.ArgumentParser(prog="python -m examples.white_patch.seeds", description=about)
    ap.add_argument("folders", nargs="+", type=Path, help="output folders (or results.json files) of runs")
    args = ap.parse_args(argv)
    try:
        results = load(args.folders)
    except (OSError, ValueError, KeyError) as e:
        print(f"seeds: {e}", file=sys.stderr)
        return 1
    print(table(results), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

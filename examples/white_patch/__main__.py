"""Seed 003's white-patch experiment with the four netdsl specs (docs/white_patch.md).

python -m examples.white_patch                      # the default run (~10 min on 2 CPU cores)
python -m examples.white_patch --full               # the seed's schedule (a GPU; hours on a CPU)
python -m examples.white_patch --eval-only          # tables and figures again, from the checkpoints
torchrun --nproc_per_node 2 -m examples.white_patch # the same, data-parallel (DDP, gloo on CPU)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .data import PATCH, DataConfig, Split, make_data, make_split
from .nets import BY_NAME, RUNS, Run, build, parameter_count
from .report import map_scores, plot_curves, plot_maps, summary, write_tables
from .train import Dist, TrainConfig, train

HERE = Path(__file__).resolve().parent

#: the default run: the six networks in at most 15 minutes on 2 CPU cores (9.3 measured; docs/white_patch.md)
DEFAULT = {"train": 800, "test": 200, "epochs": 8, "batch_size": 20, "lr": 1e-3}
#: the seed's schedule: STL10's 4000 / 1000 images, 50 epochs, batch 100, Adam 1e-4
FULL = {"train": 4000, "test": 1000, "epochs": 50, "batch_size": 100, "lr": 1e-4}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m examples.white_patch", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder of the outputs")
    ap.add_argument(
        "--runs", default=",".join(r.name for r in RUNS), help="comma-separated runs: " + ", ".join(BY_NAME)
    )
    ap.add_argument("--full", action="store_true", help="the seed's schedule: " + str(FULL))
    ap.add_argument("--train", type=int, help=f"training images (default {DEFAULT['train']})")
    ap.add_argument("--test", type=int, help=f"test images (default {DEFAULT['test']})")
    ap.add_argument("--epochs", type=int, help=f"epochs (default {DEFAULT['epochs']})")
    ap.add_argument("--batch-size", type=int, help=f"global batch size (default {DEFAULT['batch_size']})")
    ap.add_argument("--lr", type=float, help=f"Adam's learning rate (default {DEFAULT['lr']:g})")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data, the initialisation and dropout")
    ap.add_argument(
        "--as-seed",
        action="store_true",
        help="the seed's labels: np.random.seed(i + 10), i the place in the batch",
    )
    ap.add_argument("--stl10", help="STL10's train_X.bin (or its folder) instead of the generated images")
    ap.add_argument("--image-size", type=int, default=96, help="side of the generated images (tests)")
    ap.add_argument("--eval-only", action="store_true", help="tables and figures from the saved checkpoints")
    ap.add_argument("--no-figures", action="store_true", help="tables and checkpoints only")
    ap.add_argument("--map-images", type=int, default=4, help="test images in each map figure")
    ap.add_argument("--map-stats", type=int, default=200, help="test images with a patch scored per map")
    ap.add_argument("--threads", type=int, help="torch threads per process (default: torch's)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument(
        "--keep-denormals",
        action="store_true",
        help="compute with denormal floats (by default they are flushed to zero: trained attention "
        "makes some, in its softmax and its gradients, and they slowed conv1d MHA 2.7x)",
    )
    args = ap.parse_args(argv)
    unknown = [n for n in args.runs.split(",") if n.strip() and n.strip() not in BY_NAME]
    if unknown:
        ap.error(f"--runs: unknown {', '.join(unknown)} (the runs: {', '.join(BY_NAME)})")
    if not [n for n in args.runs.split(",") if n.strip()]:
        ap.error("--runs: no run named (the runs: " + ", ".join(BY_NAME) + ")")
    base = FULL if args.full else DEFAULT
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for flag in ("train", "test", "epochs", "batch_size", "map_images", "map_stats", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            ap.error(f"--{flag.replace('_', '-')}: expected a positive number, got {value}")
    if not args.eval_only and args.batch_size > min(args.train, args.test):
        ap.error(
            f"--batch-size {args.batch_size} is more than the {min(args.train, args.test)} "
            f"{'training' if args.train <= args.test else 'test'} images: not one batch"
        )
    if not args.lr > 0 or args.lr == float("inf"):
        ap.error(f"--lr: expected a positive learning rate, got {args.lr}")
    if args.image_size <= PATCH:
        ap.error(f"--image-size: the {PATCH}x{PATCH} patch needs at least {PATCH + 1}, got {args.image_size}")
    return args


#: the configuration the table states
TABLE_CONFIG = ("train", "test", "epochs", "batch_size", "lr", "seed", "as_seed", "size")


def _command(argv: list[str], world: int) -> str:
    launcher = f"torchrun --nproc_per_node {world} -m" if world > 1 else "python -m"
    return " ".join([launcher, "examples.white_patch", *(shlex.quote(a) for a in argv)])


def _checkpoint(out: Path, run: Run) -> Path:
    return out / "checkpoints" / f"{run.name}.pt"


def _load(path: Path) -> dict[str, Any]:
    got = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(got, dict)
    return got


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # (a process-wide setting: put back to torch's default when main returns, for in-process callers)
    torch.set_flush_denormal(not args.keep_denormals)
    try:
        return _main(argv, args)
    finally:
        torch.set_flush_denormal(False)


def _main(argv: list[str], args: argparse.Namespace) -> int:
    ctx = Dist.from_env()
    if args.batch_size % ctx.world:
        print(
            f"white_patch: --batch-size {args.batch_size} does not divide among {ctx.world} processes",
            file=sys.stderr,
        )
        ctx.close()
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [BY_NAME[n.strip()] for n in args.runs.split(",") if n.strip()]
    out: Path = args.out
    start = time.perf_counter()
    trained: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {}  # run -> (gm, history, config)
    splits: dict[str, Split] = {}
    if args.eval_only:
        for run in runs:
            path = _checkpoint(out, run)
            if not path.exists():
                print(f"no checkpoint {path}: {run.name} left out", file=sys.stderr)
                continue
            try:
                saved = _load(path)
                gm = build(run, int(saved["config"]["seed"]))
                gm.load_state_dict(saved["state_dict"])
                trained[run.name] = (gm.eval(), dict(saved["history"]), dict(saved["config"]))
            except Exception as e:  # (not a checkpoint of this run: torch.load's or load_state_dict's error)
                print(
                    f"white_patch: cannot use {path}: {type(e).__name__}: {e}".splitlines()[0],
                    file=sys.stderr,
                )
                ctx.close()
                return 1
    else:
        data = DataConfig(
            args.train, args.test, args.seed, args.as_seed, args.batch_size, args.stl10, args.image_size
        )
        t = time.perf_counter()
        try:
            train_split, test_split = make_data(data)
        except (OSError, ValueError) as e:  # (an STL10 file missing, short or of another size)
            print(f"white_patch: {e}", file=sys.stderr)
            ctx.close()
            return 1
        if ctx.main and not args.quiet:
            source = f"STL10 {args.stl10}" if args.stl10 else "generated images"
            print(f"data: {len(train_split)} + {len(test_split)} {source} ({time.perf_counter() - t:.1f} s)")
        cfg = TrainConfig(args.epochs, args.batch_size, args.lr, args.seed)
        config = {
            **asdict(data),
            **asdict(cfg),
            "processes": ctx.world,
            "threads": torch.get_num_threads(),
            "command": _command(argv, ctx.world),
        }
        splits[repr(sorted(asdict(data).items()))] = test_split
        for run in runs:
            gm, hist = train(run, train_split, test_split, cfg, ctx, quiet=args.quiet)
            if ctx.main:
                path = _checkpoint(out, run)
                path.parent.mkdir(parents=True, exist_ok=True)
                state = gm.state_dict()
                torch.save(
                    {"run": run.name, "state_dict": state, "history": hist.as_dict(), "config": config}, path
                )
            trained[run.name] = (gm, hist.as_dict(), config)
    if not trained:
        print(f"nothing to report: no checkpoints in {out / 'checkpoints'}", file=sys.stderr)
        ctx.close()
        return 1
    if ctx.main:
        _report(trained, splits, args, out)
        print(f"wrote {out / 'results.md'} ({(time.perf_counter() - start) / 60:.1f} min)")
        if not args.quiet:
            print((out / "results.md").read_text(encoding="utf-8"))
    ctx.close()
    return 0


def _report(
    trained: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]],
    splits: dict[str, Split],
    args: argparse.Namespace,
    out: Path,
) -> dict[str, Any]:
    first = next(iter(trained.values()))[2]
    results: dict[str, Any] = {
        "command": first["command"],
        "config": {k: first[k] for k in TABLE_CONFIG},
        "data": f"STL10 {first['stl10']}"
        if first["stl10"]
        else "generated images (examples/white_patch/data.py)",
        "processes": first["processes"],
        "threads": first["threads"],
        "seconds": sum(h["seconds"] for _, h, _ in trained.values()),
        "figures": not args.no_figures,
        "runs": {},
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, (gm, hist, config) in trained.items():
        run = BY_NAME[name]
        row = summary(run, parameter_count(gm), hist)
        if run.maps:
            data = DataConfig(
                **{k: config[k] for k in ("train", "test", "seed", "as_seed", "batch_size", "stl10", "size")}
            )
            key = repr(sorted(asdict(data).items()))
            if key not in splits:
                offset = data.test_offset()
                splits[key] = make_split(data, list(range(offset, offset + data.test)))
            test = splits[key]
            row["maps"] = map_scores(gm, run, test, args.map_stats)
            if not args.no_figures:
                plot_maps(gm, run, test, out, args.map_images)
        results["runs"][name] = row
    write_tables(results, out)
    if not args.no_figures:
        plot_curves(results, out)
    return results


if __name__ == "__main__":
    raise SystemExit(main())

"""`netdsl validate` as a whole process against the floor of any pydantic-based validator, and against
`netdsl build`, side by side in one run.

    .venv/bin/python benchmarks/validate_process.py [--runs 15] [--build-runs 3] [--spec FILE]

Three commands, each a fresh process of this interpreter (``sys.executable``):

* **floor**: ``python -c "import pydantic, yaml; class M(pydantic.BaseModel): x: int"``, what a
  validator built on pydantic and PyYAML pays before reading anything;
* **validate**: ``python -m netdsl validate SPEC``;
* **build**: ``python -m netdsl build SPEC`` (imports torch, lowers, initialises the weights, runs one
  forward pass: seconds).

They take turns: each round runs the floor, then validate (the order alternating from round to round);
``--build-runs`` rounds spread over the run also run build. The tables give, for wall and CPU seconds
(user + system of the child, less disturbed by other work on a shared machine), the median and minimum
of each command and the ratios validate / floor (target <= 1.5) and build / validate (target >= 10).

Bytecode: by default, as in an installed package (pip compiles it), every process reads compiled
bytecode, cached in a temporary folder through ``PYTHONPYCACHEPREFIX`` (one untimed warm-up run of each
command fills it). ``--compile`` measures instead with ``PYTHONDONTWRITEBYTECODE=1`` and no cache, so
that each process compiles the sources of netdsl it imports (as in a source checkout on a machine that
sets that variable). Both floors are measured the same way.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import pydantic, yaml\nclass M(pydantic.BaseModel):\n    x: int\n"


def timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``cmd`` in ``cwd``; a failing command is an
    error."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15, help="runs of the floor and of validate (default 15)")
    ap.add_argument("--build-runs", type=int, default=3, help="runs of build (default 3; 0: none)")
    ap.add_argument("--spec", default="specs/shunted_b.yaml", help="the spec (default specs/shunted_b.yaml)")
    ap.add_argument(
        "--compile", action="store_true", help="no bytecode cache: each process compiles netdsl's sources"
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also time validate on another checkout (DIR holds its netdsl/, blocks/ and specs/), "
        "interleaved with the others, e.g. git archive REV netdsl blocks specs | tar -x -C DIR",
    )
    args = ap.parse_args()

    py = sys.executable
    cmds = {
        "floor": [py, "-c", FLOOR],
        "validate": [py, "-m", "netdsl", "validate", args.spec],
        "build": [py, "-m", "netdsl", "build", args.spec],
    }
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="netdsl-pyc-") as cache:
        if args.compile:
            env["PYTHONDONTWRITEBYTECODE"] = "1"  # installed packages keep their own __pycache__
            env.pop("PYTHONPYCACHEPREFIX", None)
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        names = ["floor", "validate"] + (["build"] if args.build_runs else [])
        where = {name: ROOT for name in names}
        if args.baseline is not None:  # `python -m netdsl` imports the package of its working folder
            cmds["baseline"] = cmds["validate"]
            where["baseline"] = args.baseline.resolve()
            names.append("baseline")
        for name in names:  # warm-up, untimed: fills the bytecode cache and the OS file cache
            timed(cmds[name], env, where[name])
        build_at = (
            {
                round(i * args.runs / args.build_runs + args.runs / (2 * args.build_runs))
                for i in range(args.build_runs)
            }
            if args.build_runs
            else set()
        )
        times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        load0, t_start = load(), time.perf_counter()
        for r in range(args.runs):
            order = ["floor", "validate"] + (["baseline"] if args.baseline is not None else [])
            if r % 2:
                order.reverse()
            if r in build_at:
                order.append("build")
            for name in order:
                times[name].append(timed(cmds[name], env, where[name]))
        elapsed = time.perf_counter() - t_start

    import pydantic
    import yaml

    print(
        f"netdsl validate as a process; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pydantic {pydantic.VERSION}, PyYAML {yaml.__version__}; "
        f"bytecode {'compiled in each process' if args.compile else 'cached'}; medians of {args.runs} "
        f"runs (build: {args.build_runs}), interleaved; load average (1 min) {load0} before, {load()} after; "
        f"{elapsed:.0f} s in all"
    )
    print()
    header = "| seconds | floor: pydantic + PyYAML + one model | `netdsl validate` | validate / floor"
    header += " (target <= 1.5) |"
    header += " `netdsl build` | build / validate (target >= 10) |" if args.build_runs else ""
    header += f" validate of {args.baseline} | its / floor |" if args.baseline is not None else ""
    print(header)
    print(
        "|---|---|---|---|" + ("---|---|" if args.build_runs else "") + ("---|---|" if args.baseline else "")
    )
    for label, k, agg in (
        ("wall, median", 0, statistics.median),
        ("CPU, median", 1, statistics.median),
        ("wall, minimum", 0, min),
        ("CPU, minimum", 1, min),
    ):
        f, v = agg(t[k] for t in times["floor"]), agg(t[k] for t in times["validate"])
        row = f"| {label} | {f:.3f} | {v:.3f} | **{v / f:.2f}** |"
        if args.build_runs:
            b = agg(t[k] for t in times["build"])
            row += f" {b:.2f} | **{b / v:.1f}** |"
        if args.baseline is not None:
            old = agg(t[k] for t in times["baseline"])
            row += f" {old:.3f} | **{old / f:.2f}** |"
        print(row)


if __name__ == "__main__":
    main()

"""Speed of the torch-free passes: `netdsl.check` of large generated specs against PyYAML's pure-Python
SafeLoader reading a file of the same size, and `netdsl validate` / `netdsl build` of Shunted-B as whole
processes.

    .venv/bin/python benchmarks/check_speed.py [--rounds 7] [--baseline DIR]

The specs are generated at run time into a temporary folder (nothing is committed):

* **chain**: a written-out chain of 10,000 nodes, linear and relu alternating, one node per line (flow
  style, about 400 KB);
* **repeat N**: a 3-node block (linear with `out_features: $w`, relu, dropout) used by one node with
  `repeat: N` (3*N nodes), for N = 1,000 and 10,000.

The yardstick is `yaml.load(text, Loader=yaml.SafeLoader)` (PyYAML's pure-Python scanner, parser and
constructor) of the chain's text. Each round times, in turn, in one process: the yardstick, then
`netdsl.check(path)` of each spec (load, validate, resolve, lint, symbolic shapes). The result of each
call is dropped after its timing (freeing it is not timed, for either). The tables give the minimum over
the rounds (the least disturbed run on a shared machine), wall and CPU seconds, and ratios of those minima.

Then, unless --no-process, the whole processes: a bare `python -c` that imports pydantic and PyYAML and
defines one model, and `python -m netdsl validate specs/shunted_b.yaml` (minimum of --process-runs runs),
each with netdsl's bytecode compiled in every process (as here, where PYTHONDONTWRITEBYTECODE=1 and the
repository has no __pycache__) and cached (a normal installation; in a temporary folder, through
PYTHONPYCACHEPREFIX); `python -m netdsl build specs/shunted_b.yaml` once (it also imports torch, lowers,
initialises the weights and runs one forward pass: seconds, and very noisy on a shared machine). Then
where the time of validate goes, in fresh processes with bytecode cached (each figure the minimum of
--process-runs runs): the imports (from `python -X importtime`, by group; the netdsl modules that define
pydantic models apart), and each pass of `check` (exclusive times: a block file loaded while resolving
counts as loading).

With --baseline DIR (another checkout of netdsl, e.g. `git archive HEAD netdsl blocks | tar -x -C DIR`),
every measurement also runs on that tree, in its own processes, and the tables show both.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "shunted_b.yaml"
BARE = "import pydantic, yaml\nclass M(pydantic.BaseModel):\n    x: int\n"
SPECS = ("chain", "repeat 10,000", "repeat 1,000")

PYDANTIC = ("pydantic", "pydantic_core", "annotated_types", "typing_extensions", "typing_inspection")
#: modules whose import time is the definition of pydantic models (the spec schema, op attributes)
MODEL_MODULES = re.compile(r"netdsl\.(schema|ops\..*)$")


# ----------------------------------------------------------------------------- generated specs


def chain(n: int) -> str:
    lines = ["network: chain", "inputs:", "  x: [B, 16]", "dims: {B: 2}", "nodes:"]
    lines.append("  n0: {op: linear, in: x, out_features: 16}")
    for i in range(1, n):
        if i % 2:
            lines.append(f"  n{i}: {{op: relu, in: n{i - 1}}}")
        else:
            lines.append(f"  n{i}: {{op: linear, in: n{i - 1}, out_features: 16}}")
    lines.append(f"outputs: {{y: n{n - 1}}}")
    return "\n".join(lines) + "\n"


def repeated(n: int) -> str:
    return (
        "network: repeated\ninputs:\n  x: [B, 16]\ndims: {B: 2}\nblocks:\n  unit:\n"
        "    params: {w: {type: int, default: 16}}\n    inputs: {x: [B, 16]}\n    nodes:\n"
        "      fc: {op: linear, in: x, out_features: $w}\n      act: {op: relu, in: fc}\n"
        "      drop: {op: dropout, in: act, p: 0.1}\n    outputs: {y: drop}\n"
        f"nodes:\n  s: {{block: unit, in: x, repeat: {n}}}\noutputs: {{y: s}}\n"
    )


def write_specs(folder: Path) -> dict[str, str]:
    texts = {"chain": chain(10_000), "repeat 10,000": repeated(10_000), "repeat 1,000": repeated(1_000)}
    out = {}
    for name, text in texts.items():
        path = folder / (re.sub(r"\W+", "_", name) + ".yaml")
        path.write_text(text)
        out[name] = str(path)
    return out


# ----------------------------------------------------------------------------- workers (one tree each)


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()``; its result is dropped after the timing."""
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    w, c = time.perf_counter() - w, time.process_time() - c
    del result
    return w, c


def worker_check(files: dict[str, str], rounds: int) -> dict[str, Any]:
    """In this process: the yardstick and `check` of each spec, in turn, ``rounds`` times."""
    import yaml

    import netdsl

    text = Path(files["chain"]).read_text()
    nodes = {}
    for name, path in files.items():  # (also a warm-up: lazy imports, first validations)
        res = netdsl.check(path)
        if not res.ok or res.graph is None:
            raise SystemExit(f"{path}: {[str(e) for e in res.errors[:3]]}")
        nodes[name] = len(res.graph.nodes)
    del res
    wall: dict[str, list[float]] = {"yardstick": [], **{k: [] for k in files}}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    for _ in range(rounds):
        gc.collect()
        w, c = _timed(lambda: yaml.load(text, Loader=yaml.SafeLoader))
        wall["yardstick"].append(w)
        cpu["yardstick"].append(c)
        for name, path in files.items():
            gc.collect()
            w, c = _timed(lambda path=path: netdsl.check(path))
            wall[name].append(w)
            cpu[name].append(c)
    return {
        "wall": {k: min(v) for k, v in wall.items()},
        "cpu": {k: min(v) for k, v in cpu.items()},
        "nodes": nodes,
    }


def worker_passes(spec: str) -> dict[str, float]:
    """In this fresh process: the passes of `check(spec, concrete=True)` (what `netdsl validate` runs),
    exclusive seconds of each, and the same check again in this process (warm)."""
    import netdsl.cli  # noqa: F401 (every module netdsl imports for validate)
    from netdsl import api

    mods = [m for name, m in sys.modules.items() if name == "netdsl" or name.startswith("netdsl.")]
    phases: dict[str, float] = {}
    stack: list[float] = []

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            stack.append(0.0)
            try:
                return fn(*a, **k)
            finally:
                inner, dt = stack.pop(), time.perf_counter() - t0
                phases[name] = phases.get(name, 0.0) + dt - inner
                if stack:
                    stack[-1] += dt

        return run

    def patch_function(module: str, attr: str, name: str) -> None:
        original = getattr(sys.modules[module], attr, None)
        if original is None:
            return
        wrapper = timed(name, original)
        for m in mods:  # (also where it was imported by name)
            if getattr(m, attr, None) is original:
                setattr(m, attr, wrapper)

    def patch_method(cls: Any, attr: str, name: str) -> None:
        if hasattr(cls, attr):
            setattr(cls, attr, timed(name, getattr(cls, attr)))

    import importlib
    import importlib.util

    # the package's layout (a --baseline tree may be older than the layers: netdsl/resolve.py, ...)
    layered = importlib.util.find_spec("netdsl.passes") is not None
    where = {
        "ir": "netdsl.ir.graph" if layered else "netdsl.ir",
        "resolve": "netdsl.passes.resolve" if layered else "netdsl.resolve",
        "shapes": "netdsl.passes.shapes" if layered else "netdsl.shapes",
        "yaml": "netdsl.frontend.yaml_loader" if layered else "netdsl.yaml_loader",
        "validate": "netdsl.frontend.validate" if layered else "netdsl.validate",
    }
    Graph = importlib.import_module(where["ir"]).Graph
    Resolver = importlib.import_module(where["resolve"]).Resolver
    ShapeInference = importlib.import_module(where["shapes"]).ShapeInference

    patch_function(where["yaml"], "load_text", "load (YAML)")
    patch_function(where["validate"], "validate_spec", "validate (pydantic)")
    patch_function(where["validate"], "parse_spec", "validate (pydantic)")
    patch_method(Resolver, "network", "resolve")
    patch_method(Resolver, "block_file", "resolve")
    patch_method(Graph, "lint", "lint")
    patch_method(ShapeInference, "run", "shapes (symbolic, then concrete)")
    t0 = time.perf_counter()
    res = api.check(spec, concrete=True)
    total = time.perf_counter() - t0
    if not res.ok:
        raise SystemExit(f"{spec}: {[str(e) for e in res.errors[:3]]}")
    out = {f"check: {k}": v for k, v in phases.items()}
    out["check: the rest (files, library, ...)"] = total - sum(phases.values())
    out["check: in all"] = total
    del res
    out["check again, same process (warm)"] = _timed(lambda: api.check(spec, concrete=True))[0]
    return out


# ----------------------------------------------------------------------------- driver


def process_env(tree: Path, pyc: Path | None = None) -> dict[str, str]:
    """The environment of a process on ``tree``; with ``pyc``, compiled bytecode is written to and
    read from that folder (else as this process has it: PYTHONDONTWRITEBYTECODE=1 compiles every
    module from source in every process)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if pyc is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pyc)
    return env


def run_worker(tree: Path, args: list[str], pyc: Path | None = None) -> Any:
    env = process_env(tree, pyc)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--tree", str(tree), *args]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({' '.join(cmd)}):\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_process(
    tree: Path, argv: list[str], pyc: Path | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of ``python argv`` run in ``tree`` (so netdsl comes from there)."""
    env = process_env(tree, pyc)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *argv], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv} in {tree} failed:\n{done.stdout}\n{done.stderr}")
    return wall, done


def import_groups(tree: Path, pyc: Path | None) -> dict[str, float]:
    """Self import times of ``import netdsl.cli`` (python -X importtime), by group, seconds."""
    _, done = run_process(tree, ["-X", "importtime", "-c", "import netdsl.cli"], pyc)
    groups: dict[str, float] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|(\s*)(\S+)", line)
        if not m:
            continue
        name = m.group(3)
        top = name.split(".")[0]
        if MODEL_MODULES.match(name):
            group = "import: netdsl modules defining pydantic models (spec schema, op attributes)"
        elif top == "netdsl":
            group = "import: other netdsl modules"
        elif top in PYDANTIC:
            group = "import: pydantic"
        elif top in ("yaml", "_yaml"):
            group = "import: PyYAML"
        else:
            group = "import: standard library and others"
        groups[group] = groups.get(group, 0.0) + int(m.group(1)) / 1e6
    return groups


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7, help="rounds of the check timings (minimum taken)")
    p.add_argument("--process-runs", type=int, default=5, help="runs of each whole process (minimum)")
    p.add_argument("--baseline", type=Path, help="another netdsl checkout, measured side by side")
    p.add_argument("--no-process", action="store_true", help="skip the whole-process timings")
    p.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=["check", "passes"], help=argparse.SUPPRESS)
    p.add_argument("--files", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker == "check":
        print(json.dumps(worker_check(json.loads(args.files), args.rounds)))
        return 0
    if args.worker == "passes":
        print(json.dumps(worker_passes(str(SPEC))))
        return 0

    import yaml

    trees = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("this tree", ROOT)]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_specs(Path(tmp))
        size = Path(files["chain"]).stat().st_size
        worker = ["--worker", "check", "--files", json.dumps(files), "--rounds", str(args.rounds)]
        checks = {name: run_worker(tree, worker) for name, tree in trees}
    nodes = next(iter(checks.values()))["nodes"]
    print(
        f"netdsl.check speed; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PyYAML {yaml.__version__}; minimum of {args.rounds} rounds"
    )
    print()
    for kind in ("wall", "cpu"):
        rows = []
        for name, res in checks.items():
            m = res[kind]
            y = m["yardstick"]
            rows.append(
                [
                    name,
                    f"{y:.3f}",
                    f"{m['chain']:.3f}",
                    f"**{m['chain'] / y:.2f}**",
                    f"{m['repeat 10,000']:.3f}",
                    f"**{m['repeat 10,000'] / y:.2f}**",
                    f"{m['repeat 1,000']:.3f}",
                    f"**{m['repeat 10,000'] / m['repeat 1,000']:.1f}**",
                ]
            )
        what = "wall" if kind == "wall" else "CPU"
        print(
            table(
                [
                    f"tree ({what} seconds)",
                    f"yardstick: PyYAML SafeLoader, the chain's text ({size:,} bytes)",
                    f"check: chain ({nodes['chain']:,} nodes)",
                    "chain / yardstick (target <= 0.5)",
                    f"check: repeat 10,000 ({nodes['repeat 10,000']:,} nodes)",
                    "repeat 10,000 / yardstick (target <= 0.3)",
                    f"check: repeat 1,000 ({nodes['repeat 1,000']:,} nodes)",
                    "repeat 10,000 / repeat 1,000 (target <= 12)",
                ],
                rows,
            )
        )
        print()
    if not args.no_process:
        runs = args.process_runs
        spec = str(SPEC.relative_to(ROOT))
        rows = []
        passes = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, tree in trees:
                pyc = Path(tmp) / re.sub(r"\W+", "_", name)
                run_process(tree, ["-m", "netdsl", "validate", str(SPEC)], pyc)  # (writes the bytecode)
                build, done = run_process(tree, ["-m", "netdsl", "build", str(SPEC)])
                own = [line for line in done.stdout.splitlines() if line.startswith("built in")]
                for mode, cache in (("compiled in each process", None), ("cached", pyc)):
                    bare = min(run_process(tree, ["-c", BARE], cache)[0] for _ in range(runs))
                    cmd = ["-m", "netdsl", "validate", str(SPEC)]
                    validate = min(run_process(tree, cmd, cache)[0] for _ in range(runs))
                    rows.append(
                        [
                            name,
                            mode,
                            f"{bare:.2f}",
                            f"{validate:.2f}",
                            f"**{validate / bare:.1f}**",
                            f"{build:.2f}",
                            f"**{validate / build:.2f}**",
                            own[-1] if own else "-",
                        ]
                    )
                groups: dict[str, float] = {}
                for _ in range(runs):  # (each figure: its minimum over the runs)
                    once = import_groups(tree, pyc) | run_worker(tree, ["--worker", "passes"], pyc)
                    for k, v in once.items():
                        groups[k] = min(groups.get(k, v), v)
                torch_import = run_process(tree, ["-c", "import torch"])[0]
                groups["(for build: `python -c 'import torch'`)"] = torch_import
                passes[name] = groups
        print(
            table(
                [
                    "tree (wall seconds)",
                    "netdsl's bytecode",
                    "bare `python -c`: import pydantic, PyYAML; define one model",
                    f"`netdsl validate {spec}`",
                    "validate / bare",
                    f"`netdsl build {spec}` (one run, as this machine runs it)",
                    "validate / build",
                    "build's own report",
                ],
                rows,
            )
        )
        print()
        keys: list[str] = []
        for ph in passes.values():
            keys += [k for k in ph if k not in keys]
        print(
            table(
                [f"where `netdsl validate {spec}` spends its time (bytecode cached), s", *passes],
                [[k] + [f"{ph[k]:.3f}" if k in ph else "-" for ph in passes.values()] for k in keys],
            )
        )
        print()
    print(
        f"({time.perf_counter() - started:.0f} s in all; load average (1 min) {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after)"
    )
    return 0


if __name__ == "__main__":
    tree = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(ROOT)
    sys.path.insert(0, tree)  # a worker imports netdsl from its tree
    sys.exit(main())

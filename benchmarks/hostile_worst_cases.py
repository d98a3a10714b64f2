"""Worst cases of hostile input for `netdsl validate`: specs just under the size limit, nested repeats,
a billion-laughs file; and the YAML loader with libyaml vs PyYAML's pure-Python parser on each text.

    .venv/bin/python benchmarks/hostile_worst_cases.py

The files are generated at run time into a temporary folder (nothing is committed): specs just under
the 512,000-byte limit of several shapes (a written-out chain of linear/relu nodes, one line per node
or in block style; a `vars:` list of expressions; a large `blocks:` section; a one-line flow list far
beyond the 10,000-item limit; a near-limit file with a YAML syntax error, or a tab PyYAML refuses, on
its last line, where the loader lets PyYAML's pure-Python parser find the error), nested repeats (a
block repeated 10,000 times inside a node repeated 10,000 times: 10^8 nodes, to be refused) and a
billion-laughs file. Each must give its documented exit code (0 valid, 1 refused); the script says
UNEXPECTED otherwise and exits 1.

For each file, --runs times (median): `netdsl validate FILE` in a fresh Python process, its whole wall
time (interpreter start and imports included), and, in that process, the time of `netdsl.cli.main`
alone (wall and CPU seconds: the CPU time of the process is less disturbed by other work on a shared
machine). Then, in this process, `netdsl.frontend.yaml_loader.load_text` on the same text with
`parser="python"` (PyYAML's pure-Python scanner and parser) and `parser="libyaml"` (PyYAML's C
extension), taking turns, and their ratio. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT = 512_000  # bytes: netdsl's size limit for a spec file
MARGIN = 200  # generated files stay this many bytes under the limit


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    text: str
    exit: int  # the exit code `netdsl validate` must give


def _fill(head: str, item: Callable[[int], str], tail: Callable[[int], str], limit: int = LIMIT) -> str:
    """head + item(0) + item(1) + ... + tail(n), with as many items as fit under ``limit - MARGIN``."""
    parts, size, n = [head], len(head.encode()), 0
    while True:
        piece = item(n)
        if size + len(piece.encode()) + len(tail(n + 1).encode()) > limit - MARGIN:
            break
        parts.append(piece)
        size += len(piece.encode())
        n += 1
    return "".join(parts) + tail(n)


HEAD = "network: worst\ninputs:\n  x: [B, 16]\ndims: {B: 2}\n"


def chain_flow() -> str:
    def node(i: int) -> str:
        if i % 2:
            return f"  n{i + 1}: {{op: relu, in: n{i}}}\n"
        return f"  n{i + 1}: {{op: linear, in: n{i}, out_features: 16}}\n"

    head = HEAD + "nodes:\n  n0: {op: linear, in: x, out_features: 16}\n"
    return _fill(head, node, lambda n: f"outputs: {{y: n{n}}}\n")


def chain_block() -> str:
    def node(i: int) -> str:
        if i % 2:
            return f"  n{i + 1}:\n    op: relu\n    in: n{i}\n"
        return f"  n{i + 1}:\n    op: linear\n    in: n{i}\n    out_features: 16\n"

    head = HEAD + "nodes:\n  n0:\n    op: linear\n    in: x\n    out_features: 16\n"
    return _fill(head, node, lambda n: f"outputs:\n  y: n{n}\n")


def vars_list() -> str:
    def item(i: int) -> str:
        return f'    - "${{a * {i} + (a + 1) * (a - 1) // 2 + {i} % 5 - a}}"\n'

    def tail(n: int) -> str:
        last = f'"${{xs[{n - 1}] % 7 + 1}}"'
        return f"nodes:\n  fc: {{op: linear, in: x, out_features: {last}}}\noutputs: {{y: fc}}\n"

    return _fill(HEAD + "vars:\n  a: 3\n  xs:\n", item, tail)


def blocks_section() -> str:
    def block(i: int) -> str:
        return (
            f"  b{i}:\n    params: {{w: {{type: int, default: 16}}}}\n    inputs: {{x: [B, 16]}}\n"
            "    nodes:\n      fc: {op: linear, in: x, out_features: $w}\n"
            "      act: {op: relu, in: fc}\n    outputs: {y: act}\n"
        )

    def uses(n: int) -> str:
        lines = [f"  u{j}: {{block: b{j}, in: {'x' if j == 0 else f'u{j - 1}'}}}\n" for j in range(n)]
        return "nodes:\n" + "".join(lines) + f"outputs: {{y: u{n - 1}}}\n"

    return _fill(HEAD + "blocks:\n", block, uses)


def flow_list() -> str:
    head = HEAD + "vars:\n  xs: ["
    tail = "]\nnodes:\n  fc: {op: linear, in: x, out_features: 16}\noutputs: {y: fc}\n"
    return _fill(head, lambda i: f"{i}, ", lambda n: "0" + tail)


def broken_last_line() -> str:
    return chain_flow().rstrip("\n").removesuffix("}") + "\n"  # `outputs: {y: nN` not closed


def tab_last_line() -> str:
    return chain_flow() + "description:\tx\n"  # a tab between tokens: PyYAML refuses it


def nested_repeats() -> str:
    return (
        "network: nested_repeats\ninputs: {x: [B, 8]}\ndims: {B: 2}\nblocks:\n"
        "  leaf:\n    inputs: {x: [B, 8]}\n    nodes:\n      act: {op: relu, in: x}\n    outputs: {y: act}\n"
        "  mid:\n    inputs: {x: [B, 8]}\n    nodes:\n      stack: {block: leaf, in: x, repeat: 10000}\n"
        "    outputs: {y: stack}\n"
        "nodes:\n  outer: {block: mid, in: x, repeat: 10000}\noutputs: {y: outer}\n"
    )


def billion_laughs() -> str:
    lines = ["  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"  {cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    body = "\n".join(lines)
    return HEAD + f"vars:\n{body}\nnodes:\n  fc: {{op: relu, in: x}}\noutputs: {{y: fc}}\n"


def cases() -> list[Case]:
    chain = "written-out chain of linear/relu nodes"
    out = [
        Case("chain, flow", f"{chain}, one line each", chain_flow(), 0),
        Case("chain, block", f"{chain} in block style (3-4 lines each)", chain_block(), 0),
        Case("vars list", "a `vars:` list of quoted expressions, a node uses the last", vars_list(), 0),
        Case("blocks section", "a `blocks:` section, each block used once, in a chain", blocks_section(), 0),
        Case("flow list", "a one-line list of ~75,000 ints in `vars:` (unused)", flow_list(), 0),
        Case("syntax error at end", "chain, flow, with `{` left open at its end", broken_last_line(), 1),
        Case("tab at end", "chain, flow, and a tab between tokens on its last line", tab_last_line(), 1),
        Case("nested repeats", "a block repeated 10,000 times in a node repeated 10,000 times",
             nested_repeats(), 1),
        Case("billion laughs", "10 levels of 10 aliases (10^10 nodes) in `vars:`", billion_laughs(), 1),
    ]  # fmt: skip
    for c in out:
        assert len(c.text.encode()) <= LIMIT, (c.name, len(c.text.encode()))
    return out


# ---------------------------------------------------------------------------- timing
CHILD = """
import contextlib, io, json, sys, time
t0 = time.perf_counter()
from netdsl.cli import main
t1 = time.perf_counter()
c1 = time.process_time()
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["validate", sys.argv[1]])
t2 = time.perf_counter()
c2 = time.process_time()
lines = [line for line in err.getvalue().splitlines() if ": error: " in line]
print(json.dumps({"import": t1 - t0, "validate": t2 - t1, "cpu": c2 - c1, "exit": code,
                  "first": lines[0] if lines else ""}))
"""


@dataclass
class Run:
    total: float  # wall seconds of the whole process
    validate: float  # wall seconds of netdsl.cli.main in it
    cpu: float  # CPU seconds of netdsl.cli.main
    imports: float
    exit: int
    first: str  # the first error line


def run_validate(path: Path) -> Run:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NETDSL_DEBUG", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the child failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return Run(total, r["validate"], r["cpu"], r["import"], r["exit"], r["first"])


def time_loader(text: str, parser: str) -> tuple[float, float, str]:
    from netdsl.core.errors import SpecSyntaxError
    from netdsl.frontend.yaml_loader import load_text

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        load_text(text, "worst.yaml", parser=parser)  # type: ignore[arg-type]
        result = "loaded"
    except SpecSyntaxError as e:
        result = e.message
    return time.perf_counter() - t0, time.process_time() - c0, result


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(rows: list[dict[str, str]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="timed runs of each measurement (median; default 3)")
    p.add_argument("--only", help="comma-separated case names (default: all)")
    p.add_argument("--no-loader", action="store_true", help="skip the libyaml vs pure-Python comparison")
    p.add_argument("--keep", type=Path, help="also write the generated files into this folder")
    args = p.parse_args(argv)

    import yaml

    from netdsl.frontend import yaml_loader

    # (False on a netdsl without the choice of parser: then only `netdsl validate` is timed)
    HAVE_LIBYAML = bool(getattr(yaml_loader, "HAVE_LIBYAML", False))

    selected = cases()
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        selected = [c for c in selected if c.name in wanted]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    validate_rows: list[dict[str, str]] = []
    loader_rows: list[dict[str, str]] = []
    unexpected = 0
    with tempfile.TemporaryDirectory(prefix="netdsl_worst_") as tmp:
        for i, case in enumerate(selected):
            path = Path(tmp) / f"{i:02d}_{case.name.replace(' ', '_').replace(',', '')}.yaml"
            path.write_text(case.text, encoding="utf-8")
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / path.name).write_text(case.text, encoding="utf-8")
            runs = [run_validate(path) for _ in range(args.runs)]
            exits = {r.exit for r in runs}
            ok = exits == {case.exit}
            unexpected += not ok
            first = runs[0].first.split(": error: ", 1)[-1]
            validate_rows.append(
                {
                    "case": case.name,
                    "what": case.what,
                    "bytes": f"{len(case.text.encode()):,}",
                    "exit": ", ".join(map(str, sorted(exits)))
                    + ("" if ok else f" UNEXPECTED (want {case.exit})"),
                    "validate s": f"{statistics.median(r.validate for r in runs):.2f}",
                    "validate CPU s": f"{statistics.median(r.cpu for r in runs):.2f}",
                    "whole process s": f"{statistics.median(r.total for r in runs):.2f}",
                    "first error": (first[:90] + "...") if len(first) > 90 else first or "-",
                }
            )
            print(f"[{case.name}] exit {sorted(exits)}, {validate_rows[-1]['validate s']} s", file=sys.stderr)
            if args.no_loader or not HAVE_LIBYAML:
                continue
            times: dict[str, list[tuple[float, float]]] = {"python": [], "libyaml": []}
            results = {}
            for _ in range(args.runs):  # the two take turns, so that load on the machine hits both alike
                for parser in times:
                    wall, cpu, results[parser] = time_loader(case.text, parser)
                    times[parser].append((wall, cpu))
            assert results["python"] == results["libyaml"], (case.name, results)
            py = statistics.median(c for _, c in times["python"])
            c_ = statistics.median(c for _, c in times["libyaml"])
            loader_rows.append(
                {
                    "case": case.name,
                    "result": "loaded" if results["python"] == "loaded" else "refused (same error)",
                    "pure Python s": f"{statistics.median(w for w, _ in times['python']):.2f}",
                    "pure Python CPU s": f"{py:.2f}",
                    "libyaml s": f"{statistics.median(w for w, _ in times['libyaml']):.2f}",
                    "libyaml CPU s": f"{c_:.2f}",
                    "python / libyaml (CPU)": f"{py / c_:.1f}" if c_ > 0 else "-",
                }
            )
    load_after = os.getloadavg()[0]
    print(
        f"netdsl validate on hostile worst cases; {cpu_name()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PyYAML {yaml.__version__} (libyaml: {HAVE_LIBYAML}); "
        f"medians of {args.runs} runs; load average (1 min) {load_before:.2f} before, {load_after:.2f} "
        f"after; {time.perf_counter() - started:.0f} s in all"
    )
    print()
    print(table(validate_rows))
    if loader_rows:
        print()
        print(table(loader_rows))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())

"""The memory guard: refuse, before allocating anything, a build that cannot fit in memory.

Torch-free. A build needs its parameters and buffers, and for the test forward pass of
``netdsl build`` every activation of the static concrete shapes (an upper bound: torch frees
some of them early). The guard compares this, in bytes at the requested dtype, with the memory
the process may use: the smaller of the cgroup limit (``/sys/fs/cgroup/memory.max``, or
``memory.limit_in_bytes`` of cgroup v1; ``max`` means none) and ``MemAvailable`` of
``/proc/meminfo``. ``--max-memory SIZE`` / ``max_memory=`` / ``$NETDSL_MAX_MEMORY`` override it.

An allocation that fails anyway (``MemoryError``, torch's ``DefaultCPUAllocator: not enough
memory``, CUDA out of memory) becomes a :class:`~netdsl.core.errors.BuildError` at the spec node that
was being built or run (:func:`out_of_memory_error`).
"""

from __future__ import annotations

import linecache
import os
import re
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdsl.core.errors import BuildError, SourceLoc, UsageError, show_value
from netdsl.core.symbolic import Sym
from netdsl.core.types import is_float
from netdsl.ir.graph import Graph, Node
from netdsl.passes.shapes import ShapeResult

ENV = "NETDSL_MAX_MEMORY"

#: bytes per element of each dtype a spec can name
DTYPE_BYTES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int64": 8,
    "int32": 4,
    "bool": 1,
}

#: size suffixes: K/M/G/T and KiB/MiB/... are powers of 1024, KB/MB/... powers of 1000
_UNITS: dict[str, int] = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _UNITS[_p] = _UNITS[_p + "ib"] = 1024**_i
    _UNITS[_p + "b"] = 1000**_i
_SIZE = re.compile(r"([0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})[ ]?([a-z]{0,3})", re.ASCII)
MAX_SIZE = 2**63 - 1
UNITS_HINT = (
    "a number of bytes with an optional unit: K, M, G, T (or KiB, MiB, GiB, TiB; powers of 1024), "
    "KB, MB, GB, TB (powers of 1000)"
)

#: cgroup files with the memory limit of this process (v2, then v1)
CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
MEMINFO = "/proc/meminfo"
_NO_LIMIT = 2**60  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def parse_size(text: str, what: str = "--max-memory") -> int:
    """Bytes of a size like ``8G``, ``512M``, ``1.5GiB`` or ``1000000``; UsageError if it is not one."""
    if not isinstance(text, str):
        raise UsageError(f"{what}: expected a size like 8G, got {text!r}", hint=UNITS_HINT)
    m = _SIZE.fullmatch(text.strip().lower()) if text.isascii() else None
    if m is None or m.group(2) not in _UNITS:
        raise UsageError(
            f"{what}: expected a size like 8G, 512M or 1.5GiB, got {show_value(text)}", hint=UNITS_HINT
        )
    number: str = m.group(1)
    unit: int = _UNITS[m.group(2)]
    whole, _, frac = number.partition(".")
    scale: int = 10 ** len(frac)
    n = (int(whole or "0") * scale + int(frac or "0")) * unit // scale  # exact: no float rounding
    if n < 1:
        raise UsageError(f"{what}: the size must be positive, got {show_value(text)}")
    if n > MAX_SIZE:
        raise UsageError(f"{what}: {show_value(text)} is more than any machine has (at most 8 EiB)")
    return n


def format_size(n: int) -> str:
    """``6.0 GiB``, ``512.0 MiB``, ``100 B``."""
    for unit, exp in (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 2**exp:
            return f"{n / 2**exp:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Budget:
    """The memory a build may use: ``limit`` bytes (None: not known, no guard) and where it came from."""

    limit: int | None
    source: str


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def cgroup_limit(files: Sequence[str] | None = None) -> tuple[int, str] | None:
    """The memory limit of this process's cgroup in bytes and the file it came from (None: no limit)."""
    best: tuple[int, str] | None = None
    for path in CGROUP_FILES if files is None else files:
        text = _read(path)
        if text is None:
            continue
        text = text.strip()
        if not text.isascii() or not text.isdigit():  # "max": no limit
            continue
        n = int(text)
        if 0 < n < _NO_LIMIT and (best is None or n < best[0]):
            best = (n, path)
    return best


def mem_available(path: str | None = None) -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes (None where there is none)."""
    text = _read(MEMINFO if path is None else path)
    if text is None:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemAvailable":
            parts = value.split()
            if parts and parts[0].isascii() and parts[0].isdigit():
                factor = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
                return int(parts[0]) * factor
    return None


def system_budget() -> Budget:
    """The smaller of the cgroup limit and MemAvailable (no limit where neither can be read)."""
    found: list[tuple[int, str]] = []
    cg = cgroup_limit()
    if cg is not None:
        found.append((cg[0], f"the cgroup limit in {cg[1]}"))
    avail = mem_available()
    if avail is not None:
        found.append((avail, f"MemAvailable in {MEMINFO}"))
    if not found:
        return Budget(None, "no memory limit known on this system")
    limit, source = min(found)
    return Budget(limit, source)


def memory_budget(
    override: int | str | None = None, env: Mapping[str, str] | None = None, *, what: str = "max_memory"
) -> Budget:
    """The budget: ``override`` (bytes or a size text, from --max-memory / ``max_memory=``; ``what``
    names it in errors), else ``$NETDSL_MAX_MEMORY``, else :func:`system_budget`."""
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, int | str):
            raise UsageError(f"{what}: expected a number of bytes or a size like '8G', got {override!r}")
        if isinstance(override, int):
            if not 1 <= override <= MAX_SIZE:
                raise UsageError(f"{what}: expected a positive number of bytes below 2**63, got {override!r}")
            return Budget(override, f"{what}={override}")
        shown = f"{what} {override.strip()}" if what.startswith("--") else f"{what}={override.strip()!r}"
        return Budget(parse_size(override, what), shown)
    environ = os.environ if env is None else env
    value = environ.get(ENV, "")
    if value.strip():
        return Budget(parse_size(value, ENV), f"{ENV}={value.strip()}")
    return system_budget()


def _numel(shape: Iterable[Sym]) -> int | None:
    n = 1
    for d in shape:
        if not d.is_const:
            return None
        n *= d.value
    return n


def dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"unknown dtype {dtype!r}", expected=list(DTYPE_BYTES))
    return DTYPE_BYTES[dtype]


def param_bytes(shapes: ShapeResult, dtype: str = "float32") -> int:
    """Bytes of every parameter and buffer (with static sizes) at ``dtype``."""
    size = dtype_bytes(dtype)
    total = 0
    for specs in shapes.params.values():
        for p in specs.values():
            n = _numel(p.shape)
            if n is not None:
                total += n * size
    return total


def activation_bytes(concrete: ShapeResult, dtype: str | None = None) -> int:
    """Bytes of every input and node output of one forward pass (static concrete shapes; symbolic
    ones count 0). Floating-point tensors count at ``dtype`` when given, others at their own."""
    total = 0
    for types in concrete.types.values():
        for t in types:
            n = _numel(t.shape)
            if n is None:
                continue
            own = dtype if dtype is not None and is_float(t.dtype) else t.dtype
            total += n * DTYPE_BYTES.get(own, 8)
    return total


def tensor_bytes(shapes: Iterable[Sequence[int]], dtype: str = "float32") -> int:
    total = 0
    for shape in shapes:
        n = 1
        for d in shape:
            n *= d
        total += n * DTYPE_BYTES.get(dtype, 8)
    return total


HOW_TO_OVERRIDE = (
    f"if the memory is there, set the limit: --max-memory SIZE (netdsl build), max_memory=SIZE "
    f"(netdsl.build) or {ENV}=SIZE, e.g. 64G"
)


def check_fits(
    budget: Budget,
    loc: SourceLoc,
    *,
    params: int = 0,
    activations: int = 0,
    inputs: int = 0,
    what: str = "building this network",
    smaller: str = "use smaller sizes (--input-shape, --dim)",
) -> None:
    """Raise BuildError when ``params + activations + inputs`` bytes exceed the budget."""
    need = params + activations + inputs
    if budget.limit is None or need <= budget.limit:
        return
    parts = []
    if params:
        parts.append(f"{format_size(params)} of parameters and buffers")
    if activations:
        parts.append(f"{format_size(activations)} of activations for one forward pass")
    if inputs:
        parts.append(f"{format_size(inputs)} of input tensors")
    raise BuildError(
        f"{what} needs {format_size(need)} of memory ({' + '.join(parts)}), "
        f"but {format_size(budget.limit)} is available ({budget.source})",
        loc,
        hint=f"{smaller}; {HOW_TO_OVERRIDE}" if activations or inputs else HOW_TO_OVERRIDE,
    )


# ---------------------------------------------------------------- allocation failures

_OOM_TEXT = (
    "DefaultCPUAllocator",
    "not enough memory",
    "out of memory",
    "can't allocate memory",
    "Cannot allocate memory",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """A failed allocation: MemoryError, torch.OutOfMemoryError, or torch's allocator RuntimeError."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc)
        return any(s in text for s in _OOM_TEXT)
    return False


def _spec_node_of_fx(name: str, fx_nodes: Sequence[Any]) -> str | None:
    """The spec node an fx node belongs to (its ``meta["netdsl"]``, set by the lowering)."""
    for n in fx_nodes:
        if getattr(n, "name", None) == name:
            meta = getattr(n, "meta", {}).get("netdsl")
            return str(meta["node"]) if meta else None
    return None


def failed_node(exc: BaseException, graph: Graph, module: Any = None) -> Node | None:
    """The spec node being built or run when ``exc`` was raised, from its traceback: the ``node``
    of :func:`netdsl.backend.lower.lower`, the fx node of an ``fx.Interpreter``, or the line of the
    generated ``forward`` (``module``: the GraphModule, to map fx names back to spec nodes)."""
    nodes = graph.node_map()
    fx_graph = getattr(module, "graph", None)
    fx_nodes = list(getattr(fx_graph, "nodes", ()))
    for frame, lineno in reversed(list(traceback.walk_tb(exc.__traceback__))):
        local = frame.f_locals.get("node")
        if isinstance(local, Node) and local.id in nodes:
            return nodes[local.id]
        name = getattr(local, "name", None)
        if isinstance(name, str) and getattr(local, "graph", None) is not None and fx_nodes:
            nid = _spec_node_of_fx(name, fx_nodes)
            if nid in nodes:
                return nodes[nid]
        if "eval_with_key" in frame.f_code.co_filename and fx_nodes:
            line = linecache.getline(frame.f_code.co_filename, lineno)
            var, eq, _ = line.strip().partition(" = ")
            if eq and var.isidentifier():
                nid = _spec_node_of_fx(var, fx_nodes)
                if nid in nodes:
                    return nodes[nid]
    return None


def out_of_memory_error(
    exc: BaseException, graph: Graph, phase: str, module: Any = None, budget: Budget | None = None
) -> BuildError:
    """The BuildError for an allocation that failed while ``phase`` (e.g. 'building the module')."""
    node = failed_node(exc, graph, module)
    text = str(exc).strip().splitlines()
    detail = next((ln.strip() for ln in text if "memory" in ln.lower() or "allocat" in ln.lower()), "")
    if not detail and text:
        detail = text[0].strip()
    if len(detail) > 200:
        detail = detail[:197] + "..."
    where = f" (node {node.id!r}, op {node.op})" if node is not None else ""
    available = (
        f"; {format_size(budget.limit)} was available ({budget.source})" if budget and budget.limit else ""
    )
    return BuildError(
        f"out of memory while {phase}{where}: {detail or type(exc).__name__}{available}",
        node.loc if node is not None else SourceLoc(graph.file),
        hint="use smaller sizes (--input-shape, --dim), or free memory; --max-memory / "
        f"{ENV} set the memory netdsl assumes it has",
    )

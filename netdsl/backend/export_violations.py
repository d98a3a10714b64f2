"""torch's complaints about an export (see :mod:`netdsl.backend.export`): its constraint-violation
messages read (:class:`Violation`: the dims, the guards in the spec's names, the suggested fixes),
the errors for what netdsl cannot fix, and the exporter's other failures, which name the spec
node that raised them."""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from torch import fx

from netdsl.backend.provenance import NOTE_PREFIX, describe, spec_origin
from netdsl.core.errors import BuildError


@dataclass
class Violation:
    """torch.export's constraint violation, read: the dims it names, its guards (one line each, in
    the spec's names) and its suggested fixes (``H = Dim('H', min=63)``, ``H = 224``,
    ``H = 2*_H``, ``W = H``)."""

    dims: list[str]
    guards: list[str]
    fixes: list[str]


_VIOLATED = re.compile(r"Constraints violated \(([^)]*)\)")
_SIZE_REF = re.compile(r"L\['(\w+)'\]\.size\(\)\[(\d+)\]")
FIX_RANGE = re.compile(r"^(\w+) = Dim\('(\w+)'((?:, \w+=\w+)*)\)$")
FIX_VALUE = re.compile(r"^(\w+) = (\d+)$")
FIX_FORM = re.compile(r"^(\w+) = (?:(\d+)\*)?([A-Za-z_]\w*)(?: ([+-]) (\d+))?$")


def read_violation(text: str, names: Mapping[tuple[str, int], str] | None = None) -> Violation | None:
    """torch.export's constraint-violation message read (None when ``text`` is not one). ``names``
    maps (input, axis) to the entry of the spec (``H``), used to write the guards."""
    m = _VIOLATED.search(text)
    if m is None and "Suggested fixes:" not in text:
        return None
    dims = [d.strip() for d in m.group(1).split(",")] if m else []

    def spec_names(s: str) -> str:
        s = _SIZE_REF.sub(lambda r: (names or {}).get((r.group(1), int(r.group(2))), r.group(0)), s)
        return re.sub(r"\b(\w+) = \1\b", r"\1", s).replace("IntInfinity()", "oo")

    guards: list[str] = []
    fixes: list[str] = []
    in_fixes = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Suggested fixes:"):
            in_fixes = True
            continue
        if in_fixes:
            if not line or not (FIX_RANGE.match(line) or FIX_VALUE.match(line) or FIX_FORM.match(line)):
                in_fixes = bool(line) and "=" in line and not line.startswith("The error")
                if not in_fixes:
                    continue
            fixes.append(line)
        elif line.startswith("- "):
            g = re.search(r"satisfy the generated guard (.*)$", line)
            if g:
                dim = re.match(r"- Not all values of (\w+)", line)
                guards.append(f"{dim.group(1) if dim else '?'}: {spec_names(g.group(1)).rstrip('.')}")
            elif "specialized it to be a constant" in line:
                c = re.match(r"- You marked (\w+) as dynamic .*? constant \((\d+)\)", line)
                if c:
                    guards.append(f"{c.group(1)}: the network only works at {c.group(1)} = {c.group(2)}")
            elif "must always be equal" in line:
                guards.append(spec_names(line[2:]).rstrip("."))
            else:
                guards.append(spec_names(line[2:])[:300])
    return Violation(dims, guards, fixes)


def static_refused(name: str, value: int, v: Violation) -> BuildError:
    """The error for a dim the caller asked to be dynamic that torch.export specialises to ``value``."""
    return BuildError(
        f"dim {name} cannot be dynamic: torch.export traces a program that only works at {name} = {value}"
        + (f" ({'; '.join(v.guards[:3])})" if v.guards else ""),
        hint=f"export with --dynamic naming the other dims only, or with --dim {name}=N for another size",
    )


def violation_error(v: Violation, what: str = "torch.export", origin: str | None = None) -> BuildError:
    """The error for a refusal netdsl cannot fix: the dims and torch's guards, in the spec's names;
    ``origin``: the spec node whose tracing raised it (:func:`failure_origin`), when known."""
    dims = ", ".join(v.dims) or "the dynamic dims"
    shown = v.guards[:6] + ([f"... {len(v.guards) - 6} more"] if len(v.guards) > 6 else [])
    fixes = f"; torch suggests: {', '.join(v.fixes)}" if v.fixes else ""
    return BuildError(
        f"{what} cannot make {dims} dynamic over the ranges netdsl gave: "
        + "; ".join(shown)
        + fixes
        + _origin_text(origin),
        hint="export with --dynamic naming fewer dims (--dynamic none: static), or give other example "
        "sizes with --dim",
    )


def export_failed(e: BaseException, what: str = "torch.export") -> BuildError:
    """A failure of the exporter that is not about sizes: its first lines, and the spec node that
    raised it (``(raised by spec node 'stem' (conv2d) at specs/tiny_cnn.yaml:36:3)``), when known."""
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    text = " ".join(lines[:4])[:800] or type(e).__name__
    return BuildError(
        f"{what} failed: {type(e).__name__}: {text}{_origin_text(failure_origin(e))}",
        hint="export with fewer dynamic dims (--dynamic B: the batch only; --dynamic none: static); "
        "NETDSL_DEBUG=1 shows torch's traceback",
    )


def failure_origin(e: BaseException) -> str | None:
    """The spec node an exception raised while exporting came from, as
    :func:`~netdsl.backend.provenance.spec_origin` writes it (``netdsl: raised by spec node ...``):
    the frames of netdsl's generated code it went through, or else the fx node that torch.export's
    ``fx.Interpreter`` was running (torch.export runs a GraphModule node by node, not through its
    generated forward); the exceptions it was raised from are looked at too. None: not known."""
    seen: set[int] = set()
    exc: BaseException | None = e
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        origin = spec_origin(exc) or _interpreter_origin(exc)
        if origin is not None:
            return origin
        exc = exc.__cause__
    return None


def _interpreter_origin(e: BaseException) -> str | None:
    """The spec node of the innermost fx node an ``fx.Interpreter`` was running in ``e``'s traceback."""
    for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))):
        runner, node = frame.f_locals.get("self"), frame.f_locals.get("n")
        if not isinstance(runner, fx.Interpreter) or not isinstance(node, fx.Node):
            continue
        meta = node.meta.get("netdsl")
        if meta and "loc" in meta:
            owner = getattr(runner.module, "meta", None)
            check = owner.get("netdsl", {}).get("check") if isinstance(owner, dict) else None
            return describe(meta, check)
    return None


def _origin_text(origin: str | None) -> str:
    """`` (raised by spec node 'x' (conv2d) at file:line:col; in block instance ...)``, or ``""``."""
    if origin is None:
        return ""
    lines = [ln.strip() for ln in origin.removeprefix(NOTE_PREFIX).splitlines() if ln.strip()]
    return f" (raised by {'; '.join(lines)})"

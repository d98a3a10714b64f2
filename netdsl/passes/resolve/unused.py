"""Warnings about nodes that no output uses, computed over a resolved body: from the references
of its nodes' `in:` (as parsed when the body was ordered) and of its outputs (as evaluated)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netdsl.core.errors import ErrorCollector, PathT
from netdsl.frontend.schema import NodeSpec
from netdsl.frontend.yaml_loader import Doc
from netdsl.ops import REGISTRY
from netdsl.passes.resolve.symbols import Failed, Off, Table
from netdsl.passes.resolve.wiring import Wires


def _prefixes(text: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: a reference names one of them (node names may hold
    dots: ``layer2.0.y`` is output ``y`` of the node ``layer2.0``)."""
    parts = text.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def used_names(wires: Mapping[str, Wires], outputs: Iterable[str]) -> set[str]:
    """The names that the nodes' `in:` (``wires``) and the body's ``outputs`` (as evaluated) use:
    each reference and every node it may name (``a.b.c`` uses ``a.b.c``, ``a.b`` and ``a``)."""
    used: set[str] = set()
    for w in wires.values():
        if type(w) is tuple:
            for r in w:
                used.update(_prefixes(r.text))
    for text in outputs:
        used.update(_prefixes(text))
    return used


def warn_unused(
    specs: Mapping[str, NodeSpec],
    paths: Mapping[str, PathT],
    table: Table,
    used: set[str],
    doc: Doc,
    errors: ErrorCollector,
) -> None:
    """Warn about each node of a body (``specs``, at ``paths``) that resolved (not switched off, not
    failed) but is not ``used``; ops whose OpDef says so (``warn_if_unused=False``) and nodes with
    `expect:` are fine."""
    for name, spec in specs.items():
        if (
            name not in used
            and name in table
            and not isinstance(table[name], Off | Failed)
            and (spec.op not in REGISTRY or REGISTRY[spec.op].warn_if_unused)
            and not spec.expect
        ):
            errors.warn(f"node {name!r} is not used by any output", doc.key_loc(paths[name]))

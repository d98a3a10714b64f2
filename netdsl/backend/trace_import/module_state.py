"""The module's state_dict against the imported nodes: keys netdsl can name (module paths), entries
no traced call uses, the nodes to keep (those an output needs, and those that own state), and where
each module path's first state_dict key is (the writer orders the spec's nodes by it)."""

from __future__ import annotations

import re

from torch import nn

from netdsl.backend.import_graph import ImportedNode, TRef, UnsupportedCall

#: a state_dict key netdsl can name: a module path
_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


def _check_keys(module: nn.Module) -> None:
    """UnsupportedCall when a state_dict key of ``module`` is not a module path netdsl can name."""
    bad = [k for k in module.state_dict() if not _PATH.match(k)]
    if bad:
        shown = ", ".join(bad[:4]) + (f", ... ({len(bad)} in all)" if len(bad) > 4 else "")
        raise UnsupportedCall(
            f"cannot import {type(module).__name__}: state_dict keys netdsl cannot name: {shown}",
            hint="netdsl module paths are letters, digits and '_' with '.' between parts; rename the "
            "submodules (the keys of a spec are its node paths)",
        )


def _unowned_state(module: nn.Module, nodes: list[ImportedNode]) -> UnsupportedCall | None:
    """Every entry of the module's state_dict must belong to an imported node: the error naming those
    that do not, or None."""
    owned = {n.module for n in nodes if n.module is not None and n.stateful}
    missing = []
    for key in module.state_dict():
        owner = key.rpartition(".")[0]
        if key not in owned and owner not in owned:
            missing.append(key)
    if not missing:
        return None
    shown = ", ".join(missing[:6]) + (f", ... ({len(missing)} in all)" if len(missing) > 6 else "")
    return UnsupportedCall(
        f"cannot import {type(module).__name__}: state_dict entries that no traced call uses: {shown}",
        hint="a module that forward() never calls (or calls only on a branch not traced) has no "
        "node in the spec",
    )


def _live(nodes: list[ImportedNode], outputs: list[TRef]) -> list[ImportedNode]:
    """The nodes an output needs, and every node that owns state (its keys must stay)."""
    by_name = {n.name: n for n in nodes}
    keep: set[str] = set()
    stack = [r.node for r in outputs] + [n.name for n in nodes if n.stateful]
    while stack:
        name = stack.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        stack.extend(r.node for r in by_name[name].inputs)
    return [n for n in nodes if n.name in keep]


def _module_rank(module: nn.Module) -> dict[str, int]:
    """A module or tensor path -> where its first state_dict key is."""
    rank: dict[str, int] = {}
    for i, key in enumerate(module.state_dict()):
        parts = key.split(".")
        for k in range(1, len(parts) + 1):
            rank.setdefault(".".join(parts[:k]), i)
    return rank

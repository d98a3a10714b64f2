"""Groups of nodes (a node with `nodes:`), flattened: each member becomes a node of the enclosing
body under its own name, with the `when:` of every group around it (its *guards*) and its path in
the spec (for locations)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netdsl.core.errors import PathT
from netdsl.frontend.schema import NodeSpec

Guard = tuple[bool | str, PathT]  # a group's `when:` and the group's path in the body


@dataclass(frozen=True, slots=True)
class Member:
    """A node of a body once its groups are flattened."""

    spec: NodeSpec
    #: its path in the body (``("nodes", "sr", "nodes", "q")`` for node ``q`` of group ``sr``)
    path: PathT
    #: the `when:` of the groups it is in, outermost first
    guards: tuple[Guard, ...] = ()


def flatten(nodes: Mapping[str, NodeSpec]) -> dict[str, Member]:
    """The body's nodes with every group replaced by its members, in the order written. A name
    written twice keeps its first node (the validation reports the second)."""
    out: dict[str, Member] = {}
    _add(nodes, ("nodes",), (), out)
    return out


def _add(
    nodes: Mapping[str, NodeSpec], base: PathT, guards: tuple[Guard, ...], out: dict[str, Member]
) -> None:
    for name, spec in nodes.items():
        path = (*base, name)
        if spec.nodes is None:
            out.setdefault(name, Member(spec, path, guards))
            continue
        inner = guards if spec.when is None else (*guards, (spec.when, path))
        _add(spec.nodes, (*path, "nodes"), inner, out)


def has_groups(nodes: Mapping[str, NodeSpec]) -> bool:
    return any(spec.nodes is not None for spec in nodes.values())

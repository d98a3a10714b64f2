"""The context objects of expansion: :class:`Ctx` (one per body being resolved), :class:`Site`
(one per node of it) and :class:`Plan` (what a body needs, worked out once per body)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from netdsl.core.errors import PathT, SourceLoc
from netdsl.frontend.library import BlockSource
from netdsl.frontend.schema import BlockBody, NodeSpec
from netdsl.frontend.yaml_loader import Doc
from netdsl.ir.graph import Ref, Scope
from netdsl.passes.resolve.symbols import Table
from netdsl.passes.resolve.wiring import Wires


@dataclass(frozen=True, slots=True)
class Ctx:
    """Where a body is resolved: its file and path there, its environment, the inline blocks in
    sight, the scope its nodes belong to, the blocks it is nested in, and ``scale``: how many times
    it is instantiated (the product of the enclosing repeat counts)."""

    doc: Doc
    base: PathT
    env: Mapping[str, Any]
    inline: Mapping[str, BlockSource]
    scope: Scope
    stack: tuple[str, ...]
    scale: int = 1


class Site(NamedTuple):
    """One node of a body as it is resolved: its body's context, name, spec, spec path and location,
    and the body's symbol table, named outputs (of its block instances) so far and plan. (Immutable;
    a named tuple, not a frozen dataclass: one is made per node, and it is 3x quicker to make.)"""

    ctx: Ctx
    name: str
    spec: NodeSpec
    path: PathT
    loc: SourceLoc
    table: Table
    named: dict[str, dict[str, Ref]]
    plan: Plan


@dataclass
class Plan:
    """What instantiating a body needs that does not depend on the values of its variables: worked
    out once per body, so that the copies of a repeated block do not read its nodes again."""

    body: BlockBody  # (kept alive: its id keys the resolver's cache)
    doc: Doc
    #: the body's nodes, groups flattened (:mod:`.groups`), and the `when:` of the groups of each
    #: node in one (condition, path of the group)
    specs: dict[str, NodeSpec]
    guards: dict[str, tuple[tuple[bool | str, PathT], ...]]
    names: list[str]
    index: dict[str, int]
    #: each node's path, attributes (NodeSpec.attrs makes a new dict per call) and whether they hold
    #: no expression (then they are their own value)
    paths: dict[str, PathT]
    attrs: dict[str, dict[str, Any]]
    plain_attrs: dict[str, bool]
    #: attrs_key of the plain attributes (their key as models are cached), by node
    attr_keys: dict[str, Any]
    #: the variables each node's `in:` uses
    in_names: dict[str, frozenset[str]]
    #: each node's `in:` parsed, when no `in:` of the body has an expression (else None)
    wires: dict[str, Wires] | None
    plain_outputs: bool
    #: the order of the nodes, by the names of the body's inputs (when every `in:` is plain)
    orders: dict[frozenset[str], list[str]] = field(default_factory=dict)
    #: the names that `in:` and the outputs use (when they are all plain)
    used: set[str] | None = None

"""Provenance, torch-free: where a ``state_dict()`` key, a module path or a block instance of a
built module is written in the spec (``netdsl where``), and the chain of block instances it lies in.

A built module's parameter keys are ``<node path>.<parameter>`` and its module paths are the spec's
node paths, so the static shapes of a spec (:class:`~netdsl.passes.shapes.ShapeResult`) answer for
every name a user meets in a checkpoint, a profile or an error, without building anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from netdsl.core.errors import ContextFrame, NetdslError, SourceLoc, UsageError, show_value
from netdsl.core.suggest import did_you_mean
from netdsl.core.symbolic import format_shape
from netdsl.ir.graph import Node, Scope
from netdsl.passes.shapes import ShapeResult

Kind = Literal["parameter", "buffer", "node", "block instance", "input"]

#: prefixes that wrappers put before the keys of a module (DataParallel, torch.compile, Lightning)
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


@dataclass(frozen=True)
class Origin:
    """Where ``key`` comes from: a parameter or buffer (of ``node``), a node, a block instance (whose
    entry is ``loc``) or an input of the network."""

    key: str
    kind: Kind
    loc: SourceLoc
    what: str  # one line: "parameter 'weight' (64, 3, 7, 7) of conv2d node 'stem'"
    node: str | None = None
    #: the block instances around it, outermost first
    chain: list[ContextFrame] = field(default_factory=list)
    note: str | None = None  # e.g. the wrapper prefix that was dropped

    def render(self) -> str:
        lines = [f"{self.key}: {self.what}", f"  {self.loc.file}:{self.loc.line}:{self.loc.col}"]
        excerpt = self.loc.excerpt()
        if excerpt:
            lines += ["    " + line for line in excerpt.splitlines()]
        lines += ["  " + frame.render() for frame in reversed(self.chain)]  # innermost first
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "kind": self.kind,
            "what": self.what,
            "node": self.node,
            "file": self.loc.file,
            "line": self.loc.line,
            "column": self.loc.col,
            "path": self.loc.dotted,
            "instances": [f.to_dict() for f in self.chain],
            "note": self.note,
        }


def _instances(scope: Scope) -> list[ContextFrame]:
    """The block instances ``scope`` lies in (itself included), outermost first; the root network
    is not one."""
    out = []
    for s in scope.chain():
        if s.parent is None or s.block is None:
            continue
        copy = ""
        if s.repeat and s.repeat[2] > 1:
            copy = f", copy {s.repeat[1]} of {s.repeat[2]} of {s.entry or s.repeat[0]}"
        out.append(ContextFrame(f"block instance {s.path or s.entry} of {s.block}{copy}", s.loc))
    return out


def _scopes(shapes: ShapeResult) -> dict[str, Scope]:
    """Every block instance with a module path of its own, by that path."""
    out: dict[str, Scope] = {}
    for node in shapes.graph.nodes:
        for s in node.scope.chain():
            if s.parent is not None and s.path:
                out.setdefault(s.path, s)
    return out


def _names(shapes: ShapeResult, scopes: dict[str, Scope]) -> Iterator[str]:
    yield from (gi.name for gi in shapes.graph.inputs)
    for node in shapes.graph.nodes:
        yield node.id
        for name in shapes.params.get(node.id, {}):
            yield f"{node.id}.{name}"
    yield from scopes


def _lookup(shapes: ShapeResult, nodes: dict[str, Node], scopes: dict[str, Scope], key: str) -> Origin | None:
    if key in nodes:
        node = nodes[key]
        return Origin(key, "node", node.loc, f"{node.op} node", key, _instances(node.scope))
    owner, _, name = key.rpartition(".")
    if owner in nodes and name in shapes.params.get(owner, {}):
        node, spec = nodes[owner], shapes.params[owner][name]
        what = f"{spec.kind} {name!r} {format_shape(spec.shape)} of {node.op} node {owner!r}"
        return Origin(key, spec.kind, node.loc, what, owner, _instances(node.scope))
    if key in scopes:
        s = scopes[key]
        chain = _instances(s)
        return Origin(key, "block instance", s.loc, f"block instance of {s.block}", None, chain[:-1])
    for gi in shapes.graph.inputs:
        if gi.name == key:
            return Origin(key, "input", gi.loc, f"input {gi.dtype} {format_shape(tuple(gi.shape))}")
    return None


def where(shapes: ShapeResult, key: str) -> Origin:
    """The origin of ``key`` (a ``state_dict()`` key, a node or module path, a block instance's path
    or an input name); a key with a wrapper's prefix (``module.``, ``_orig_mod.``) is found with a
    note. :class:`UsageError` with the closest names for a key the spec does not have."""
    nodes = shapes.graph.node_map()
    scopes = _scopes(shapes)
    found = _lookup(shapes, nodes, scopes, key)
    if found is not None:
        return found
    for prefix in WRAPPER_PREFIXES:
        if key.startswith(prefix) and (inner := _lookup(shapes, nodes, scopes, key[len(prefix) :])):
            note = f"{prefix!r} dropped: a wrapper's prefix, not part of the spec's keys"
            return Origin(key, inner.kind, inner.loc, inner.what, inner.node, inner.chain, note)
    raise UsageError(
        f"{show_value(key)} is no parameter, buffer, node, block instance or input of {shapes.graph.name}",
        hint=did_you_mean(key, _names(shapes, scopes)),
    )


def where_all(shapes: ShapeResult, keys: list[str]) -> tuple[list[Origin], list[NetdslError]]:
    """:func:`where` of each key: the origins found and an error for each key not found."""
    found: list[Origin] = []
    errors: list[NetdslError] = []
    for key in keys:
        try:
            found.append(where(shapes, key))
        except UsageError as e:
            errors.append(e)
    return found, errors

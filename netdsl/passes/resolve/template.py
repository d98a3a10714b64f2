"""Templates of repeated block instances: the first copy of a repeated block instance as resolved;
its copies with the same parameters and kind of inputs have the same nodes and scopes, at other
module paths and on other inputs, and are stamped out from it instead of being resolved again."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netdsl.core.errors import PathT, SourceLoc
from netdsl.ir.graph import Entry, Node, Ref, Scope
from netdsl.passes.resolve.values import attrs_key

BlockOuts = list[tuple[str, Ref, SourceLoc]]


@dataclass
class Template:
    keep: tuple[object, ...]  # the objects whose ids are in its key (kept alive, compared on use)
    path: str  # the module path of the copy
    scope: Scope  # its scope; then the scopes below it, each after its parent
    scopes: list[Scope]
    nodes: list[Node]  # the nodes it made, in order
    outs: BlockOuts
    #: the refs its parts use: (the id suffix after its path, index) of its own nodes' outputs, else
    #: the name of the block input; and by part, the positions of its refs in this list
    refs: list[tuple[str, int] | str]
    node_refs: list[list[int]]
    scope_refs: list[dict[str, int]]
    entry_refs: list[list[list[int]]]
    out_refs: list[int]
    #: the constructor arguments of each part (its dataclass fields, in order), copies changing some
    node_args: list[list[Any]]
    scope_args: list[list[Any]]
    entry_args: list[list[list[Any]]]


def _init_fields(cls: type) -> dict[str, int]:
    """A dataclass's fields and their positions in its constructor ({} when some field is not one of
    its arguments: its instances are then not copied by calling it)."""
    fields = dataclasses.fields(cls)
    return {f.name: i for i, f in enumerate(fields)} if all(f.init for f in fields) else {}


_NODE_FIELDS, _SCOPE_FIELDS, _ENTRY_FIELDS = _init_fields(Node), _init_fields(Scope), _init_fields(Entry)
#: whether copies can be stamped out: the fields a copy changes are there, all set by the constructors
STAMPABLE = (
    {"id", "scope", "inputs", "init", "init_locs", "expect"} <= _NODE_FIELDS.keys()
    and {"path", "parent", "repeat", "input_refs", "input_decls", "dim_params", "params", "entries"}
    <= _SCOPE_FIELDS.keys()
    and {"path", "outputs"} <= _ENTRY_FIELDS.keys()
)


def template_key(
    keep: tuple[object, ...],
    path: PathT,
    stack: tuple[str, ...],
    scale: int,
    has_in: bool,
    attrs: dict[str, Any],
    inputs: dict[str, Ref],
) -> tuple[object, ...] | None:
    """What resolving a block instance depends on, but its module path and the refs of its inputs:
    the block's definition, its file, where it is used and how (nesting, repeats), its parameters'
    values and which inputs are connected, and which of them are the same tensor."""
    values = attrs_key(attrs)
    if values is None:
        return None
    refs = list(inputs.values())
    same = tuple(refs.index(r) for r in refs)
    return (*map(id, keep), path, stack, scale, has_in, values, tuple(inputs), same)


def make_template(
    keep: tuple[object, ...], scope: Scope, nodes: list[Node], outs: BlockOuts
) -> Template | None:
    """The template of a block instance (``scope``, the ``nodes`` it made, its ``outs``), or None when
    its parts are not where copies can be made from them (all below its path, plain objects)."""
    prefix = scope.path + "."
    scopes = [scope]
    seen = {id(scope)}
    if not STAMPABLE:
        return None  # (copies are made by the constructors from all the fields: there must be no others)
    for n in nodes:
        if not n.id.startswith(prefix):
            return None
        chain: list[Scope] = []
        s: Scope | None = n.scope
        while s is not None and id(s) not in seen:
            chain.append(s)
            s = s.parent
        if s is None:
            return None  # (a node outside the instance)
        for s in reversed(chain):
            if not s.path.startswith(prefix) or (s.repeat is not None and not s.repeat[0].startswith(prefix)):
                return None
            seen.add(id(s))
            scopes.append(s)
    for s in scopes:
        if any(not e.path.startswith(prefix) for e in s.entries):
            return None
    cut = len(scope.path)
    inputs = {r: name for name, r in scope.input_refs.items()}  # (equal refs: any of their names)
    table: list[tuple[str, int] | str] = []
    where: dict[Ref, int] = {}

    def at(r: Ref) -> int:
        i = where.get(r)
        if i is None:
            if r.node.startswith(prefix):
                table.append((r.node[cut:], r.index))
            elif r in inputs:
                table.append(inputs[r])
            else:
                raise KeyError(r)
            i = where[r] = len(table) - 1
        return i

    try:
        node_refs = [[at(r) for r in n.inputs] for n in nodes]
        scope_refs = [{} if s is scope else {k: at(r) for k, r in s.input_refs.items()} for s in scopes]
        entry_refs = [[[at(r) for r in e.outputs] for e in s.entries] for s in scopes]
        out_refs = [at(r) for _, r, _ in outs]
    except KeyError:
        return None  # (a ref neither to its own nodes nor to its inputs)
    return Template(
        keep,
        scope.path,
        scope,
        scopes,
        list(nodes),
        list(outs),
        table,
        node_refs,
        scope_refs,
        entry_refs,
        out_refs,
        [[getattr(n, f) for f in _NODE_FIELDS] for n in nodes],
        [[getattr(s, f) for f in _SCOPE_FIELDS] for s in scopes],
        [[[getattr(e, f) for f in _ENTRY_FIELDS] for e in s.entries] for s in scopes],
    )


def stamp(
    tpl: Template, path: str, parent: Scope, inputs: Mapping[str, Ref], repeat: tuple[str, int, int]
) -> tuple[list[Node], BlockOuts]:
    """A copy of the block instance ``tpl`` at module path ``path`` under ``parent`` on ``inputs``:
    its nodes (their scopes made too) and its outputs, as resolving it would make them."""
    cut = len(tpl.path)
    refs = [inputs[r] if isinstance(r, str) else Ref(path + r[0], r[1]) for r in tpl.refs]
    si, ei, ni = _SCOPE_FIELDS, _ENTRY_FIELDS, _NODE_FIELDS
    scopes: dict[int, Scope] = {}
    for s, args, s_refs, e_refs, e_args in zip(
        tpl.scopes, tpl.scope_args, tpl.scope_refs, tpl.entry_refs, tpl.entry_args, strict=True
    ):
        a = list(args)
        if s is tpl.scope:
            a[si["path"]], a[si["parent"]], a[si["repeat"]] = path, parent, repeat
            a[si["input_refs"]] = dict(inputs)
        else:
            assert s.parent is not None
            a[si["path"]], a[si["parent"]] = path + s.path[cut:], scopes[id(s.parent)]
            a[si["input_refs"]] = {k: refs[i] for k, i in s_refs.items()}
            if s.repeat is not None:
                a[si["repeat"]] = (path + s.repeat[0][cut:], s.repeat[1], s.repeat[2])
        a[si["input_decls"]], a[si["dim_params"]] = dict(s.input_decls), dict(s.dim_params)
        a[si["params"]] = dict(s.params)
        entries = []
        for e, outs, ea in zip(s.entries, e_refs, e_args, strict=True):
            b = list(ea)
            b[ei["path"]], b[ei["outputs"]] = path + e.path[cut:], tuple([refs[i] for i in outs])
            entries.append(Entry(*b))
        a[si["entries"]] = entries
        scopes[id(s)] = Scope(*a)
    nodes = []
    for n, n_refs, args in zip(tpl.nodes, tpl.node_refs, tpl.node_args, strict=True):
        a = list(args)
        a[ni["id"]], a[ni["scope"]] = path + n.id[cut:], scopes[id(n.scope)]
        a[ni["inputs"]] = [refs[i] for i in n_refs]
        a[ni["init"]], a[ni["init_locs"]] = dict(n.init), dict(n.init_locs)
        a[ni["expect"]] = None if n.expect is None else list(n.expect)
        nodes.append(Node(*a))
    return nodes, [(name, refs[i], loc) for (name, _, loc), i in zip(tpl.outs, tpl.out_refs, strict=True)]

"""Templates of repeated block instances: the first copy of a repeated block instance as resolved;
its copies with the same parameters and kind of inputs have the same nodes and scopes, at other
module paths and on other inputs, and are stamped out from it instead of being resolved again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
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
    scope_out_refs: list[list[tuple[str, int]]]  # each scope's named outputs


def _fields(cls: type) -> tuple[str, ...] | None:
    """A dataclass's fields, in order (None when some field is not one of its constructor's
    arguments, or it has a ``__post_init__``: its instances are then not copied)."""
    fields = dataclasses.fields(cls)
    if not all(f.init for f in fields) or hasattr(cls, "__post_init__"):
        return None
    return tuple(f.name for f in fields)


#: whether copies can be stamped out: the parts have just the fields :func:`stamp` copies, in order
STAMPABLE = (
    _fields(Node)
    == ("id", "op", "attrs", "inputs", "loc", "scope", "init", "expect", "num_outputs", "init_locs")
    and _fields(Scope)
    == (
        "path",
        "block",
        "parent",
        "loc",
        "input_decls",
        "input_refs",
        "dim_params",
        "repeat",
        "params",
        "entries",
        "entry",
        "outputs",
    )
    and _fields(Entry) == ("name", "path", "kind", "is_block", "count", "outputs", "copies")
    and _fields(Ref) == ("node", "index")
)


def _setters(cls: type, names: tuple[str, ...]) -> list[Callable[[object, object], None]] | None:
    """The slot setters of a frozen dataclass's fields ``names`` (None when it has no slots)."""
    slots = getattr(cls, "__slots__", ())
    if tuple(slots) != names:
        return None
    return [vars(cls)[n].__set__ for n in names]


# Refs and entries are frozen dataclasses, whose constructors set each field through
# ``object.__setattr__``: copies set the slots directly (the same objects, made about twice as fast).
_new = object.__new__
_REF_SET = _setters(Ref, ("node", "index"))
_ENTRY_SET = _setters(Entry, ("name", "path", "kind", "is_block", "count", "outputs", "copies"))


def _make_ref(node: str, index: int) -> Ref:
    assert _REF_SET is not None
    set_node, set_index = _REF_SET
    r = _new(Ref)
    set_node(r, node)
    set_index(r, index)
    return r


def _make_entry(
    name: str,
    path: str,
    kind: str,
    is_block: bool,
    count: int | None,
    outputs: tuple[Ref, ...],
    copies: tuple[str, ...],
) -> Entry:
    assert _ENTRY_SET is not None
    s_name, s_path, s_kind, s_block, s_count, s_outputs, s_copies = _ENTRY_SET
    e = _new(Entry)
    s_name(e, name)
    s_path(e, path)
    s_kind(e, kind)
    s_block(e, is_block)
    s_count(e, count)
    s_outputs(e, outputs)
    s_copies(e, copies)
    return e


_ref: Callable[[str, int], Ref] = Ref if _REF_SET is None else _make_ref
_entry: Callable[[str, str, str, bool, int | None, tuple[Ref, ...], tuple[str, ...]], Entry] = (
    Entry if _ENTRY_SET is None else _make_entry
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
        if any(
            not e.path.startswith(prefix) or not all(c.startswith(prefix) for c in e.copies)
            for e in s.entries
        ):
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
        scope_out_refs = [[(name, at(r)) for name, r in s.outputs] for s in scopes]
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
        scope_out_refs,
    )


def stamp(
    tpl: Template, path: str, parent: Scope, inputs: Mapping[str, Ref], repeat: tuple[str, int, int]
) -> tuple[list[Node], BlockOuts]:
    """A copy of the block instance ``tpl`` at module path ``path`` under ``parent`` on ``inputs``:
    its nodes (their scopes made too) and its outputs, as resolving it would make them."""
    cut = len(tpl.path)
    refs = [inputs[r] if isinstance(r, str) else _ref(path + r[0], r[1]) for r in tpl.refs]
    scopes: dict[int, Scope] = {}
    s_repeat: tuple[str, int, int] | None
    for s, s_refs, e_refs, o_refs in zip(
        tpl.scopes, tpl.scope_refs, tpl.entry_refs, tpl.scope_out_refs, strict=True
    ):
        entries = [
            _entry(
                e.name,
                path + e.path[cut:],
                e.kind,
                e.is_block,
                e.count,
                tuple([refs[i] for i in outs]),
                tuple([path + c[cut:] for c in e.copies]),
            )
            for e, outs in zip(s.entries, e_refs, strict=True)
        ]
        if s is tpl.scope:
            up, s_path, s_repeat, s_inputs = parent, path, repeat, dict(inputs)
        else:
            assert s.parent is not None
            r = s.repeat
            up, s_path = scopes[id(s.parent)], path + s.path[cut:]
            s_repeat = None if r is None else (path + r[0][cut:], r[1], r[2])
            s_inputs = {k: refs[i] for k, i in s_refs.items()}
        scopes[id(s)] = Scope(
            s_path,
            s.block,
            up,
            s.loc,
            dict(s.input_decls),
            s_inputs,
            dict(s.dim_params),
            s_repeat,
            dict(s.params),
            entries,
            s.entry,
            tuple([(name, refs[i]) for name, i in o_refs]),
        )
    nodes = [
        Node(
            path + n.id[cut:],
            n.op,
            n.attrs,
            [refs[i] for i in n_refs],
            n.loc,
            scopes[id(n.scope)],
            dict(n.init),
            None if n.expect is None else list(n.expect),
            n.num_outputs,
            dict(n.init_locs),
        )
        for n, n_refs in zip(tpl.nodes, tpl.node_refs, strict=True)
    ]
    return nodes, [(name, refs[i], loc) for (name, _, loc), i in zip(tpl.outs, tpl.out_refs, strict=True)]

"""The calls of submodules in a traced graph (instances), and the body of nodes of the network or
of one instance, named after the module paths (``conv1``, ``downsample.0``) so that the state_dict
keys are the module's."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netdsl.backend.import_graph import CallScope, ImportedGraph, ImportedNode, TRef
from netdsl.core.types import TensorType
from netdsl.ops import REGISTRY
from netdsl.tools.importer.frames import Frame, FrameError, infer, input_types
from netdsl.tools.importer.model import BlockCall, Body, Entry


class NotABlock(Exception):
    """An instance that cannot be written as a block (it is written inline)."""


@dataclass
class Instance:
    """One call of a submodule that the trace went through."""

    scope: CallScope
    parent: str | None
    depth: int
    members: list[ImportedNode] = field(default_factory=list)
    inputs: list[TRef] = field(default_factory=list)
    outputs: list[TRef] = field(default_factory=list)


def instances(graph: ImportedGraph) -> dict[str, Instance]:
    """Every submodule call, with its nodes (nested ones too), inputs and outputs."""
    found: dict[str, Instance] = {}
    for node in graph.nodes:
        for depth, scope in enumerate(node.scopes):
            inst = found.get(scope.key)
            if inst is None:
                parent = node.scopes[depth - 1].key if depth else None
                inst = found[scope.key] = Instance(scope, parent, depth)
            inst.members.append(node)
    users: dict[TRef, set[str]] = {}
    for node in graph.nodes:
        for r in node.inputs:
            users.setdefault(r, set()).add(node.name)
    wanted = set(graph.outputs)
    for inst in found.values():
        names = {m.name for m in inst.members}
        seen: set[TRef] = set()
        for m in inst.members:
            for r in m.inputs:
                if r.node not in names and r not in seen:
                    seen.add(r)
                    inst.inputs.append(r)
        for m in inst.members:
            for i in range(m.outputs):
                r = TRef(m.name, i)
                if r in wanted or any(u not in names for u in users.get(r, ())):
                    inst.outputs.append(r)
    return found


_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_]")
_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1)]


def build_body(
    members: Sequence[ImportedNode],
    frame: Frame,
    decided: Mapping[str, BlockCall],
    *,
    own: str | None,
    base: str,
    inputs: Sequence[TRef],
    input_names: Sequence[str],
    input_decls: Sequence[list[Any]],
    outputs: Sequence[TRef],
    output_names: Sequence[str],
    module_rank: Mapping[str, int],
    example: dict[str, int],
) -> Body:
    """The entries of one body: an op per member node, a block instance per decided instance among
    them (``decided``: the calls already made blocks). ``base``: the module path of the body (''
    for the network); module nodes are named after their path below it."""

    def rel(path: str) -> str | None:
        if not base:
            return path
        return path[len(base) + 1 :] if path.startswith(base + ".") else None

    taken: set[str] = set()
    # names of the nodes with a module path, and of the block instances: reserved first
    planned: list[tuple[ImportedNode | None, str | None]] = []  # (node or None for a child, child key)
    module_uses: dict[str, int] = {}
    done_children: set[str] = set()
    for member in members:
        keys = [s.key for s in member.scopes]
        start = keys.index(own) + 1 if own is not None else 0
        child = next((k for k in keys[start:] if k in decided), None)
        if child is not None:
            if child not in done_children:
                done_children.add(child)
                planned.append((None, child))
            continue
        planned.append((member, None))
    fixed_names: dict[str, str] = {}  # by node name
    child_names: dict[str, str] = {}  # by instance key
    for node, child in planned:
        if child is not None:
            call = decided[child]
            name = rel(call.path)
            if name is None or not _PATH.match(name):
                raise NotABlock(f"block instance {call.path} lies outside {base}")
            child_names[child] = name
            taken.update(_prefixes(name))
        elif node is not None and node.module is not None:
            name = rel(node.module)
            if name is not None and not _PATH.match(name):
                if node.stateful:
                    raise NotABlock(f"module path {name!r} is no netdsl path")
                name = None
            if name is None:
                if node.stateful:
                    raise NotABlock(f"it uses {node.module}, a module outside {base}")
                continue
            uses = module_uses.get(name, 0)
            module_uses[name] = uses + 1
            if uses:
                continue  # (a stateless module called again: named below)
            fixed_names[node.name] = name
            taken.update(_prefixes(name))
    # the inputs: their names unless a module has it (a submodule `x` of forward(self, x))
    names_in: list[str] = []
    for preferred in input_names:
        name = preferred
        while name in taken:
            name += "_in"
        names_in.append(name)
        taken.add(name)
    refmap: dict[TRef, str] = {r: n for r, n in zip(inputs, names_in, strict=True)}
    counters: dict[str, int] = {}

    def fresh(stem: str) -> str:
        stem = _FUNCTION_NAME.sub("_", stem) or "node"
        k = counters.get(stem, 0)
        while True:
            name = stem if k == 0 else f"{stem}_{k}"
            k += 1
            if name not in taken:
                counters[stem] = k
                taken.update(_prefixes(name))
                return name

    entries: list[Entry] = []
    for node, child in planned:
        rank = -1
        if child is not None:
            call = decided[child]
            name = child_names[child]
            rank = module_rank.get(call.path, -1)
            entries.append(
                Entry(
                    name,
                    "block",
                    call.block,
                    [_ref(refmap, r) for r in call.inputs],
                    dict(call.args),
                    rank=rank,
                    outputs=len(call.outputs),
                    out_names=list(call.out_names),
                )
            )
            for r, out in zip(call.outputs, call.out_names, strict=True):
                refmap[r] = name if len(call.outputs) == 1 else f"{name}.{out}"
            continue
        assert node is not None
        name = fixed_names.get(node.name) or fresh(
            (rel(node.module) or node.op).rpartition(".")[2] if node.module is not None else node.op
        )
        opdef = REGISTRY[node.op]
        if (
            node.stateful
            and node.module is not None
            and not (opdef.takes_init_as_attribute or opdef.constant_input)
        ):  # (a module: its place among its siblings is the state_dict's order; tensors stay put)
            rank = module_rank.get(node.module, -1)
        attrs = _without_defaults(node.op, frame.attrs[node.name])
        entries.append(
            Entry(
                name,
                "op",
                node.op,
                [_ref(refmap, r) for r in node.inputs],
                attrs,
                rank=rank,
                outputs=node.outputs,
            )
        )
        for i in range(node.outputs):
            refmap[TRef(node.name, i)] = name if node.outputs == 1 else f"{name}.{i}"
    entries = _state_order(entries)
    outs = [(n, _ref(refmap, r)) for n, r in zip(output_names, outputs, strict=True)]
    ins = list(zip(names_in, [list(d) for d in input_decls], strict=True))
    dtypes = {n: frame.types[r].dtype for n, r in zip(names_in, inputs, strict=True) if r in frame.types}
    return Body(ins, entries, outs, example, dtypes)


def _state_order(entries: list[Entry]) -> list[Entry]:
    """The entries that own state (and block instances) in the order of the module's state_dict,
    in the places such entries have (the others stay where they are, in the order of execution):
    netdsl orders a module's state_dict as its nodes are written."""
    slots = [i for i, e in enumerate(entries) if e.rank >= 0]
    ranked = sorted((entries[i] for i in slots), key=lambda e: e.rank)
    out = list(entries)
    for i, e in zip(slots, ranked, strict=True):
        out[i] = e
    return out


def _ref(refmap: Mapping[TRef, str], r: TRef) -> str:
    got = refmap.get(r)
    if got is None:
        raise NotABlock(f"{r.node!r} is read before it is made")
    return got


def _without_defaults(op: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes that differ from the op's defaults, in the op's field order."""
    fields = REGISTRY[op].attrs.model_fields
    out = {}
    for name, info in fields.items():
        if name not in attrs:
            continue
        value = attrs[name]
        if not info.is_required() and same(value, info.get_default(call_default_factory=True)):
            continue
        out[name] = value
    for name, value in attrs.items():  # (unknown names: kept, the check reports them)
        if name not in fields:
            out[name] = value
    return out


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type (1 is not True, 1 is not 1.0)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def instance_frame(
    inst: Instance, global_types: Mapping[TRef, TensorType]
) -> tuple[Frame, list[list[Any]], list[str]]:
    """The frame of an instance in its own dim names: its inputs declared ``[B, C, H, W]``..."""
    missing = [r for r in inst.inputs if r not in global_types]
    if missing:
        raise NotABlock(f"input {missing[0].node!r} has no type")
    seeds, decls, names = input_types(inst.inputs, global_types)
    try:
        frame = infer(inst.members, seeds, names)
    except FrameError as e:
        raise NotABlock(e.message) from None
    return frame, decls, names


__all__ = ["Instance", "NotABlock", "build_body", "instance_frame", "instances", "same"]

"""Reading the values inside a built module by spec name: ``netdsl.capture`` / ``netdsl.capturing``.

A name is what ``netdsl shapes`` lists: a spec node path (``conv.c1a``, ``attn1.x_channel``,
``stage.1.bn2``; output ``i`` of a node with several as ``node.i``), a network input, a network
output (an ``outputs:`` key), or a block instance's output (``attn1``: its first, ``attn1.1``: its
second, ``attn1.y``: the one the block names ``y``; a repeated block's ``stage`` its last copy's,
``stage.0`` one copy's). Names are resolved against ``node.meta["netdsl"]`` of the fx nodes (and
the IR the module was built from, which :func:`netdsl.build` keeps in
``gm.meta["netdsl"]["check"]``); an unknown name is a :class:`~netdsl.core.errors.UsageError` with
the closest names.

:func:`capturing` returns a GraphModule that shares ``gm``'s submodules, parameters and buffers (its
training / evaluation mode is theirs) and whose forward returns ``(outputs, {name: tensor})``: the
usual outputs and the captured values, as autograd sees them (gradients flow through). The network
is not edited. A built module computes some activations and additions in place
(:mod:`netdsl.backend.inplace`), which overwrites the value an earlier node held: a captured value
that a later in-place op could overwrite is cloned where it is computed, so every captured value is
the one the node computed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from netdsl.backend.provenance import SpecGraphModule, track
from netdsl.core.errors import UsageError
from netdsl.core.suggest import close_matches, did_you_mean
from netdsl.ir.graph import Entry, Graph, Ref, Scope
from netdsl.passes.constants import constant_nodes
from netdsl.passes.shapes import ShapeResult

#: call_function targets that write into their first argument (besides names ending in ``_``)
_IN_PLACE_OPERATORS: frozenset[Callable[..., Any]] = frozenset(
    {
        operator.iadd,
        operator.isub,
        operator.imul,
        operator.itruediv,
        operator.ifloordiv,
        operator.imod,
        operator.ipow,
        operator.iand,
        operator.ior,
        operator.ixor,
        operator.ilshift,
        operator.irshift,
        operator.imatmul,
        operator.setitem,
    }
)


def writes_in_place(n: fx.Node, gm: nn.Module) -> bool:
    """``n`` may overwrite one of its inputs: an in-place method or function (``add_``,
    ``torch.relu_``, ``inplace=True``, ``+=``) or a module built with ``inplace=True``."""
    if n.kwargs.get("inplace") is True:
        return True
    if n.op == "call_method":
        name = str(n.target)
        return name.endswith("_") and not name.startswith("_")
    if n.op == "call_function":
        if n.target in _IN_PLACE_OPERATORS:
            return True
        name = getattr(n.target, "__name__", "")
        return isinstance(name, str) and name.endswith("_") and not name.startswith("_")
    if n.op == "call_module":
        try:
            mod = gm.get_submodule(str(n.target))
        except AttributeError:
            return False
        return getattr(mod, "inplace", False) is True
    return False


@dataclass(frozen=True)
class Captured:
    """One requested name: the fx node holding its value and the spec ref it stands for."""

    name: str
    node: fx.Node
    ref: Ref


class _Names:
    """What names a module's values: its fx nodes by (spec node, output), and the IR when known."""

    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.by_ref: dict[tuple[str, int], fx.Node] = {}
        for n in gm.graph.nodes:
            meta = n.meta.get("netdsl")
            if n.op == "output" or not isinstance(meta, dict) or "output" not in meta:
                continue
            self.by_ref.setdefault((str(meta["node"]), int(meta["output"])), n)
        check = gm.meta.get("netdsl", {}).get("check") if isinstance(gm.meta.get("netdsl"), dict) else None
        graph = getattr(check, "graph", None)
        self.graph: Graph | None = graph if isinstance(graph, Graph) else None
        self.nodes = self.graph.node_map() if self.graph is not None else {}
        self.inputs = {gi.name for gi in self.graph.inputs} if self.graph is not None else set()
        self.outputs: dict[str, Ref] = {}
        self.entries: dict[str, tuple[Entry, Scope]] = {}
        self.scopes: dict[str, Scope] = {}
        if self.graph is not None:
            self.outputs = {name: ref for name, ref, _ in self.graph.outputs}
            for node in self.graph.nodes:
                for s in node.scope.chain():
                    if s.path and s.path not in self.scopes:
                        self.scopes[s.path] = s
            for s in [self.graph.root, *self.scopes.values()]:
                for e in s.entries:
                    if e.is_block or e.count is not None:
                        self.entries.setdefault(e.path, (e, s))
        #: the spec nodes the forward runs (an fx node of their own, results or steps on the way)
        self.emitted = {str(n.meta["netdsl"]["node"]) for n in gm.graph.nodes if "netdsl" in n.meta}
        shapes = getattr(check, "shapes", None)
        self.constants = (
            constant_nodes(self.graph, shapes)
            if self.graph is not None and isinstance(shapes, ShapeResult)
            else set()
        )
        self.num_outputs: dict[str, int] = {}
        for node_id, index in self.by_ref:
            self.num_outputs[node_id] = max(self.num_outputs.get(node_id, 0), index + 1)
        for node_id, ir_node in self.nodes.items():
            self.num_outputs[node_id] = max(self.num_outputs.get(node_id, 0), ir_node.num_outputs)

    # ------------------------------------------------------------------ names -> refs

    def instance_outputs(self, path: str) -> tuple[Ref, ...] | None:
        """The outputs of the block instance (or repeat) at ``path``; None if there is none."""
        if path in self.entries:
            return self.entries[path][0].outputs
        scope = self.scopes.get(path)  # (one copy of a repeat: its scope's outputs, as the block orders them)
        return tuple(r for _, r in scope.outputs) if scope is not None else None

    def ref(self, name: str) -> Ref | None:
        """The spec value ``name`` stands for (see the module doc); None when it names nothing."""
        if name in self.nodes or name in self.inputs or (name, 0) in self.by_ref:
            return Ref(name, 0)
        base, _, suffix = name.rpartition(".")
        if base and suffix.isdigit():
            i = int(suffix)
            if (base in self.nodes or (base, 0) in self.by_ref) and i < self.num_outputs.get(base, 1):
                return Ref(base, i)
        if name in self.outputs:
            return self.outputs[name]
        outs = self.instance_outputs(name)
        if outs:
            return outs[0]
        if base and suffix.isdigit():
            outs = self.instance_outputs(base)
            if outs and int(suffix) < len(outs):
                return outs[int(suffix)]
        named = self.named_outputs(base) if base else {}
        return named.get(suffix)

    def named_outputs(self, path: str) -> dict[str, Ref]:
        """The block instance at ``path``'s outputs by their names in the block (a repeat's: its
        last copy's); empty when ``path`` is no block instance."""
        scope = self.scopes.get(path)
        if scope is None and path in self.entries:
            entry = self.entries[path][0]
            if entry.is_block:
                scope = self.scopes.get(entry.copy_paths()[-1])
        return dict(scope.outputs) if scope is not None else {}

    def fx_node(self, name: str, ref: Ref) -> fx.Node:
        """The fx node holding ``ref``'s value: its own, or for a node lowered to its input (an
        identity: nothing emitted, one input, same type) its input's."""
        start = ref
        while True:
            got = self.by_ref.get((ref.node, ref.index))
            if got is not None:
                return got
            ir_node = self.nodes.get(ref.node)
            if ir_node is None or ref.node in self.emitted or ref.node in self.constants:
                break
            if (
                ir_node.opdef.family == "regularization"
                or len(ir_node.inputs) != 1
                or ir_node.num_outputs != 1
            ):
                break  # (a dropout nothing reads is not called: lower._drop_unused_regularization)
            ref = ir_node.inputs[0]
        why = (
            "it is a constant, computed at build time, that the forward does not read"
            if ref.node in self.constants
            else "the forward does not compute it"
        )
        raise UsageError(
            f"capture: {name!r} ({start}) has no value in the module: {why}",
            hint="capture a node that the forward computes (`print(gm.code)` shows them)",
        )

    def candidates(self) -> list[str]:
        named = [f"{path}.{n}" for path, s in self.scopes.items() for n, _ in s.outputs]
        names = dict.fromkeys(
            [*self.inputs, *(k for k, _ in self.by_ref), *self.nodes, *self.outputs, *self.entries, *named]
        )
        return list(names)

    def unknown(self, name: str) -> UsageError:
        meta = self.gm.meta.get("netdsl")
        where = meta.get("name") if isinstance(meta, dict) else None
        known = self.candidates()
        base, _, suffix = name.rpartition(".")
        outs = self.instance_outputs(base) if base else None
        if outs:  # a name inside a block instance: a node of it by its local name, else the outputs
            inside = [k for k in known if k.startswith(base + ".")]
            named = list(self.named_outputs(base))
            local = close_matches(suffix, [*named, *(k[len(base) + 1 :] for k in inside)])
            entry, scope = self.entries.get(base), self.scopes.get(base)
            block = entry[0].kind if entry is not None else scope.block if scope is not None else None
            more = ""
            if len(outs) > 1:
                by_name = f" or by name: {', '.join(f'{base}.{n}' for n in named)}" if named else ""
                more = f" ({len(outs)} outputs: {base!r} .. '{base}.{len(outs) - 1}'{by_name})"
            elif named:
                more = f", or '{base}.{named[0]}'"
            hint = (
                "did you mean " + " or ".join(repr(f"{base}.{m}") for m in local) + "?"
                if local
                else f"{base!r} is a block instance{f' of {block}' if block else ''}: capture {base!r} for "
                f"its output{more}, or a node inside it by its path: {', '.join(inside[:8])}"
                + (", ..." if len(inside) > 8 else "")
            )
        else:
            hint = did_you_mean(name, known) or (
                "names are spec node paths (as `netdsl shapes` lists them), inputs and outputs"
            )
        return UsageError(
            f"capture: no node, input or output {name!r} in {where or 'the module'}",
            expected=known,
            hint=hint,
        )

    def resolve(self, names: Iterable[str]) -> list[Captured]:
        out: list[Captured] = []
        for name in names:
            if not isinstance(name, str):
                raise UsageError(f"capture: names are strings (spec node paths), got {name!r}")
            ref = self.ref(name)
            if ref is None:
                raise self.unknown(name)
            out.append(Captured(name, self.fx_node(name, ref), ref))
        return out


def graph_module(module: nn.Module) -> fx.GraphModule:
    """The GraphModule inside ``module`` (itself, or the ``.module`` of a DistributedDataParallel /
    DataParallel wrapper)."""
    inner = getattr(module, "module", None)
    if not isinstance(module, fx.GraphModule) and isinstance(inner, fx.GraphModule):
        module = inner
    if not isinstance(module, fx.GraphModule):
        got = type(module).__name__
        raise UsageError(f"capture: expected the torch.fx.GraphModule that netdsl.build returns, got {got}")
    return module


def capturing(module: nn.Module, names: Sequence[str] | str) -> fx.GraphModule:
    """A GraphModule computing what ``module`` computes, whose forward returns ``(outputs, captured)``:
    the module's outputs as they are, and ``{name: value}`` for each of ``names`` (see the module doc).
    It shares ``module``'s submodules and parameters; build it once and call it like the module."""
    gm = graph_module(module)
    wanted = [names] if isinstance(names, str) else list(names)
    targets = _Names(gm).resolve(wanted)
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    writers = [order[n] for n in gm.graph.nodes if writes_in_place(n, gm)]
    last_write = max(writers, default=-1)
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    out_value = g.graph_copy(gm.graph, env)
    kept: dict[fx.Node, fx.Node] = {}
    for t in targets:
        if t.node in kept:
            continue
        new = env[t.node]
        if order[t.node] < last_write:  # a later in-place op may overwrite it: keep a copy
            with g.inserting_after(new):
                copy = g.call_method("clone", (new,))
            copy.meta = {**new.meta, "netdsl_capture": True}
            new = copy
        kept[t.node] = new
    g.output((out_value, {t.name: kept[t.node] for t in targets}))
    g.lint()
    captured = SpecGraphModule(gm, g, class_name=type(gm).__name__ + "Capturing")
    captured.meta["netdsl"] = {**gm.meta.get("netdsl", {}), "captures": [t.name for t in targets]}
    captured.training = gm.training  # (the submodules are gm's own, in their own mode)
    return track(captured)


def capture(
    module: nn.Module, names: Sequence[str] | str, *inputs: Any, **kwinputs: Any
) -> tuple[Any, dict[str, torch.Tensor]]:
    """Run ``module`` once on ``inputs``: ``(outputs, {name: value})`` (see :func:`capturing`)."""
    result = capturing(module, names)(*inputs, **kwinputs)
    outputs, values = result
    assert isinstance(values, Mapping)
    return outputs, dict(values)

"""Expansion: a body's nodes resolved in order into IR nodes (op nodes by :mod:`.opnode`, block
instances by :mod:`.instance`) and repeats unrolled. A body is resolved under one :class:`Ctx`;
each of its nodes under one :class:`Site` (:mod:`.context`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.core.errors import NetdslError, PathT, ResolveError
from netdsl.frontend.expr import resolve_value
from netdsl.frontend.library import BlockLibrary
from netdsl.frontend.schema import NODE_RE, BlockBody
from netdsl.frontend.validate import describe
from netdsl.ir.graph import Entry, Ref
from netdsl.passes.resolve.context import Ctx, Plan, Site
from netdsl.passes.resolve.groups import flatten
from netdsl.passes.resolve.instance import InstanceMaker
from netdsl.passes.resolve.limits import MAX_REPEAT, check_expansion
from netdsl.passes.resolve.order import topo_order
from netdsl.passes.resolve.symbols import FAILED, OFF, Absent, Off, Outputs, Reported, Symbol, Table
from netdsl.passes.resolve.tally import Tally
from netdsl.passes.resolve.template import BlockOuts
from netdsl.passes.resolve.unused import used_names, warn_unused
from netdsl.passes.resolve.values import attrs_key, evaluate, evaluate_at, names, plain
from netdsl.passes.resolve.wiring import (
    UNEVALUATED,
    BadIn,
    Unevaluated,
    Wires,
    dependencies,
    lookup,
    parse_in,
)


class Expander(InstanceMaker):
    """Resolves bodies into :attr:`nodes` (the resolver's entry points are in a subclass)."""

    library: BlockLibrary

    def __init__(self, errors: Tally) -> None:
        super().__init__(errors)
        self._plans: dict[tuple[int, PathT, int], Plan] = {}

    # ------------------------------------------------------------ bodies

    def body(self, ctx: Ctx, body: BlockBody, inputs: Mapping[str, Ref | Absent]) -> BlockOuts:
        """Resolve ``body`` on ``inputs`` (an optional input left out: ABSENT): its outputs ([]: it
        failed, its errors are reported)."""
        table: Table = {k: v if isinstance(v, Absent) else Outputs((v,)) for k, v in inputs.items()}
        named: dict[str, dict[str, Ref]] = {}
        errors_before = len(self.errors.errors)
        plan = self._plan(ctx, body)
        order, wires = self._order(ctx, plan, set(table))
        if len(order) < len(plan.names):
            ordered = set(order)
            table.update({n: FAILED for n in plan.names if n not in ordered})  # in a cycle, reported
        nodes, paths, doc = plan.specs, plan.paths, ctx.doc
        for name in order:
            spec = nodes[name]
            path = paths[name]
            try:
                table[name] = self._node(
                    Site(ctx, name, spec, path, doc.key_loc(path), table, named, plan), wires[name]
                )
            except NetdslError as e:
                self.errors.add(e)
                table[name] = FAILED
            except Reported:
                table[name] = FAILED
        index = plan.index  # (entries in the order written, as modules and state_dict keys are)
        ctx.scope.entries.sort(key=lambda e: index.get(e.name, len(index)))
        outs, texts, out_errors, failed = self._outputs(ctx, body, table, named)
        if len(self.errors.errors) == errors_before:  # with errors, 'unused' is often their echo
            reuse = wires is plan.wires and plan.plain_outputs
            used = plan.used if reuse else None
            if used is None:
                used = used_names(wires, texts)
                if reuse:
                    plan.used = used
            warn_unused(plan.specs, plan.paths, table, used, doc, self.errors)
        for err in out_errors:
            self.errors.add(err)
        if failed:
            return []  # its errors are reported; users of this body are skipped
        if not outs:
            self.errors.add(
                ResolveError("every output is left out (null) here", doc.loc((*ctx.base, "outputs")))
            )
        return outs

    def _outputs(
        self, ctx: Ctx, body: BlockBody, table: Table, named: dict[str, dict[str, Ref]]
    ) -> tuple[BlockOuts, list[str], list[NetdslError], bool]:
        """The body's outputs, the names they evaluate to, their errors, and whether one failed."""
        raw = body.outputs
        items = (
            [(raw, raw)]
            if isinstance(raw, str)
            else [(r, r) for r in raw]
            if isinstance(raw, list)
            else list(raw.items())
        )
        outs: BlockOuts = []
        texts: list[str] = []
        errors: list[NetdslError] = []
        failed = False
        for i, (oname, ref) in enumerate(items):
            path = (*ctx.base, "outputs") + (
                (oname,) if isinstance(raw, dict) else (i,) if isinstance(raw, list) else ()
            )
            loc = ctx.doc.loc(path)
            r: Ref | None
            try:
                target = evaluate_at(ref, ctx.env, loc)
                texts.append(str(target))
                if target is None:  # an output that this configuration leaves out
                    continue
                r = lookup(str(target), table, named, loc)
            except NetdslError as e:
                errors.append(e)
                r = None
            except Reported:
                r = None
            if r is None:
                failed = True
            else:
                outs.append((str(oname), r, loc))
        return outs, texts, errors, failed

    def _plan(self, ctx: Ctx, body: BlockBody) -> Plan:
        key = (id(body), ctx.base, id(ctx.doc))
        plan = self._plans.get(key)
        if plan is not None and plan.body is body and plan.doc is ctx.doc:
            return plan
        members = flatten(body.nodes)
        node_names = list(members)
        specs = {n: m.spec for n, m in members.items()}
        attrs = {n: specs[n].attrs for n in node_names}
        plain_attrs = {n: plain(a) for n, a in attrs.items()}
        paths = {n: (*ctx.base, *m.path) for n, m in members.items()}
        guards = {
            n: tuple((cond, (*ctx.base, *gpath)) for cond, gpath in m.guards)
            for n, m in members.items()
            if m.guards
        }
        plain_in = all(plain(specs[n].in_) for n in node_names)
        plan = Plan(
            body,
            ctx.doc,
            specs,
            guards,
            node_names,
            {n: i for i, n in enumerate(node_names)},
            paths,
            attrs,
            plain_attrs,
            {n: attrs_key(a) for n, a in attrs.items() if plain_attrs[n]},
            {n: names(specs[n].in_) for n in node_names},
            {n: parse_in(specs[n].in_, (*paths[n], "in")) for n in node_names} if plain_in else None,
            plain(body.outputs),
        )
        self._plans[key] = plan
        return plan

    def _order(self, ctx: Ctx, plan: Plan, inputs: set[str]) -> tuple[list[str], Mapping[str, Wires]]:
        """Topological order of a body's nodes, ties broken by spec order; and each node's `in:`
        parsed (as evaluated here when some `in:` has an expression; UNEVALUATED where that failed)."""
        wires = plan.wires
        if wires is not None:
            known = plan.orders.get(frozenset(inputs))
            if known is not None:
                return known, wires
        else:
            wires = {}
            specs = plan.specs
            for n in plan.names:
                try:
                    wires[n] = parse_in(resolve_value(specs[n].in_, ctx.env), (*plan.paths[n], "in"))
                except NetdslError:
                    wires[n] = UNEVALUATED  # reported when the node is resolved
        deps = {n: dependencies(wires[n], plan.index, inputs) for n in plan.names}
        result = topo_order(plan.names, deps)
        if result.cycle is not None:
            cycle = result.cycle
            self.errors.add(
                ResolveError(
                    "the graph has a cycle: " + " -> ".join((*cycle, cycle[0])) + " (each feeds the next)",
                    ctx.doc.loc((*plan.paths[cycle[0]], "in")),
                    hint="a node cannot use its own output, directly or through other nodes",
                )
            )
        elif wires is plan.wires:
            plan.orders[frozenset(inputs)] = result.order
        return result.order, wires

    # ------------------------------------------------------------ nodes

    def _node(self, site: Site, wires: Wires) -> Symbol:
        """Resolve one node (its copies, for `repeat:` and `parallel:`): its outputs, or OFF."""
        ctx, spec, path, loc = site.ctx, site.spec, site.path, site.loc
        doc = ctx.doc
        conditions = site.plan.guards.get(site.name, ())
        if spec.when is not None:
            conditions = (*conditions, (spec.when, path))
        for cond, cpath in conditions:
            keep = evaluate(cond, ctx.env, doc, (*cpath, "when"))
            if not isinstance(keep, bool):
                raise ResolveError(
                    f"`when` must be true or false, got {describe(keep)}", doc.loc((*cpath, "when"))
                )
            if not keep:
                if cpath is path:
                    return OFF
                return Off(str(cpath[-1]), doc.key_loc(cpath).line)  # (its group's `when:`)
        if spec.repeat is not None and spec.parallel is not None:
            raise ResolveError("a node has `repeat` (a chain) or `parallel` (side by side), not both", loc)
        mode = "repeat" if spec.repeat is not None else "parallel" if spec.parallel is not None else None
        count = 1
        if mode is not None:
            rloc = doc.loc((*path, mode))
            count_v = evaluate_at(getattr(spec, mode), ctx.env, rloc)
            if not isinstance(count_v, int) or isinstance(count_v, bool) or not 1 <= count_v <= MAX_REPEAT:
                raise ResolveError(
                    f"`{mode}` must be an integer from 1 to {MAX_REPEAT}, got {describe(count_v)}", rloc
                )
            count = count_v
        in_names = site.plan.in_names[site.name]
        if in_names and any(ctx.env.get(n) is FAILED for n in in_names):
            raise Reported
        refs = self._inputs(site, wires)
        if refs is None:
            return FAILED
        kind_key = "op" if spec.op is not None else "block"
        kind = evaluate(spec.op if spec.op is not None else spec.block, ctx.env, doc, (*path, kind_key))
        if not isinstance(kind, str):
            what = "an op" if kind_key == "op" else "a block"
            raise ResolveError(
                f"`{kind_key}` must name {what}, got {describe(kind)}", doc.loc((*path, kind_key))
            )
        op_name, block_name = (kind, None) if kind_key == "op" else (None, kind)
        return self._copies(site, op_name, block_name, refs, mode, count)

    def _copies(
        self,
        site: Site,
        op_name: str | None,
        block_name: str | None,
        refs: list[tuple[str | None, Ref]],
        mode: str | None,
        count: int,
    ) -> Outputs:
        """The node's ``count`` copies (one without ``mode``; a chain for `repeat`, side by side for
        `parallel`), recorded as an entry of its scope: its outputs."""
        ctx, spec, path, name = site.ctx, site.spec, site.path, site.name
        spec_attrs, plain_attrs = site.plan.attrs[name], site.plan.plain_attrs[name]
        envs = [{**ctx.env, spec.repeat_var: i} if spec.repeat_var else ctx.env for i in range(count)]
        if spec.path is None:
            prefix = f"{ctx.scope.path}.{name}" if ctx.scope.path else name
            ids = [f"{prefix}.{i}" for i in range(count)] if mode else [prefix]
        else:
            ids = module_paths(site, envs, op_name is None)
            prefix = common_prefix(ids) if mode else ids[0]
        outputs: list[Ref] = []
        copies: list[Ref] = []
        before = len(self.nodes)
        for i in range(count):
            if i == 1:
                check_expansion(len(self.nodes) - before, count, ctx.scale, mode, ctx.doc, path)
            node_id = ids[i]
            env = envs[i]
            if i > 0 and mode == "repeat" and refs:
                refs = [(refs[0][0], outputs[0]), *refs[1:]]  # a chain: copy i reads copy i-1
            key: Any
            if plain_attrs:
                attrs, key = dict(spec_attrs), site.plan.attr_keys[name]
            else:
                attrs = {k: evaluate(v, env, ctx.doc, (*path, k)) for k, v in spec_attrs.items()}
                key = None
            if op_name is not None:
                outputs = self.op_node(site, op_name, node_id, attrs, refs, key)
            else:
                assert block_name is not None
                repeat = (prefix, i, count) if mode else None
                outputs = self._block(site, block_name, node_id, attrs, refs, repeat)
            if not outputs:
                raise ResolveError(f"{kind_name(op_name, block_name)} {name!r} has no outputs", site.loc)
            copies.append(outputs[0])
        if mode == "parallel":
            outputs = copies  # node.0 .. node.N-1 are the copies' (first) outputs
            site.named.pop(name, None)
        kind = op_name if op_name is not None else str(block_name)
        out = tuple(outputs)
        ctx.scope.entries.append(
            Entry(name, prefix, kind, op_name is None, count if mode else None, out, tuple(ids))
        )
        return Outputs(out)

    def _inputs(self, site: Site, wires: Wires) -> list[tuple[str | None, Ref]] | None:
        """The node's `in:` as (input name or None, ref); `node.*` stands for all outputs of a node.
        None: a node it uses failed (reported)."""
        table = site.table
        if type(wires) is tuple and len(wires) == 1:  # (the usual case: one input, a node with outputs)
            entry = table.get(wires[0].text)
            if type(entry) is Outputs and entry.refs and not wires[0].splat:
                return [(wires[0].key, entry.refs[0])]
        doc, in_path = site.ctx.doc, (*site.path, "in")
        if isinstance(wires, Unevaluated):
            wires = parse_in(evaluate(site.spec.in_, site.ctx.env, doc, in_path), in_path)  # raises its error
        if isinstance(wires, BadIn):
            raise ResolveError(
                f"`in` is a name, a list or a mapping, got {describe(wires.value)}", doc.loc(in_path)
            )
        refs: list[tuple[str | None, Ref]] = []
        for w in wires:
            entry = table.get(w.text)
            if type(entry) is Outputs and entry.refs and not w.splat:
                refs.append((w.key, entry.refs[0]))  # (what lookup gives, without making a location)
                continue
            if w.splat:
                outs = table.get(w.text[:-2])
                if outs is FAILED:
                    return None
                if not isinstance(outs, Outputs) or w.key is not None:
                    raise ResolveError(
                        f"{w.text!r}: `name.*` takes all outputs of a node in a list of inputs",
                        doc.loc(w.path),
                    )
                refs += [(None, r) for r in outs.refs]
                continue
            r = lookup(w.text, table, site.named, doc.loc(w.path))
            if r is None:
                return None
            refs.append((w.key, r))
        return refs


def kind_name(op_name: str | None, block_name: str | None) -> str:
    return f"op {op_name!r}" if op_name is not None else f"block {block_name!r}"


def module_paths(site: Site, envs: list[Mapping[str, Any]], is_block: bool) -> list[str]:
    """The module path of each copy of a node with `path:` (evaluated in each copy's environment),
    below its scope's path: checked to be a dotted name ('' only for a block instance, whose nodes
    then join the scope) and different for every copy."""
    ctx, spec = site.ctx, site.spec
    ppath = (*site.path, "path")
    loc = ctx.doc.loc(ppath)
    ids: list[str] = []
    first: dict[str, int] = {}
    for i, env in enumerate(envs):
        rel = evaluate(spec.path, env, ctx.doc, ppath)
        if isinstance(rel, int) and not isinstance(rel, bool) and rel >= 0:
            rel = str(rel)  # (`path: ${i}`: copies at 0, 1, ... as in an nn.Sequential)
        if rel == "" and not is_block:
            raise ResolveError(
                f"`path: ''` is for block instances (their nodes join the enclosing block's paths); op node "
                f"{site.name!r} needs a module path, or no `path:` to be at its name",
                loc,
            )
        if not isinstance(rel, str) or (rel and not NODE_RE.match(rel)):
            raise ResolveError(
                "`path` must be a module path such as 'features.3' or 'layer${i + 1}', "
                f"not {describe(rel)}",
                loc,
                hint="letters, digits and '_', with '.' between parts",
            )
        if rel in first and rel:  # ('' for every copy: their nodes' own paths tell them apart)
            raise ResolveError(
                f"`path` gives {rel!r} for copies {first[rel]} and {i}: each copy needs its own path",
                loc,
                hint=f'use the copy index: repeat_var: i, path: "{rel or site.name}.${{i}}"'
                if not spec.repeat_var
                else f"use `{spec.repeat_var}` in the path",
            )
        first[rel] = i
        base = ctx.scope.path
        ids.append(f"{base}.{rel}" if base and rel else base or rel)
    return ids


def common_prefix(ids: list[str]) -> str:
    """The longest dotted prefix that all ``ids`` share ('' when none)."""
    parts = [i.split(".") for i in ids]
    out: list[str] = []
    for column in zip(*parts, strict=False):
        if any(c != column[0] for c in column):
            break
        out.append(column[0])
    return ".".join(out)

"""Resolve pass: validated spec -> IR graph.

Evaluates variables, variants and overrides, expands blocks (inline, library and
user) and repeats, wires nodes by name and checks block parameters and `require:`
rules.  Errors are collected so that one run reports all of them.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from netdsl.core.errors import ErrorCollector, NetdslError, PathT, ResolveError, SourceLoc, UsageError
from netdsl.core.gcpause import no_gc
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.expr import referenced_names, resolve_value
from netdsl.frontend.library import BlockLibrary, BlockSource
from netdsl.frontend.schema import (
    BlockBody,
    BlockDef,
    BlockFile,
    InputDecl,
    NetworkFile,
    NodeSpec,
    ParamDecl,
    RequireRule,
)
from netdsl.frontend.validate import describe, model_errors
from netdsl.frontend.yaml_loader import Doc
from netdsl.ir.graph import Entry, Graph, GraphInput, Node, Ref, Scope
from netdsl.ir.reserved import reserved_reason
from netdsl.ops import REGISTRY

MAX_NODES = 200_000
MAX_REPEAT = 10_000
MAX_BLOCK_DEPTH = 32


class _Failed:
    """Marks a node whose resolution failed (its users are skipped, not reported again)."""


FAILED = _Failed()


class _Absent:
    """An optional block input that the instance leaves unconnected."""


ABSENT = _Absent()


class _Reported(Exception):
    """A node failed and its errors are already collected."""


@dataclass
class Ctx:
    doc: Doc
    base: PathT
    env: dict[str, Any]
    inline: Mapping[str, BlockSource]
    scope: Scope
    stack: tuple[str, ...]
    #: how many times this body is instantiated (the product of the enclosing repeat counts)
    scale: int = 1


Outputs = list[Ref]


class _Unresolved:
    """A node's `in:` whose evaluation failed (the node reports the error when it is resolved)."""


UNRESOLVED = _Unresolved()


@dataclass
class _Plan:
    """What instantiating a body needs that does not depend on the values of its variables: worked
    out once per body, so that the copies of a repeated block do not read its nodes again."""

    body: BlockBody  # (kept alive: its id keys the resolver's cache)
    base: PathT
    doc: Doc
    names: list[str]
    index: dict[str, int]
    #: each node's path, attributes (NodeSpec.attrs makes a new dict per call) and whether they hold
    #: no expression (then they are their own value)
    paths: dict[str, PathT]
    attrs: dict[str, dict[str, Any]]
    plain_attrs: dict[str, bool]
    #: _attrs_key of the plain attributes (their key as models are cached), by node
    attr_keys: dict[str, Any]
    #: the variables each node's `in:` uses; whether no `in:` of the body has an expression
    in_names: dict[str, frozenset[str]]
    plain_in: bool
    plain_outputs: bool
    #: the order of the nodes, by the names of the body's inputs (when every `in:` is plain)
    orders: dict[frozenset[str], list[str]] = field(default_factory=dict)
    #: the names that `in:` and the outputs use (when they are all plain)
    used: set[str] | None = None


@dataclass
class _Template:
    """The first copy of a repeated block instance as resolved: its copies with the same parameters
    and kind of inputs have the same nodes and scopes, at other paths and on other inputs, and are
    stamped out from it instead of being resolved again."""

    keep: tuple[object, ...]  # the objects whose ids are in its key (kept alive, compared on use)
    path: str  # the module path of the copy
    scope: Scope  # its scope; then the scopes below it, each after its parent
    scopes: list[Scope]
    nodes: list[Node]  # the nodes it made, in order
    outs: list[tuple[str, Ref, SourceLoc]]
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


class _Tally(ErrorCollector):
    """The run's error collector as the resolver reports to it: all goes to ``into``, and ``reports``
    counts every error and warning made (also those ``into`` drops as repeats of earlier ones)."""

    def __init__(self, into: ErrorCollector) -> None:  # (no state of its own but the count)
        self.into = into
        self.reports = 0

    @property
    def errors(self) -> list[NetdslError]:
        return self.into.errors

    @errors.setter
    def errors(self, value: list[NetdslError]) -> None:
        self.into.errors = value

    @property
    def warnings(self) -> list[NetdslError]:
        return self.into.warnings

    @warnings.setter
    def warnings(self, value: list[NetdslError]) -> None:
        self.into.warnings = value

    def add(self, err: NetdslError) -> None:
        self.reports += 1
        self.into.add(err)

    def warn(self, message: str, loc: SourceLoc, hint: str | None = None) -> None:
        self.reports += 1
        self.into.warn(message, loc, hint)

    def raise_if_any(self) -> None:
        self.into.raise_if_any()


class Resolver:
    def __init__(self, library: BlockLibrary, errors: ErrorCollector) -> None:
        self.library = library
        self.errors: _Tally = _Tally(errors)
        self.nodes: list[Node] = []
        self._templates: dict[tuple[object, ...], _Template] = {}
        self._plans: dict[tuple[int, PathT, int], _Plan] = {}
        #: validated attributes by op and value (the models are frozen: nodes with equal attributes
        #: share one, and shape inference reuses what it inferred for it)
        self._models: dict[tuple[str, Any], Any] = {}
        self._parts: dict[str, bool] = {}

    # ------------------------------------------------------------ entry points

    def network(
        self, spec: NetworkFile, doc: Doc, variant: str | None, overrides: Mapping[str, Any]
    ) -> Graph:
        with no_gc():  # many objects, no garbage cycles: collections would only walk them, often
            return self._network(spec, doc, variant, overrides)

    def _network(
        self, spec: NetworkFile, doc: Doc, variant: str | None, overrides: Mapping[str, Any]
    ) -> Graph:
        values = dict(spec.vars)
        if variant is not None and variant not in spec.variants:
            raise UsageError(
                f"--variant {variant}: {spec.network!r} has no variant {variant!r}",
                expected=spec.variants or ["(none)"],
                hint=did_you_mean(variant, spec.variants),
            )
        if variant is None and spec.default_variant is not None:
            variant = spec.default_variant
            if variant not in spec.variants:
                raise ResolveError(
                    f"unknown default variant {variant!r}",
                    doc.loc(("default_variant",)),
                    expected=spec.variants or ["(none)"],
                    hint=did_you_mean(variant, spec.variants),
                )
        if variant is not None:
            for key, value in spec.variants[variant].items():
                if key not in spec.vars:
                    self.errors.add(
                        ResolveError(
                            f"variant {variant!r} sets {key!r}, which is not a variable",
                            doc.key_loc(("variants", variant, key)),
                            expected=spec.vars,
                            hint=did_you_mean(key, spec.vars),
                        )
                    )
                values[key] = value
        for key, value in overrides.items():
            if key not in spec.vars:
                raise UsageError(
                    f"--set {key}: {spec.network!r} has no variable {key!r}",
                    expected=spec.vars,
                    hint=did_you_mean(key, spec.vars),
                )
            values[key] = value
        env = self._vars(values, doc, ("vars",), {}, overridden=frozenset(overrides))
        for name, decl in spec.inputs.items():
            if _optional(decl):
                self.errors.add(
                    ResolveError("a network's inputs are all required", doc.loc(("inputs", name, "optional")))
                )
        root = Scope("", None, None, doc.loc(()))
        inputs = self._graph_inputs(spec, doc, env)
        self._check_dims(spec.dims, inputs, doc)
        inline = self._inline(spec.blocks, doc)
        ctx = Ctx(doc, (), env, inline, root, ())
        outs = self._body(ctx, spec, {i.name: Ref(i.name) for i in inputs})
        return Graph(
            spec.network, "network", doc.file, inputs, self.nodes, outs, root, dict(spec.dims), variant
        )

    def block_file(
        self, spec: BlockFile, doc: Doc, overrides: Mapping[str, Any], example_doc: Doc | None = None
    ) -> Graph:
        """A block built on its own: its parameters come from ``overrides``, then their defaults,
        then `example:` (only for parameters without a default). ``example_doc`` is the file that
        holds `example:` when it is not ``doc`` (a block alias over its base)."""
        with no_gc():
            return self._block_file(spec, doc, overrides, example_doc)

    def _block_file(
        self, spec: BlockFile, doc: Doc, overrides: Mapping[str, Any], example_doc: Doc | None
    ) -> Graph:
        loc = doc.loc(())
        edoc = example_doc or doc
        unknown = [k for k in overrides if k not in spec.params]
        for k in unknown:
            raise UsageError(
                f"--set {k}: block {spec.block!r} has no parameter {k!r}",
                expected=spec.params,
                hint=did_you_mean(k, spec.params),
            )
        root = Scope("", spec.block, None, loc)
        for k in spec.example:
            if k not in spec.params:
                self.errors.add(
                    ResolveError(
                        f"`example` sets {k!r}, which is not a parameter of {spec.block!r}",
                        edoc.key_loc(("example", k)),
                        expected=spec.params,
                        hint=did_you_mean(k, spec.params),
                    )
                )
            elif not spec.params[k].required and k not in overrides:
                self.errors.warn(
                    f"`example` sets {k!r}, which has a default ({spec.params[k].default!r}): "
                    "`example:` fills only parameters without a default, so this value is not used",
                    edoc.key_loc(("example", k)),
                    hint=f"remove it from `example:`; to build with another value use --set {k}=...",
                )
        # explicit overrides, then declared defaults; `example:` fills only required parameters
        given = {
            k: (v, edoc.loc(("example", k)))
            for k, v in spec.example.items()
            if k in spec.params and spec.params[k].required
        }
        given |= {k: (v, SourceLoc("--set", 0, 0, (k,))) for k, v in overrides.items()}
        call_loc = edoc.key_loc(("example",)) if spec.example else loc
        env = self._params(
            spec, given, doc, call_loc, spec.block, root, initial=_has_inputs(spec, {}), cli=True
        )
        if env is None:
            self.errors.raise_if_any()
            raise ResolveError("block parameters do not resolve", loc)
        inputs = self._graph_inputs(spec, doc, env)
        self._check_dims(spec.dims, inputs, doc)
        ctx = Ctx(doc, (), env, self._inline(spec.blocks, doc), root, (spec.block,))
        absent = {n: ABSENT for n, d in spec.inputs.items() if _optional(d)}
        outs = self._body(ctx, spec, {**{i.name: Ref(i.name) for i in inputs}, **absent})
        return Graph(spec.block, "block", doc.file, inputs, self.nodes, outs, root, dict(spec.dims))

    # ------------------------------------------------------------ variables and parameters

    def _vars(
        self,
        values: Mapping[str, Any],
        doc: Doc,
        base: PathT,
        env: dict[str, Any],
        overridden: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """Evaluate variables that may refer to each other (any order, no cycles)."""
        if not values:
            return dict(env)
        out = dict(env)
        state: dict[str, str] = {}
        deps: dict[str, list[str]] = {}

        def loc_of(name: str) -> SourceLoc:
            return doc.loc((*base, name)) if name not in overridden else SourceLoc("--set", 0, 0, (name,))

        def deps_of(name: str) -> list[str]:
            if name not in deps:
                deps[name] = sorted(_names(values[name]))
            return deps[name]

        for start in values:  # depth-first, with an explicit stack: long chains do not recurse
            if start in state:
                continue
            path = [start]
            pending = [iter(deps_of(start))]
            state[start] = "active"
            try:
                while path:
                    name = path[-1]
                    for dep in pending[-1]:
                        if dep == name and name not in env:
                            raise ResolveError(
                                f"variable {name!r} refers to itself",
                                loc_of(name),
                                hint="a variable cannot be defined in terms of its own value",
                            )
                        if dep not in values or dep == name:
                            continue
                        if state.get(dep) == "active":
                            cycle = " -> ".join((*path[path.index(dep) :], dep))
                            raise ResolveError(
                                f"variables refer to each other in a cycle: {cycle}", loc_of(dep)
                            )
                        if dep not in state:
                            state[dep] = "active"
                            path.append(dep)
                            pending.append(iter(deps_of(dep)))
                            break
                    else:  # every dependency is evaluated
                        if any(out.get(d) is FAILED for d in deps_of(name)):
                            out[name] = FAILED  # its dependency's error is reported
                        else:
                            out[name] = resolve_value(values[name], out, loc_of(name))
                        state[name] = "done"
                        path.pop()
                        pending.pop()
            except NetdslError as e:
                self.errors.add(e)
                for k in path:
                    state[k] = "done"
                    out.setdefault(k, FAILED)
        return out

    def _params(
        self,
        bdef: BlockDef,
        given: Mapping[str, tuple[Any, SourceLoc]],
        doc: Doc,
        call_loc: SourceLoc,
        name: str,
        scope: Scope,
        base: PathT = (),
        initial: Mapping[str, Any] | None = None,
        cli: bool = False,
    ) -> dict[str, Any] | None:
        env: dict[str, Any] = dict(initial or {})
        origins: dict[str, SourceLoc | None] = {}  # where each given parameter came from
        ok = True
        for pname, decl in bdef.params.items():
            if pname in given:
                value, vloc = given[pname]
                origins[pname] = vloc
            elif decl.required:
                how = (
                    f"pass --set {pname}=... or add `{pname}: ...` to `example:`"
                    if cli
                    else f"add `{pname}: ...` to the node"
                )
                self.errors.add(
                    ResolveError(
                        f"block {name!r} needs parameter {pname!r} ({decl.type})", call_loc, hint=how
                    )
                )
                ok = False
                continue
            else:
                vloc = doc.loc((*base, "params", pname, "default"))
                origins[pname] = None
                try:
                    value = resolve_value(decl.default, env, vloc)
                except NetdslError as e:
                    self.errors.add(e)
                    ok = False
                    continue
            problem = _check_param(decl, value)
            if problem:
                self.errors.add(
                    ResolveError(
                        f"parameter {pname!r} of block {name!r}: {problem}",
                        vloc,
                        expected=[str(c) for c in decl.choices] if decl.choices else None,
                    )
                )
                ok = False
                continue
            if decl.type == "dim":
                scope.dim_params[pname] = (value, vloc)
            else:
                env[pname] = value
        scope.params = {**env, **{k: v for k, (v, _) in scope.dim_params.items()}}
        if not ok:
            return None
        env = self._vars(bdef.vars, doc, (*base, "vars"), env)
        if any(v is FAILED for v in env.values()):
            return None  # reported
        for i, rule in enumerate(bdef.require):
            if not ok:
                break  # later rules often assume the earlier ones (a division by a checked divisor)
            check, message = (rule, None) if isinstance(rule, str) else (rule.check, rule.message)
            rloc = doc.loc((*base, "require", i) if isinstance(rule, str) else (*base, "require", i, "check"))
            text = check.strip()
            expr = text if text.startswith("${") else "${" + text + "}"
            try:
                result = resolve_value(expr, env, rloc)
            except NetdslError as e:
                if expr is not text and e.loc.col > 2:  # point into the rule as written, without '${'
                    e.loc = replace(e.loc, col=e.loc.col - 2, end_col=max(0, e.loc.end_col - 2))
                self.errors.add(e)
                ok = False
                continue
            if result is not True:
                used = [n for n in sorted(referenced_names(expr)) if n in env]
                origin = {n: _origin(origins[n]) for n in used if n in origins} if cli else {}
                shown = ", ".join(
                    f"{n}={env[n]!r}" + (f" ({origin[n]})" if n in origin else "") for n in used
                )
                msg = f"block {name!r} requires {text}" + (f" ({shown})" if shown else "")
                # built on its own: at `example:` when its values take part (that is what to change),
                # else at the rule itself (--set values have no line, defaults are the rule's file)
                values = set(origin.values())
                where = rloc if cli and ("--set" in values or "example" not in values) else call_loc
                self.errors.add(ResolveError(msg, where, hint=message))
                ok = False
        return env if ok else None

    # ------------------------------------------------------------ bodies and nodes

    def _graph_inputs(self, spec: BlockBody, doc: Doc, env: dict[str, Any]) -> list[GraphInput]:
        out = []
        for name, decl in spec.inputs.items():
            d = decl if isinstance(decl, InputDecl) else InputDecl(shape=decl)
            if d.optional:
                continue  # left unconnected when the block is built on its own
            try:
                shape = _shape(d.shape, env, doc, _shape_path(decl, ("inputs", name)))
            except NetdslError as e:
                self.errors.add(e)
                shape = []
            out.append(GraphInput(name, shape, d.dtype, doc.key_loc(("inputs", name))))
        return out

    def _check_dims(self, dims: Mapping[str, Any], inputs: list[GraphInput], doc: Doc) -> None:
        """`dims:` gives one size >= 1 per dim, and a list of them for a variadic dim (``*S``)."""
        variadic = {d[1:] for gi in inputs for d in gi.shape if isinstance(d, str) and d.startswith("*")}
        for name, value in dims.items():
            loc = doc.loc(("dims", name))
            if isinstance(value, list) and name not in variadic:
                self.errors.add(
                    ResolveError(
                        f"`dims: {name}` is one dim: give one size, not a list",
                        loc,
                        hint=f"a list of sizes is for a variadic dim written `*{name}` in an input shape",
                    )
                )
            elif not isinstance(value, list) and name in variadic:
                self.errors.add(
                    ResolveError(
                        f"`dims: {name}` is the variadic dim *{name}: give a list of sizes, e.g. [7, 7]",
                        loc,
                    )
                )
            elif any(v < 1 for v in (value if isinstance(value, list) else [value])):
                self.errors.add(ResolveError(f"`dims: {name}`: sizes must be >= 1, got {value}", loc))

    def _inline(self, blocks: Mapping[str, BlockDef], doc: Doc) -> dict[str, BlockSource]:
        out = {}
        for name, bdef in blocks.items():
            if name in self.library:
                self.errors.add(
                    ResolveError(
                        f"inline block {name!r} has the name of a library block",
                        doc.key_loc(("blocks", name)),
                        hint="rename it",
                    )
                )
            out[name] = BlockSource(name, bdef, doc, ("blocks", name), "inline")
        return out

    def _body(
        self, ctx: Ctx, body: BlockBody, inputs: Mapping[str, Ref | _Absent]
    ) -> list[tuple[str, Ref, SourceLoc]]:
        table: dict[str, Any] = {k: v if v is ABSENT else [v] for k, v in inputs.items()}
        named: dict[str, dict[str, Ref]] = {}
        errors_before = len(self.errors.errors)
        plan = self._plan(ctx, body)
        order, raws = self._order(ctx, plan, set(table))
        if len(order) < len(plan.names):
            ordered = set(order)
            table.update({n: FAILED for n in body.nodes if n not in ordered})  # in a cycle, reported
        nodes = body.nodes
        for name in order:
            spec = nodes[name]
            try:
                raw_in = spec.in_ if raws is None else raws[name]
                table[name] = self._node(ctx, name, spec, table, named, plan, raw_in)
            except NetdslError as e:
                self.errors.add(e)
                table[name] = FAILED
            except _Reported:
                table[name] = FAILED
        if len(self.errors.errors) == errors_before:  # with errors, 'unused' is often their echo
            self._warn_unused(ctx, body, table, plan, raws)
        outs: list[tuple[str, Ref, SourceLoc]] = []
        raw = body.outputs
        items = (
            [(raw, raw)]
            if isinstance(raw, str)
            else [(r, r) for r in raw]
            if isinstance(raw, list)
            else list(raw.items())
        )
        failed = False
        for i, (oname, ref) in enumerate(items):
            path = (*ctx.base, "outputs") + (
                (oname,) if isinstance(raw, dict) else (i,) if isinstance(raw, list) else ()
            )
            loc = ctx.doc.loc(path)
            try:
                target = self._eval_at(ref, ctx.env, loc)
                if target is None:  # an output that this configuration leaves out
                    continue
                r = self._ref(str(target), table, named, loc)
            except NetdslError as e:
                self.errors.add(e)
                r = None
            except _Reported:
                r = None
            if r is None:
                failed = True
            else:
                outs.append((str(oname), r, loc))
        if failed:
            return []  # its errors are reported; users of this body are skipped
        if not outs:
            self.errors.add(
                ResolveError("every output is left out (null) here", ctx.doc.loc((*ctx.base, "outputs")))
            )
        return outs

    def _plan(self, ctx: Ctx, body: BlockBody) -> _Plan:
        key = (id(body), ctx.base, id(ctx.doc))
        plan = self._plans.get(key)
        if plan is not None and plan.body is body and plan.doc is ctx.doc:
            return plan
        names = list(body.nodes)
        specs = body.nodes
        attrs = {n: specs[n].attrs for n in names}
        plain = {n: _plain(a) for n, a in attrs.items()}
        in_names = {n: _names(specs[n].in_) for n in names}
        plan = _Plan(
            body,
            ctx.base,
            ctx.doc,
            names,
            {n: i for i, n in enumerate(names)},
            {n: (*ctx.base, "nodes", n) for n in names},
            attrs,
            plain,
            {n: _attrs_key(a) for n, a in attrs.items() if plain[n]},
            in_names,
            all(_plain(specs[n].in_) for n in names),
            _plain(body.outputs),
        )
        self._plans[key] = plan
        return plan

    def _order(self, ctx: Ctx, plan: _Plan, inputs: set[str]) -> tuple[list[str], dict[str, Any] | None]:
        """Topological order of a body's nodes, ties broken by spec order; and each node's `in:` as
        evaluated here (UNRESOLVED where that failed), or None when every `in:` is plain (its own value)."""
        if plan.plain_in:
            known = plan.orders.get(frozenset(inputs))
            if known is not None:
                return known, None
        body = plan.body
        names = plan.names
        index = plan.index
        raws: dict[str, Any] | None = None if plan.plain_in else {}
        deps: dict[str, set[str]] = {}
        for n in names:
            deps[n] = set()
            raw: Any = body.nodes[n].in_
            if raws is not None:
                try:
                    raw = raws[n] = resolve_value(raw, ctx.env)
                except NetdslError:
                    raws[n] = UNRESOLVED
                    continue  # reported when the node is resolved
            for ref in _ref_strings(raw):
                target = ref if ref in index else ref.rsplit(".", 1)[0]
                if target in index and ref not in inputs:
                    deps[n].add(target)
        users: dict[str, list[str]] = {n: [] for n in names}
        for n, ds in deps.items():
            for d in ds:
                users[d].append(n)
        pending = {n: len(ds) for n, ds in deps.items()}
        heap = [index[n] for n in names if pending[n] == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            n = names[heapq.heappop(heap)]
            order.append(n)
            for u in users[n]:
                pending[u] -= 1
                if pending[u] == 0:
                    heapq.heappush(heap, index[u])
        if len(order) < len(names):
            stuck = [n for n in names if pending[n] > 0]
            cycle = _find_cycle(stuck, deps)[::-1]  # in the direction data flows
            start = min(range(len(cycle)), key=lambda i: index[cycle[i]])  # from the first in the spec
            cycle = cycle[start:] + cycle[:start]
            first = cycle[0]
            self.errors.add(
                ResolveError(
                    "the graph has a cycle: " + " -> ".join((*cycle, first)) + " (each feeds the next)",
                    ctx.doc.loc((*ctx.base, "nodes", first, "in")),
                    hint="a node cannot use its own output, directly or through other nodes",
                )
            )
        elif raws is None:
            plan.orders[frozenset(inputs)] = order
        return order, raws

    def _node(
        self,
        ctx: Ctx,
        name: str,
        spec: NodeSpec,
        table: dict[str, Any],
        named: dict[str, dict[str, Ref]],
        plan: _Plan,
        raw_in: Any,
    ) -> Any:
        path = plan.paths[name]
        doc = ctx.doc
        loc = doc.key_loc(path)
        if spec.when is not None:
            keep = self._eval(spec.when, ctx.env, doc, (*path, "when"))
            if not isinstance(keep, bool):
                raise ResolveError(
                    f"`when` must be true or false, got {describe(keep)}", doc.loc((*path, "when"))
                )
            if not keep:
                return None
        if spec.repeat is not None and spec.parallel is not None:
            raise ResolveError("a node has `repeat` (a chain) or `parallel` (side by side), not both", loc)
        mode_key = "repeat" if spec.repeat is not None else "parallel" if spec.parallel is not None else None
        count = 1
        if mode_key is not None:
            rloc = doc.loc((*path, mode_key))
            count_v = self._eval_at(getattr(spec, mode_key), ctx.env, rloc)
            if not isinstance(count_v, int) or isinstance(count_v, bool) or not 1 <= count_v <= MAX_REPEAT:
                raise ResolveError(
                    f"`{mode_key}` must be an integer from 1 to {MAX_REPEAT}, got {describe(count_v)}", rloc
                )
            count = count_v
        if plan.in_names[name] and any(ctx.env.get(n) is FAILED for n in plan.in_names[name]):
            raise _Reported
        refs = self._inputs(ctx, spec, path, table, named, raw_in)
        if refs is None:
            return FAILED
        op_name = None
        if spec.op is not None:
            op_name = self._eval(spec.op, ctx.env, doc, (*path, "op"))
            if not isinstance(op_name, str):
                raise ResolveError(f"`op` must name an op, got {describe(op_name)}", doc.loc((*path, "op")))
        prefix = f"{ctx.scope.path}.{name}" if ctx.scope.path else name
        spec_attrs, plain_attrs = plan.attrs[name], plan.plain_attrs[name]
        outputs: Outputs = []
        copies: Outputs = []
        before = len(self.nodes)
        for i in range(count):
            if i == 1:
                self._check_expansion(len(self.nodes) - before, count, ctx.scale, mode_key, doc, path)
            node_id = f"{prefix}.{i}" if mode_key else prefix
            env = {**ctx.env, spec.repeat_var: i} if spec.repeat_var else ctx.env
            if i > 0 and mode_key == "repeat" and refs:
                refs = [(refs[0][0], outputs[0]), *refs[1:]]  # a chain: copy i reads copy i-1
            if plain_attrs:
                attrs, attrs_key = dict(spec_attrs), plan.attr_keys[name]
            else:
                attrs = {k: self._eval(v, env, doc, (*path, k)) for k, v in spec_attrs.items()}
                attrs_key = None
            repeat = (prefix, i, count) if mode_key else None
            if op_name is not None:
                outputs = self._op(ctx, spec, op_name, node_id, path, attrs, refs, loc, attrs_key)
            else:
                outputs = self._block(ctx, spec, node_id, path, attrs, refs, loc, repeat, named, name)
            if not outputs:
                raise ResolveError(f"{kind_name(op_name, spec)} {name!r} has no outputs", loc)
            copies.append(outputs[0])
        if mode_key == "parallel":
            outputs = copies  # node.0 .. node.N-1 are the copies' (first) outputs
            named.pop(name, None)
        kind = op_name if op_name is not None else str(spec.block)
        ctx.scope.entries.append(
            Entry(name, prefix, kind, spec.block is not None, count if mode_key else None, tuple(outputs))
        )
        return outputs

    def _check_expansion(
        self, per_copy: int, count: int, scale: int, mode_key: str | None, doc: Doc, path: PathT
    ) -> None:
        """Refuse a repeat that will exceed MAX_NODES before expanding it (nested repeats multiply)."""
        total = per_copy * count * scale
        if total <= MAX_NODES:
            return
        outer = f" in each of {scale:,} enclosing copies" if scale > 1 else ""
        raise ResolveError(
            f"`{mode_key}: {count}` expands to about {total:,} nodes ({per_copy:,} per copy{outer}); "
            f"a network may have at most {MAX_NODES:,}",
            doc.loc((*path, str(mode_key))),
            hint="use fewer copies, or fewer nodes per copy",
        )

    def _inputs(
        self,
        ctx: Ctx,
        spec: NodeSpec,
        path: PathT,
        table: dict[str, Any],
        named: dict[str, dict[str, Ref]],
        raw_in: Any,
    ) -> list[tuple[str | None, Ref]] | None:
        """The node's `in:` as (input name or None, ref); `node.*` stands for all outputs of a node.
        ``raw_in`` is its value, as evaluated when the body was ordered (UNRESOLVED: that failed)."""
        doc = ctx.doc
        if isinstance(raw_in, str):  # (the usual case: one input, a node with outputs)
            entry = table.get(raw_in)
            if type(entry) is list and entry and not raw_in.endswith(".*"):
                return [(None, entry[0])]
        in_path = (*path, "in")
        if raw_in is UNRESOLVED:
            raw_in = self._eval(spec.in_, ctx.env, doc, in_path)  # raises its (located) error
        if isinstance(raw_in, str):
            given: list[tuple[str | None, str, PathT]] = [(None, raw_in, in_path)]
        elif isinstance(raw_in, list):
            given = [(None, str(r), (*in_path, i)) for i, r in enumerate(raw_in)]
        elif isinstance(raw_in, dict):
            given = [(str(k), str(v), (*in_path, str(k))) for k, v in raw_in.items()]
        elif raw_in is None:
            given = []
        else:
            raise ResolveError(
                f"`in` is a name, a list or a mapping, got {describe(raw_in)}", doc.loc(in_path)
            )
        refs: list[tuple[str | None, Ref]] = []
        for key, text, item_path in given:
            entry = table.get(text)
            if type(entry) is list and entry and not text.endswith(".*"):
                refs.append((key, entry[0]))  # (what _ref gives, without making a location)
                continue
            iloc = doc.loc(item_path)
            if text.endswith(".*"):
                outs = table.get(text[:-2])
                if outs is FAILED:
                    return None
                if not isinstance(outs, list) or key is not None:
                    raise ResolveError(
                        f"{text!r}: `name.*` takes all outputs of a node in a list of inputs", iloc
                    )
                refs += [(None, r) for r in outs]
                continue
            r = self._ref(text, table, named, iloc)
            if r is None:
                return None
            refs.append((key, r))
        return refs

    def _op(
        self,
        ctx: Ctx,
        spec: NodeSpec,
        op_name: str,
        node_id: str,
        path: PathT,
        attrs: dict[str, Any],
        refs: list[tuple[str | None, Ref]],
        loc: SourceLoc,
        attrs_key: Any = None,
    ) -> Outputs:
        """An op node (``attrs_key``: the key of ``attrs`` when it is known, else None)."""
        doc = ctx.doc
        opdef = REGISTRY.get(op_name)
        if opdef is None:
            raise ResolveError(
                f"unknown op {op_name!r}",
                doc.loc((*path, "op")),
                expected=REGISTRY,
                hint=_op_hint(op_name, self.library, ctx.inline),
            )
        node_init = self._eval(spec.init, ctx.env, doc, (*path, "init")) if spec.init is not None else None
        if opdef.takes_init_as_attribute and node_init is not None:  # the initialiser of the tensor
            attrs = {**attrs, "init": node_init}
            attrs_key = None
            node_init = None
        elif node_init is not None and not isinstance(node_init, dict):
            raise ResolveError(
                "`init` maps parameter names to initialisers, e.g. `init: {weight: zeros}`",
                doc.loc((*path, "init")),
            )
        key = (op_name, _attrs_key(attrs) if attrs_key is None else attrs_key)
        model = self._models.get(key) if key[1] is not None else None
        if model is None:
            model = self._validate(opdef, op_name, attrs, doc, path)
            if key[1] is not None:
                self._models[key] = model
        for k, _ in refs:
            if k is not None:  # inputs by name
                inputs = _order_inputs(refs, opdef.inputs, opdef.variadic, op_name, doc, path)
                break
        else:
            inputs = [r for _, r in refs]
        if not opdef.arity_ok(len(inputs)):
            raise ResolveError(
                f"op {op_name!r} takes {opdef.arity_text()}, got {len(inputs)}",
                doc.loc((*path, "in")) if spec.in_ is not None else loc,
            )
        for pname, init in (node_init or {}).items():
            self._check_init(opdef, pname, init, doc, path)
        n_out = opdef.outputs(model)
        expect = None
        if spec.expect is not None:
            if any(ctx.env.get(n) is FAILED for n in _names(spec.expect)):
                raise _Reported
            expect = _shape(spec.expect, ctx.env, doc, (*path, "expect"))
        self._add(
            Node(
                node_id,
                op_name,
                model,
                inputs,
                loc,
                ctx.scope,
                dict(node_init or {}),
                expect,
                n_out,
                {k: doc.key_loc((*path, "init", k)) for k in node_init or {}} if node_init else {},
            ),
            opdef,
        )
        return [Ref(node_id, i) for i in range(n_out)] if n_out != 1 else [Ref(node_id)]

    def _validate(self, opdef: Any, op_name: str, attrs: dict[str, Any], doc: Doc, path: PathT) -> Any:
        """The op's attribute model of ``attrs``: unknown names and invalid values are errors."""
        fields = opdef.attrs.model_fields
        for k in attrs:
            if k not in fields:
                raise ResolveError(
                    f"op {op_name!r} has no attribute {k!r}",
                    doc.key_loc((*path, k)),
                    expected=fields or ["(none)"],
                    hint=did_you_mean(k, fields),
                )
        try:
            return opdef.attrs.model_validate(attrs)
        except ValidationError as exc:
            from netdsl.core.errors import NetdslErrors

            errs = model_errors(doc, exc, opdef.attrs, attrs, path)
            for e in errs:
                e.message = f"op {op_name!r}: {e.message}"
            raise NetdslErrors(errs) from None

    def _check_init(self, opdef: Any, pname: str, init: Any, doc: Doc, path: PathT) -> None:
        from netdsl.ops.initializers import parse_init

        iloc = doc.loc((*path, "init", pname))
        if opdef.params is None:
            raise ResolveError(f"op {opdef.name!r} has no parameters to initialise", iloc)
        try:
            parse_init(init)
        except NetdslError as e:
            raise e.at(iloc) from None

    def _block(
        self,
        ctx: Ctx,
        spec: NodeSpec,
        node_id: str,
        path: PathT,
        attrs: dict[str, Any],
        refs: list[tuple[str | None, Ref]],
        loc: SourceLoc,
        repeat: tuple[str, int, int] | None,
        named: dict[str, dict[str, Ref]],
        local: str,
    ) -> Outputs:
        doc = ctx.doc
        assert spec.block is not None
        bname = spec.block
        if bname in ctx.inline:
            src = ctx.inline[bname]
        elif bname in self.library:
            src = self.library.get(bname, at=doc.loc((*path, "block")))
        else:
            known = [*ctx.inline, *self.library.names()]
            raise ResolveError(
                f"unknown block {bname!r}",
                doc.loc((*path, "block")),
                expected=known,
                hint=did_you_mean(bname, known)
                or (f"{bname!r} is an op: use `op: {bname}`" if bname in REGISTRY else None),
            )
        if bname in ctx.stack or len(ctx.stack) >= MAX_BLOCK_DEPTH:
            raise ResolveError(f"block {bname!r} uses itself: " + " -> ".join((*ctx.stack, bname)), loc)
        bdef = src.definition
        for k in attrs:
            if k not in bdef.params:
                raise ResolveError(
                    f"block {bname!r} has no parameter {k!r}",
                    doc.key_loc((*path, k)),
                    expected=bdef.params or ["(none)"],
                    hint=did_you_mean(k, bdef.params),
                )
        if spec.init:
            raise ResolveError(
                "`init` applies to ops; set initialisers inside the block", doc.loc((*path, "init"))
            )
        input_refs = _block_inputs(bdef, refs, bname, doc.loc((*path, "in")) if spec.in_ is not None else loc)
        key = keep = None
        if repeat is not None and repeat[2] > 1:  # a copy: made like the first, when that can be
            keep = (bdef, src.doc, doc, ctx.inline)
            key = _template_key(keep, path, ctx.stack, ctx.scale, spec.in_ is not None, attrs, input_refs)
            tpl = self._templates.get(key) if key is not None and repeat[1] > 0 else None
            if tpl is not None and all(a is b for a, b in zip(tpl.keep, keep, strict=True)):
                stamped = self._stamp(tpl, node_id, ctx.scope, input_refs, repeat)
                if stamped is not None:
                    named[local] = {n: r for n, r, _ in stamped}
                    return [r for _, r, _ in stamped]
        scope = Scope(node_id, bname, ctx.scope, loc, repeat=repeat)
        scope.input_refs = input_refs
        reports, before = self.errors.reports, len(self.nodes)
        given = {k: (v, doc.loc((*path, k))) for k, v in attrs.items()}
        env = self._params(
            bdef, given, src.doc, loc, bname, scope, src.path, _has_inputs(bdef, scope.input_refs)
        )
        if env is None:
            raise _Reported
        for iname, decl in bdef.inputs.items():
            if iname not in scope.input_refs:
                continue
            ipath = _shape_path(decl, (*src.path, "inputs", iname))
            shape = decl.shape if isinstance(decl, InputDecl) else decl
            scope.input_decls[iname] = (_shape(shape, env, src.doc, ipath), loc)
        blocks = bdef.blocks if isinstance(bdef, BlockFile) else None  # (a BlockDef has no `blocks:`)
        inner = Ctx(
            src.doc,
            src.path,
            env,
            {**ctx.inline, **self._inline(blocks, src.doc)} if blocks else ctx.inline,
            scope,
            (*ctx.stack, bname),
            ctx.scale * (repeat[2] if repeat else 1),
        )
        absent = {n: ABSENT for n in bdef.inputs if n not in scope.input_refs}
        outs = self._body(inner, bdef, {**scope.input_refs, **absent})
        if not outs:
            raise _Reported  # the block's body failed; its errors are reported
        if key is not None and keep is not None and repeat is not None and repeat[1] == 0:
            if self.errors.reports == reports:  # (copies of one that reported something are resolved)
                tpl = _template(keep, scope, self.nodes[before:], outs)
                if tpl is not None:
                    self._templates[key] = tpl
        named[local] = {n: r for n, r, _ in outs}
        return [r for _, r, _ in outs]

    def _stamp(
        self, tpl: _Template, path: str, parent: Scope, inputs: dict[str, Ref], repeat: tuple[str, int, int]
    ) -> list[tuple[str, Ref, SourceLoc]] | None:
        """A copy of the block instance ``tpl`` at module path ``path`` on ``inputs``: its nodes and
        scopes, as resolving it would make them; None when resolving it may report something (the
        graph grows too large, a reserved name in ``path``): it is then resolved."""
        if len(self.nodes) + len(tpl.nodes) > MAX_NODES or not self._plain_path(path):
            return None
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
        self.nodes += nodes
        return [(name, refs[i], loc) for (name, _, loc), i in zip(tpl.outs, tpl.out_refs, strict=True)]

    def _eval(self, value: Any, env: Mapping[str, Any], doc: Doc, path: PathT) -> Any:
        """Evaluate the spec value at ``path``; silently give up when it uses a variable whose error is
        reported. The location is made only for an error (evaluation is pure: it is done again)."""
        if value is None or type(value) in _SCALARS or (type(value) is str and "$" not in value):
            return value
        if any(env.get(n) is FAILED for n in _names(value)):
            raise _Reported
        try:
            return resolve_value(value, env)
        except NetdslError:
            return resolve_value(value, env, doc.loc(path))

    def _plain_path(self, node_id: str) -> bool:
        """Whether no component of a module path is reserved (each component is looked at once)."""
        parts = self._parts
        for part in node_id.split("."):
            ok = parts.get(part)
            if ok is None:
                ok = parts[part] = reserved_reason(part) is None
            if not ok:
                return False
        return True

    def _eval_at(self, value: Any, env: Mapping[str, Any], loc: SourceLoc) -> Any:
        """:meth:`_eval` at a location already made."""
        if value is None or type(value) in _SCALARS or (type(value) is str and "$" not in value):
            return value
        if any(env.get(n) is FAILED for n in _names(value)):
            raise _Reported
        return resolve_value(value, env, loc)

    def _add(self, node: Node, opdef: Any = None) -> None:
        if len(self.nodes) >= MAX_NODES:
            raise ResolveError(f"the network expands to more than {MAX_NODES} nodes", node.loc)
        if (opdef or node.opdef).installs and not self._plain_path(node.id):
            from netdsl.ir.reserved import check_node_path

            check_node_path(node)  # a module path torch cannot install (forward, eval, class, ...)
        self.nodes.append(node)

    def _ref(
        self, text: str, table: dict[str, Any], named: dict[str, dict[str, Ref]], loc: SourceLoc
    ) -> Ref | None:
        entry = table.get(text)
        if entry is None and text not in table and "." in text:
            base, _, suffix = text.rpartition(".")
            if base in table:
                outs = table[base]
                if outs is FAILED:
                    return None
                if outs is None:
                    raise ResolveError(f"{base!r} is switched off by its `when:` and has no outputs", loc)
                if suffix.isdigit() and int(suffix) < len(outs):
                    return outs[int(suffix)]  # type: ignore[no-any-return]
                if suffix in named.get(base, {}):
                    return named[base][suffix]
                choices = list(named.get(base, {})) or [str(i) for i in range(len(outs))]
                raise ResolveError(
                    f"{base!r} has no output {suffix!r}",
                    loc,
                    expected=choices,
                    hint=did_you_mean(suffix, choices),
                )
        if text not in table:
            raise ResolveError(
                f"unknown node or input {text!r}", loc, expected=list(table), hint=did_you_mean(text, table)
            )
        if entry is FAILED:
            return None
        if entry is ABSENT:
            raise ResolveError(
                f"the optional input {text!r} is not connected here",
                loc,
                hint=f"switch this node off when it is missing: `when: $has_{text}`",
            )
        if entry is None:
            raise ResolveError(f"{text!r} is switched off by its `when:` and has no outputs", loc)
        if not entry:
            raise ResolveError(f"{text!r} has no outputs", loc)
        return entry[0]  # type: ignore[no-any-return]

    def _warn_unused(
        self, ctx: Ctx, body: BlockBody, table: dict[str, Any], plan: _Plan, raws: dict[str, Any] | None
    ) -> None:
        used = plan.used if raws is None else None
        if used is None:
            used = self._used(ctx, body, raws)
            if raws is None and plan.plain_outputs:
                plan.used = used
        for name, spec in body.nodes.items():
            if (
                name not in used
                and table.get(name) not in (None, FAILED)
                and (spec.op not in REGISTRY or REGISTRY[spec.op].warn_if_unused)
                and not spec.expect
            ):
                self.errors.warn(
                    f"node {name!r} is not used by any output", ctx.doc.key_loc((*ctx.base, "nodes", name))
                )

    def _used(self, ctx: Ctx, body: BlockBody, raws: dict[str, Any] | None) -> set[str]:
        """The names the nodes' `in:` (``raws``: as evaluated, None: as written) and outputs use."""
        raw = body.outputs
        out_refs = (
            [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else list(raw.values())
        )
        used: set[str] = set()
        for name, spec in body.nodes.items():
            value = spec.in_ if raws is None else raws[name]
            if value is UNRESOLVED:
                continue
            refs = _ref_strings(value)
            used |= {r.split(".")[0] for r in refs}
            used |= set(refs)
        for r in out_refs:
            try:
                text = str(resolve_value(r, ctx.env))
            except NetdslError:
                continue
            used |= {text, text.rsplit(".", 1)[0]}
        return used


def _init_fields(cls: type) -> dict[str, int]:
    """A dataclass's fields and their positions in its constructor ({} when some field is not one of
    its arguments: its instances are then not copied by calling it)."""
    fields = dataclasses.fields(cls)
    return {f.name: i for i, f in enumerate(fields)} if all(f.init for f in fields) else {}


_NODE_FIELDS, _SCOPE_FIELDS, _ENTRY_FIELDS = _init_fields(Node), _init_fields(Scope), _init_fields(Entry)
#: whether copies can be stamped out: the fields a copy changes are there, all set by the constructors
_STAMPABLE = (
    {"id", "scope", "inputs", "init", "init_locs", "expect"} <= _NODE_FIELDS.keys()
    and {"path", "parent", "repeat", "input_refs", "input_decls", "dim_params", "params", "entries"}
    <= _SCOPE_FIELDS.keys()
    and {"path", "outputs"} <= _ENTRY_FIELDS.keys()
)


def _template_key(
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
    values = _attrs_key(attrs)
    if values is None:
        return None
    refs = list(inputs.values())
    same = tuple(refs.index(r) for r in refs)
    return (*map(id, keep), path, stack, scale, has_in, values, tuple(inputs), same)


def _template(
    keep: tuple[object, ...], scope: Scope, nodes: list[Node], outs: list[tuple[str, Ref, SourceLoc]]
) -> _Template | None:
    """The template of a block instance (``scope``, the ``nodes`` it made, its ``outs``), or None when
    its parts are not where copies can be made from them (all below its path, plain objects)."""
    prefix = scope.path + "."
    scopes = [scope]
    seen = {id(scope)}
    if not _STAMPABLE:
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
    return _Template(
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


def _origin(loc: SourceLoc | None) -> str:
    if loc is None:
        return "default"
    if loc.file == "--set":
        return "--set"
    return "example" if loc.path[:1] == ("example",) else "default"


def kind_name(op_name: str | None, spec: NodeSpec) -> str:
    return f"op {op_name!r}" if op_name is not None else f"block {spec.block!r}"


_SCALARS = (int, float, bool)


def _plain(value: Any) -> bool:
    """Whether ``value`` holds no expression (no string with '$'): its value is itself."""
    t = type(value)
    if t is str:
        return "$" not in value
    if t is int or t is float or t is bool or value is None:
        return True
    if isinstance(value, str):
        return "$" not in value
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    return True


def _attrs_key(attrs: dict[str, Any]) -> Any:
    """:func:`_value_key` of a node's attributes (their names are strings), or None."""
    out = []
    for k, v in attrs.items():
        t = type(v)
        if t is int or t is str or t is bool or v is None:
            out.append((k, t, v))
        elif t is float:
            out.append((k, t, repr(v)))
        else:
            sub = _value_key(v)
            if sub is None:
                return None
            out.append((k, t, sub))
    return tuple(out)


def _value_key(value: Any) -> Any:
    """A hashable key equal only for values of the same types and values (None: no key for it)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return (t, value)
    if t is float:
        return (t, repr(value))  # (-0.0 and 0.0 are equal, but not the same attribute)
    if t is list or t is tuple:
        items = tuple(_value_key(v) for v in value)
        return None if None in items else (t, items)
    if t is dict:
        pairs = tuple((k, _value_key(v)) for k, v in value.items() if type(k) is str)
        if len(pairs) != len(value) or any(v is None for _, v in pairs):
            return None
        return (t, pairs)
    return None


def _names(value: Any) -> frozenset[str]:
    """Names a value's expressions use (none for a broken expression: evaluating it reports it)."""
    try:
        return referenced_names(value)
    except NetdslError:
        return frozenset()


def _find_cycle(stuck: list[str], deps: dict[str, set[str]]) -> list[str]:
    stuck_set = set(stuck)
    start = stuck[0]
    seen: dict[str, int] = {}
    path: list[str] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = sorted(d for d in deps[node] if d in stuck_set)[0]
    return path[seen[node] :]


def _ref_strings(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [str(r) for r in raw]
    if isinstance(raw, dict):
        return [str(v) for v in raw.values()]
    return []


def _optional(decl: Any) -> bool:
    return isinstance(decl, InputDecl) and decl.optional


def _has_inputs(bdef: BlockBody, present: Mapping[str, Any]) -> dict[str, bool]:
    """`has_<input>` for each optional input: whether it is connected."""
    return {f"has_{n}": n in present for n, d in bdef.inputs.items() if _optional(d)}


def _block_inputs(
    bdef: BlockBody, refs: list[tuple[str | None, Ref]], what: str, loc: SourceLoc
) -> dict[str, Ref]:
    """Map a block instance's inputs (positional or by name) to its declared inputs."""
    names = list(bdef.inputs)
    if any(k is not None for k, _ in refs):
        out = {}
        for k, r in refs:
            if k not in names:
                raise ResolveError(
                    f"block {what!r} has no input named {k!r}",
                    loc,
                    expected=names,
                    hint=did_you_mean(str(k), names),
                )
            out[str(k)] = r
    else:
        if len(refs) > len(names):
            raise ResolveError(
                f"block {what!r} takes {len(names)} input(s) ({', '.join(names)}), got {len(refs)}", loc
            )
        out = {n: r for n, (_, r) in zip(names, refs, strict=False)}
    missing = [n for n, d in bdef.inputs.items() if n not in out and not _optional(d)]
    if missing:
        raise ResolveError(
            f"block {what!r} needs input {missing[0]!r} (its inputs: {', '.join(names)}), got {len(refs)}",
            loc,
        )
    return out


def _order_inputs(
    refs: list[tuple[str | None, Ref]],
    names: tuple[str, ...],
    variadic: bool,
    what: str,
    doc: Doc,
    path: PathT,
) -> list[Ref]:
    """The refs of an op's inputs in the op's order (given by name or by position); errors at `in:`."""
    for k, _ in refs:
        if k is not None:
            break
    else:
        return [r for _, r in refs]
    loc = doc.loc((*path, "in"))
    if variadic:
        raise ResolveError(f"{what!r} takes a list of inputs, not a mapping", loc)
    by_name = {k: r for k, r in refs}
    for k in by_name:
        if k not in names:
            raise ResolveError(
                f"{what!r} has no input named {k!r}", loc, expected=names, hint=did_you_mean(str(k), names)
            )
    out = []
    for n in names:
        if n in by_name:
            out.append(by_name[n])
        else:
            break
    if len(out) != len(by_name):
        missing = [n for n in names[: len(by_name)] if n not in by_name]
        raise ResolveError(f"{what!r}: input {missing[0]!r} is missing (inputs are {', '.join(names)})", loc)
    return out


def _shape_path(decl: Any, path: PathT) -> PathT:
    return (*path, "shape") if isinstance(decl, InputDecl) else path


def _shape(dims: list[int | str], env: Mapping[str, Any], doc: Doc, path: PathT) -> list[int | str]:
    """Evaluate the expressions of a declared shape; each error is located at its dim."""
    for dim in dims:  # (usually: plain names and sizes, which are their own values)
        if not ((type(dim) is str and "$" not in dim) or (type(dim) is int and 0 <= dim < 2**63)):
            break
    else:
        return list(dims)
    out: list[int | str] = []
    for i, raw in enumerate(dims):
        loc = doc.loc((*path, i))
        try:
            d = resolve_value(raw, env, loc)
        except NetdslError as e:
            if e.message.startswith("unknown name") and isinstance(raw, str) and raw.startswith("$"):
                e.hint = (
                    f"if {raw.lstrip('$').strip('{}')} is a symbolic dim, write it without `$` "
                    "(`$name` is for variables and parameters)"
                )
            raise
        if isinstance(d, bool) or not isinstance(d, int | str):
            raise ResolveError(f"a dim is an integer or a name, got {describe(d)}", loc)
        if isinstance(d, int) and d < 0:
            raise ResolveError(f"a dim must be >= 0, got {d}", loc)
        if isinstance(d, int) and d >= 2**63:
            raise ResolveError(f"a dim must be below 2**63, got {d}", loc)
        out.append(d)
    return out


_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "dim": (int, str),
}


def _check_param(decl: ParamDecl, value: Any) -> str | None:
    if value is None and not decl.required and decl.default is None:
        return None  # an optional parameter left unset (`default: null`)
    if decl.type != "any":
        ok = isinstance(value, _PARAM_TYPES[decl.type]) and (
            decl.type == "bool" or not isinstance(value, bool)
        )
        if not ok:
            return f"expected {decl.type}, got {describe(value)}"
    if value is None and not decl.required:
        return None
    if decl.choices is not None and value not in decl.choices:
        return f"{value!r} is not one of {decl.choices}"
    return None


def _op_hint(name: str, library: BlockLibrary, inline: Mapping[str, BlockSource]) -> str | None:
    if name in library or name in inline:
        return f"{name!r} is a block: use `block: {name}`"
    return did_you_mean(name, REGISTRY)


__all__ = ["RequireRule", "Resolver"]

"""Block instances: a block's parameters bound, its inputs wired, its body resolved in a scope of
its own; the copies of a repeated instance stamped out from a template of the first copy when they
can be (:mod:`.template`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.core.errors import ResolveError
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.schema import BlockBody, BlockFile, InputDecl
from netdsl.ir.graph import Ref, Scope
from netdsl.passes.resolve.blocks import find_block, inline_blocks
from netdsl.passes.resolve.context import Ctx, Site
from netdsl.passes.resolve.dims import eval_shape, shape_path
from netdsl.passes.resolve.env import BlockCall, Given, Provenance, bind_params
from netdsl.passes.resolve.limits import MAX_BLOCK_DEPTH, MAX_NODES
from netdsl.passes.resolve.opnode import OpMaker
from netdsl.passes.resolve.symbols import ABSENT, Absent, Reported
from netdsl.passes.resolve.tally import Tally
from netdsl.passes.resolve.template import BlockOuts, Template, make_template, stamp, template_key
from netdsl.passes.resolve.wiring import block_inputs, has_inputs


class InstanceMaker(OpMaker):
    """Makes block instances; resolving their bodies is :meth:`body` (in :class:`.expand.Expander`)."""

    def __init__(self, errors: Tally) -> None:
        super().__init__(errors)
        self._templates: dict[tuple[object, ...], Template] = {}

    def body(self, ctx: Ctx, body: BlockBody, inputs: Mapping[str, Ref | Absent]) -> BlockOuts:
        raise NotImplementedError  # pragma: no cover (Expander resolves bodies)

    def _block(
        self,
        site: Site,
        bname: str,
        node_id: str,
        attrs: dict[str, Any],
        refs: list[tuple[str | None, Ref]],
        repeat: tuple[str, int, int] | None,
    ) -> list[Ref]:
        """One block instance at module path ``node_id`` given ``attrs`` on ``refs``: its outputs."""
        ctx, spec, path, loc = site.ctx, site.spec, site.path, site.loc
        doc = ctx.doc
        src = find_block(bname, ctx.inline, self.library, doc, path)
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
        input_refs = block_inputs(bdef, refs, bname, doc.loc((*path, "in")) if spec.in_ is not None else loc)
        key = keep = None
        if repeat is not None and repeat[2] > 1 and node_id != ctx.scope.path:  # a copy: made like the first
            keep = (bdef, src.doc, doc, ctx.inline)
            key = template_key(keep, path, ctx.stack, ctx.scale, spec.in_ is not None, attrs, input_refs)
            tpl = self._templates.get(key) if key is not None and repeat[1] > 0 else None
            if tpl is not None and all(a is b for a, b in zip(tpl.keep, keep, strict=True)):
                stamped = self._stamp(tpl, node_id, ctx.scope, input_refs, repeat)
                if stamped is not None:
                    site.named[site.name] = {n: r for n, r, _ in stamped}
                    return [r for _, r, _ in stamped]
        scope = Scope(node_id, bname, ctx.scope, loc, repeat=repeat, entry=site.name)
        scope.input_refs = input_refs
        reports, before = self.errors.reports, len(self.nodes)
        given = {k: Given(v, Provenance("block argument", doc.loc((*path, k)))) for k, v in attrs.items()}
        call = BlockCall(bdef, bname, src.doc, loc, given, src.path, has_inputs(bdef, input_refs))
        env = bind_params(call, scope, self.errors)
        if env is None:
            raise Reported
        for iname, decl in bdef.inputs.items():
            if iname not in input_refs:
                continue
            ipath = shape_path(decl, (*src.path, "inputs", iname))
            shape = decl.shape if isinstance(decl, InputDecl) else decl
            scope.input_decls[iname] = (eval_shape(shape, env, src.doc, ipath), loc)
        blocks = bdef.blocks if isinstance(bdef, BlockFile) else None  # (a BlockDef has no `blocks:`)
        inner = Ctx(
            src.doc,
            src.path,
            env,
            {**ctx.inline, **inline_blocks(blocks, src.doc, self.library, self.errors)}
            if blocks
            else ctx.inline,
            scope,
            (*ctx.stack, bname),
            ctx.scale * (repeat[2] if repeat else 1),
        )
        absent = {n: ABSENT for n in bdef.inputs if n not in input_refs}
        outs = self.body(inner, bdef, {**input_refs, **absent})
        if not outs:
            raise Reported  # the block's body failed; its errors are reported
        scope.outputs = tuple((n, r) for n, r, _ in outs)
        if key is not None and keep is not None and repeat is not None and repeat[1] == 0:
            if self.errors.reports == reports:  # (copies of one that reported something are resolved)
                tpl = make_template(keep, scope, self.nodes[before:], outs)
                if tpl is not None:
                    self._templates[key] = tpl
        site.named[site.name] = {n: r for n, r, _ in outs}
        return [r for _, r, _ in outs]

    def _stamp(
        self, tpl: Template, path: str, parent: Scope, inputs: dict[str, Ref], repeat: tuple[str, int, int]
    ) -> BlockOuts | None:
        """A copy of the block instance ``tpl`` (see :func:`stamp`); None when resolving it may report
        something (the graph grows too large, a reserved name in ``path``): it is then resolved."""
        if len(self.nodes) + len(tpl.nodes) > MAX_NODES or not self.plain_path(path):
            return None
        nodes, outs = stamp(tpl, path, parent, inputs, repeat)
        if any(n.id in self.ids for n in nodes):
            return None  # (resolved instead, which reports it)
        self.ids.update((n.id, n) for n in nodes)
        self.nodes += nodes
        return outs

"""The resolver's entry points: a network (its variant and overrides) or a block built on its own
(its parameters from --set, defaults and `example:`), resolved into an IR graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.core.errors import ErrorCollector, ResolveError, SourceLoc, UsageError
from netdsl.core.gcpause import no_gc
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.library import BlockLibrary
from netdsl.frontend.schema import BlockFile, NetworkFile
from netdsl.frontend.yaml_loader import Doc
from netdsl.ir.graph import Graph, Ref, Scope
from netdsl.passes.resolve.blocks import inline_blocks
from netdsl.passes.resolve.context import Ctx
from netdsl.passes.resolve.dims import check_dims, graph_inputs
from netdsl.passes.resolve.env import (
    BlockCall,
    Given,
    Provenance,
    bind_params,
    eval_vars,
    network_values,
    override_loc,
)
from netdsl.passes.resolve.expand import Expander
from netdsl.passes.resolve.symbols import ABSENT
from netdsl.passes.resolve.tally import Tally
from netdsl.passes.resolve.wiring import has_inputs, optional


class Resolver(Expander):
    """Resolves a validated spec into an IR graph; errors go to ``errors`` (all of them, one run)."""

    def __init__(self, library: BlockLibrary, errors: ErrorCollector) -> None:
        super().__init__(Tally(errors))
        self.library = library

    def network(
        self, spec: NetworkFile, doc: Doc, variant: str | None, overrides: Mapping[str, Any]
    ) -> Graph:
        with no_gc():  # many objects, no garbage cycles: collections would only walk them, often
            return self._network(spec, doc, variant, overrides)

    def _network(
        self, spec: NetworkFile, doc: Doc, variant: str | None, overrides: Mapping[str, Any]
    ) -> Graph:
        variant, given = network_values(spec, doc, variant, overrides, self.errors)
        env = eval_vars({k: g.value for k, g in given.items()}, lambda n: _loc(given[n]), {}, self.errors)
        for name, decl in spec.inputs.items():
            if optional(decl):
                self.errors.add(
                    ResolveError("a network's inputs are all required", doc.loc(("inputs", name, "optional")))
                )
        root = Scope("", None, None, doc.loc(()))
        inputs = graph_inputs(spec, doc, env, self.errors)
        check_dims(spec.dims, inputs, doc, self.errors)
        inline = inline_blocks(spec.blocks, doc, self.library, self.errors)
        ctx = Ctx(doc, (), env, inline, root, ())
        outs = self.body(ctx, spec, {i.name: Ref(i.name) for i in inputs})
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
        for k in overrides:
            if k not in spec.params:
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
            k: Given(v, Provenance("example", edoc.loc(("example", k))))
            for k, v in spec.example.items()
            if k in spec.params and spec.params[k].required
        }
        given |= {k: Given(v, Provenance("override", override_loc(k))) for k, v in overrides.items()}
        call_loc = edoc.key_loc(("example",)) if spec.example else loc
        call = BlockCall(spec, spec.block, doc, call_loc, given, initial=has_inputs(spec, {}), cli=True)
        env = bind_params(call, root, self.errors)
        if env is None:
            self.errors.raise_if_any()
            raise ResolveError("block parameters do not resolve", loc)
        inputs = graph_inputs(spec, doc, env, self.errors)
        check_dims(spec.dims, inputs, doc, self.errors)
        ctx = Ctx(
            doc, (), env, inline_blocks(spec.blocks, doc, self.library, self.errors), root, (spec.block,)
        )
        absent = {n: ABSENT for n, d in spec.inputs.items() if optional(d)}
        outs = self.body(ctx, spec, {**{i.name: Ref(i.name) for i in inputs}, **absent})
        return Graph(spec.block, "block", doc.file, inputs, self.nodes, outs, root, dict(spec.dims))


def _loc(given: Given) -> SourceLoc:
    loc = given.prov.loc
    assert loc is not None  # (every variable's value is written somewhere, or given by --set)
    return loc

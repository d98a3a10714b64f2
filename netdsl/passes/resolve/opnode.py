"""Op nodes: the op looked up, its attributes validated (equal attributes share one model), its
inputs matched to the op's, its initialisers checked, and the node added to the graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from netdsl.core.errors import NetdslError, NetdslErrors, PathT, ResolveError
from netdsl.core.plugins import PluginError
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.library import BlockLibrary, BlockSource
from netdsl.frontend.validate import model_errors
from netdsl.frontend.yaml_loader import Doc
from netdsl.ir.graph import Node, Ref
from netdsl.ir.reserved import reserved_reason
from netdsl.ops import REGISTRY
from netdsl.passes.resolve.dims import eval_shape
from netdsl.passes.resolve.limits import MAX_NODES
from netdsl.passes.resolve.symbols import FAILED, Reported
from netdsl.passes.resolve.tally import Tally
from netdsl.passes.resolve.values import attrs_key as key_of
from netdsl.passes.resolve.values import evaluate, names
from netdsl.passes.resolve.wiring import op_inputs

if TYPE_CHECKING:
    from netdsl.passes.resolve.context import Site


class OpMaker:
    """Makes the graph's nodes (:attr:`nodes`), reporting to :attr:`errors`."""

    library: BlockLibrary

    def __init__(self, errors: Tally) -> None:
        self.errors = errors
        self.nodes: list[Node] = []
        #: validated attributes by op and value (the models are frozen: nodes with equal attributes
        #: share one, and shape inference reuses what it inferred for it)
        self._models: dict[tuple[str, Any], Any] = {}
        self._parts: dict[str, bool] = {}
        #: the ids (module paths) of :attr:`nodes`, and each one's node
        self.ids: dict[str, Node] = {}

    def op_node(
        self,
        site: Site,
        op_name: str,
        node_id: str,
        attrs: dict[str, Any],
        refs: list[tuple[str | None, Ref]],
        attrs_key: Any = None,
    ) -> list[Ref]:
        """The op node ``node_id`` of ``site`` (``attrs_key``: the key of ``attrs`` when it is known,
        else None): its outputs."""
        ctx, spec, path, loc = site.ctx, site.spec, site.path, site.loc
        doc = ctx.doc
        try:
            opdef = REGISTRY.get(op_name)  # (may load the plugin that defines it)
        except PluginError as e:
            raise e.at(doc.loc((*path, "op"))) from None
        if opdef is None:
            raise ResolveError(
                f"unknown op {op_name!r}",
                doc.loc((*path, "op")),
                expected=REGISTRY,
                hint=_op_hint(op_name, self.library, ctx.inline),
            )
        node_init = evaluate(spec.init, ctx.env, doc, (*path, "init")) if spec.init is not None else None
        if opdef.takes_init_as_attribute and node_init is not None:  # the initialiser of the tensor
            attrs = {**attrs, "init": node_init}
            attrs_key = None
            node_init = None
        elif node_init is not None and not isinstance(node_init, dict):
            raise ResolveError(
                "`init` maps parameter names to initialisers, e.g. `init: {weight: zeros}`",
                doc.loc((*path, "init")),
            )
        key = (op_name, key_of(attrs) if attrs_key is None else attrs_key)
        model = self._models.get(key) if key[1] is not None else None
        if model is None:
            model = _validate(opdef, op_name, attrs, doc, path)
            if key[1] is not None:
                self._models[key] = model
        if any(k is not None for k, _ in refs):  # inputs by name
            inputs = op_inputs(refs, opdef.inputs, opdef.variadic, op_name, doc.loc((*path, "in")))
        else:
            inputs = [r for _, r in refs]
        if not opdef.arity_ok(len(inputs)):
            raise ResolveError(
                f"op {op_name!r} takes {opdef.arity_text()}, got {len(inputs)}",
                doc.loc((*path, "in")) if spec.in_ is not None else loc,
            )
        for pname, init in (node_init or {}).items():
            _check_init(opdef, pname, init, doc, path)
        n_out = opdef.outputs(model)
        expect = None
        if spec.expect is not None:
            if any(ctx.env.get(n) is FAILED for n in names(spec.expect)):
                raise Reported
            expect = eval_shape(spec.expect, ctx.env, doc, (*path, "expect"))
        self.add_node(
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

    def add_node(self, node: Node, opdef: Any = None) -> None:
        if len(self.nodes) >= MAX_NODES:
            raise ResolveError(f"the network expands to more than {MAX_NODES} nodes", node.loc)
        if (opdef or node.opdef).installs and not self.plain_path(node.id):
            from netdsl.ir.reserved import check_node_path

            check_node_path(node)  # a module path torch cannot install (forward, eval, class, ...)
        if node.id in self.ids:
            raise duplicate_path(node, self.ids[node.id])
        self.ids[node.id] = node
        self.nodes.append(node)

    def plain_path(self, node_id: str) -> bool:
        """Whether no component of a module path is reserved (each component is looked at once)."""
        parts = self._parts
        for part in node_id.split("."):
            ok = parts.get(part)
            if ok is None:
                ok = parts[part] = reserved_reason(part) is None
            if not ok:
                return False
        return True


def _validate(opdef: Any, op_name: str, attrs: dict[str, Any], doc: Doc, path: PathT) -> Any:
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
        errs = model_errors(doc, exc, opdef.attrs, attrs, path)
        raise NetdslErrors([e.evolve(message=f"op {op_name!r}: {e.message}") for e in errs]) from None


def _check_init(opdef: Any, pname: str, init: Any, doc: Doc, path: PathT) -> None:
    from netdsl.ops.initializers import parse_init

    iloc = doc.loc((*path, "init", pname))
    if opdef.params is None:
        raise ResolveError(f"op {opdef.name!r} has no parameters to initialise", iloc)
    try:
        parse_init(init)
    except NetdslError as e:
        raise e.at(iloc) from None


def _op_hint(name: str, library: BlockLibrary, inline: Mapping[str, BlockSource]) -> str | None:
    if name in library or name in inline:
        return f"{name!r} is a block: use `block: {name}`"
    return did_you_mean(name, REGISTRY)


def duplicate_path(node: Node, first: Node) -> ResolveError:
    """The error of a node whose module path ``first`` has already."""
    scope = node.scope
    shared = next((s for s in scope.chain()[1:] if s.parent is not None and s.path == s.parent.path), None)
    leaf = node.id.rpartition(".")[2]
    if shared is not None:
        hint = (
            f"block instance {shared.entry!r} has `path: ''`: its nodes' paths join the enclosing block's, "
            f"so each needs a `path:` of its own there, one that uses a parameter (e.g. '{leaf}${{stage}}')"
        )
    else:
        hint = "rename one of them, or give one a `path:` of its own"
    if (first.loc.file, first.loc.line, first.loc.col) == (node.loc.file, node.loc.line, node.loc.col):
        what = f"two copies of this node have the module path {node.id!r}"
    else:
        at = (
            f"{first.loc.file}:{first.loc.line}"
            if first.loc.file != node.loc.file
            else f"line {first.loc.line}"
        )
        what = f"two nodes have the module path {node.id!r}: this one and the {first.op} node at {at}"
    return ResolveError(what, node.loc, hint=hint)

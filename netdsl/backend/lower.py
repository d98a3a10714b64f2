"""Lowering pass: shape-checked IR -> ``torch.fx.Graph`` -> ``torch.fx.GraphModule``.

Each IR node becomes a few fx nodes through its op's lowering (``netdsl.ops.lowerings``); weighted
ops become submodules at the node's path, so ``state_dict()`` keys are the spec's
node paths (``stage.0.conv1.weight``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.node import Argument, Target

from netdsl.backend.inplace import make_in_place
from netdsl.backend.provenance import SpecGraphModule, stack_trace, track
from netdsl.core.errors import BuildError, NetdslError, SourceLoc
from netdsl.core.symbolic import Atom, FloorDiv, Sym
from netdsl.core.types import TensorType
from netdsl.ir.graph import Graph, Node, Ref, Scope
from netdsl.ir.reserved import safe_argument
from netdsl.ops import REGISTRY
from netdsl.ops.lowerings import LOWERINGS
from netdsl.ops.lowerings.initializers import apply_init
from netdsl.passes.constants import constant_nodes
from netdsl.passes.shapes import ShapeResult


class LowerCtx:
    """:class:`netdsl.ops.lowerings.LowerCtx` on a ``torch.fx.Graph``: what an op's lowering function
    uses to emit fx nodes. The result nodes of the current spec node are created under its name."""

    def __init__(self, graph: fx.Graph, root: nn.Module) -> None:
        self.graph = graph
        self.root = root
        self.node: Node | None = None
        self.in_types: list[TensorType] = []
        #: the result nodes emitted for the current node, in order
        self.results: list[fx.Node] = []
        self._sources: dict[Sym, tuple[fx.Node, int]] = {}
        #: per dim, the latest tensor with it in each outermost block instance (by path)
        self._in_instance: dict[tuple[str, Sym], tuple[fx.Node, int]] = {}
        self._sizes: dict[tuple[fx.Node, int], fx.Node] = {}
        self._local: dict[Sym, tuple[fx.Node, int]] = {}
        #: the values of the constants the graph reads, by the node that reads them
        self.constants: dict[fx.Node, torch.Tensor] = {}
        #: a graph input whose device the tensors made in forward take (None: none, the default)
        self.device_source: fx.Node | None = None
        self._device: fx.Node | None = None

    def begin(self, node: Node, in_types: list[TensorType], args: Sequence[fx.Node] = ()) -> None:
        """Start lowering ``node`` (its inputs ``args`` of ``in_types``). A symbolic dim the op needs
        is read from its own inputs where one has it (``B, N, C = x.shape`` in the block's own code),
        else from the first tensor that had it."""
        self.node = node
        self.in_types = in_types
        self.results = []
        self._local = {}
        for value, t in zip(args, in_types, strict=False):
            for i, d in enumerate(t.shape):
                if not d.is_const and isinstance(value, fx.Node):
                    self._local.setdefault(d, (value, i))

    # -- emission ------------------------------------------------------------
    def _emit(
        self,
        op: str,
        target: Target,
        args: Sequence[Argument],
        kwargs: dict[str, Argument] | None = None,
        result: bool = False,
    ) -> fx.Node:
        """Append an fx node; a result of the current spec node is created under its name (fx adds
        ``_1``, ``_2`` ... to a name already taken: the further outputs of a node)."""
        name = None
        if result:
            assert self.node is not None
            name = self.node.id.replace(".", "_")  # readable gm.code: one variable per spec node
        created = self.graph.create_node(op, target, tuple(args), kwargs or {}, name=name)
        if result:
            self.results.append(created)
        return created

    def module(self, mod: nn.Module, args: Sequence[fx.Node]) -> fx.Node:
        self._check_installs()
        assert self.node is not None
        _install(self.root, self.node.id, mod)
        return self._emit("call_module", self.node.id, args, result=True)

    def fn(self, f: Callable[..., Any], *args: Argument, **kwargs: Argument) -> fx.Node:
        return self._emit("call_function", f, args, kwargs, result=True)

    def method(self, name: str, *args: Argument, **kwargs: Argument) -> fx.Node:
        return self._emit("call_method", name, args, kwargs, result=True)

    def intermediate(self, f: Callable[..., Any], *args: Argument, **kwargs: Argument) -> fx.Node:
        return self._emit("call_function", f, args, kwargs)

    def tensor_attr(self, tensor: torch.Tensor, trainable: bool = True, persistent: bool = True) -> fx.Node:
        self._check_installs()
        assert self.node is not None
        path = self.node.id
        parent_path, _, leaf = path.rpartition(".")
        parent = _container(self.root, parent_path) if parent_path else self.root
        if trainable:
            parent.register_parameter(leaf, nn.Parameter(tensor))
        else:
            parent.register_buffer(leaf, tensor, persistent=persistent)
        return self._emit("get_attr", path, (), result=True)

    def device(self) -> fx.Node | None:
        if self.device_source is None:
            return None
        if self._device is None:
            self._device = self._emit("call_function", getattr, (self.device_source, "device"))
        return self._device

    def constant(self, value: fx.Node) -> torch.Tensor:
        got = self.constants.get(value)
        if got is None:
            raise BuildError(
                f"{self.node.op if self.node else 'op'}: its input is not a constant",
                self.node.loc if self.node else None,
            )
        return got.clone()

    def _check_installs(self) -> None:
        """The registry must know which ops put attributes on the module: the resolver checks their
        paths against netdsl.ir.reserved (a bug of an OpDef otherwise, not of the spec)."""
        if self.node is not None and not self.node.opdef.installs:
            raise RuntimeError(f"op {self.node.op!r} installs a module: give its OpDef module=True")

    def unpack(self, value: fx.Node, n: int) -> list[fx.Node]:
        return [self._emit("call_function", operator.getitem, (value, i), result=True) for i in range(n)]

    # -- runtime dims --------------------------------------------------------
    def note(self, value: fx.Node, t: TensorType) -> None:
        """``value`` has the dims of ``t``. Where a later op reads a dim that its own inputs lack: from
        the latest tensor with it in the same (outermost) block instance, else from the first tensor
        that had it. So every copy of a block computes its sizes alike, from its own tensors and
        from what comes in (netdsl.backend.regions compiles the copies of a block once)."""
        instance = self._instance()
        for i, d in enumerate(t.shape):
            if not d.is_const:
                self._sources.setdefault(d, (value, i))
                if instance:
                    self._in_instance[instance, d] = (value, i)

    def _instance(self) -> str:
        """The path of the outermost block instance of the current node ("" at the network level)."""
        if self.node is None:
            return ""
        return next((s.path for s in self.node.scope.chain() if s.block is not None and s.path), "")

    def dim(self, d: Sym | int) -> int | fx.Node:
        """An int, or an fx node computing a symbolic dim at run time."""
        d = Sym.of(d)
        if d.is_const:
            return d.value
        source = self._local.get(d) or self._in_instance.get((self._instance(), d)) or self._sources.get(d)
        if source is not None:
            src, i = source
            key = (src, i)
            if key not in self._sizes:
                self._sizes[key] = self._emit("call_method", "size", (src, i))
            return self._sizes[key]
        if len(d.free_symbols) == 1 and d == Sym.var(next(iter(d.free_symbols))):
            return self._solve(d)
        total: int | fx.Node = 0
        for mono, coeff in d.terms.items():
            term: int | fx.Node = coeff
            for atom, power in mono:
                base = self._atom(atom)
                for _ in range(power):
                    term = (
                        base
                        if isinstance(term, int) and term == 1
                        else self.intermediate(operator.mul, term, base)
                    )
            total = (
                term
                if isinstance(total, int) and total == 0
                else self.intermediate(operator.add, total, term)
            )
        return total

    def _atom(self, atom: Atom) -> int | fx.Node:
        """The run-time value of an atom of a dim: a symbol, a floor division, a select (a condition
        over sizes: ``torch.sym_ite``, which torch.compile and torch.export keep symbolic)."""
        if isinstance(atom, str):
            return self.dim(Sym.var(atom))
        if isinstance(atom, FloorDiv):
            return self.intermediate(operator.floordiv, self.dim(atom.numerator), atom.divisor)
        cmp = {"<=": operator.le, "==": operator.eq, "!=": operator.ne}[atom.cond.op]
        cond = self.intermediate(cmp, self.dim(atom.cond.diff), 0)
        return self.intermediate(torch.sym_ite, cond, self.dim(atom.then), self.dim(atom.other))

    def _solve(self, var: Sym) -> int | fx.Node:
        """A symbol no tensor carries as such, from a tensor dim linear in it: Cg = size // 4 for 4*Cg."""
        for src_dim in list(self._sources):
            if src_dim.free_symbols != var.free_symbols:
                continue
            c = src_dim.subs({str(var): 0})
            k = src_dim.subs({str(var): 1}) - c
            if k.is_const and k.value > 0 and src_dim == c + k * var:
                size = self.dim(src_dim)
                shifted = size if c == 0 else self.intermediate(operator.sub, size, c.value)
                return shifted if k.value == 1 else self.intermediate(operator.floordiv, shifted, k.value)
        raise BuildError(f"no tensor gives the size {var} at run time", self.node.loc if self.node else None)

    def shape(self, dims: Sequence[Sym | int]) -> list[int | fx.Node]:
        return [self.dim(d) for d in dims]


def _container(root: nn.Module, path: str) -> nn.Module:
    mod = root
    for part in path.split("."):
        child = mod._modules.get(part)
        if child is None:
            child = nn.Module()
            mod.add_module(part, child)
        mod = child
    return mod


def _install(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = _container(root, parent_path) if parent_path else root
    if leaf in parent._modules:
        raise BuildError(f"module path {path!r} is used twice")
    parent.add_module(leaf, module)


def lower(graph: Graph, shapes: ShapeResult, seed: int | None = None) -> fx.GraphModule:
    """Build the GraphModule of a shape-checked IR graph. Constant nodes (:mod:`netdsl.passes.constants`)
    are lowered into a graph of their own and computed now; the forward reads those it needs as
    buffers."""
    fxg = fx.Graph()
    root = nn.Module()
    ctx = LowerCtx(fxg, root)
    consts = Constants(constant_nodes(graph, shapes), root)
    ctx.constants = consts.values
    values: dict[str, list[fx.Node]] = {}
    taken = {gi.name for gi in graph.inputs}
    for gi in graph.inputs:
        # the argument of forward(): a keyword or a name the generated code uses (self, torch) gets a
        # '_' (inputs are passed by position, or by these names)
        arg = gi.name if safe_argument(gi.name) == gi.name else safe_argument(gi.name, taken)
        taken.add(arg)
        ph = fxg.placeholder(arg)
        ph.meta["netdsl"] = _meta(gi.name, "input", gi.loc, 0, shapes.types[gi.name][0])
        values[gi.name] = [ph]
        ctx.note(ph, shapes.types[gi.name][0])
        if ctx.device_source is None:
            ctx.device_source = ph
    rng = torch.random.fork_rng(devices=[]) if seed is not None else None
    with rng if rng is not None else _nullcontext():
        if seed is not None:
            torch.manual_seed(seed)
        for node in graph.nodes:
            if node.id in consts.ids:
                consts.lower(node, shapes)
                continue
            args = [
                consts.read(ctx, r, shapes) if r.node in consts.ids else values[r.node][r.index]
                for r in node.inputs
            ]
            values[node.id] = _lower_node(ctx, node, args, shapes, root)
    results = [
        consts.read(ctx, r, shapes) if r.node in consts.ids else values[r.node][r.index]
        for _, r, _ in graph.outputs
    ]
    out = fxg.output(results[0] if len(results) == 1 else tuple(results))
    if graph.outputs:  # the spec's `outputs:` (where its first entry is written)
        out.meta["netdsl"] = _meta("outputs", "output", graph.outputs[0][2])
    consts.drop_unread(fxg)
    fxg.lint()
    for n in fxg.nodes:  # the spec line, where torch's own tracing errors and torch.export look
        if "netdsl" in n.meta:
            n.meta["stack_trace"] = stack_trace(n.meta["netdsl"])
    gm = SpecGraphModule(root, fxg, class_name=_class_name(graph.name))
    _keep_non_persistent(root, gm)
    _order_as_written(gm, graph)
    _drop_unused_regularization(gm)
    make_in_place(gm)
    gm.meta["netdsl"] = {
        "name": graph.name,
        "variant": graph.variant,
        "outputs": [n for n, _, _ in graph.outputs],
        "instances": _instances(graph),
    }
    return track(gm)


def _instances(graph: Graph) -> list[str]:
    """The module paths of the block instances (not the transparent ones, `path: ''`), outermost
    first, in written order: where :mod:`netdsl.backend.regions` looks for repeated code."""
    seen: dict[str, int] = {}
    for node in graph.nodes:
        for scope in node.scope.chain():
            if scope.block is not None and scope.path and scope.path not in seen:
                seen[scope.path] = scope.depth
    return sorted(seen, key=lambda p: seen[p])  # (stable: written order within a depth)


def _drop_unused_regularization(gm: fx.GraphModule) -> None:
    """A dropout or stochastic depth whose output nothing reads (torchvision's MBConv has a
    `stochastic_depth` module that only its residual blocks call) keeps its module, for its path and
    attributes, but is not called: it would draw random numbers for nothing in training."""
    dead = [
        n
        for n in gm.graph.nodes
        if not n.users
        and n.op in ("call_module", "call_function", "call_method")
        and (op := REGISTRY.get(n.meta.get("netdsl", {}).get("op", ""))) is not None
        and op.family == "regularization"
    ]
    for n in reversed(dead):
        gm.graph.erase_node(n)
    if dead:
        gm.recompile()


def _keep_non_persistent(root: nn.Module, gm: fx.GraphModule) -> None:
    """fx.GraphModule copies the attributes the graph reads into modules of its own, every buffer as
    a persistent one: mark those that were not (constants, `buffer` with `persistent: false`)."""
    for name, mod in root.named_modules():
        kept = mod._non_persistent_buffers_set
        if kept:
            try:
                target = gm.get_submodule(name) if name else gm
            except AttributeError:
                continue  # (nothing of it is read)
            target._non_persistent_buffers_set |= {b for b in kept if b in target._buffers}


def _order_as_written(root: nn.Module, graph: Graph) -> None:
    """Order each module's submodules as their nodes are written in the spec (torchvision's
    PatchMerging defines `reduction` before the `norm` that feeds it), not as they were lowered
    (topologically): the state_dict lists its keys in that order."""
    rank: dict[str, tuple[int, ...]] = {}
    positions: dict[int, dict[str, tuple[int, int]]] = {}

    def where(scope: Scope) -> dict[str, tuple[int, int]]:
        got = positions.get(id(scope))
        if got is None:  # module path of each copy (and block name) -> (entry index, copy index)
            got = positions[id(scope)] = {}
            for i, e in enumerate(scope.entries):
                for j, c in enumerate(e.copy_paths()):
                    got.setdefault(c, (i, j))
                got.setdefault("\0" + e.name, (i, 0))
        return got

    for n in graph.nodes:
        key: list[int] = []
        for s in n.scope.chain()[1:]:
            assert s.parent is not None
            i, _ = where(s.parent).get("\0" + s.entry, (0, 0))
            key.extend((i, s.repeat[1] if s.repeat else 0))
        key.extend(where(n.scope).get(n.id, (len(n.scope.entries), 0)))
        rank[n.id] = tuple(key)
    best: dict[str, tuple[int, ...]] = {}
    for node_id, node_rank in rank.items():
        parts = node_id.split(".")
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            if prefix not in best or node_rank < best[prefix]:
                best[prefix] = node_rank
    for path, module in root.named_modules():
        children = module._modules
        if len(children) > 1:
            base = f"{path}." if path else ""
            order = sorted(children, key=lambda c: best.get(base + c, ()))
            if order != list(children):
                module._modules = {c: children[c] for c in order}


def _lower_node(
    ctx: LowerCtx, node: Node, args: list[fx.Node], shapes: ShapeResult, root: nn.Module
) -> list[fx.Node]:
    """Emit the fx nodes of one IR node on ``args``: its outputs."""
    fxg = ctx.graph
    ctx.begin(node, [shapes.type_of(r) for r in node.inputs], args)
    last = next(iter(reversed(fxg.nodes)), None)  # None: a graph without inputs, still empty
    try:
        out = LOWERINGS[node.op](ctx, shapes.attrs[node.id], args)
        _apply_inits(root, node)
    except NetdslError as e:
        raise e.at(node.loc) from None
    outs = out if isinstance(out, list) else [out]
    created = _created_since(fxg, last)
    _check_results(node, ctx.results, outs, created)
    for new_node in created:  # every fx node knows its spec node
        new_node.meta["netdsl"] = _meta(node.id, node.op, node.loc)
    for i, (o, t) in enumerate(zip(outs, shapes.types[node.id], strict=True)):
        if "output" not in o.meta.get("netdsl", {}):  # an input passed through keeps its own
            o.meta["netdsl"] = _meta(node.id, node.op, node.loc, i, t)
        ctx.note(o, t)
    return outs


class Constants:
    """The constant nodes of a graph: lowered into a graph of their own and computed as they are
    lowered (their inputs are constants too); the forward reads one through a buffer at its node's
    path, not in the state_dict (an `op: buffer` node stores one in the state_dict)."""

    def __init__(self, ids: set[str], root: nn.Module) -> None:
        self.ids = ids
        self.root = root
        self.graph = fx.Graph()
        self.ctx = LowerCtx(self.graph, nn.Module())
        self.outs: dict[str, list[fx.Node]] = {}
        self.env: dict[fx.Node, Any] = {}
        #: the tensors read through buffers, by the get_attr node of the forward graph
        self.values: dict[fx.Node, torch.Tensor] = {}
        self._read: dict[tuple[str, int], fx.Node] = {}
        self.locs: dict[str, SourceLoc] = {}

    def lower(self, node: Node, shapes: ShapeResult) -> None:
        self.locs[node.id] = node.loc
        args = [self.outs[r.node][r.index] for r in node.inputs]
        last = next(iter(reversed(self.graph.nodes)), None)
        self.outs[node.id] = _lower_node(self.ctx, node, args, shapes, self.ctx.root)
        for n in reversed(_created_since(self.graph, last)):
            self.env[n] = _run(n, self.env, node)

    def read(self, ctx: LowerCtx, ref: Ref, shapes: ShapeResult) -> fx.Node:
        """The forward graph's node reading constant output ``ref`` (a buffer, made once)."""
        key = (ref.node, ref.index)
        got = self._read.get(key)
        if got is None:
            value = self.env[self.outs[ref.node][ref.index]]
            parent_path, _, leaf = ref.node.rpartition(".")
            parent = _container(self.root, parent_path) if parent_path else self.root
            if ref.index:
                leaf = f"{leaf}_{ref.index}"
            while hasattr(parent, leaf) or leaf in parent._modules:  # (taken, or a reserved name)
                leaf += "_"
            parent.register_buffer(leaf, value, persistent=False)
            path = f"{parent_path}.{leaf}" if parent_path else leaf
            got = self._read[key] = ctx.graph.get_attr(path)
            t = shapes.types[ref.node][ref.index]
            loc = self.locs.get(ref.node, SourceLoc(""))
            got.meta["netdsl"] = {**_meta(ref.node, "constant", loc, ref.index, t), "constant": True}
            self.values[got] = value
        return got

    def drop_unread(self, fxg: fx.Graph) -> None:
        """Remove the reads that nothing uses any more (an `op: buffer` took the value), and their
        buffers."""
        for n in list(self._read.values()):
            if not n.users:
                fxg.erase_node(n)
                path = str(n.target)
                parent_path, _, leaf = path.rpartition(".")
                parent = self.root.get_submodule(parent_path) if parent_path else self.root
                delattr(parent, leaf)


def _run(n: fx.Node, env: dict[fx.Node, Any], node: Node) -> Any:
    """Compute fx node ``n`` of the constant graph from the values of its inputs in ``env``."""
    args = fx.node.map_arg(n.args, env.__getitem__)
    kwargs = fx.node.map_arg(n.kwargs, env.__getitem__)
    try:
        if n.op == "call_function":
            assert callable(n.target)
            return n.target(*args, **kwargs)
        if n.op == "call_method":
            self_, *rest = args
            return getattr(self_, str(n.target))(*rest, **kwargs)
    except (RuntimeError, ValueError, TypeError) as e:
        raise BuildError(f"computing constant {node.id!r} ({node.op}): {e}", node.loc) from None
    raise BuildError(f"constant {node.id!r} ({node.op}) cannot be computed at build time", node.loc)


def _check_results(node: Node, results: list[fx.Node], outs: list[fx.Node], created: list[fx.Node]) -> None:
    """The fx nodes an op emitted as its results (named after the spec node) must be the outputs it
    returns, and the outputs it emitted must be results: a bug of the op's lowering otherwise."""
    new = set(created)
    emitted_outs = [o for o in outs if o in new]
    if emitted_outs != results:
        raise RuntimeError(
            f"op {node.op!r}: its lowering returns {[o.name for o in emitted_outs]} but emitted "
            f"{[r.name for r in results]} as its results: emit the values on the way with "
            "ctx.intermediate"
        )


def _created_since(fxg: fx.Graph, last: fx.Node | None) -> list[fx.Node]:
    """The fx nodes appended after ``last`` (walking back from the end: cost ~ the new nodes)."""
    out = []
    for n in reversed(fxg.nodes):
        if n is last:
            break
        out.append(n)
    return out


def _meta(
    node_id: str, op: str, loc: SourceLoc, output: int | None = None, t: TensorType | None = None
) -> dict[str, object]:
    """``fx.Node.meta["netdsl"]``: the spec node an fx node comes from, where it is written, and for
    the fx node holding one of its outputs, the output index and its static type. Plain values only
    (strings, ints), so the meta survives copies, pickling and export."""
    meta: dict[str, object] = {
        "node": node_id,
        "op": op,
        "file": loc.file,
        "line": loc.line,
        "col": loc.col,
        "loc": f"{loc.file}:{loc.line}:{loc.col}",
    }
    if output is not None and t is not None:
        meta["output"] = output
        meta["shape"] = tuple(str(d) for d in t.shape)
        meta["dtype"] = t.dtype
        meta["type"] = str(t)
    return meta


def _apply_inits(root: nn.Module, node: Node) -> None:
    if not node.init:
        return
    mod = root.get_submodule(node.id)
    for name, spec in node.init.items():
        tensor = getattr(mod, name, None)
        if not isinstance(tensor, torch.Tensor):
            have = [n for n, _ in mod.named_parameters(recurse=False)]
            raise BuildError(
                f"`init`: {node.op} has no parameter {name!r} (it has {', '.join(have)})", node.loc
            )
        apply_init(tensor, spec)


def _class_name(name: str) -> str:
    cleaned = "".join(p.capitalize() for p in name.replace("-", "_").split("_") if p)
    return cleaned if cleaned.isidentifier() else "Network"


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

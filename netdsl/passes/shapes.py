"""Static shape inference over the IR, torch-free.

Dims are :class:`~netdsl.core.symbolic.Sym` values: symbolic (``B``, ``H``, ``(H - 1)//4 + 1``)
or concrete.  Every node gets the types of its outputs; every mismatch is a
:class:`ShapeError` at the node's location naming the shapes involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netdsl.core.errors import ContextFrame, ErrorCollector, NetdslError, ShapeError, SourceLoc
from netdsl.core.gcpause import no_gc
from netdsl.core.suggest import did_you_mean
from netdsl.core.symbolic import Sym, SymbolicError, format_shape
from netdsl.core.symbolic_proofs import ASSUMED, DEFINITIONS
from netdsl.core.types import ParamSpec, TensorType
from netdsl.frontend.expr import parse
from netdsl.ir.graph import Graph, Node, Ref, Scope
from netdsl.ops.base import Attrs
from netdsl.passes.dims import IDENT, Env, dim_list, dim_value, star_index, unify, unknowns


@dataclass
class ShapeResult:
    graph: Graph
    types: dict[str, list[TensorType]] = field(default_factory=dict)
    attrs: dict[str, Attrs] = field(default_factory=dict)
    params: dict[str, dict[str, ParamSpec]] = field(default_factory=dict)
    #: the symbol table of each scope bound so far (a Scope hashes by identity)
    envs: dict[Scope, Env] = field(default_factory=dict)
    #: dims named by `expect:` -> what they stand for (``Hp`` -> ``(H - 1)//4 + 1``)
    aliases: dict[str, Sym] = field(default_factory=dict)

    def type_of(self, ref: Ref) -> TensorType:
        return self.types[ref.node][ref.index]

    @property
    def outputs(self) -> list[tuple[str, TensorType]]:
        return [(n, self.type_of(r)) for n, r, _ in self.graph.outputs if r.node in self.types]


class ShapeInference:
    def __init__(self, graph: Graph, errors: ErrorCollector) -> None:
        self.graph = graph
        self.errors = errors
        self.result = ShapeResult(graph)
        self.bound: set[Scope] = set()
        self.rewrites: dict[Any, Sym] = {}  # atom -> expression in the dims named by `expect:`
        self._renamed: set[Any] = set()  # the atoms in rewrites (a set: isdisjoint walks the smaller)
        self._rw_cache: dict[Sym, Sym] = {}
        #: id of a type -> (the type, its atoms, the generation of the renames, the type as read then)
        self._read_cache: dict[int, tuple[TensorType, frozenset[Any], int, TensorType]] = {}
        self._generation = 0  # counts the changes to ``rewrites``
        #: (op, id of the attributes, values of the symbols their dim fields name, input types) ->
        #: (the attributes, their dim fields evaluated; output types, parameters)
        self._inferred: dict[
            tuple[str, int, tuple[Any, ...], tuple[TensorType, ...]],
            tuple[Attrs, list[TensorType], dict[str, ParamSpec]],
        ] = {}
        #: the same by the identity of the input types (with those types: ids stay theirs)
        self._inferred_same: dict[tuple[str, int, tuple[Any, ...], tuple[int, ...]], Any] = {}
        #: id of attributes with dim fields -> (the attributes, the symbol names those fields read;
        #: None when one does not parse)
        self._dim_names: dict[int, tuple[Attrs, tuple[str, ...] | None]] = {}
        self.star_ranks: dict[str, list[int]] = {}
        self._failures = 0  # errors added (an ErrorCollector keeps one of equal ones)
        self._changes = 0  # names `expect:` made and renames it changed (not those made again)
        self.reserved = {  # dims the top level names with `expect:` keep their names
            d
            for n in graph.nodes
            if n.scope is graph.root and n.expect
            for d in n.expect
            if isinstance(d, str) and IDENT.match(d)
        }

    def run(
        self, inputs: Mapping[str, TensorType] | None, shapes: Mapping[str, tuple[int, ...]] | None = None
    ) -> ShapeResult:
        token = DEFINITIONS.set(self.result.aliases)  # (what the names of `expect:` stand for)
        assumed = ASSUMED.set([])  # (the sizes that must be >= 1: convolutions' outputs)
        try:
            return self._run(inputs, shapes)
        finally:
            DEFINITIONS.reset(token)
            ASSUMED.reset(assumed)

    def _run(
        self, inputs: Mapping[str, TensorType] | None, shapes: Mapping[str, tuple[int, ...]] | None
    ) -> ShapeResult:
        g = self.graph
        for gi in g.inputs:  # the rank of *S from a given concrete shape
            star = star_index(gi.shape)
            if star is not None and shapes and gi.name in shapes:
                count = len(shapes[gi.name]) - (len(gi.shape) - 1)
                self.star_ranks[str(gi.shape[star])[1:]] = [0] * max(0, count)
        root_env: Env = {}
        for name, (value, loc) in g.root.dim_params.items():  # a block built on its own
            try:
                root_env[name] = dim_value(value, root_env, loc)
            except NetdslError as e:
                self._failures += 1
                self.errors.add(e)
        for gi in g.inputs:
            if inputs is not None and gi.name in inputs:
                t = inputs[gi.name]
                try:
                    unify(gi.shape, t, root_env, gi.loc, f"input {gi.name!r}")
                except NetdslError as e:
                    self._failures += 1
                    self.errors.add(e)
                    continue
            else:
                dims: list[Sym] = []
                for d in gi.shape:
                    if isinstance(d, int):
                        dims.append(Sym.const(d))
                    elif d.startswith("*"):
                        dims.extend(self._variadic(d[1:], root_env, gi.loc))
                    else:
                        dims.append(self._input_dim(d, root_env, gi.loc))
                t = TensorType(tuple(dims), gi.dtype)
            self.result.types[gi.name] = [TensorType(t.shape, gi.dtype)]
        self.result.envs[g.root] = root_env
        self.bound.add(g.root)
        self._infer(g.nodes, None)
        if self.rewrites:  # shapes computed before a name was given read in the name too
            self.result.types = {k: [self._rewritten(t) for t in ts] for k, ts in self.result.types.items()}
        return self.result

    def _infer(self, nodes: list[Node], within: Scope | None) -> None:
        """Infer ``nodes`` (all inside ``within``), in order; a copy of a repeat (the outermost one
        inside ``within``) takes the results of the copy before it when they would be the same, else
        is inferred the same way one repeat further in (the stages of a stage loop differ, the
        blocks of one stage do not)."""
        prev: _Copy | None = None  # the copy of a repeat just inferred
        for rep, run in _groups(nodes, within):
            if rep is None or not REUSE or self._failures:
                prev = None
                for node in run:
                    self._step(node)
                continue
            env = self.env(rep)  # (what its first node would do first)
            start = (self._failures, self._changes)
            snapshot = dict(env) if env is not None else None
            if not (prev is not None and snapshot is not None and self._reuse(prev, rep, run, snapshot)):
                self._infer(run, rep)
            clean = snapshot is not None and (self._failures, self._changes) == start
            prev = _Copy(rep, run, snapshot, clean)

    def _step(self, node: Node) -> None:
        try:
            self._node(node)
        except NetdslError as e:
            self._failures += 1
            self.errors.add(_in_context(e, node))
        except SymbolicError as e:  # sizes beyond what shapes can hold (2**63), too many terms
            self._failures += 1
            self.errors.add(_in_context(ShapeError(f"{node.op}: {e}", node.loc), node))

    def _reuse(self, prev: _Copy, rep: Scope, nodes: list[Node], env: Env) -> bool:
        """Give the nodes of ``rep`` (a copy of a repeat) the results of the copy before it, ``prev``,
        when inferring them would compute the same: the same structure (the same attributes, the
        inputs inside the copy at the same places), equal types of the inputs from outside, an equal
        symbol table, and ``prev`` added no error and no name (nothing changed since it began). False
        (nothing done) when it does not apply."""
        a_rep = prev.rep
        assert rep.repeat is not None and a_rep.repeat is not None
        if not (
            prev.clean
            and rep.block == a_rep.block
            and rep.repeat[0] == a_rep.repeat[0]
            and rep.repeat[1] == a_rep.repeat[1] + 1
            and rep.parent is a_rep.parent
            and len(nodes) == len(prev.nodes)
            and env == prev.env
        ):
            return False
        pos_a, pos_b = prev.positions, _positions(nodes)
        outside: list[tuple[Ref, Ref]] = []  # inputs from outside the copies
        scopes: dict[Scope, Scope] = {a_rep: rep}  # the block instances in them, in binding order
        last: Scope | None = None
        for a, b in zip(prev.nodes, nodes, strict=True):
            if (
                a.attrs is not b.attrs
                or a.op != b.op
                or a.num_outputs != b.num_outputs
                or a.expect != b.expect
                or ((a.init or b.init) and a.init.keys() != b.init.keys())
                or not self._same_refs(a.inputs, b.inputs, pos_a, pos_b, outside)
            ):
                return False
            if a.scope is last:
                continue
            last = a.scope
            new: list[tuple[Scope, Scope]] = []
            sa, sb = a.scope, b.scope
            while sa not in scopes:
                if (
                    sa.parent is None
                    or sb.parent is None
                    or sa.block != sb.block
                    or sa.dim_params.keys() != sb.dim_params.keys()
                    or [v for v, _ in sa.dim_params.values()] != [v for v, _ in sb.dim_params.values()]
                    or [d for d, _ in sa.input_decls.values()] != [d for d, _ in sb.input_decls.values()]
                    or sa.input_refs.keys() != sb.input_refs.keys()
                    or not self._same_refs(
                        list(sa.input_refs.values()), list(sb.input_refs.values()), pos_a, pos_b, outside
                    )
                ):
                    return False
                new.append((sa, sb))
                sa, sb = sa.parent, sb.parent
            if scopes[sa] is not sb:
                return False
            for sa, sb in reversed(new):  # parents first, as the first node in them binds them
                scopes[sa] = sb
        if len(set(scopes.values())) != len(scopes):
            return False
        read = self._read
        if any(read(x) != read(y) for x, y in outside):
            return False
        r = self.result
        types, attrs, params, envs = r.types, r.attrs, r.params, r.envs
        for sa, sb in scopes.items():
            if sa is a_rep:
                envs[rep].update(envs[a_rep])  # the names its `expect:` made
            else:
                envs[sb] = dict(envs[sa])
                self.bound.add(sb)
        for a, b in zip(prev.nodes, nodes, strict=True):
            types[b.id] = list(types[a.id])
            attrs[b.id] = attrs[a.id]
            params[b.id] = dict(params[a.id])
        return True

    @staticmethod
    def _same_refs(
        ra: list[Ref],
        rb: list[Ref],
        pos_a: dict[str, int],
        pos_b: dict[str, int],
        outside: list[tuple[Ref, Ref]],
    ) -> bool:
        """Inputs of two nodes in two copies: the same nodes of their copies, or from outside (kept in
        ``outside``, their types to compare)."""
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb, strict=True):
            i = pos_a.get(x.node)
            if i != pos_b.get(y.node) or x.index != y.index:
                return False
            if i is None and x != y:
                outside.append((x, y))
        return True

    def _variadic(self, name: str, env: Env, loc: SourceLoc) -> tuple[Sym, ...]:
        """Symbolic dims for an input's ``*S``: as many as its given shape or ``dims: {S: [...]}`` has."""
        if name not in env:
            example = self.star_ranks.get(name, self.graph.dims.get(name))
            if not isinstance(example, list):
                raise ShapeError(
                    f"how many dims does *{name} stand for? give example sizes: `dims: {{{name}: [8, 8]}}`",
                    loc,
                )
            env[name] = tuple(self._input_dim(f"{name}{k + 1}", env, loc) for k in range(len(example)))
        value = env[name]
        assert isinstance(value, tuple)
        return value

    def _input_dim(self, d: str, env: Env, loc: SourceLoc) -> Sym:
        if d not in env and not IDENT.match(d):  # an expression such as 4*Cg: its unknowns become symbols
            for u in unknowns(d, env):
                env[u] = Sym.var(u)
                self.result.aliases[u] = env[u]
            return dim_value(d, env, loc)
        if d not in env:
            env[d] = Sym.var(d)
            self.result.aliases[d] = env[d]
        value = env[d]
        assert isinstance(value, Sym)
        return value

    def env(self, scope: Scope) -> Env | None:
        """The symbol table of a block instance, bound on first use."""
        if scope in self.bound:
            return self.result.envs.get(scope)
        self.bound.add(scope)
        assert scope.parent is not None
        parent = self.env(scope.parent)
        if parent is None:
            return None
        env: Env = {}
        if any(scope.input_refs[n].node not in self.result.types for n in scope.input_decls):
            return None  # an input failed: its error is reported
        try:
            for name, (value, loc) in scope.dim_params.items():
                env[name] = self._rw(dim_value(value, parent, loc))
            for name, (decl, loc) in scope.input_decls.items():
                ref = scope.input_refs[name]
                unify(
                    decl,
                    self._read(ref),
                    env,
                    loc,
                    f"block {scope.block!r} ({scope.path}) input {name!r}",
                )
        except NetdslError as e:
            self._failures += 1
            self.errors.add(e)
            return None
        self.result.envs[scope] = env
        return env

    def _node(self, node: Node) -> None:
        types = self.result.types
        try:
            ins = [types[r.node][r.index] for r in node.inputs]
        except KeyError:
            return  # an input failed: an earlier error explains this
        scope = node.scope
        env = self.result.envs.get(scope)
        if env is None:
            if scope in self.bound:
                return
            env = self.env(scope)
            if env is None:
                return
        if self.rewrites:
            ins = [self._rewritten(t) for t in ins]
        attrs = node.attrs
        dim_fields = _DIM_FIELDS.get(type(attrs))
        if dim_fields is None:
            dim_fields = _dim_fields(type(attrs))
        # the rule of the op is a function of the attributes (with the dims of their dim fields, those
        # of the symbols they name) and the input types: once for all the nodes that share them
        # (first by the identity of the input types: the outputs inferred once are shared; the
        # memos keep the objects whose ids they are keyed by, so an id there is still theirs)
        dims: tuple[Any, ...] | None = ()
        if dim_fields:
            dims = self._dims_key(attrs, dim_fields, env)
        memo: tuple[Attrs, list[TensorType], dict[str, ParamSpec]] | None = None
        if dims is not None:
            same = (node.op, id(attrs), dims, tuple(map(id, ins)))
            memo = self._inferred_same.get(same)
            if memo is None:
                key = (node.op, id(attrs), dims, tuple(ins))
                memo = self._inferred.get(key)
                if memo is not None:
                    self._inferred_same[same] = (*memo, tuple(ins))
        if memo is not None:
            attrs, outs, params = memo[0], list(memo[1]), dict(memo[2])
        else:
            if dim_fields:
                update = {}
                for f in dim_fields:
                    value = getattr(attrs, f)
                    if value is not None:
                        update[f] = dim_list(value, env, node.loc)
                attrs = attrs.model_copy(update=update)
            opdef = node.opdef
            try:
                outs = opdef.infer_types(attrs, ins)
                params = opdef.param_specs(attrs, ins)
            except SymbolicError as e:
                raise ShapeError(f"{node.op}: {e}", node.loc) from None
            except NetdslError as e:
                text = e.message if e.message.startswith(node.op) else f"{node.op}: {e.message}"
                raise e.evolve(message=text, loc=node.loc) from None
            _check_sizes(node, outs, params)
            if dims is not None:
                self._inferred[key] = (attrs, list(outs), dict(params))
                self._inferred_same[same] = (attrs, list(outs), dict(params), tuple(ins))
        for pname in node.init:
            if pname not in params:
                have = [k for k in params if k]
                raise ShapeError(
                    f"`init`: {node.op} has no parameter {pname!r}" + ("" if have else " (it has none)"),
                    node.init_locs.get(pname, node.loc),
                    expected=have or None,
                    hint=did_you_mean(pname, have),
                )
        if len(outs) != node.num_outputs:
            raise ShapeError(f"{node.op} produced {len(outs)} outputs, expected {node.num_outputs}", node.loc)
        if node.expect is not None:
            outs = [self._expect(node, outs[0], env), *outs[1:]]
        self.result.attrs[node.id] = attrs
        self.result.params[node.id] = params
        self.result.types[node.id] = outs

    def _dims_key(self, attrs: Attrs, fields: tuple[str, ...], env: Env) -> tuple[Any, ...] | None:
        """What the dim fields of ``attrs`` evaluate to depends on: the values in ``env`` of the
        symbols they name (unbound ones as None). None when that is not known (they are then
        evaluated, and the rule applied, for each node)."""
        known = self._dim_names.get(id(attrs))
        if known is None or known[0] is not attrs:
            known = self._dim_names[id(attrs)] = (attrs, _names_of_dims(attrs, fields))
        names = known[1]
        if names is None:
            return None
        return tuple([env.get(n) for n in names])

    def _rw(self, d: Sym) -> Sym:
        if not self.rewrites or d.is_const:
            return d
        done = self._rw_cache.get(d)
        if done is None:
            done = self._rw_cache[d] = d.replace_atoms(self.rewrites)
        return done

    def _read(self, ref: Ref) -> TensorType:
        """A tensor's type, in the dims named by `expect:` so far."""
        t = self.result.type_of(ref)
        if not self.rewrites:
            return t
        return self._rewritten(t)

    def _rewritten(self, t: TensorType) -> TensorType:
        """``t`` in the dims named by `expect:` so far: ``t`` itself when it has none of the atoms
        they rename (most types: they are computed from types already read in the names)."""
        done = self._read_cache.get(id(t))  # (a type is read by each of its users)
        if done is not None and done[0] is t:
            if done[2] == self._generation:
                return done[3]
            atoms = done[1]
        else:
            atoms = _type_atoms(t)
        out = t if atoms.isdisjoint(self._renamed) else t.with_shape([self._rw(d) for d in t.shape])
        self._read_cache[id(t)] = (t, atoms, self._generation, out)
        return out

    def _expect(self, node: Node, out: TensorType, env: Env) -> TensorType:
        """Check `expect:`; names it introduces become new symbolic dims (``Hp`` rather than
        ``(H - 1)//4 + 1``), so that later shapes read in the names the spec author chose."""
        assert node.expect is not None
        before = set(env)
        unify(node.expect, out, env, node.loc, f"`expect` of {node.id!r}")
        renamed: dict[Sym, Sym] = {}
        for d in node.expect:
            if isinstance(d, str) and d not in before and d in env and not _is_symbol(env[d]):
                fresh = self._fresh(d, env[d], node.scope is self.graph.root)
                renamed[env[d]] = fresh
                split = env[d].as_atom_plus_const()
                if split is not None:  # everywhere atom + c appears, it now reads as the name
                    atom, c = split
                    if self.rewrites.get(atom) != fresh - c:  # (a repeated block makes the same again)
                        self.rewrites[atom] = fresh - c
                        self._renamed.add(atom)
                        self._rw_cache.clear()
                        self._generation += 1
                        self._changes += 1
                env[d] = fresh
        return out.with_shape([renamed.get(d, d) for d in out.shape]) if renamed else out

    def _fresh(self, name: str, definition: Sym, in_root: bool) -> Sym:
        """A symbol for ``definition`` named ``name`` (or ``name_2``... when taken by another dim).
        Names the network itself gives in `expect:` are kept for it; blocks get the suffixed ones."""
        taken = self.result.aliases
        candidate, k = name, 1
        while (candidate in taken and taken[candidate] != definition) or (
            not in_root and candidate in self.reserved
        ):
            k += 1
            candidate = f"{name}_{k}"
        if candidate not in taken:
            self._changes += 1
        taken[candidate] = definition
        return Sym.var(candidate)


MAX_DIM = 2**40

#: infer a copy of a repeat that would compute what the copy before it did by copying its results
REUSE = True


@dataclass
class _Copy:
    """A copy of a repeat as inferred: its scope, its nodes, its symbol table as bound (None when
    that failed), and whether it added no error and no name."""

    rep: Scope
    nodes: list[Node]
    env: Env | None
    clean: bool
    positions: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.positions = _positions(self.nodes)


def _positions(nodes: list[Node]) -> dict[str, int]:
    return {n.id: i for i, n in enumerate(nodes)}


def _groups(nodes: list[Node], within: Scope | None = None) -> list[tuple[Scope | None, list[Node]]]:
    """The nodes in runs: those of one copy of a repeat (its outermost one inside ``within``), or
    single others."""
    outer: dict[Scope, Scope | None] = {}
    out: list[tuple[Scope | None, list[Node]]] = []
    runs: set[Scope] = set()
    split: set[Scope] = set()  # copies whose nodes are not in one run
    for node in nodes:
        rep = _outer_repeat(node.scope, outer, within)
        if rep is not None and out and out[-1][0] is rep:
            out[-1][1].append(node)
            continue
        if rep is not None:
            if rep in runs:
                split.add(rep)
            runs.add(rep)
        out.append((rep, [node]))
    if not split:
        return out
    return [g for rep, ns in out for g in ([(None, [n]) for n in ns] if rep in split else [(rep, ns)])]


def _outer_repeat(scope: Scope, memo: dict[Scope, Scope | None], within: Scope | None) -> Scope | None:
    if scope is within:
        return None
    if scope in memo:
        return memo[scope]
    up = _outer_repeat(scope.parent, memo, within) if scope.parent is not None else None
    found = memo[scope] = up if up is not None else (scope if scope.repeat is not None else None)
    return found


_DIM_FIELDS: dict[type, tuple[str, ...]] = {}


def _dim_fields(cls: type) -> tuple[str, ...]:
    """The attributes of an op's Attrs class that hold dim expressions (its `dim_fields`, if any)."""
    fields = _DIM_FIELDS.get(cls)
    if fields is None:
        fields = _DIM_FIELDS[cls] = tuple(getattr(cls, "dim_fields", ()))
    return fields


def _names_of_dims(attrs: Attrs, fields: tuple[str, ...]) -> tuple[str, ...] | None:
    """The names the dim fields of ``attrs`` read (symbols, variadic ``*S``), or None when an entry
    does not parse (its error is raised where it is evaluated)."""
    names: set[str] = set()
    for f in fields:
        value = getattr(attrs, f)
        for e in value or ():
            if not isinstance(e, str):
                continue
            if e.startswith("*"):
                names.add(e[1:])
                continue
            try:
                names.update(parse(e).names)
            except NetdslError:
                return None
    return tuple(sorted(names))


def _check_sizes(node: Node, outs: list[TensorType], params: dict[str, ParamSpec]) -> None:
    """Refuse absurd sizes early (they would overflow counts or exhaust memory at build time)."""
    shapes = [t.shape for t in outs] + [p.shape for p in params.values()]
    for shape in shapes:
        total = 1
        for d in shape:
            value = d.constant()
            if value is not None:
                if value < 0:
                    raise ShapeError(f"{node.op}: negative size {value} in {format_shape(shape)}", node.loc)
                total *= value
        if total > MAX_DIM:
            raise ShapeError(
                f"{node.op}: a tensor of shape {format_shape(shape)} has {total:,} elements; "
                f"netdsl allows at most 2**40",
                node.loc,
            )


def _type_atoms(t: TensorType) -> frozenset[Any]:
    """The atoms of the dims of ``t`` (those a renaming could change)."""
    atoms: frozenset[Any] = frozenset()
    for d in t.shape:
        if not d.is_const:
            atoms = atoms | d.atoms
    return atoms


def _is_symbol(d: Sym) -> bool:
    """A constant or a plain symbol (already a name: nothing to rename)."""
    return d.is_const or (len(d.free_symbols) == 1 and d == Sym.var(next(iter(d.free_symbols))))


def _in_context(err: NetdslError, node: Node) -> NetdslError:
    """``err`` with a context frame for each block instance ``node`` is in, innermost first (its
    hint and frames it has kept)."""
    for s in reversed(node.scope.chain()):
        if s.block is not None and s.parent is not None:
            err = err.in_context(ContextFrame(f"block instance {s.path} of {s.block}", s.loc))
    return err


def infer_shapes(
    graph: Graph,
    inputs: Mapping[str, TensorType] | None = None,
    errors: ErrorCollector | None = None,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> ShapeResult:
    """Infer every node's output types; raise all shape errors at once."""
    own = errors is None
    errs = errors or ErrorCollector()
    with no_gc():  # many objects, no garbage cycles: collections would only walk them, often
        result = ShapeInference(graph, errs).run(inputs, shapes)
    if own:
        errs.raise_if_any()
    return result

"""Building a :class:`~netdsl.tools.diagrams.model.Diagram` from a checked spec at a chosen depth.

Each scope (block instance) gets a *view*: collapsed into one drawn node, or drawn as a cluster
whose body is visible. Copies of a ``repeat`` / ``parallel`` group are drawn once: nodes of copy
``i`` map to the same drawn node as copy 0, and edges between copies (the repeat chain) are
dropped. Edges are the refs between primitive nodes that map to different drawn nodes.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netdsl.core.errors import ErrorCollector, UsageError
from netdsl.core.suggest import did_you_mean
from netdsl.ir.graph import Entry, Graph, Node, Ref, Scope
from netdsl.ops.base import REGISTRY
from netdsl.passes.shapes import ShapeResult

if TYPE_CHECKING:
    from netdsl.pipeline import CheckResult, Pipeline

from netdsl.tools.diagrams.model import (
    BLOCK,
    IN_PREFIX,
    INPUT,
    OUT_PREFIX,
    OUTPUT,
    STAGE_PREFIX,
    DCluster,
    DEdge,
    Diagram,
    DiagramOptions,
    DNode,
)


@dataclass(frozen=True)
class _View:
    """How the body of one scope is drawn."""

    collapsed: str | None  # id of the collapsed node everything in it maps to
    canon: str  # canonical path: copy indices of groups drawn once replaced by 0
    rep: bool  # lies in the first copy of every group drawn once
    copies: tuple[tuple[str, int], ...]  # (group id, copy index) of the groups drawn once around it
    cluster: str | None  # the cluster its nodes are drawn in


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}.{rel}" if prefix else rel


def _rel(path: str, parent: str) -> str:
    return path[len(parent) + 1 :] if parent else path


class _Builder:
    def __init__(self, shapes: ShapeResult, options: DiagramOptions, depth: int | None) -> None:
        self.shapes = shapes
        self.g: Graph = shapes.graph
        self.opt = options
        self.depth = depth
        self.views: dict[int, _View] = {}
        self.entry_of_node: dict[str, Entry] = {}
        self.params = _param_totals(shapes)
        self.stage_of = _stages(self.g.root) if options.stages else {}
        self.instances = _instances(self.g)
        self.varied = {k for k, ss in self.instances.items() if any(x.params != ss[0].params for x in ss[1:])}
        self.scope_params = _scope_params(shapes)
        self.nodes: dict[str, DNode] = {}
        self.clusters: dict[str, DCluster] = {}

    # -- scopes

    def _entry_for_scope(self, s: Scope) -> Entry:
        assert s.parent is not None
        for e in s.parent.entries:
            if e.is_block and e.name == s.entry:
                return e
        # not written in the parent's body (should not happen): treat it as a plain block instance
        return Entry(_rel(s.path, s.parent.path), s.path, s.block or "block", True, None, ())

    def view(self, s: Scope) -> _View:
        v = self.views.get(id(s))
        if v is not None:
            return v
        if s.parent is None:
            v = _View(None, "", True, (), None)
        else:
            p = self.view(s.parent)
            e = self._entry_for_scope(s)
            level = _level(s.parent)
            if p.collapsed is not None:
                v = p
            else:
                entry_id = _join(p.canon, e.name)
                once = (
                    e.count is not None
                    and not self.opt.expand_repeats
                    and (id(s.parent), e.name) not in self.varied
                )
                expanded = (
                    (self.depth is None or level < self.depth)
                    or entry_id in self.opt.expand
                    or s.path == s.parent.path  # (`path: ''`: its nodes are the enclosing block's)
                )
                if not expanded:
                    v = _View(entry_id, entry_id, p.rep, p.copies, p.cluster)
                    self._node(entry_id, e, p, level, s.parent, expandable=True, parallel=_is_parallel(e))
                else:
                    idx = s.repeat[1] if s.repeat else 0
                    canon = f"{entry_id}.0" if once else entry_id if e.count is None else f"{entry_id}.{idx}"
                    copies = (*p.copies, (entry_id, idx)) if once else p.copies
                    rep = p.rep and (idx == 0 or not once)
                    parent_cluster = p.cluster if s.parent.parent is not None else self.stage_of.get(e.name)
                    if rep and canon not in self.clusters:
                        self.clusters[canon] = DCluster(
                            canon,
                            e.name,
                            e.kind,
                            e.path,
                            parent_cluster,
                            key="" if s.path == s.parent.path else entry_id,  # (`path: ''`: always open)
                            count=e.count if once else None,
                            parallel=_is_parallel(e),
                            index=idx if (e.count is not None and not once) else None,
                            params=self._entry_params(e, s.parent)
                            if once
                            else self.scope_params.get(id(s), 0),
                            level=level + 1,
                            explicit=not (self.depth is None or level < self.depth),
                        )
                    v = _View(None, canon, rep, copies, canon)
        self.views[id(s)] = v
        return v

    def _entry_params(self, e: Entry, parent: Scope | None) -> int | None:
        """The trainable parameters of every copy of an entry of ``parent``'s body (None: symbolic)."""
        if not e.copies:
            return self.params.get(e.path, 0)
        if e.is_block and parent is not None:
            parts = [self.scope_params.get(id(s), 0) for s in self.instances.get((id(parent), e.name), [])]
        else:
            parts = [self.params.get(c, 0) for c in dict.fromkeys(e.copies)]
        total: int | None = 0
        for p in parts:
            total = None if total is None or p is None else total + p
        return total

    # -- nodes

    def _node(
        self,
        node_id: str,
        e: Entry,
        p: _View,
        level: int,
        scope: Scope,
        *,
        expandable: bool,
        parallel: bool,
    ) -> None:
        if node_id in self.nodes or not p.rep:
            return
        cluster = p.cluster if level > 0 or p.cluster is not None else self.stage_of.get(e.name)
        family = BLOCK if e.is_block else REGISTRY[e.kind].family if e.kind in REGISTRY else "elementwise"
        shapes = tuple(self._type_text(r.node, r.index) for r in e.outputs)
        self.nodes[node_id] = DNode(
            node_id,
            e.name,
            e.kind,
            family,
            e.path,
            cluster,
            count=None if (e.count is None or (self.opt.expand_repeats and not e.is_block)) else e.count,
            parallel=parallel,
            shapes=shapes if e.count is None or not parallel else shapes[:1],
            params=self._entry_params(e, scope)
            if e.is_block or e.count is not None
            else self.params.get(e.path, 0),
            expandable=expandable,
            level=level,
        )

    def _type_text(self, node: str, index: int) -> str:
        types = self.shapes.types.get(node)
        if not types or index >= len(types):
            return ""
        t = types[index]
        return str(t) if t.dtype == "float32" else f"{t} {t.dtype}"

    def _entry_for_node(self, n: Node) -> Entry | None:
        index = self.entry_of_node
        if not index or n.id not in index:
            for e in n.scope.entries:
                if e.is_block:
                    continue
                for c in e.copy_paths():
                    index[c] = e
        return index.get(n.id)

    def visible(self, n: Node) -> tuple[str, tuple[tuple[str, int], ...]]:
        """The drawn node a primitive node maps to, with the copies it lies in."""
        v = self.view(n.scope)
        if v.collapsed is not None:
            return v.collapsed, v.copies
        e = self._entry_for_node(n) or Entry(_rel(n.id, n.scope.path), n.id, n.op, False, None, tuple())
        level = _level(n.scope)
        if e.count is not None and not self.opt.expand_repeats:
            node_id = _join(v.canon, e.name)
            self._node(node_id, e, v, level, n.scope, expandable=False, parallel=_is_parallel(e))
            return node_id, v.copies
        if e.copies:  # (module paths of its own: drawn under its name)
            rel = e.name if e.count is None else f"{e.name}.{e.copies.index(n.id)}"
        else:
            rel = _rel(n.id, n.scope.path)
        node_id = _join(v.canon, rel)
        if e.count is not None:  # one copy of a repeated op, drawn on its own
            e = Entry(rel, n.id, e.kind, False, None, (Ref(n.id, 0),))
        self._node(node_id, e, v, level, n.scope, expandable=False, parallel=False)
        return node_id, v.copies

    # -- the whole picture

    def run(self) -> Diagram:
        g = self.g
        edges: dict[tuple[str, str, str], None] = {}
        for gi in g.inputs:
            shape = (self._type_text(gi.name, 0),)
            self.nodes[IN_PREFIX + gi.name] = DNode(
                IN_PREFIX + gi.name, gi.name, INPUT, INPUT, gi.name, None, shapes=shape
            )
        where: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
            IN_PREFIX + gi.name: (IN_PREFIX + gi.name, ()) for gi in g.inputs
        }
        inputs = {gi.name for gi in g.inputs}
        for n in g.nodes:
            dst, dst_copies = self.visible(n)
            where[n.id] = (dst, dst_copies)
            for r in n.inputs:
                src, src_copies = where[IN_PREFIX + r.node] if r.node in inputs else where[r.node]
                if src == dst or _across_copies(src_copies, dst_copies):
                    continue
                edges[(src, dst, self._type_text(r.node, r.index))] = None
        for name, ref, _loc in g.outputs:
            out_id = OUT_PREFIX + name
            self.nodes[out_id] = DNode(
                out_id, name, OUTPUT, OUTPUT, name, None, shapes=(self._type_text(ref.node, ref.index),)
            )
            src = where[IN_PREFIX + ref.node][0] if ref.node in inputs else where[ref.node][0]
            edges[(src, out_id, self._type_text(ref.node, ref.index))] = None
        self._stage_clusters()
        used = {n.cluster for n in self.nodes.values()}
        clusters = [c for c in self.clusters.values() if c.id in used or self._has_child(c.id, used)]
        return Diagram(
            title=self.opt.title or g.name + (f" (variant {g.variant})" if g.variant else ""),
            kind=g.kind,
            direction=self.opt.direction,
            depth=self.depth,
            max_depth=_max_depth(g),
            show_params=self.opt.params,
            nodes=list(self.nodes.values()),
            clusters=_parents_first(clusters),
            edges=[DEdge(s, d, label) for s, d, label in edges],
            total_params=self.params.get("", 0),
        )

    def _has_child(self, cid: str, used: Collection[str | None]) -> bool:
        return any(
            c.parent == cid and (c.id in used or self._has_child(c.id, used)) for c in self.clusters.values()
        )

    def _stage_clusters(self) -> None:
        for name, stage in self.stage_of.items():
            if stage in self.clusters:
                continue
            label = "stage " + stage.rpartition(":")[2].partition("#")[0]
            members = [e for e in self.g.root.entries if self.stage_of.get(e.name) == stage]
            total: int | None = 0
            for m in members:
                p = self._entry_params(m, self.g.root)
                total = None if total is None or p is None else total + p
            self.clusters[stage] = DCluster(stage, label, "stage", name, None, params=total, level=0)


def _instances(g: Graph) -> dict[tuple[int, str], list[Scope]]:
    """The block instances, by (id of the parent scope, name of the entry that made them). A repeat
    whose copies have different parameters (the stages of a stage loop) is drawn copy by copy."""
    out: dict[tuple[int, str], list[Scope]] = {}
    seen: set[int] = set()
    for n in g.nodes:
        s: Scope | None = n.scope
        while s is not None and s.parent is not None and id(s) not in seen:
            seen.add(id(s))
            out.setdefault((id(s.parent), s.entry), []).append(s)
            s = s.parent
    return out


def _trainable(shapes: ShapeResult, node_id: str) -> int | None:
    """Trainable parameters of one node (None: of a symbolic size)."""
    count: int | None = 0
    for p in shapes.params.get(node_id, {}).values():
        if p.kind != "parameter":
            continue
        if count is not None and all(d.is_const for d in p.shape):
            size = 1
            for d in p.shape:
                size *= d.value
            count += size
        else:
            count = None
    return count


def _scope_params(shapes: ShapeResult) -> dict[int, int | None]:
    """Trainable parameters in each block instance (by id; None: symbolic)."""
    out: dict[int, int | None] = {}
    for node in shapes.graph.nodes:
        count = _trainable(shapes, node.id)
        if count == 0:
            continue
        s: Scope | None = node.scope
        while s is not None:
            old = out.get(id(s), 0)
            out[id(s)] = None if old is None or count is None else old + count
            s = s.parent
    return out


def _across_copies(a: tuple[tuple[str, int], ...], b: tuple[tuple[str, int], ...]) -> bool:
    """True for an edge between two copies of a group that is drawn once (the repeat chain)."""
    groups = dict(a)
    return any(g in groups and groups[g] != i for g, i in b)


def _is_parallel(e: Entry) -> bool:
    """A `parallel` group lists one output per copy; a `repeat` chain only the last copy's outputs."""
    if e.count is None or e.count < 2 or len(e.outputs) != e.count:
        return False
    firsts = [r.node for r in e.outputs]
    return len(set(firsts)) == e.count and all(
        f == f"{e.path}.{i}" or f.startswith(f"{e.path}.{i}.") for i, f in enumerate(firsts)
    )


def _parents_first(clusters: list[DCluster]) -> list[DCluster]:
    by_id = {c.id: c for c in clusters}
    out: list[DCluster] = []
    seen: set[str] = set()

    def add(c: DCluster) -> None:
        if c.id in seen:
            return
        if c.parent is not None and c.parent in by_id:
            add(by_id[c.parent])
        seen.add(c.id)
        out.append(c)

    for c in clusters:
        add(c)
    return out


def _param_totals(shapes: ShapeResult) -> dict[str, int | None]:
    """Trainable parameters per node, per block instance, per repeat group and in all ("")."""
    totals: dict[str, int | None] = {}

    def add(key: str, n: int | None) -> None:
        old = totals.get(key, 0)
        totals[key] = None if old is None or n is None else old + n

    for node in shapes.graph.nodes:
        count = _trainable(shapes, node.id)
        if count == 0:
            continue
        keys = {node.id, ""}
        for e in node.scope.entries:  # a repeated op: its group path
            if not e.is_block and e.count is not None and node.id.startswith(e.path + "."):
                keys.add(e.path)
        s: Scope | None = node.scope
        while s is not None and s.parent is not None:
            keys.add(s.path)
            if s.repeat:
                keys.add(s.repeat[0])
            s = s.parent
        for k in keys:
            add(k, count)
    return totals


_NUMBER = re.compile(r"(?<![0-9])([0-9]+)(?![0-9])")


def _stages(root: Scope) -> dict[str, str]:
    """Top-level entry name -> stage cluster id, for runs like ``patch_embed1, block1, norm1``.

    A stage is a run of consecutive top-level entries whose names carry the same number and
    that holds at least one block; there must be at least two such runs.
    """
    runs: list[tuple[str, list[Entry]]] = []
    for e in root.entries:
        numbers = _NUMBER.findall(e.name)
        key = numbers[-1] if numbers else ""
        if runs and key and runs[-1][0] == key:
            runs[-1][1].append(e)
        else:
            runs.append((key, [e]))
    stages = [(k, es) for k, es in runs if k and len(es) >= 2 and any(e.is_block for e in es)]
    if len(stages) < 2:
        return {}
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for key, es in stages:
        seen[key] = seen.get(key, 0) + 1
        sid = STAGE_PREFIX + key + (f"#{seen[key]}" if seen[key] > 1 else "")
        for e in es:
            out[e.name] = sid
    return out


def _level(s: Scope) -> int:
    """How deep a scope is drawn: the block instances around it, but those with `path: ''` (their
    nodes are drawn in the enclosing block, in a cluster per copy)."""
    return sum(1 for x in s.chain() if x.parent is not None and x.path != x.parent.path)


def _max_depth(g: Graph) -> int:
    return max((_level(n.scope) for n in g.nodes), default=0)


def shapes_of(
    source: CheckResult | Pipeline | ShapeResult, options: DiagramOptions | None = None
) -> ShapeResult:
    """The ShapeResult to draw from a :class:`~netdsl.api.CheckResult`, a
    :class:`~netdsl.pipeline.Pipeline` (its shapes, inferred once) or a ShapeResult; concrete shapes
    for ``options.dims`` when ``options.concrete``."""
    from netdsl.pipeline import CheckResult, Pipeline, infer_concrete

    concrete = options is not None and options.concrete
    dims = dict(options.dims) if options is not None else {}
    if isinstance(source, Pipeline):
        _, shapes = source.checked()
        return source.concrete_shapes(dims) if concrete else shapes
    if isinstance(source, CheckResult):
        source.raise_if_errors()
        if source.shapes is None:
            raise UsageError("the spec has no shapes to draw (it did not check)")
        shapes = source.shapes
    elif isinstance(source, ShapeResult):
        shapes = source
    else:
        raise UsageError(f"cannot draw a {type(source).__name__}: pass a CheckResult or a ShapeResult")
    if concrete:
        errors = ErrorCollector()
        shapes = infer_concrete(shapes.graph, dims, None, errors)
        errors.raise_if_any()
    return shapes


def expandable(shapes: ShapeResult, options: DiagramOptions | None = None) -> list[str]:
    """The ids ``expand`` can name: every block instance a diagram can draw collapsed (copies of
    a repeat drawn once are named by their first copy, ``stage.0.attn``)."""
    opt = replace(options or DiagramOptions(), expand=frozenset(), depth="all")
    b = _Builder(shapes, opt, None)
    b.run()
    return sorted({c.key for c in b.clusters.values() if c.key})


def check_expand(shapes: ShapeResult, options: DiagramOptions) -> None:
    """UsageError, with the valid ids, for an ``expand`` id that is not a block instance."""
    if not options.expand:
        return
    valid = expandable(shapes, options)
    for path in sorted(options.expand):
        if path not in valid:
            g = shapes.graph
            raise UsageError(
                f"--expand {path!r} is not a block instance of {g.kind} {g.name!r}"
                + ("" if valid else f" (it has none: every node of {g.name!r} is an op)"),
                expected=valid,
                hint=did_you_mean(path, valid),
            )


def build(source: CheckResult | Pipeline | ShapeResult, options: DiagramOptions | None = None) -> Diagram:
    """The diagram of a checked spec (a :class:`~netdsl.api.CheckResult`, a pipeline or a ShapeResult)."""
    opt = options or DiagramOptions()
    shapes = shapes_of(source, opt)
    check_expand(shapes, opt)
    return build_from_shapes(shapes, opt)


def build_from_shapes(shapes: ShapeResult, opt: DiagramOptions) -> Diagram:
    max_depth = _max_depth(shapes.graph)
    if opt.depth == "all":
        return _Builder(shapes, opt, None).run()
    if opt.depth != "auto":
        assert isinstance(opt.depth, int)
        return _Builder(shapes, opt, opt.depth).run()
    best = _Builder(shapes, opt, 0).run()
    for d in range(1, max_depth + 1):
        cand = _Builder(shapes, opt, d).run()
        if _drawn(cand) > opt.max_nodes:
            break
        best = cand
    return best


def _drawn(d: Diagram) -> int:
    return sum(1 for n in d.nodes if n.family not in (INPUT, OUTPUT))

"""The diagram model: what a picture of a network shows, torch-free and independent of any format.

A :class:`Diagram` (made by :func:`netdsl.tools.diagrams.build`) holds drawn nodes (ops, collapsed
blocks, inputs, outputs), clusters (expanded block instances, stages) and edges labelled with
static shapes, all in the graph's topological order, so one spec always gives one diagram.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from netdsl.core.errors import UsageError
from netdsl.passes.summary import human

Direction = Literal["TB", "LR"]
Depth = int | Literal["auto", "all"]

INPUT, OUTPUT, BLOCK = "input", "output", "block"
#: ids of drawn elements that are not module paths use characters no path has
IN_PREFIX, OUT_PREFIX, STAGE_PREFIX = "@in:", "@out:", "@stage:"


@dataclass(frozen=True)
class DiagramOptions:
    """How to draw a network.

    ``depth``: block instances nested less than ``depth`` deep are drawn as clusters, deeper
    ones as single nodes (0: every top-level block is one node); ``"all"`` expands everything,
    ``"auto"`` picks the deepest level that keeps the picture under ``max_nodes`` nodes.
    ``expand``: ids of collapsed blocks to expand as well (as :attr:`DNode.id` names them).
    ``expand_repeats``: draw every copy of a ``repeat``/``parallel`` node instead of the first
    one with ``xN``. ``stages``: group top-level runs named ``patch_embed1, block1, norm1 ...``
    that contain a block into ``stage 1`` ... clusters. ``concrete``: label edges with the
    shapes for the spec's example sizes (``dims:``, overridden by ``dims``) instead of symbols.
    """

    depth: Depth = "auto"
    direction: Direction = "TB"
    params: bool = False
    expand: frozenset[str] = frozenset()
    expand_repeats: bool = False
    stages: bool = True
    max_nodes: int = 48
    concrete: bool = False
    dims: tuple[tuple[str, int], ...] = ()
    title: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.depth, bool) or not (
            self.depth in ("auto", "all") or (isinstance(self.depth, int) and self.depth >= 0)
        ):
            raise UsageError(f"diagram depth must be an integer >= 0, 'auto' or 'all', got {self.depth!r}")
        if self.direction not in ("TB", "LR"):
            raise UsageError(f"diagram direction must be TB or LR, got {self.direction!r}")
        if self.max_nodes < 1:
            raise UsageError(f"max_nodes must be >= 1, got {self.max_nodes}")


@dataclass
class DNode:
    """One drawn node: an op, a collapsed block (or repeat group), a graph input or output."""

    id: str  # unique and stable: the module path ("block1.0.attn.q"), or "@in:x" / "@out:y"
    name: str  # the local name, as written in the spec
    kind: str  # op name, block name, "input" or "output"
    family: str  # op family, "block", "input" or "output"
    path: str  # module path (the group path for a repeat group)
    cluster: str | None  # id of the innermost cluster holding it
    count: int | None = None  # repeat / parallel count when drawn once
    parallel: bool = False
    shapes: tuple[str, ...] = ()  # output types
    params: int | None = 0  # trainable parameters (None: symbolic)
    expandable: bool = False  # a collapsed block that `expand` can open
    level: int = 0  # nesting depth of the body it is written in (0: the spec's own nodes)

    @property
    def label_kind(self) -> str:
        return self.kind + count_text(self.count, self.parallel)


@dataclass
class DCluster:
    """A drawn box around the body of an expanded block instance (or a stage)."""

    id: str
    name: str
    kind: str  # block name, or "stage"
    path: str
    parent: str | None
    key: str = ""  # the id that `expand` names it by (its collapsed node's id)
    count: int | None = None
    parallel: bool = False
    index: int | None = None  # copy index when repeats are expanded
    params: int | None = 0
    level: int = 1
    explicit: bool = False  # expanded by `expand`, not by `depth`

    @property
    def label(self) -> str:
        if self.kind == "stage":
            return self.name
        name = self.name if self.index is None else f"{self.name}[{self.index}]"
        return f"{name}: {self.kind}{count_text(self.count, self.parallel)}"


@dataclass(frozen=True)
class DEdge:
    src: str
    dst: str
    label: str  # the tensor's static type, "" if unknown


@dataclass
class Diagram:
    title: str
    kind: str  # "network" or "block"
    direction: Direction
    depth: int | None  # the depth drawn (None: everything)
    max_depth: int  # deepest block nesting of the spec
    show_params: bool
    nodes: list[DNode] = field(default_factory=list)
    clusters: list[DCluster] = field(default_factory=list)  # parents before children
    edges: list[DEdge] = field(default_factory=list)
    total_params: int | None = 0

    def node(self, node_id: str) -> DNode:
        return next(n for n in self.nodes if n.id == node_id)

    def contents(self) -> dict[str | None, list[DNode | DCluster]]:
        """What each cluster (None: the top) holds, nodes and clusters in drawing order: a cluster
        stands where its first node does, so writers can emit the picture in reading order."""
        first: dict[str, int] = {}
        parent = {c.id: c.parent for c in self.clusters}
        for i, n in enumerate(self.nodes):
            cid = n.cluster
            while cid is not None and cid not in first:
                first[cid] = i
                cid = parent.get(cid)
        items: dict[str | None, list[tuple[int, int, DNode | DCluster]]] = {}
        for i, n in enumerate(self.nodes):
            items.setdefault(n.cluster, []).append((i, 0, n))
        for c in self.clusters:
            items.setdefault(c.parent, []).append((first.get(c.id, len(self.nodes)), 1, c))
        return {k: [x for _, _, x in sorted(v, key=lambda t: (t[0], t[1]))] for k, v in items.items()}

    @property
    def families(self) -> list[str]:
        """The op families drawn, in registry order (for the legend)."""
        from netdsl.tools.diagrams.style import legend_order

        present = {n.family for n in self.nodes}
        return [f for f in legend_order() if f in present]


def count_text(count: int | None, parallel: bool = False) -> str:
    if count is None or count == 1:
        return ""
    return f" ×{count} parallel" if parallel else f" ×{count}"


def params_text(n: int | None) -> str:
    return "? params" if n is None else f"{human(n)} params"


def ancestors(d: Diagram, node_id: str) -> list[DCluster]:
    """The clusters around a drawn node, innermost first."""
    by_id = {c.id: c for c in d.clusters}
    node = d.node(node_id)
    out: list[DCluster] = []
    cid = node.cluster
    while cid is not None and cid in by_id:
        out.append(by_id[cid])
        cid = by_id[cid].parent
    return out


def sizes_of(values: Mapping[str, int] | None) -> tuple[tuple[str, int], ...]:
    """``dims`` for :class:`DiagramOptions` from a mapping (sorted, hashable)."""
    return tuple(sorted((values or {}).items()))

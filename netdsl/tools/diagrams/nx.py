"""networkx export of a diagram: a ``DiGraph`` and its GraphML or node-link JSON text.

Node attributes: ``name``, ``op`` (op or block name, or input/output), ``family``, ``shape``
(output types, ``; ``-separated), ``params`` (-1 if symbolic), ``count`` (0 if not repeated),
``cluster`` (the enclosing cluster's id, "" at the top), ``cluster_label``, ``path``,
``expandable``. Edge attributes: ``shape``. Graph attributes: ``name``, ``kind``, ``depth``.
"""

from __future__ import annotations

import io
import json
from typing import Any

from netdsl.core.errors import UsageError
from netdsl.tools.diagrams.model import Diagram


def _nx() -> Any:
    try:
        import networkx
    except ImportError:  # pragma: no cover - networkx is a dependency of the dev setup
        raise UsageError(
            "networkx is not installed (needed for graphml and json diagrams)", hint="pip install networkx"
        ) from None
    return networkx


def to_networkx(d: Diagram) -> Any:
    """The diagram as a ``networkx.DiGraph`` (node ids are the diagram's node ids)."""
    nx = _nx()
    labels = {c.id: c.label for c in d.clusters}
    g = nx.DiGraph(name=d.title, kind=d.kind, depth=-1 if d.depth is None else d.depth)
    for n in d.nodes:
        g.add_node(
            n.id,
            name=n.name,
            op=n.kind,
            family=n.family,
            shape="; ".join(n.shapes),
            params=-1 if n.params is None else n.params,
            count=n.count or 0,
            cluster=n.cluster or "",
            cluster_label=labels.get(n.cluster or "", ""),
            path=n.path,
            expandable=n.expandable,
        )
    for e in d.edges:
        if g.has_edge(e.src, e.dst):  # one edge per pair in a DiGraph: list the shapes
            g.edges[e.src, e.dst]["shape"] += "; " + e.label
        else:
            g.add_edge(e.src, e.dst, shape=e.label)
    return g


def to_graphml(d: Diagram) -> str:
    nx = _nx()
    buf = io.BytesIO()
    nx.write_graphml(to_networkx(d), buf, encoding="utf-8", prettyprint=True)
    return buf.getvalue().decode("utf-8")


def to_node_link(d: Diagram) -> str:
    """node-link JSON (``networkx.node_link_graph(json.loads(text), edges="edges")`` reads it)."""
    nx = _nx()
    g = to_networkx(d)
    try:
        data = nx.node_link_data(g, edges="edges")
    except TypeError:  # networkx < 3.4 names the keyword `link`
        data = nx.node_link_data(g, link="edges")
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

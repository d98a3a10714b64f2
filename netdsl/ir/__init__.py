"""The IR: ``Graph``, ``Node``, ``Scope``, ``Ref``, ``Entry``, ``GraphInput`` (``graph.py``) and the
names a node path may not take (``reserved.py``)."""

from netdsl.ir.graph import Entry, Graph, GraphInput, Node, Ref, Scope

__all__ = ["Entry", "Graph", "GraphInput", "Node", "Ref", "Scope"]

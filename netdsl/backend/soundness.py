"""Runtime check of the static shapes: every node's real output shape must equal the inferred one."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx

from netdsl.passes.shapes import ShapeResult


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.shapes: dict[str, tuple[int, ...]] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self.shapes[n.name] = tuple(out.shape)
        return out


def runtime_mismatches(gm: fx.GraphModule, concrete: ShapeResult, inputs: list[torch.Tensor]) -> list[str]:
    """Run ``gm`` once and list every node whose runtime shape differs from ``concrete``'s (the fx
    nodes holding a spec node's outputs carry ``meta["netdsl"]["output"]``)."""
    rec = _Recorder(gm)
    with torch.no_grad():
        rec.run(*inputs)
    problems = []
    checked = 0
    for n in gm.graph.nodes:
        meta = n.meta.get("netdsl")
        if not meta or "output" not in meta or n.name not in rec.shapes:
            continue
        node_id, i = meta["node"], meta["output"]
        static = concrete.types[node_id][i]
        want = tuple(d.value for d in static.shape)
        got = rec.shapes[n.name]
        checked += 1
        if got != want:
            problems.append(f"{node_id}[{i}]: runtime {got}, static {want}")
    if checked == 0 and any("netdsl" in n.meta for n in gm.graph.nodes if n.op != "placeholder"):
        problems.append("no node was checked")
    return problems

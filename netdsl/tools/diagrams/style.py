"""Colours and shapes shared by every diagram format: one fill per op family, plus blocks and I/O."""

from __future__ import annotations

from netdsl.ops.base import FAMILIES

#: fill colour per op family (ColorBrewer pastels, readable with black text)
FAMILY_FILL: dict[str, str] = {
    "conv": "#9ecae1",
    "linear": "#c6dbef",
    "norm": "#fdd0a2",
    "activation": "#c7e9c0",
    "attention": "#fcbba1",
    "elementwise": "#e0e0e0",
    "reduce": "#dadaeb",
    "pool": "#bcbddc",
    "reshape": "#f7f7f7",
    "parameter": "#fff7bc",
    "constant": "#fee391",
    "regularization": "#eeeeee",
    "block": "#e5d8f0",
    "input": "#ffffff",
    "output": "#ffffff",
}
DEFAULT_FILL = "#eeeeee"
STROKE = "#555555"
BLOCK_STROKE = "#6a3d9a"
CLUSTER_FILLS = ("#f7f4fb", "#fbfbfb", "#f4f8fb", "#fdfaf5")
STAGE_FILL = "#eef3f8"
STAGE_STROKE = "#6b8bb0"
CLUSTER_STROKE = "#9e9ac8"


def legend_order() -> list[str]:
    """Families in legend order: the registry's op families, then collapsed blocks."""
    return [*FAMILIES, "block"]


def fill(family: str) -> str:
    return FAMILY_FILL.get(family, DEFAULT_FILL)


def cluster_fill(level: int) -> str:
    return CLUSTER_FILLS[level % len(CLUSTER_FILLS)]

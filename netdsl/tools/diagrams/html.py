"""A self-contained interactive HTML page: pan, zoom, click a block to expand it, hover for details.

Graphviz lays out every view the page can show when the page is written: the start view,
one per depth level, and each view reached by expanding one more block or collapsing one
(breadth first, at most ``max_views``). The SVGs, the small script and the styles are
inlined; a Content-Security-Policy forbids every network request, so the page works offline.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from netdsl.passes.shapes import ShapeResult
from netdsl.tools.diagrams.builder import build_from_shapes
from netdsl.tools.diagrams.dot import html as html_text
from netdsl.tools.diagrams.dot import to_dot
from netdsl.tools.diagrams.formats import DOT_TIMEOUT
from netdsl.tools.diagrams.graphviz import run_dot_many
from netdsl.tools.diagrams.model import Diagram, DiagramOptions, ancestors, params_text

MAX_VIEWS = 48
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

StateKey = tuple[int, frozenset[str]]


@dataclass
class View:
    key: str
    depth: int
    expand: frozenset[str]
    diagram: Diagram
    click: dict[str, tuple[StateKey, str]]
    collapse: dict[str, tuple[StateKey, str]]


def _view(key: str, shapes: ShapeResult, opt: DiagramOptions, depth: int, expand: frozenset[str]) -> View:
    d = build_from_shapes(shapes, replace(opt, depth=depth, expand=expand))
    click: dict[str, tuple[StateKey, str]] = {}
    for n in d.nodes:
        if not n.expandable:
            continue
        chain = frozenset(c.key for c in ancestors(d, n.id) if c.explicit and c.key) | {n.id}
        focus = f"{n.id}.0" if n.count is not None else n.id
        click["node:" + n.id] = ((depth, chain), "cluster:" + focus)
    collapse: dict[str, tuple[StateKey, str]] = {}
    by_id = {c.id: c for c in d.clusters}
    for c in d.clusters:
        if c.kind == "stage" or not c.key:  # (stages, and copies of `path: ''` blocks: always open)
            continue
        outer: list[str] = []
        pid = c.parent
        while pid is not None and pid in by_id:
            outer_key = by_id[pid].key
            if by_id[pid].explicit and outer_key:
                outer.append(outer_key)
            pid = by_id[pid].parent
        collapse["cluster:" + c.id] = ((min(depth, c.level - 1), frozenset(outer)), "node:" + c.key)
    return View(key, depth, expand, d, click, collapse)


def views(
    shapes: ShapeResult, options: DiagramOptions, max_views: int = MAX_VIEWS
) -> tuple[list[View], list[int]]:
    """The views of the page (the first is the start view) and the depth levels offered."""
    start = build_from_shapes(shapes, options)
    max_depth = start.max_depth
    depth0 = max_depth if start.depth is None else min(start.depth, max_depth)
    levels = list(range(max_depth + 1))
    queue: list[StateKey] = [(depth0, frozenset(options.expand))] + [(lv, frozenset()) for lv in levels]
    seen: dict[StateKey, View] = {}
    i = 0
    while i < len(queue) and len(seen) < max_views:
        sk = queue[i]
        i += 1
        if sk in seen:
            continue
        v = _view(f"s{len(seen)}", shapes, options, sk[0], sk[1])
        seen[sk] = v
        for target, _ in (*v.click.values(), *v.collapse.values()):
            if target not in seen:
                queue.append(target)
    return list(seen.values()), levels


_STRIP = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", re.S)


def clean_svg(svg: str) -> str:
    """An SVG document from Graphviz as an element to inline (no prolog, doctype or comments)."""
    out = _STRIP.sub("", svg)
    return "\n".join(line for line in out.splitlines() if line.strip())


def to_html(
    shapes: ShapeResult,
    options: DiagramOptions | None = None,
    *,
    max_views: int = MAX_VIEWS,
    timeout: float = DOT_TIMEOUT,
) -> str:
    """The interactive page (needs Graphviz ``dot`` to write, nothing to view)."""
    opt = options or DiagramOptions()
    vs, levels = views(shapes, opt, max_views)
    keys = {(v.depth, v.expand): v.key for v in vs}
    svgs = run_dot_many([to_dot(v.diagram) for v in vs], "svg", timeout=timeout)
    max_depth = vs[0].diagram.max_depth

    def target(t: tuple[StateKey, str]) -> list[str | None]:
        return [keys.get(t[0]), t[1]]

    states = {}
    for v, svg in zip(vs, svgs, strict=True):
        expanded = sorted(v.expand)
        label = f"depth {'all' if v.depth >= max_depth else v.depth}"
        if expanded:
            label += " · expanded: " + ", ".join(expanded)
        states[v.key] = {
            "depth": v.depth,
            "expand": expanded,
            "label": label,
            "svg": clean_svg(svg.decode("utf-8")),
            "click": {k: target(t) for k, t in v.click.items()},
            "collapse": {k: target(t) for k, t in v.collapse.items()},
            "focus": _focus(v),
        }
    level_list = [
        {"label": "all" if lv == max_depth and lv > 0 else str(lv), "key": keys[(lv, frozenset())]}
        for lv in levels
        if (lv, frozenset()) in keys and len(levels) > 1
    ]
    data = {"initial": vs[0].key, "levels": level_list, "states": states}
    d0 = vs[0].diagram
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    payload = payload.replace("</", "<\\/").replace("<!--", "\\u003c!--")  # cannot end the <script>
    sub = f"{d0.kind} · {sum(1 for _ in shapes.graph.nodes):,} ops · {params_text(d0.total_params)}"
    return _TEMPLATE.format(
        title=html_text(d0.title),
        sub=html_text(sub),
        csp=CSP,
        css=_asset("page.css"),
        js=_asset("page.js"),
        data=payload,
    )


def _focus(v: View) -> str | None:
    """The innermost explicitly expanded cluster of a view (a deep link opens on it)."""
    mine = [c for c in v.diagram.clusters if c.explicit and c.key in v.expand]
    return "cluster:" + max(mine, key=lambda c: c.level).id if mine else None


def _asset(name: str) -> str:
    return Path(__file__).with_name(name).read_text(encoding="utf-8")


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="netdsl diagram">
<title>{title}</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<span class="sub">{sub}</span>
<span class="help">drag to pan · wheel to zoom · click a block to expand it, its frame to collapse it</span>
<nav><span>depth</span><span id="levels"></span>
<button id="zoom-in" title="zoom in">+</button><button id="zoom-out" title="zoom out">&#8722;</button>
<button id="fit" title="fit to the window">fit</button></nav>
</header>
<div id="status"></div>
<main id="view"></main>
<div id="tip"></div>
<script type="application/json" id="netdsl-data">{data}</script>
<script>
{js}</script>
</body>
</html>
"""

"""Diagrams of networks and blocks: Graphviz DOT / SVG / PNG, Mermaid, interactive HTML, networkx.

::

    import netdsl
    from netdsl.diagram import DiagramOptions, write

    res = netdsl.check("specs/shunted_t.yaml")
    write(res, "shunted_t.svg")                              # format from the suffix
    write(res, "stage.mmd", options=DiagramOptions(depth=1, params=True, direction="LR"))
    text = render(res, "dot").decode()

Blocks are clusters down to ``depth`` and single nodes below it; repeats are drawn once with
``×N``; edges carry the static shapes; ops are coloured by family. ``dot``, ``mermaid``,
``graphml`` and ``json`` need no Graphviz; ``svg``, ``png`` and ``html`` run ``dot``.
Nothing here imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Union

from ..shapes import ShapeResult
from .build import build, build_from_shapes, check_expand, expandable, shapes_of
from .dot import to_dot
from .html import to_html
from .mermaid import to_mermaid
from .model import DCluster, DEdge, Diagram, DiagramOptions, DNode
from .nx import to_graphml, to_networkx, to_node_link
from .render import DOT_TIMEOUT, FORMATS, SUFFIXES, atomic_write, format_for, run_dot

if TYPE_CHECKING:
    from ..api import CheckResult

#: what can be drawn: a checked spec, its shapes, or the path of a spec file (checked here)
Source = Union["CheckResult", ShapeResult, str, "os.PathLike[str]"]


def _shapes(source: Source, options: DiagramOptions) -> ShapeResult:
    if isinstance(source, str | os.PathLike):
        from ..api import check

        source = check(source)
    return shapes_of(source, options)


def render(
    source: Source,
    fmt: str = "svg",
    options: DiagramOptions | None = None,
    *,
    timeout: float = DOT_TIMEOUT,
    dpi: float | None = None,
) -> bytes:
    """The diagram of ``source`` in format ``fmt`` (one of :data:`FORMATS`), as bytes.

    Raises :class:`~netdsl.errors.NetdslErrors` for a spec with errors, ``UsageError`` for bad
    options and ``BuildError`` when Graphviz is missing, fails or runs past ``timeout`` seconds.
    """
    opt = options or DiagramOptions()
    fmt = format_for(None, fmt)
    shapes = _shapes(source, opt)
    check_expand(shapes, opt)
    if fmt == "html":
        return to_html(shapes, opt, timeout=timeout).encode("utf-8")
    d = build_from_shapes(shapes, opt)
    if fmt == "mermaid":
        return to_mermaid(d).encode("utf-8")
    if fmt == "graphml":
        return to_graphml(d).encode("utf-8")
    if fmt == "json":
        return to_node_link(d).encode("utf-8")
    text = to_dot(d)
    if fmt == "dot":
        return text.encode("utf-8")
    extra = [f"-Gdpi={dpi:g}"] if dpi and fmt == "png" else []
    return run_dot(text, fmt, timeout=timeout, extra=extra)


def write(
    source: Source,
    path: str | os.PathLike[str],
    fmt: str | None = None,
    options: DiagramOptions | None = None,
    *,
    timeout: float = DOT_TIMEOUT,
    dpi: float | None = None,
) -> Path:
    """Render and write the diagram atomically (the format defaults to the file suffix)."""
    fmt = format_for(path, fmt)
    data = render(source, fmt, options, timeout=timeout, dpi=dpi)
    return atomic_write(path, data)


__all__ = [
    "FORMATS",
    "SUFFIXES",
    "DCluster",
    "DEdge",
    "DNode",
    "Diagram",
    "DiagramOptions",
    "atomic_write",
    "build",
    "check_expand",
    "expandable",
    "format_for",
    "render",
    "run_dot",
    "to_dot",
    "to_graphml",
    "to_html",
    "to_mermaid",
    "to_networkx",
    "to_node_link",
    "write",
]

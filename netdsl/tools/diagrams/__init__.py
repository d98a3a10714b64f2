"""Diagrams of networks and blocks: Graphviz DOT / SVG / PNG, Mermaid, interactive HTML, networkx.

::

    import netdsl
    from netdsl.tools.diagrams import DiagramOptions, write

    res = netdsl.check("specs/shunted_t.yaml")
    write(res, "shunted_t.svg")                              # format from the suffix
    write(res, "stage.mmd", options=DiagramOptions(depth=1, params=True, direction="LR"))
    text = render(res, "dot").decode()

Blocks are clusters down to ``depth`` and single nodes below it; repeats are drawn once with
``×N``; edges carry the static shapes; ops are coloured by family. ``dot``, ``mermaid``,
``graphml`` and ``json`` need no Graphviz; ``svg``, ``png`` and ``html`` run ``dot``.
Nothing here imports torch; the drawing code is imported when first used (``netdsl`` reads the
format table, :mod:`netdsl.tools.diagrams.formats`, for every command).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Union

from netdsl.tools.diagrams.formats import (
    DIAGRAM_FORMATS,
    DOT_TIMEOUT,
    FORMATS,
    SUFFIXES,
    DiagramFormat,
    format_for,
)

if TYPE_CHECKING:
    from netdsl.core.outfile import atomic_write
    from netdsl.passes.shapes import ShapeResult
    from netdsl.pipeline import CheckResult, Pipeline
    from netdsl.tools.diagrams.builder import build, build_from_shapes, check_expand, expandable, shapes_of
    from netdsl.tools.diagrams.dot import to_dot
    from netdsl.tools.diagrams.graphviz import run_dot
    from netdsl.tools.diagrams.html import to_html
    from netdsl.tools.diagrams.mermaid import to_mermaid
    from netdsl.tools.diagrams.model import DCluster, DEdge, Diagram, DiagramOptions, DNode
    from netdsl.tools.diagrams.nx import to_graphml, to_networkx, to_node_link

#: what can be drawn: a checked spec, a pipeline, its shapes, or the path of a spec file (checked here)
Source = Union["CheckResult", "Pipeline", "ShapeResult", str, "os.PathLike[str]"]

#: the names this package exports from its modules (imported on first use), by module
_LAZY = {
    "outfile": ("atomic_write",),
    "builder": ("build", "build_from_shapes", "check_expand", "expandable", "shapes_of"),
    "dot": ("to_dot",),
    "html": ("to_html",),
    "mermaid": ("to_mermaid",),
    "model": ("DCluster", "DEdge", "Diagram", "DiagramOptions", "DNode"),
    "nx": ("to_graphml", "to_networkx", "to_node_link"),
    "graphviz": ("run_dot",),
}


def _module(name: str) -> ModuleType:
    from netdsl.core import outfile
    from netdsl.tools.diagrams import builder, dot, graphviz, html, mermaid, model, nx

    return {
        "outfile": outfile,
        "builder": builder,
        "dot": dot,
        "html": html,
        "mermaid": mermaid,
        "model": model,
        "nx": nx,
        "graphviz": graphviz,
    }[name]


def __getattr__(name: str) -> Any:
    for module, names in _LAZY.items():
        if name in names:
            value = getattr(_module(module), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _shapes(source: Source, options: DiagramOptions) -> ShapeResult:
    from netdsl.tools.diagrams.builder import shapes_of

    if isinstance(source, str | os.PathLike):
        from netdsl.pipeline import Pipeline

        source = Pipeline(source)
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

    Raises :class:`~netdsl.core.errors.NetdslErrors` for a spec with errors, ``UsageError`` for bad
    options and ``BuildError`` when Graphviz is missing, fails or runs past ``timeout`` seconds.
    """
    from netdsl.tools.diagrams.builder import check_expand
    from netdsl.tools.diagrams.model import DiagramOptions

    opt = options or DiagramOptions()
    form = DIAGRAM_FORMATS[format_for(None, fmt)]
    shapes = _shapes(source, opt)
    check_expand(shapes, opt)
    return form.render(shapes, opt, timeout, dpi)


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
    from netdsl.core.outfile import atomic_write

    fmt = format_for(path, fmt)
    data = render(source, fmt, options, timeout=timeout, dpi=dpi)
    return atomic_write(path, data)


__all__ = [
    "DIAGRAM_FORMATS",
    "DOT_TIMEOUT",
    "FORMATS",
    "SUFFIXES",
    "DCluster",
    "DEdge",
    "DNode",
    "Diagram",
    "DiagramFormat",
    "DiagramOptions",
    "atomic_write",
    "build",
    "build_from_shapes",
    "check_expand",
    "expandable",
    "format_for",
    "render",
    "run_dot",
    "shapes_of",
    "to_dot",
    "to_graphml",
    "to_html",
    "to_mermaid",
    "to_networkx",
    "to_node_link",
    "write",
]

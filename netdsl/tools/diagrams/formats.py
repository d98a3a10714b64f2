"""The diagram formats, in one table: name, file suffixes, binary or text, whether ``netdsl diagram``
prints it without ``-o``, whether it runs Graphviz, and the renderer. The CLI's ``-f`` choices, the
format of an output file (from its suffix) and :func:`netdsl.tools.diagrams.render` all read it.

Cheap to import (the CLI's parser reads it for every command): the renderers import the code that
draws when they are called.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netdsl.core.errors import UsageError

if TYPE_CHECKING:
    from netdsl.passes.shapes import ShapeResult
    from netdsl.tools.diagrams.model import Diagram, DiagramOptions

#: seconds Graphviz `dot` may take for one drawing
DOT_TIMEOUT = 300.0
#: a renderer: the shapes to draw, the options, the Graphviz timeout (s), the PNG resolution (dpi)
Renderer = Callable[["ShapeResult", "DiagramOptions", float, "float | None"], bytes]


@dataclass(frozen=True)
class DiagramFormat:
    """One output format of :func:`netdsl.tools.diagrams.render`."""

    name: str
    #: file suffixes that pick it (lower case), the usual one first
    suffixes: tuple[str, ...]
    #: bytes that are not text (never printed to a terminal)
    binary: bool
    #: ``netdsl diagram`` prints it to stdout when no ``-o`` is given (the others need a file)
    stdout: bool
    #: runs Graphviz ``dot``
    graphviz: bool
    render: Renderer


def _diagram(shapes: ShapeResult, opt: DiagramOptions) -> Diagram:
    from netdsl.tools.diagrams.builder import build_from_shapes

    return build_from_shapes(shapes, opt)


def _dot(shapes: ShapeResult, opt: DiagramOptions, timeout: float, dpi: float | None) -> bytes:
    from netdsl.tools.diagrams.dot import to_dot

    return to_dot(_diagram(shapes, opt)).encode("utf-8")


def _graphviz(fmt: str) -> Renderer:
    def render(shapes: ShapeResult, opt: DiagramOptions, timeout: float, dpi: float | None) -> bytes:
        from netdsl.tools.diagrams.dot import to_dot
        from netdsl.tools.diagrams.graphviz import run_dot

        extra = [f"-Gdpi={dpi:g}"] if dpi and fmt == "png" else []
        return run_dot(to_dot(_diagram(shapes, opt)), fmt, timeout=timeout, extra=extra)

    return render


def _mermaid(shapes: ShapeResult, opt: DiagramOptions, timeout: float, dpi: float | None) -> bytes:
    from netdsl.tools.diagrams.mermaid import to_mermaid

    return to_mermaid(_diagram(shapes, opt)).encode("utf-8")


def _html(shapes: ShapeResult, opt: DiagramOptions, timeout: float, dpi: float | None) -> bytes:
    from netdsl.tools.diagrams.html import to_html

    return to_html(shapes, opt, timeout=timeout).encode("utf-8")


def _graphml(shapes: ShapeResult, opt: DiagramOptions, timeout: float, dpi: float | None) -> bytes:
    from netdsl.tools.diagrams.nx import to_graphml

    return to_graphml(_diagram(shapes, opt)).encode("utf-8")


def _json(shapes: ShapeResult, opt: DiagramOptions, timeout: float, dpi: float | None) -> bytes:
    from netdsl.tools.diagrams.nx import to_node_link

    return to_node_link(_diagram(shapes, opt)).encode("utf-8")


_TABLE = (  # name, suffixes, binary, stdout, graphviz, renderer
    DiagramFormat("dot", (".dot", ".gv"), False, True, False, _dot),
    DiagramFormat("svg", (".svg",), False, False, True, _graphviz("svg")),
    DiagramFormat("png", (".png",), True, False, True, _graphviz("png")),
    DiagramFormat("mermaid", (".mmd", ".mermaid"), False, True, False, _mermaid),
    DiagramFormat("html", (".html", ".htm"), False, False, True, _html),
    DiagramFormat("graphml", (".graphml",), False, True, False, _graphml),
    DiagramFormat("json", (".json",), False, True, False, _json),
)

#: the formats by name, in the order the CLI lists them
DIAGRAM_FORMATS: dict[str, DiagramFormat] = {f.name: f for f in _TABLE}
FORMATS = tuple(DIAGRAM_FORMATS)
#: file suffix -> format name
SUFFIXES = {suffix: f.name for f in _TABLE for suffix in f.suffixes}


def format_for(path: str | os.PathLike[str] | None, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file suffix (``.svg`` -> svg)."""
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in DIAGRAM_FORMATS:
            raise UsageError(f"unknown diagram format {fmt!r}", expected=list(FORMATS))
        return fmt
    if path is None:
        raise UsageError("no diagram format given and no output file to take it from")
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            f"cannot tell the diagram format from {os.fspath(path)!r}: give a format",
            expected=sorted(SUFFIXES),
        )
    return SUFFIXES[suffix]


__all__ = ["DIAGRAM_FORMATS", "DOT_TIMEOUT", "FORMATS", "SUFFIXES", "DiagramFormat", "Renderer", "format_for"]

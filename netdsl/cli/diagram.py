"""`netdsl diagram SPEC`: draw a spec (DOT, Mermaid, SVG, PNG, HTML, GraphML, JSON)."""

from __future__ import annotations

import argparse
import sys

from netdsl.cli.args import _depth, _ints, _overrides
from netdsl.cli.output import EXIT_OK, safe_text
from netdsl.cli.shapes import _pipeline
from netdsl.core.errors import UsageError


def cmd_diagram(args: argparse.Namespace) -> int:
    from netdsl.tools.diagrams import DIAGRAM_FORMATS, DiagramOptions, render, write

    depth = _depth(args.depth)
    dims = _ints(args.dim, "--dim")
    overrides = _overrides(args.set)
    if args.output is None and not DIAGRAM_FORMATS[args.format or "dot"].stdout:
        raise UsageError(f"-f {args.format} writes a file: give -o FILE")
    run = _pipeline(args, overrides, {}, dims)
    run.check().raise_if_errors()
    opts = DiagramOptions(
        depth=depth,  # type: ignore[arg-type]
        direction=args.direction,
        params=args.params,
        expand=frozenset(args.expand or ()),
        expand_repeats=args.expand_repeats,
        stages=not args.no_stages,
        concrete=bool(dims),
        dims=tuple(sorted(dims.items())),
    )
    if args.output is not None:
        path = write(run, args.output, args.format, opts)
        print(safe_text(f"wrote {path}"), file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(render(run, args.format or "dot", opts).decode("utf-8"))
    return EXIT_OK

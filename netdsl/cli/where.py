"""`netdsl where SPEC KEY...`: where a state_dict key, a module path or a block instance is written
in the spec, and the chain of block instances around it; torch-free (docs/toolbox.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from netdsl.cli.output import EXIT_ERROR, EXIT_OK, print_diagnostics, safe_text


def add_arguments(p: argparse.ArgumentParser, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    spec_args(p)
    p.add_argument(
        "keys",
        nargs="+",
        metavar="KEY",
        help="a state_dict key (stage1.0.attn.q.weight), a node or module path, a block instance, an input",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")


def cmd_where(args: argparse.Namespace) -> int:
    from netdsl.cli.args import _ints, _overrides, _shapes
    from netdsl.cli.shapes import _pipeline
    from netdsl.passes.provenance import where_all

    run = _pipeline(args, _overrides(args.set), _shapes(args.input_shape), _ints(args.dim, "--dim"))
    res = run.check()
    if res.warnings and not args.quiet:
        print_diagnostics(res.warnings, "text")
    res.raise_if_errors()
    assert res.shapes is not None
    found, errors = where_all(res.shapes, list(args.keys))
    if args.format == "json":
        doc = {
            "schema": "netdsl.where/1",
            "found": [o.to_dict() for o in found],
            "not_found": [
                {"key": k, "message": e.message, "hint": e.hint}
                for k, e in zip(
                    [k for k in args.keys if k not in {o.key for o in found}], errors, strict=True
                )
            ],
        }
        print(json.dumps(doc, indent=2))
    else:
        for origin in found:
            print(safe_text(origin.render()))
    if errors:
        if args.format != "json":
            print_diagnostics(errors, "text")
        return EXIT_ERROR
    return EXIT_OK

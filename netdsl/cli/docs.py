"""`netdsl schema`, `netdsl ops`, `netdsl blocks`: the spec format, the op registry and the block
library, as text or markdown."""

from __future__ import annotations

import argparse
import json

from netdsl.cli.output import EXIT_ERROR, EXIT_OK, print_diagnostics
from netdsl.core.errors import NetdslError, UsageError


def cmd_schema(args: argparse.Namespace) -> int:
    from netdsl.frontend.schema import schema_json

    print(json.dumps(schema_json(), indent=2))
    return EXIT_OK


def cmd_blocks(args: argparse.Namespace) -> int:
    from netdsl.core.suggest import did_you_mean
    from netdsl.frontend.library import BlockLibrary
    from netdsl.tools.blockdoc import block_list, block_markdown, library_markdown

    library = BlockLibrary(args.blocks_path or ())
    if args.name is None:
        if args.format == "markdown":
            print(library_markdown(library))
            return EXIT_OK
        problems: list[NetdslError] = []
        print(block_list(library, problems))  # the blocks that load; the others' errors below
        print_diagnostics(problems, "text")
        return EXIT_ERROR if problems else EXIT_OK
    if args.name not in library:
        raise UsageError(
            f"no block named {args.name!r}",
            expected=library.names(),
            hint=did_you_mean(args.name, library.names()),
        )
    print(block_markdown(args.name, library))
    return EXIT_OK


def cmd_ops(args: argparse.Namespace) -> int:
    from netdsl.tools.opdoc import ops_markdown, ops_text

    print(ops_markdown() if args.format == "markdown" else ops_text())
    return EXIT_OK

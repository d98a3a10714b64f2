"""`netdsl schema`, `netdsl ops`, `netdsl blocks`: the spec format, the op registry and the block
library, as text or markdown."""

from __future__ import annotations

import argparse
import json
import re

from netdsl.cli.output import EXIT_ERROR, EXIT_OK, print_diagnostics
from netdsl.core.errors import NetdslError, UsageError


def _mark(text: str, plugins: dict[str, str], markdown: bool) -> str:
    """``text`` (a listing, one entry per line beginning with its name) with each plugin entry marked
    with where it comes from."""
    if not plugins:
        return text
    out = []
    for line in text.split("\n"):
        if markdown:
            row = re.match(r"\| \[?`(\w+)`", line)
            name = row[1] if row else ""
            if name in plugins and line.endswith(" |"):
                line = f"{line[:-2]} (plugin: {plugins[name]}) |"
        elif line[:1].strip() and line.split(" ", 1)[0] in plugins:
            line = f"{line}  [plugin: {plugins[line.split(' ', 1)[0]]}]"
        out.append(line)
    return "\n".join(out)


def _plugin_ops() -> tuple[dict[str, str], list[NetdslError]]:
    """Every plugin op loaded (name -> where it comes from), and the problems of those that cannot be."""
    from netdsl.ops.plugins import load_all, plugin_ops

    problems = load_all()
    return plugin_ops(), problems


def cmd_schema(args: argparse.Namespace) -> int:
    from netdsl.frontend.schema import schema_json

    _, problems = _plugin_ops()  # the plugin ops' attributes are in the schema too
    print(json.dumps(schema_json(), indent=2))
    print_diagnostics(problems, "text")
    return EXIT_ERROR if problems else EXIT_OK


def cmd_blocks(args: argparse.Namespace) -> int:
    from netdsl.core.suggest import did_you_mean
    from netdsl.frontend.library import BlockLibrary
    from netdsl.tools.blockdoc import block_list, block_markdown, library_markdown

    problems: list[NetdslError] = []  # the plugins' problems, then those of blocks that do not load
    library = BlockLibrary(args.blocks_path or (), plugin_problems=problems)
    if args.name is None:
        markdown = args.format == "markdown"
        text = library_markdown(library) if markdown else block_list(library, problems)
        print(_mark(text, library.distributions, markdown))  # the blocks that load; the errors below
        print_diagnostics(problems, "text")
        return EXIT_ERROR if problems else EXIT_OK
    if args.name not in library:
        raise UsageError(
            f"no block named {args.name!r}",
            expected=library.names(),
            hint=did_you_mean(args.name, library.names()),
        )
    print(block_markdown(args.name, library))
    if args.name in library.distributions:
        print(f"From the plugin {library.distributions[args.name]}.")
    return EXIT_OK


def cmd_ops(args: argparse.Namespace) -> int:
    from netdsl.tools.opdoc import ops_markdown, ops_text

    plugins, problems = _plugin_ops()
    markdown = args.format == "markdown"
    print(_mark(ops_markdown() if markdown else ops_text(), plugins, markdown))
    print_diagnostics(problems, "text")  # plugins that cannot be loaded (the others are listed)
    return EXIT_ERROR if problems else EXIT_OK

"""`netdsl validate PATHS`: check spec files and folders, torch-free; text, JSON or GitHub output."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from netdsl.cli.output import EXIT_ERROR, EXIT_OK, print_diagnostics
from netdsl.core.errors import NetdslError, SourceLoc, display_path

if TYPE_CHECKING:
    from netdsl.frontend.library import LibraryCache


class InternalError(NetdslError):
    """A bug in netdsl met while checking one file (``netdsl validate`` reports it and goes on)."""


def _validate_one(
    path: Path, args: argparse.Namespace, libraries: LibraryCache
) -> tuple[list[NetdslError], list[NetdslError]]:
    """The errors and warnings of one file; a crash while checking it is that file's error."""
    from netdsl.api import check

    try:
        res = check(path, blocks_path=args.blocks_path, concrete=True, root=args.root, libraries=libraries)
        return list(res.errors), list(res.warnings)
    except NetdslError as e:
        return e.errors, []
    except Exception as e:  # a bug in netdsl: report it for this file and go on with the others
        if os.environ.get("NETDSL_DEBUG"):
            raise
        text = " ".join(str(e).split())
        if len(text) > 300:
            text = text[:297] + "..."
        return [
            InternalError(
                f"internal error: {type(e).__name__}: {text}"
                if text
                else f"internal error: {type(e).__name__}",
                SourceLoc(display_path(path)),
                hint="set NETDSL_DEBUG=1 for a traceback; please report it",
            )
        ], []


def _spec_paths(args: argparse.Namespace) -> tuple[list[Path], list[NetdslError]]:
    """The files to validate and the errors of entries refused by the file policy; a folder
    without any spec is a usage error."""
    from netdsl.api import find_specs

    return find_specs(args.paths, root=args.root)


def cmd_validate(args: argparse.Namespace) -> int:
    from netdsl.frontend.library import LibraryCache

    files, refused = _spec_paths(args)
    results: dict[str, tuple[list[NetdslError], list[NetdslError]]] = {}
    libraries = LibraryCache()  # each block file loaded and validated once per run
    for f in files:
        results[str(f)] = _validate_one(f, args, libraries)
    for e in refused:  # entries refused unopened: an error of that file
        results.setdefault(e.loc.file, ([], []))[0].append(e)
    report = []
    n_err = 0
    for name, (errors, warnings) in results.items():
        n_err += len(errors)
        report.append(
            {
                "file": name,
                "ok": not errors,
                "errors": [e.to_dict() for e in errors],
                "warnings": [w.to_dict() for w in warnings],
            }
        )
        if args.format != "json":
            print_diagnostics(
                errors + ([] if args.quiet else warnings),
                args.format,
                sys.stdout if args.format == "github" else sys.stderr,
            )
    if args.format == "json":
        import json

        print(json.dumps({"files": report, "errors": n_err, "ok": n_err == 0}, indent=2))
    elif args.format == "text":
        bad = sum(1 for r in report if not r["ok"])
        print(f"{len(report) - bad} of {len(report)} spec file(s) valid, {n_err} error(s)", file=sys.stderr)
    return EXIT_ERROR if n_err else EXIT_OK

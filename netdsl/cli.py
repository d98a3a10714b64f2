"""The `netdsl` command line: validate, build, shapes, schema.

Exit codes: 0 success, 1 errors in a spec (or the build), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import NetdslError, UsageError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} expects NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _overrides(items: Sequence[str] | None) -> dict[str, Any]:
    from .yaml_loader import parse_scalar

    out = {}
    for k, v in _kv(items, "--set").items():
        try:
            out[k] = parse_scalar(v)
        except NetdslError as e:
            raise UsageError(f"--set {k}: cannot read value {v!r}: {e.message}") from None
    return out


def _ints(items: Sequence[str] | None, what: str) -> dict[str, int]:
    out = {}
    for k, v in _kv(items, what).items():
        if not v.isdigit() or int(v) < 1:
            raise UsageError(f"{what} {k}: expected a positive integer, got {v!r}")
        out[k] = int(v)
    return out


def _shapes(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    out = {}
    for k, v in _kv(items, "--input-shape").items():
        parts = v.lower().replace(",", "x").split("x")
        if not all(p.isdigit() for p in parts):
            raise UsageError(f"--input-shape {k}: expected sizes like 1x3x224x224, got {v!r}")
        out[k] = tuple(int(p) for p in parts)
    return out


def _print_diagnostics(errors: Sequence[NetdslError], fmt: str, stream: Any = None) -> None:
    stream = stream or sys.stderr
    for e in errors:
        if fmt == "github":
            loc = e.loc
            msg = e.message + (f" ({e.hint})" if e.hint else "")
            msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            level = "warning" if e.severity == "warning" else "error"
            print(f"::{level} file={loc.file},line={loc.line},col={loc.col},title=netdsl::{msg}", file=stream)
        else:
            print(e.render(), file=stream)


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    from .api import check, spec_files

    files = spec_files(args.paths)
    report = []
    n_err = 0
    for f in files:
        res = check(f, blocks_path=args.blocks_path, concrete=True)
        n_err += len(res.errors)
        report.append(
            {
                "file": str(f),
                "ok": res.ok,
                "errors": [e.to_dict() for e in res.errors],
                "warnings": [w.to_dict() for w in res.warnings],
            }
        )
        if args.format != "json":
            _print_diagnostics(
                res.errors + ([] if args.quiet else res.warnings),
                args.format,
                sys.stdout if args.format == "github" else sys.stderr,
            )
    if args.format == "json":
        print(json.dumps({"files": report, "errors": n_err, "ok": n_err == 0}, indent=2))
    elif args.format == "text":
        bad = sum(1 for r in report if not r["ok"])
        print(f"{len(files) - bad} of {len(files)} spec file(s) valid, {n_err} error(s)", file=sys.stderr)
    return EXIT_ERROR if n_err else EXIT_OK


def _check_for_build(args: argparse.Namespace) -> Any:
    from .api import check

    res = check(
        args.spec,
        args.variant,
        _overrides(args.set),
        blocks_path=args.blocks_path,
        input_shapes=_shapes(args.input_shape),
        dims=_ints(args.dim, "--dim"),
        concrete=True,
    )
    if res.warnings and not getattr(args, "quiet", False):
        _print_diagnostics(res.warnings, "text")
    res.raise_if_errors()
    return res


def cmd_shapes(args: argparse.Namespace) -> int:
    from .summary import shapes_table

    res = _check_for_build(args)
    print(shapes_table(res.shapes))
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from .cli_build import run_build

    res = _check_for_build(args)
    return run_build(res, args, _shapes(args.input_shape), _ints(args.dim, "--dim"))


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import schema_json

    print(json.dumps(schema_json(), indent=2))
    return EXIT_OK


def cmd_blocks(args: argparse.Namespace) -> int:
    from .blockdoc import block_list, block_markdown, library_markdown
    from .library import BlockLibrary
    from .suggest import did_you_mean

    library = BlockLibrary(args.blocks_path or ())
    if args.name is None:
        print(library_markdown(library) if args.format == "markdown" else block_list(library))
        return EXIT_OK
    if args.name not in library:
        raise UsageError(
            f"no block named {args.name!r}",
            expected=library.names(),
            hint=did_you_mean(args.name, library.names()),
        )
    print(block_markdown(args.name, library))
    return EXIT_OK


def cmd_diagram(args: argparse.Namespace) -> int:
    from .api import check
    from .diagram import DiagramOptions, render, write

    depth: int | str = args.depth
    if args.depth not in ("auto", "all"):
        if not str(args.depth).isdigit():
            raise UsageError(f"--depth expects a number, 'auto' or 'all', got {args.depth!r}")
        depth = int(args.depth)
    dims = _ints(args.dim, "--dim")
    res = check(args.spec, args.variant, _overrides(args.set), blocks_path=args.blocks_path)
    res.raise_if_errors()
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
    if args.output:
        path = write(res, args.output, args.format, opts)
        print(f"wrote {path}", file=sys.stderr)
        return EXIT_OK
    fmt = args.format or "dot"
    if fmt in ("svg", "png", "html"):
        raise UsageError(f"-f {fmt} writes a file: give -o FILE")
    sys.stdout.write(render(res, fmt, opts).decode("utf-8"))
    return EXIT_OK


def cmd_ops(args: argparse.Namespace) -> int:
    from .opdoc import ops_markdown, ops_text

    print(ops_markdown() if args.format == "markdown" else ops_text())
    return EXIT_OK


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="netdsl", description="Declarative YAML network specs -> shape-checked torch.fx modules."
    )
    p.add_argument("--version", action="version", version="netdsl 0.1.0")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--blocks-path",
            action="append",
            metavar="DIR",
            help="extra folder of block specs (repeatable; also $NETDSL_BLOCKS_PATH)",
        )

    def spec_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("spec", help="a network or block spec (.yaml)")
        sp.add_argument("--variant", help="a variant of the network (its `variants:`)")
        sp.add_argument(
            "--set",
            action="append",
            metavar="NAME=VALUE",
            help="override a variable (network) or parameter (block); YAML value",
        )
        sp.add_argument("--dim", action="append", metavar="NAME=N", help="size of a symbolic dim, e.g. H=224")
        sp.add_argument(
            "--input-shape",
            action="append",
            metavar="INPUT=AxBxC",
            help="concrete shape of an input, e.g. image=1x3x224x224",
        )
        sp.add_argument("-q", "--quiet", action="store_true", help="no warnings")
        common(sp)

    v = sub.add_parser("validate", help="check spec files (torch-free)")
    v.add_argument("paths", nargs="+", help="spec files or folders")
    v.add_argument("--format", choices=("text", "json", "github"), default="text")
    v.add_argument("-q", "--quiet", action="store_true", help="errors only, no warnings")
    common(v)
    v.set_defaults(func=cmd_validate)

    b = sub.add_parser("build", help="build the module, run one forward pass, print a summary")
    spec_args(b)
    b.add_argument("--compile", action="store_true", help="also torch.compile it and time the compile")
    b.add_argument("--out", help="write the module: .pt2 (torch.export) or .pt/.pth (state_dict)")
    b.add_argument("--seed", type=int, default=0, help="seed of the parameter initialisation (default 0)")
    b.add_argument("--device", default="cpu", help="device for the forward pass (cpu, cuda)")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("shapes", help="print the inferred shape of every node")
    spec_args(s)
    s.set_defaults(func=cmd_shapes)

    sc = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    sc.set_defaults(func=cmd_schema)

    bl = sub.add_parser("blocks", help="list the block library, or show one block")
    bl.add_argument("name", nargs="?", help="a block to show")
    bl.add_argument("--format", choices=("text", "markdown"), default="text")
    common(bl)
    bl.set_defaults(func=cmd_blocks)

    d = sub.add_parser("diagram", help="draw a spec: dot, svg, png, mermaid, html, graphml, json")
    d.add_argument("spec", help="a network or block spec (.yaml)")
    d.add_argument("-o", "--output", help="output file; the format follows its suffix")
    d.add_argument("-f", "--format", choices=("dot", "svg", "png", "mermaid", "html", "graphml", "json"))
    d.add_argument(
        "--depth", default="auto", help="block nesting drawn open: a number, 'auto' (default) or 'all'"
    )
    d.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top-to-bottom or left-to-right")
    d.add_argument("--params", action="store_true", help="show parameter counts")
    d.add_argument("--expand", action="append", metavar="PATH", help="draw this block open (repeatable)")
    d.add_argument("--expand-repeats", action="store_true", help="draw every copy of a repeat")
    d.add_argument("--no-stages", action="store_true", help="do not group numbered top-level nodes in stages")
    d.add_argument("--variant", help="a variant of the network")
    d.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a variable or parameter")
    d.add_argument("--dim", action="append", metavar="NAME=N", help="draw concrete shapes for these sizes")
    common(d)
    d.set_defaults(func=cmd_diagram)

    o = sub.add_parser("ops", help="list the primitive ops")
    o.add_argument("--format", choices=("text", "markdown"), default="text")
    o.set_defaults(func=cmd_ops)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
        code: int = args.func(args)
        return code
    except UsageError as e:
        print(f"netdsl: usage error: {e.render()}", file=sys.stderr)
        return EXIT_USAGE
    except NetdslError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("netdsl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug in netdsl, not in the spec
        if os.environ.get("NETDSL_DEBUG"):
            raise
        print(
            f"netdsl: internal error: {type(e).__name__}: {e} (set NETDSL_DEBUG=1 for a traceback; "
            "please report it)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def entry() -> None:  # pragma: no cover
    sys.exit(main())


__all__ = ["Path", "main", "make_parser", "time"]

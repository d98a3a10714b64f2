"""The `netdsl` command line: validate, build, shapes, schema.

Exit codes: 0 success, 1 errors in a spec (or the build), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from netdsl.core.errors import NetdslError, SourceLoc, UsageError, display_path, show_value

if TYPE_CHECKING:
    from netdsl.cli.build import BuildOptions
    from netdsl.frontend.library import LibraryCache
    from netdsl.pipeline import Pipeline

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


class InternalError(NetdslError):
    """A bug in netdsl met while checking one file (``netdsl validate`` reports it and goes on)."""


MAX_SIZE = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,30}", re.ASCII)


#: characters never printed raw: C0/C1 controls but tab and newline, DEL, bidi and zero-width marks
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe_text(text: str) -> str:
    """``text`` with terminal escapes and invisible marks written as ``\\x1b`` / ``\\u202e``."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text)


show = show_value  # a command-line value in a message


def _name(key: str) -> str:
    return key if key.isascii() and key.isidentifier() else show(key)


def usage_text(e: NetdslError) -> str:
    """``netdsl: usage error: MESSAGE`` (after the place in a spec when there is one), then the
    excerpt, ``expected one of`` and the hint: the message once, never ``usage error: error:``."""
    out = []
    for err in e.errors:
        loc = err.loc
        where = ""
        if loc.file != SourceLoc.file:
            where = loc.file + (f":{loc.line}:{loc.col}" if loc.line else "") + ": "
        path = f" [{loc.dotted}]" if loc.path else ""
        out.append(err.render(header=f"netdsl: usage error: {where}{err.message}{path}"))
    return "\n".join(out)


def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what} expects NAME=VALUE, got {show(item)}")
        if key in out:
            raise UsageError(f"{what} {_name(key)}: given twice ({show(out[key])} and {show(value.strip())})")
        out[key] = value.strip()
    return out


def _overrides(items: Sequence[str] | None) -> dict[str, Any]:
    from netdsl.frontend.yaml_loader import parse_scalar

    out = {}
    for k, v in _kv(items, "--set").items():
        try:
            out[k] = parse_scalar(v)
        except NetdslError as e:
            raise UsageError(f"--set {_name(k)}: cannot read value {show(v)}: {e.message}") from None
    return out


def _size(text: str, what: str) -> int:
    """A size of a dim: ASCII digits, 1 .. 2**63 - 1 (``str.isdigit`` would take '²' and '٣')."""
    if not _DIGITS.fullmatch(text):
        raise UsageError(f"{what}: expected a positive integer (digits 0-9), got {show(text)}")
    n = int(text)
    if not 1 <= n <= MAX_SIZE:
        raise UsageError(f"{what}: a size must be from 1 to 2**63 - 1, got {show(text)}")
    return n


def _ints(items: Sequence[str] | None, what: str) -> dict[str, int]:
    return {k: _size(v, f"{what} {_name(k)}") for k, v in _kv(items, what).items()}


def _shapes(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    out = {}
    for k, v in _kv(items, "--input-shape").items():
        parts = v.lower().replace(",", "x").split("x")
        if not v or not all(_DIGITS.fullmatch(p.strip()) for p in parts):
            raise UsageError(f"--input-shape {_name(k)}: expected sizes like 1x3x224x224, got {show(v)}")
        out[k] = tuple(_size(p.strip(), f"--input-shape {_name(k)}={show(v)}") for p in parts)
    return out


def _seed(text: str) -> int:
    """The argparse type of --seed: what torch.manual_seed accepts (-2**63 .. 2**64 - 1)."""
    from netdsl.api import SEED_MAX, SEED_MIN

    s = text.strip()
    if not _DIGITS.fullmatch(s[1:] if s[:1] in ("-", "+") else s):
        raise argparse.ArgumentTypeError(f"expected an integer (digits 0-9), got {show(text)}")
    n = int(s)
    if not SEED_MIN <= n <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"{show(text)} is outside the seeds torch takes, {SEED_MIN} .. {SEED_MAX}"
        )
    return n


def _depth(text: str) -> int | str:
    if text in ("auto", "all"):
        return text
    if not _DIGITS.fullmatch(text) or int(text) > 10_000:
        raise UsageError(f"--depth expects a number from 0 to 10000, 'auto' or 'all', got {show(text)}")
    return int(text)


def _check_folders(args: argparse.Namespace) -> None:
    """--blocks-path / --root (and $NETDSL_BLOCKS_PATH / $NETDSL_ROOT) must name folders."""
    if not hasattr(args, "blocks_path"):
        return
    named: list[tuple[str, str]] = []
    for flag, attr, env in (
        ("--blocks-path", "blocks_path", "NETDSL_BLOCKS_PATH"),
        ("--root", "root", "NETDSL_ROOT"),
    ):
        named += [(flag, d) for d in getattr(args, attr, None) or []]
        if hasattr(args, attr):
            named += [(f"${env}", d) for d in os.environ.get(env, "").split(os.pathsep) if d]
    for what, folder in named:
        try:
            ok, exists = Path(folder).is_dir(), Path(folder).exists()
        except (OSError, ValueError):
            ok = exists = False
        if not ok:
            problem = "is not a folder" if exists else "does not exist"
            raise UsageError(f"{what} {show(folder)} {problem}", hint=f"{what} must name an existing folder")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def print_diagnostics(errors: Sequence[NetdslError], fmt: str, stream: Any = None) -> None:
    """Errors and warnings as text (``render``) or GitHub annotations (``github``), to stderr."""
    stream = stream or sys.stderr
    for e in errors:
        if fmt == "github":
            loc = e.loc
            msg = _escape_data(e.message + (f" ({e.hint})" if e.hint else ""))
            level = "warning" if e.severity == "warning" else "error"
            where = f"file={_escape_property(loc.file)},line={loc.line},col={loc.col}"
            print(safe_text(f"::{level} {where},title=netdsl::{msg}"), file=stream)
        else:
            print(safe_text(e.render()), file=stream)


# ---------------------------------------------------------------- commands


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
        print(json.dumps({"files": report, "errors": n_err, "ok": n_err == 0}, indent=2))
    elif args.format == "text":
        bad = sum(1 for r in report if not r["ok"])
        print(f"{len(report) - bad} of {len(report)} spec file(s) valid, {n_err} error(s)", file=sys.stderr)
    return EXIT_ERROR if n_err else EXIT_OK


def _pipeline(
    args: argparse.Namespace,
    overrides: dict[str, Any],
    shapes: dict[str, tuple[int, ...]],
    dims: dict[str, int],
) -> Pipeline:
    """The run of the spec named on the command line, for its --variant, --blocks-path, --root and
    the values of --set, --input-shape and --dim (read before: a bad one is refused, exit 2, before
    the spec is read)."""
    from netdsl.pipeline import Pipeline

    return Pipeline(
        args.spec,
        args.variant,
        overrides,
        blocks_path=args.blocks_path,
        input_shapes=shapes,
        dims=dims,
        root=args.root,
    )


def cmd_shapes(args: argparse.Namespace) -> int:
    from netdsl.passes.summary import shapes_table

    run = _pipeline(args, _overrides(args.set), _shapes(args.input_shape), _ints(args.dim, "--dim"))
    res = run.check(concrete=True)
    if res.warnings and not args.quiet:
        print_diagnostics(res.warnings, "text")
    res.raise_if_errors()
    assert res.shapes is not None
    print(shapes_table(res.shapes))
    return EXIT_OK


def build_options(args: argparse.Namespace) -> BuildOptions:
    """The :class:`~netdsl.cli.build.BuildOptions` of ``netdsl build``'s arguments (--set, --input-shape
    and --dim read here: a bad one is a usage error naming it)."""
    from netdsl.cli.build import BuildOptions

    return BuildOptions(
        variant=args.variant,
        overrides=_overrides(args.set),
        input_shapes=_shapes(args.input_shape),
        dims=_ints(args.dim, "--dim"),
        blocks_path=args.blocks_path or (),
        root=args.root or (),
        seed=args.seed,
        device=args.device,
        out=args.out,
        compile=args.compile,
        quiet=args.quiet,
        max_memory=args.max_memory,
    )


def cmd_build(args: argparse.Namespace) -> int:
    from netdsl.cli.build import run_build

    run_build(args.spec, build_options(args), stdout=sys.stdout, stderr=sys.stderr)
    return EXIT_OK


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


def cmd_ops(args: argparse.Namespace) -> int:
    from netdsl.tools.opdoc import ops_markdown, ops_text

    print(ops_markdown() if args.format == "markdown" else ops_text())
    return EXIT_OK


def make_parser() -> argparse.ArgumentParser:
    from netdsl.tools.diagrams.formats import FORMATS

    p = _Parser(
        prog="netdsl", description="Declarative YAML network specs -> shape-checked torch.fx modules."
    )
    p.add_argument("--version", action="version", version="netdsl 0.1.0")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, root: bool = True) -> None:
        sp.add_argument(
            "--blocks-path",
            action="append",
            metavar="DIR",
            help="extra folder of block specs (repeatable; also $NETDSL_BLOCKS_PATH)",
        )
        if root:
            sp.add_argument(
                "--root",
                action="append",
                metavar="DIR",
                help="extra folder that files a spec refers to may lie in (repeatable; also $NETDSL_ROOT)",
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
    b.add_argument("--seed", type=_seed, default=0, help="seed of the parameter initialisation (default 0)")
    b.add_argument("--device", default="cpu", help="device for the forward pass (cpu, cuda, cuda:1, mps)")
    b.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the build may use, e.g. 8G, 512M, 1.5GiB (default: the cgroup limit or MemAvailable; "
        "also $NETDSL_MAX_MEMORY)",
    )
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("shapes", help="print the inferred shape of every node")
    spec_args(s)
    s.set_defaults(func=cmd_shapes)

    sc = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    sc.set_defaults(func=cmd_schema)

    bl = sub.add_parser("blocks", help="list the block library, or show one block")
    bl.add_argument("name", nargs="?", help="a block to show")
    bl.add_argument("--format", choices=("text", "markdown"), default="text")
    common(bl, root=False)
    bl.set_defaults(func=cmd_blocks)

    d = sub.add_parser("diagram", help=f"draw a spec: {', '.join(FORMATS)}")
    d.add_argument("spec", help="a network or block spec (.yaml)")
    d.add_argument("-o", "--output", help="output file; the format follows its suffix")
    d.add_argument("-f", "--format", choices=FORMATS)
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
        _check_folders(args)
        code: int = args.func(args)
        return code
    except UsageError as e:
        print(safe_text(usage_text(e)), file=sys.stderr)
        return EXIT_USAGE
    except NetdslError as e:
        if all(isinstance(x, UsageError) for x in e.errors):
            print(safe_text(usage_text(e)), file=sys.stderr)
            return EXIT_USAGE
        print(safe_text(e.render()), file=sys.stderr)
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
            safe_text(
                f"netdsl: internal error: {type(e).__name__}: {e} (set NETDSL_DEBUG=1 for a traceback; "
                "please report it)"
            ),
            file=sys.stderr,
        )
        return EXIT_ERROR


def entry() -> None:  # pragma: no cover
    sys.exit(main())


__all__ = ["Path", "main", "make_parser", "time"]

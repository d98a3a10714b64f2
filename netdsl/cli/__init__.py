"""The `netdsl` command line: validate, build, shapes, schema.

Exit codes: 0 success, 1 errors in a spec (or the build), 2 usage errors.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from netdsl.cli.args import _check_folders, _seed
from netdsl.cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, safe_text, usage_text
from netdsl.cli.style import styled
from netdsl.core.errors import NetdslError, UsageError
from netdsl.core.suggest import did_you_mean

# Each command's module is imported when that command runs: `netdsl validate` never imports the
# build's modules (memory guard, summary, backend) or the diagrams.


def cmd_validate(args: argparse.Namespace) -> int:
    from netdsl.cli import validate

    return validate.cmd_validate(args)


def cmd_build(args: argparse.Namespace) -> int:
    from netdsl.cli import build

    return build.cmd_build(args)


def cmd_shapes(args: argparse.Namespace) -> int:
    from netdsl.cli import shapes

    return shapes.cmd_shapes(args)


def cmd_diagram(args: argparse.Namespace) -> int:
    from netdsl.cli import diagram

    return diagram.cmd_diagram(args)


def cmd_schema(args: argparse.Namespace) -> int:
    from netdsl.cli import docs

    return docs.cmd_schema(args)


def cmd_blocks(args: argparse.Namespace) -> int:
    from netdsl.cli import docs

    return docs.cmd_blocks(args)


def cmd_ops(args: argparse.Namespace) -> int:
    from netdsl.cli import docs

    return docs.cmd_ops(args)


def cmd_summary(args: argparse.Namespace) -> int:
    from netdsl.cli import summary

    return summary.cmd_summary(args)


def cmd_check_weights(args: argparse.Namespace) -> int:
    from netdsl.cli import weights

    return weights.cmd_check_weights(args)


def cmd_where(args: argparse.Namespace) -> int:
    from netdsl.cli import where

    return where.cmd_where(args)


def cmd_import(args: argparse.Namespace) -> int:
    from netdsl.cli import importer

    return importer.cmd_import(args)


def cmd_export(args: argparse.Namespace) -> int:
    from netdsl.cli import export

    return export.cmd_export(args)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, ``netdsl: usage error: MESSAGE (see 'netdsl build --help')``: not argparse's
        usage block first."""
        hint = None
        if m := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message):
            hint = did_you_mean(m[1], re.findall(r"'([^']*)'", m[2]))
        raise UsageError(f"{message} (see '{self.prog} --help')", hint=hint)


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

    def spec_args(
        sp: argparse.ArgumentParser, variant_help: str = "a variant of the network (its `variants:`)"
    ) -> None:
        sp.add_argument("spec", help="a network or block spec (.yaml)")
        sp.add_argument("--variant", help=variant_help)
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
    b.add_argument("--compile", action="store_true", help="also netdsl.compile it and time the compile")
    b.add_argument(
        "--purpose",
        choices=("inference", "training"),
        default="inference",
        help="what --compile compiles for (default inference: eval, no grad)",
    )
    b.add_argument(
        "--compile-mode",
        metavar="MODE",
        help="torch.compile's mode for --compile: default, reduce-overhead, max-autotune, "
        "max-autotune-no-cudagraphs",
    )
    b.add_argument(
        "--freeze",
        action="store_true",
        help="--compile for inference as one graph with the weights frozen in (inductor freezing)",
    )
    b.add_argument(
        "--explain",
        action="store_true",
        help="list the graph rewrites of --purpose and where they apply (spec file:line)",
    )
    b.add_argument("--out", help="write the module: .pt2 (torch.export) or .pt/.pth (state_dict)")
    b.add_argument("--seed", type=_seed, default=0, help="seed of the parameter initialisation (default 0)")
    b.add_argument("--device", default="cpu", help="device for the forward pass (cpu, cuda, cuda:1, mps)")
    b.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the build may use, e.g. 8G, 512M, 1.5GiB (default: the cgroup limit or MemAvailable; "
        "also $NETDSL_MAX_MEMORY)",
    )
    b.add_argument(
        "--weights",
        metavar="CKPT",
        help="load this checkpoint (.safetensors, .pt/.pth/.bin) before the forward pass; checked first "
        "as by `netdsl check-weights` (nothing is built when it would not load)",
    )
    b.add_argument("--weights-key", metavar="KEY", help="the entry of a dict checkpoint holding the weights")
    b.add_argument(
        "--weights-map",
        action="append",
        metavar="OLD=NEW",
        help="rename checkpoint keys by prefix (repeatable)",
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

    # The arguments of these commands are defined beside them (their modules import nothing heavy).
    from netdsl.cli import export, summary, weights, where

    sm = sub.add_parser("summary", help="params, MACs and output shape per layer (torch-free)")
    summary.add_arguments(sm, spec_args)
    sm.set_defaults(func=cmd_summary)

    cw = sub.add_parser(
        "check-weights", help="compare a checkpoint with a spec's parameters, without building"
    )
    weights.add_arguments(cw, spec_args)
    cw.set_defaults(func=cmd_check_weights)

    ex = sub.add_parser("export", help="write the module as .pt2 (torch.export) or .onnx, with dynamic sizes")
    export.add_arguments(ex, spec_args)
    ex.set_defaults(func=cmd_export)

    wh = sub.add_parser("where", help="where a state_dict key or module path is written in the spec")
    where.add_arguments(wh, spec_args)
    wh.set_defaults(func=cmd_where)

    from netdsl.cli import importer

    im = sub.add_parser("import", help="write a spec from a torch.nn.Module (traced with torch.fx)")
    importer.add_arguments(im)
    im.set_defaults(func=cmd_import)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
        _check_folders(args)
        code: int = args.func(args)
        return code
    except UsageError as e:
        print(styled(safe_text(usage_text(e)), sys.stderr), file=sys.stderr)
        return EXIT_USAGE
    except NetdslError as e:
        if all(isinstance(x, UsageError) for x in e.errors):
            print(styled(safe_text(usage_text(e)), sys.stderr), file=sys.stderr)
            return EXIT_USAGE
        print(styled(safe_text(e.render()), sys.stderr), file=sys.stderr)
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
        for note in getattr(e, "__notes__", None) or []:  # e.g. the spec node it was raised by
            print(safe_text(str(note)), file=sys.stderr)
        return EXIT_ERROR


def entry() -> None:  # pragma: no cover
    sys.exit(main())


__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "main", "make_parser"]

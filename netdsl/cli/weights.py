"""`netdsl check-weights SPEC CHECKPOINT`: does a checkpoint load into the spec's module? Its keys,
shapes and dtypes against the spec's static parameters and buffers, without building the module
(torch is imported only to read a torch.save file; a .safetensors file is read without it).

Exit 0 when ``load_state_dict(strict=True)`` would accept it (warnings allowed), 1 when not (or
the spec or the file has errors), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from netdsl.cli.output import EXIT_ERROR, EXIT_OK, print_diagnostics, safe_text


def add_arguments(p: argparse.ArgumentParser, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    spec_args(p)
    p.add_argument("checkpoint", help="a .safetensors file or a torch.save file (.pt, .pth, .bin)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="the report's format")
    p.add_argument(
        "--key",
        metavar="KEY",
        help="the entry of a dict checkpoint that holds the weights, e.g. model_ema or ema.module "
        "(default: the file itself, else state_dict, model, ...)",
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="OLD=NEW",
        help="rename keys starting with OLD to start with NEW (repeatable), e.g. --map module.= "
        "(the report suggests these)",
    )


def key_map(items: Sequence[str] | None, flag: str = "--map") -> dict[str, str]:
    """The OLD=NEW prefix rules of ``flag`` (UsageError for an item without ``=`` or an OLD given
    twice; either side may be empty: ``module.=`` strips a prefix, ``=net.`` adds one)."""
    from netdsl.cli.output import show
    from netdsl.core.errors import UsageError

    out: dict[str, str] = {}
    for item in items or []:
        old, sep, new = item.partition("=")
        if not sep:
            raise UsageError(f"{flag} expects OLD=NEW (key prefixes; NEW may be empty), got {show(item)}")
        if old in out:
            raise UsageError(f"{flag} {show(old)}: given twice")
        out[old] = new
    return out


def cmd_check_weights(args: argparse.Namespace) -> int:
    from netdsl.api import weights_report
    from netdsl.cli.args import _ints, _overrides, _shapes
    from netdsl.cli.shapes import _pipeline

    rules = key_map(args.map)
    run = _pipeline(args, _overrides(args.set), _shapes(args.input_shape), _ints(args.dim, "--dim"))
    report = weights_report(run, args.checkpoint, key=args.key, key_map=rules)
    if report.spec_warnings and not args.quiet:
        print_diagnostics(report.spec_warnings, "text")
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(safe_text(report.render(warnings=not args.quiet)), file=sys.stdout)
    return EXIT_OK if report.ok else EXIT_ERROR

"""`netdsl export SPEC -o model.pt2|model.onnx`: the module as a torch.export program or an ONNX
model with dynamic batch and image sizes, verified against the eager module before it is written
(see :mod:`netdsl.backend.export`). Nothing heavy is imported until the command runs.

Exit 0 when the file was written and verified; 1 when the spec has errors, torch cannot export it
or the exported file does not match the eager module (nothing is written then); 2 for usage
errors, among them ``-o x.onnx`` without the ``[onnx]`` extra (``pip install 'netdsl[onnx]'``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from netdsl.cli.args import _ints, _overrides, _seed, _shapes
from netdsl.cli.output import EXIT_OK, print_diagnostics, safe_text, show
from netdsl.core.errors import UsageError

_FLOAT = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]{1,3})?", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,4}", re.ASCII)


def add_arguments(p: argparse.ArgumentParser, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    spec_args(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the file to write: .pt2 (torch.export) or .onnx",
    )
    p.add_argument(
        "--dynamic",
        metavar="DIMS",
        default="all",
        help="the input dims that stay dynamic, e.g. B or B,H,W (default: all of them); none: static",
    )
    p.add_argument("--opset", metavar="N", help="ONNX opset (default 18)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the parameter initialisation (default 0)")
    p.add_argument(
        "--weights",
        metavar="CKPT",
        help="load this checkpoint (.safetensors, .pt/.pth/.bin) first; checked as by `netdsl check-weights`",
    )
    p.add_argument("--weights-key", metavar="KEY", help="the entry of a dict checkpoint holding the weights")
    p.add_argument(
        "--weights-map",
        action="append",
        metavar="OLD=NEW",
        help="rename checkpoint keys by prefix (repeatable)",
    )
    p.add_argument(
        "--tolerance",
        metavar="X",
        help="relative tolerance of the check against the eager module (default 1e-4 for float32)",
    )
    p.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the build may use, e.g. 8G (default: what this machine has)",
    )


def _opset(text: str | None) -> int | None:
    if text is None:
        return None
    if not _DIGITS.fullmatch(text.strip()):
        raise UsageError(f"--opset: expected an integer, got {show(text)}")
    return int(text.strip())


def _tolerance(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text.strip()) if _FLOAT.fullmatch(text.strip()) else -1.0
    if not 0 < value < 1:
        raise UsageError(f"--tolerance: expected a number between 0 and 1, e.g. 1e-3, got {show(text)}")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    from netdsl.api import dynamic_dims, export
    from netdsl.cli.weights import key_map

    report = export(
        args.spec,
        args.output,
        args.variant,
        _overrides(args.set),
        dynamic=dynamic_dims(args.dynamic),
        opset=_opset(args.opset),
        seed=args.seed,
        weights=args.weights,
        weights_key=args.weights_key,
        weights_map=key_map(args.weights_map, "--weights-map"),
        blocks_path=args.blocks_path,
        root=args.root,
        input_shapes=_shapes(args.input_shape),
        dims=_ints(args.dim, "--dim"),
        tolerance=_tolerance(args.tolerance),
        max_memory=args.max_memory,
        quiet=args.quiet,
        progress=None if args.quiet else sys.stderr,
        flag="-o",
    )
    if report.spec_warnings and not args.quiet:
        print_diagnostics(report.spec_warnings, "text", sys.stderr)
    for line in report.lines():
        print(safe_text(line))
    return EXIT_OK

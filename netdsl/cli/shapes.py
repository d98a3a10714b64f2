"""`netdsl shapes SPEC`: the inferred shape of every node; and the pipeline of a spec named on the
command line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from netdsl.cli.args import _ints, _overrides, _shapes
from netdsl.cli.output import EXIT_OK, print_diagnostics

if TYPE_CHECKING:
    from netdsl.pipeline import Pipeline


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
    """Every node's inferred type: symbolic, or concrete for the sizes of --input-shape / --dim."""
    from netdsl.passes.summary import shapes_table

    run = _pipeline(args, _overrides(args.set), _shapes(args.input_shape), _ints(args.dim, "--dim"))
    res = run.check(concrete=True)
    if res.warnings and not args.quiet:
        print_diagnostics(res.warnings, "text")
    res.raise_if_errors()
    assert res.shapes is not None
    # --input-shape / --dim: the shapes at those sizes (the spec's `dims:` for the others);
    # without them, the symbolic shapes
    print(shapes_table(run.concrete_shapes() if run.explicit_sizes else res.shapes))
    return EXIT_OK

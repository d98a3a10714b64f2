"""`netdsl summary SPEC`: a torchinfo-like table of a spec, torch-free: per node (down to --depth)
its output shape, parameters, MACs and share of the MACs, then the totals; `--variant all` puts
every variant side by side. Text, JSON (``netdsl.summary/1``) or Markdown; docs/toolbox.md.

This module is imported when the parser is built: it imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from netdsl.cli.output import EXIT_OK
from netdsl.core.errors import UsageError

if TYPE_CHECKING:
    from netdsl.core.errors import NetdslError
    from netdsl.frontend.library import LibraryCache
    from netdsl.passes.shapes import ShapeResult
    from netdsl.passes.summary_table import SizesFrom
    from netdsl.pipeline import CheckResult, Pipeline, Spec

Depth = int | Literal["auto", "all"]
FORMATS = ("text", "json", "markdown")
#: deepest --depth taken (block nesting is far shallower in any real spec)
MAX_DEPTH = 10_000
_DIGITS = re.compile(r"[0-9]{1,6}", re.ASCII)


def add_arguments(
    p: argparse.ArgumentParser, spec_args: Callable[[argparse.ArgumentParser, str], None]
) -> None:
    spec_args(p, "a variant of the network (its `variants:`), or 'all': every variant side by side")
    p.add_argument(
        "--depth",
        metavar="N",
        help="block nesting shown: 1 the top-level nodes, 2 also their blocks' nodes, ...; 0 the totals "
        "only; 'all'; 'auto' (default): the deepest that fits in 60 rows",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json (netdsl.summary/1) or markdown",
    )
    p.add_argument(
        "--symbolic",
        action="store_true",
        help="symbolic shapes and MACs (B x 64 x H x W) even when the spec's dims: give sizes",
    )


def parse_depth(text: str | None) -> Depth:
    """--depth: an integer 0 .. 10000, 'auto' or 'all' (None: 'auto'); a UsageError otherwise."""
    if text is None:
        return "auto"
    t = text.strip()
    if t in ("auto", "all"):
        return t  # type: ignore[return-value]
    if not _DIGITS.fullmatch(t) or int(t) > MAX_DEPTH:
        from netdsl.cli.output import show
        from netdsl.core.suggest import did_you_mean

        raise UsageError(
            f"--depth expects a number from 0 to {MAX_DEPTH}, 'auto' or 'all', got {show(text)}",
            hint=did_you_mean(t, ("auto", "all"))
            or "1: the top-level nodes, 2: also their blocks' nodes, ...",
        )
    return int(t)


# ---------------------------------------------------------------- one run


class _Runs:
    """The pipelines of one command (the base, the variants): one block library for all of them,
    each warning printed once."""

    def __init__(self, args: argparse.Namespace, overrides: dict[str, Any]) -> None:
        from netdsl.cli.args import _ints, _shapes
        from netdsl.frontend.library import LibraryCache

        self.args = args
        self.overrides = overrides
        self.input_shapes = _shapes(args.input_shape)
        self.dims = _ints(args.dim, "--dim")
        if args.symbolic and (self.input_shapes or self.dims):
            flag = "--input-shape" if self.input_shapes else "--dim"
            raise UsageError(
                f"--symbolic shows the shapes without sizes: it takes no {flag}",
                hint="drop --symbolic for the shapes at these sizes",
            )
        self.libraries: LibraryCache = LibraryCache()
        self._warned: set[str] = set()

    def pipeline(self, spec: str | Spec, variant: str | None) -> Pipeline:
        from netdsl.pipeline import Pipeline

        return Pipeline(
            spec,
            variant,
            self.overrides,
            blocks_path=self.args.blocks_path,
            root=self.args.root,
            input_shapes=self.input_shapes,
            dims=self.dims,
            libraries=self.libraries,
        )

    def warn(self, warnings: list[NetdslError]) -> None:
        from netdsl.cli.output import print_diagnostics

        if self.args.quiet:
            return
        new = [w for w in warnings if w.render() not in self._warned]
        self._warned.update(w.render() for w in new)
        if new:
            print_diagnostics(new, "text")

    def shown(self, run: Pipeline) -> tuple[CheckResult, ShapeResult | None, SizesFrom]:
        """The check of ``run`` (its warnings printed) and the shapes to show: concrete for the sizes
        of --input-shape / --dim, else of the spec's `dims:` when they size every input, else
        symbolic. None when the run has errors."""
        symbolic = bool(self.args.symbolic)
        res = run.check(concrete=not symbolic)
        self.warn(res.warnings)
        if not res.ok or res.shapes is None or res.graph is None:
            return res, None, "symbolic"
        if symbolic:
            return res, res.shapes, "symbolic"
        if run.explicit_sizes:
            return res, run.concrete_shapes(), "command-line"
        if _has_sizes(res):
            return res, run.concrete_shapes(), "spec-dims"
        return res, res.shapes, "symbolic"


def _has_sizes(res: CheckResult) -> bool:
    """The spec's `dims:` (or a block's `example:`) size every input."""
    from netdsl.core.errors import NetdslError
    from netdsl.passes.sizes import concrete_inputs

    assert res.graph is not None
    try:
        concrete_inputs(res.graph, res.graph.example_sizes(None))
    except NetdslError:
        return False
    return True


def _print(text: str) -> None:
    from netdsl.cli.output import safe_text

    print(safe_text(text))


def _emit(data: dict[str, Any] | None, text: str | None) -> None:
    if data is not None:
        import json

        print(json.dumps(data, indent=2))
    elif text is not None:
        _print(text)


# ---------------------------------------------------------------- the command


def cmd_summary(args: argparse.Namespace) -> int:
    from netdsl.cli.args import _overrides
    from netdsl.core.errors import display_path

    depth = parse_depth(args.depth)
    if args.variant == "all" and args.depth is not None:
        raise UsageError(
            "--variant all compares the variants' totals: it takes no --depth",
            hint="--variant NAME --depth N shows one variant's layers",
        )
    runs = _Runs(args, _overrides(args.set))
    spec = display_path(args.spec)
    if args.variant == "all":
        return _all_variants(runs, args.spec, spec, args.format)
    from netdsl.passes import summary_render as sr
    from netdsl.passes.summary_table import summarize

    res, shown, sizes_from = runs.shown(runs.pipeline(args.spec, args.variant))
    res.raise_if_errors()
    assert shown is not None
    s = summarize(shown, depth, sizes_from, spec=spec)
    if args.format == "json":
        _emit(sr.to_json(s), None)
    else:
        _emit(None, sr.render_markdown(s) if args.format == "markdown" else sr.render_text(s))
    return EXIT_OK


def _all_variants(runs: _Runs, source: str, spec: str, fmt: str) -> int:
    """``--variant all``: the base (what ``netdsl build SPEC`` builds) and each of the network's
    `variants:`; a block, a thin network file (`extends:`) or a network without variants is a
    usage error, as ``--variant NAME`` is for them in ``netdsl build``."""
    from netdsl.core.errors import ContextFrame, ErrorCollector
    from netdsl.frontend.schema import NetworkAlias, NetworkFile
    from netdsl.passes import summary_variants as sv

    base = runs.pipeline(source, None)
    loaded = base.spec
    if loaded is None:  # not a spec at all: its errors
        base.check().raise_if_errors()
        raise AssertionError("unreachable")  # pragma: no cover
    model = loaded.model
    if isinstance(model, NetworkAlias):
        from pathlib import Path

        from netdsl.core.errors import display_path

        family = display_path(Path(source).parent / model.extends)
        of = (
            f"variant {model.variant!r} of {model.extends}"
            if model.variant
            else f"a file over {model.extends}"
        )
        raise UsageError(
            f"--variant all: {model.network!r} is {of}",
            hint=f"netdsl summary {family} --variant all shows all its variants",
        )
    if not isinstance(model, NetworkFile):
        raise UsageError(
            f"--variant all: {loaded.name!r} is a block: it has no variants (use --set for its parameters)"
        )
    if not model.variants:
        raise UsageError(
            f"--variant all: {model.network!r} has no variants",
            expected=["(none)"],
            hint="without --variant the summary shows the network itself",
        )
    errors = ErrorCollector()
    rows: list[sv.VariantRow] = []
    res, shown, sizes_from = runs.shown(base)
    for e in res.errors:
        errors.add(e)
    base_values: dict[str, Any] = {}
    if shown is not None and res.graph is not None:
        base_values = sv.variable_values(model, loaded.doc, None, runs.overrides)
        rows.append(sv.make_row(res.graph.variant, True, shown, {}))
    for name in model.variants:
        if name == model.default_variant:
            continue  # the base
        res, shown, _ = runs.shown(runs.pipeline(loaded, name))
        where = ContextFrame(f"variant {name!r}", loaded.doc.key_loc(("variants", name)))
        for e in res.errors:  # (one the base has too is reported once, as the base's)
            errors.add(e.in_context(where))
        if shown is not None:
            values = sv.variable_values(model, loaded.doc, name, runs.overrides)
            rows.append(sv.make_row(name, False, shown, sv.differences(base_values, values)))
    errors.raise_if_any()
    table = sv.VariantTable(model.network, spec, sizes_from, rows)
    if fmt == "json":
        _emit(sv.to_json(table), None)
    else:
        _emit(None, sv.render_markdown(table) if fmt == "markdown" else sv.render_text(table))
    return EXIT_OK


__all__ = ["FORMATS", "add_arguments", "cmd_summary", "parse_depth"]

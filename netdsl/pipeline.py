"""One run of one spec through the passes, each stage computed at most once, on demand.

::

    from netdsl.pipeline import Pipeline

    run = Pipeline("specs/tiny_cnn.yaml", variant="wide", overrides={"width": 48}, dims={"H": 64})
    run.document          # load: the YAML with a position for every value (None: it did not load)
    run.spec              # validate: the Spec (its pydantic model; None: not a valid spec)
    run.graph             # resolve + lint: the IR Graph (None after errors)
    run.shapes            # symbolic shape inference (B, H, W)
    run.concrete          # shape inference for the run's sizes (`dims:`, then dims= / input_shapes=)
    run.check()           # the CheckResult of netdsl.check: errors, warnings, graph, shapes
    run.module(seed=0)    # lowering to a torch.fx.GraphModule (imports torch)

A stage runs the stages it needs first and is kept: asking again costs nothing, so the API and
every command run each pass once. Errors are collected as :func:`netdsl.check` reports them (a
stage after a failed one does not run and gives None); ``check()`` returns them, ``module()`` and
``concrete_shapes()`` raise them. Nothing here imports torch but ``module()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.core.errors import ErrorCollector, NetdslError, ResolveError, UsageError, display_path
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.files import FilePolicy, load_reference, read_named
from netdsl.frontend.library import BlockLibrary, LibraryCache
from netdsl.frontend.schema import BlockAlias, BlockFile, NetworkAlias, NetworkFile
from netdsl.frontend.validate import parse_spec, validate_spec
from netdsl.frontend.yaml_loader import Doc, load_text
from netdsl.ir.graph import Graph
from netdsl.passes.constants import check_buffers
from netdsl.passes.dims import Sizes
from netdsl.passes.resolve import Resolver
from netdsl.passes.shapes import ShapeResult, infer_shapes
from netdsl.passes.sizes import concrete_inputs, minimum_sizes

if TYPE_CHECKING:
    from torch import fx

PathLike = str | os.PathLike[str]
MAX_SIZE = 2**63 - 1  # largest size of a dim


@dataclass
class Spec:
    """A loaded and structurally validated spec file."""

    doc: Doc
    model: NetworkFile | NetworkAlias | BlockFile | BlockAlias
    #: the file the user named (references in the spec are relative to it); None for text
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.model.network if isinstance(self.model, NetworkFile | NetworkAlias) else self.model.block

    @property
    def is_block(self) -> bool:
        return isinstance(self.model, BlockFile | BlockAlias)

    @property
    def file(self) -> str:
        return self.doc.file


@dataclass
class CheckResult:
    """The outcome of :func:`netdsl.check`: errors, warnings, the IR and its static shapes."""

    spec: Spec | None
    graph: Graph | None = None
    shapes: ShapeResult | None = None
    errors: list[NetdslError] = field(default_factory=list)
    warnings: list[NetdslError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_if_errors(self) -> None:
        c = ErrorCollector()
        c.errors = list(self.errors)
        c.raise_if_any()


def read_doc(path_or_text: PathLike, text: str | None = None) -> Doc:
    """The document of a spec file the user named (or of ``text``, ``path_or_text`` its name)."""
    if text is not None:
        return load_text(text, str(path_or_text))
    return load_text(read_named(path_or_text), display_path(os.fspath(path_or_text)))


def as_paths(paths: Sequence[PathLike] | PathLike | None) -> list[PathLike]:
    if paths is None:
        return []
    return [paths] if isinstance(paths, str | os.PathLike) else list(paths)


def _sizes_key(sizes: Sizes, input_shapes: Mapping[str, tuple[int, ...]] | None) -> tuple[Any, ...]:
    dims = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in sizes.items()))
    return dims, tuple(sorted((k, tuple(v)) for k, v in (input_shapes or {}).items()))


class Pipeline:
    """The passes of one spec, for one variant, overrides and set of sizes (see the module doc).

    ``libraries`` shares block libraries between the pipelines of one run (``netdsl validate`` of
    many files): each block file is then indexed, loaded and validated once per run.
    """

    def __init__(
        self,
        spec: PathLike | Spec,
        variant: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        blocks_path: Sequence[PathLike] | PathLike | None = None,
        root: PathLike | Sequence[PathLike] | None = None,
        input_shapes: Mapping[str, tuple[int, ...]] | None = None,
        dims: Mapping[str, int] | None = None,
        libraries: LibraryCache | None = None,
    ) -> None:
        self.source = spec
        self.variant = variant
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.blocks_path = None if blocks_path is None else as_paths(blocks_path)
        self.root = root
        self.input_shapes: dict[str, tuple[int, ...]] | None = dict(input_shapes) if input_shapes else None
        self.dims: dict[str, int] | None = dict(dims) if dims else None
        self.libraries = libraries
        self._errors = ErrorCollector()
        #: errors that leave no spec at all (the file does not load or is no spec): check() returns
        #: them as they are, unsorted, without warnings
        self._fatal: list[NetdslError] | None = None
        self._other_sizes: dict[tuple[Any, ...], ShapeResult] = {}
        self._modules: dict[int | None, fx.GraphModule] = {}

    # ------------------------------------------------------------------ stages

    @cached_property
    def document(self) -> Doc | None:
        """load: the spec's YAML with positions."""
        if isinstance(self.source, Spec):
            return self.source.doc
        try:
            return read_doc(self.source)
        except NetdslError as e:
            self._fatal = list(e.errors)
            return None

    @cached_property
    def spec(self) -> Spec | None:
        """validate: the document as a network or block model (its problems are errors of the run)."""
        if isinstance(self.source, Spec):
            return self.source
        doc = self.document
        if doc is None:
            return None
        model, problems = validate_spec(doc)
        if model is None:
            self._fatal = list(problems)
            return None
        for problem in problems:
            self._errors.add(problem)
        return Spec(doc, model, Path(self.source))

    @cached_property
    def graph(self) -> Graph | None:
        """resolve + lint: the IR graph; None when the spec has errors."""
        loaded = self.spec
        if loaded is None:
            return None
        try:
            graph = self._resolve(loaded)
            if self._errors.errors:
                return None
            graph.lint()
            return graph
        except NetdslError as e:
            self._errors.add(e)
            return None

    @cached_property
    def shapes(self) -> ShapeResult | None:
        """Symbolic shape inference (after the sizes given to the run are checked)."""
        graph = self.graph
        if graph is None:
            return None
        try:
            check_size_args(graph, self.input_shapes, self.dims)
            result = infer_shapes(graph, None, self._errors, self.input_shapes)
            check_buffers(graph, result, self._errors)
            return result
        except NetdslError as e:
            self._errors.add(e)
            return None

    @cached_property
    def concrete(self) -> ShapeResult | None:
        """Shape inference for the run's sizes (``dims:`` of the spec, then ``dims`` and
        ``input_shapes``); None when an earlier stage failed or it has errors of its own."""
        graph, shapes = self.graph, self.shapes
        if graph is None or shapes is None or self._errors.errors:
            return None
        try:
            return infer_concrete(graph, self.dims, self.input_shapes, self._errors)
        except NetdslError as e:
            self._errors.add(e)
            return None

    # ------------------------------------------------------------------ results

    @property
    def explicit_sizes(self) -> bool:
        """Sizes were given to the run (not only the spec's ``dims:``)."""
        return bool(self.input_shapes or self.dims)

    def check(self, concrete: bool = False) -> CheckResult:
        """What :func:`netdsl.check` returns. Concrete shapes are checked when sizes were given, or
        with ``concrete`` when the spec's own ``dims:`` size every input."""
        if self.spec is None:
            return CheckResult(None, errors=list(self._fatal or []))
        graph, shapes = self.graph, self.shapes
        if graph is not None and shapes is not None and not self._errors.errors:
            if self.explicit_sizes or (concrete and self._has_sizes(graph)):
                _ = self.concrete
        return CheckResult(
            self.spec,
            graph=graph,
            shapes=shapes,
            errors=sorted(self._errors.errors, key=lambda e: (e.loc.file, e.loc.line, e.loc.col)),
            warnings=list(self._errors.warnings),
        )

    def raise_if_errors(self) -> None:
        """Raise the errors found so far (after running the stages up to the shapes)."""
        self.check().raise_if_errors()

    def checked(self) -> tuple[Graph, ShapeResult]:
        """The graph and its symbolic shapes, or the run's errors raised."""
        self.raise_if_errors()
        assert self.graph is not None and self.shapes is not None
        return self.graph, self.shapes

    def concrete_shapes(
        self, dims: Mapping[str, int] | None = None, input_shapes: Mapping[str, tuple[int, ...]] | None = None
    ) -> ShapeResult:
        """Shapes for concrete sizes, errors raised: the run's own sizes (the ``concrete`` stage)
        unless ``dims`` / ``input_shapes`` name others (each set inferred once)."""
        graph, _ = self.checked()
        if dims is None and input_shapes is None:
            dims, input_shapes = self.dims, self.input_shapes
        key = _sizes_key(graph.example_sizes(dims), input_shapes)
        if key == _sizes_key(graph.example_sizes(self.dims), self.input_shapes):
            result = self.concrete
            self.raise_if_errors()
            assert result is not None
            return result
        if key not in self._other_sizes:
            errors = ErrorCollector()
            result = infer_concrete(graph, dims, input_shapes, errors)
            errors.raise_if_any()
            self._other_sizes[key] = result
        return self._other_sizes[key]

    def module(self, seed: int | None = None) -> fx.GraphModule:
        """lower: the ``torch.fx.GraphModule`` (imports torch), one per seed; the run's errors are
        raised first. The module is kept: later calls return the same object."""
        if seed not in self._modules:
            graph, shapes = self.checked()
            from netdsl.backend import lower as lowering

            self._modules[seed] = lowering.lower(graph, shapes, seed=seed)
        return self._modules[seed]

    # ------------------------------------------------------------------ resolving

    def _library(self, policy: FilePolicy) -> BlockLibrary:
        dirs = self.blocks_path or []
        if self.libraries is not None:
            return self.libraries.get(dirs, policy)
        return BlockLibrary(dirs, policy=policy)

    def _resolve(self, loaded: Spec) -> Graph:
        policy = FilePolicy.for_spec(
            loaded.path or loaded.file, trusted=self.blocks_path or [], root=self.root
        )
        library = self._library(policy)
        resolver = Resolver(library, self._errors)
        variant = self.variant
        m = loaded.model
        doc = loaded.doc
        example_doc = None
        if isinstance(m, BlockAlias):
            example_doc = loaded.doc  # the alias's own `example:`
            m, doc = library.expand_alias(m, loaded.doc)
        name = None
        if isinstance(m, NetworkAlias):
            if variant is not None:
                raise UsageError(
                    f"{m.network!r} is variant {m.variant!r} of {m.extends}: build that file for others"
                )
            name, variant, dims_override = m.network, m.variant, m.dims
            m, doc = network_base(m, loaded.doc, loaded.path or Path(loaded.file), policy)
            if dims_override:
                m = m.model_copy(update={"dims": dims_override})
        if isinstance(m, NetworkFile):
            if loaded.is_block:
                raise UsageError("unreachable")
            graph = resolver.network(m, doc, variant, self.overrides)
            if name is not None:
                graph.name = name
            return graph
        if variant is not None:
            raise UsageError(f"{loaded.name!r} is a block: it has no variants (use --set for its parameters)")
        return resolver.block_file(m, doc, self.overrides, example_doc)

    def _has_sizes(self, graph: Graph) -> bool:
        try:
            concrete_inputs(graph, graph.example_sizes(self.dims))
        except NetdslError:
            return False
        return True


def network_base(alias: NetworkAlias, doc: Doc, path: Path, policy: FilePolicy) -> tuple[NetworkFile, Doc]:
    """The network file a thin network file extends (its path is relative to the thin file)."""
    at = doc.loc(("extends",))
    base_doc = load_reference(
        Path(path).parent / alias.extends, policy, at=at, what="`extends:`", written=alias.extends
    )
    base = parse_spec(base_doc)
    if not isinstance(base, NetworkFile):
        raise ResolveError(f"{alias.extends} is not a network file with a graph", at)
    if alias.variant is not None and alias.variant not in base.variants:
        raise ResolveError(
            f"{alias.extends} has no variant {alias.variant!r}",
            doc.loc(("variant",)),
            expected=base.variants,
            hint=did_you_mean(alias.variant, base.variants),
        )
    return base, base_doc


def infer_concrete(
    graph: Graph,
    dims: Mapping[str, int] | None,
    input_shapes: Mapping[str, tuple[int, ...]] | None,
    errors: ErrorCollector,
) -> ShapeResult:
    """Shape inference for concrete sizes (``dims:`` of the spec, then ``dims``, and explicit input
    shapes); an input that is too small gets the smallest sizes that fit as a hint."""
    sizes = graph.example_sizes(dims)
    result = infer_shapes(graph, concrete_inputs(graph, sizes, input_shapes), errors)
    if any("too small" in e.message for e in errors.errors):
        hint_minimum_size(graph, sizes, input_shapes, errors)
    return result


def hint_minimum_size(
    graph: Graph,
    sizes: Sizes,
    input_shapes: Mapping[str, tuple[int, ...]] | None,
    errors: ErrorCollector,
) -> None:
    """Add to 'input too small' errors the smallest sizes of the input's dims that would fit."""
    given = dict(sizes)
    for gi in graph.inputs:  # explicit shapes -> sizes of the symbolic dims
        for d, v in zip(gi.shape, (input_shapes or {}).get(gi.name, ()), strict=False):
            if isinstance(d, str):
                given[d] = v
    minimum = minimum_sizes(graph, given)
    if not minimum:
        return
    text = ", ".join(f"{k} >= {v}" for k, v in minimum.items())
    for i, e in enumerate(errors.errors):
        if "too small" in e.message:
            errors.errors[i] = e.evolve(hint=f"the smallest input that fits has {text}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_size_args(
    graph: Graph, input_shapes: Mapping[str, Any] | None, dims: Mapping[str, Any] | None
) -> None:
    """Refuse (UsageError) input shapes and dims that are not sizes (integers 1 .. 2**63 - 1), that
    name no input or dim of the spec, or that give an input another rank than it declares."""
    from netdsl.core.symbolic import format_shape
    from netdsl.passes.dims import IDENT, unknowns

    what = f"{graph.kind} {graph.name!r}"
    names = [gi.name for gi in graph.inputs]
    for name, shape in (input_shapes or {}).items():
        if not isinstance(name, str) or name not in names:
            raise UsageError(
                f"input shape for {name!r}: {what} has no input {name!r}",
                expected=names,
                hint=did_you_mean(str(name), names),
            )
        if not isinstance(shape, tuple | list) or not all(_is_int(d) and 1 <= d <= MAX_SIZE for d in shape):
            raise UsageError(
                f"input shape for {name!r}: sizes must be integers from 1 to 2**63 - 1, got {shape!r}"
            )
    dim_names: set[str] = set(graph.dims) | set(graph.root.dim_params)
    for gi in graph.inputs:
        for d in gi.shape:
            if isinstance(d, str):
                if d.startswith("*"):
                    dim_names.add(d[1:])
                elif IDENT.match(d):
                    dim_names.add(d)
                else:
                    dim_names.update(unknowns(d, {}))
    for name, value in (dims or {}).items():
        if not isinstance(name, str) or name not in dim_names:
            raise UsageError(
                f"unknown dim {name!r}: {what} has "
                + (f"the dims {', '.join(sorted(dim_names))}" if dim_names else "no symbolic dims"),
                expected=sorted(dim_names),
                hint=did_you_mean(str(name), dim_names),
            )
        values = value if isinstance(value, list | tuple) else [value]
        if not all(_is_int(v) and 1 <= v <= MAX_SIZE for v in values):
            raise UsageError(f"dim {name!r}: a size must be an integer from 1 to 2**63 - 1, got {value!r}")
    for gi in graph.inputs:
        shape = (input_shapes or {}).get(gi.name)
        if shape is None:
            continue
        variadic = any(isinstance(d, str) and d.startswith("*") for d in gi.shape)
        fixed = len(gi.shape) - variadic
        if len(shape) < fixed or (not variadic and len(shape) > fixed):
            declared = format_shape(gi.shape)
            rank = f"rank >= {fixed}" if variadic else f"rank {fixed}"
            raise UsageError(
                f"input {gi.name!r} is declared {declared} ({rank}); the shape given, "
                f"{'x'.join(map(str, shape))}, has rank {len(shape)}",
                gi.loc,
            )


__all__ = [
    "CheckResult",
    "Pipeline",
    "Spec",
    "check_size_args",
    "infer_concrete",
    "network_base",
    "read_doc",
]

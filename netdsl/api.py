"""The Python API: load, check, build, compile.

``load``/``check`` never import torch, so ``netdsl validate`` stays fast and
torch-free; ``build``/``compile`` import it when called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ErrorCollector, NetdslError, UsageError, display_path
from .ir import Graph
from .library import BlockLibrary
from .resolve import Resolver
from .schema import BlockAlias, BlockFile, NetworkAlias, NetworkFile
from .shapes import ShapeResult, Sizes, concrete_inputs, infer_shapes, minimum_sizes
from .suggest import did_you_mean
from .types import TensorType
from .validate import parse_spec, validate_spec
from .yaml_loader import Doc, load_file, load_text

if TYPE_CHECKING:
    import torch
    from torch import fx

PathLike = str | os.PathLike[str]


@dataclass
class Spec:
    """A loaded and structurally validated spec file."""

    doc: Doc
    model: NetworkFile | NetworkAlias | BlockFile | BlockAlias

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
    """The outcome of :func:`check`: errors, warnings, the IR and its static shapes."""

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


def _doc(path_or_text: PathLike, text: str | None = None) -> Doc:
    if text is not None:
        return load_text(text, str(path_or_text))
    return load_file(path_or_text, display=display_path(os.fspath(path_or_text)))


def load(path_or_text: PathLike | Spec, *, text: str | None = None) -> Spec:
    """Load and validate a spec file (or ``text`` with ``path_or_text`` as its display name)."""
    if isinstance(path_or_text, Spec):
        return path_or_text
    doc = _doc(path_or_text, text)
    return Spec(doc, parse_spec(doc))


def _library(blocks_path: Sequence[PathLike] | PathLike | None) -> BlockLibrary:
    if blocks_path is None:
        return BlockLibrary()
    paths = [blocks_path] if isinstance(blocks_path, str | os.PathLike) else list(blocks_path)
    return BlockLibrary(paths)


def check(
    spec: PathLike | Spec,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    blocks_path: Sequence[PathLike] | PathLike | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    concrete: bool = False,
) -> CheckResult:
    """Validate, resolve and shape-check a spec. Errors are returned, not raised.

    With ``concrete=True`` (or input shapes / dims given), shapes are also checked
    for concrete input sizes, which catches maps that shrink to nothing.
    """
    errors = ErrorCollector()
    if isinstance(spec, Spec):
        loaded = spec
    else:
        try:
            doc = _doc(spec)
        except NetdslError as e:
            return CheckResult(None, errors=e.errors)
        model, problems = validate_spec(doc)
        if model is None:
            return CheckResult(None, errors=problems)
        for problem in problems:
            errors.add(problem)
        loaded = Spec(doc, model)
    result = CheckResult(loaded)
    try:
        library = _library(blocks_path)
        resolver = Resolver(library, errors)
        m = loaded.model
        doc = loaded.doc
        if isinstance(m, BlockAlias):
            m, doc = library.expand_alias(m, loaded.doc)
        name = None
        if isinstance(m, NetworkAlias):
            if variant is not None:
                raise UsageError(
                    f"{m.network!r} is variant {m.variant!r} of {m.extends}: build that file for others"
                )
            name, variant, dims_override = m.network, m.variant, m.dims
            m, doc = _network_base(m, loaded.doc)
            if dims_override:
                m = m.model_copy(update={"dims": dims_override})
        if isinstance(m, NetworkFile):
            if loaded.is_block:
                raise UsageError("unreachable")
            graph = resolver.network(m, doc, variant, overrides or {})
            if name is not None:
                graph.name = name
        else:
            if variant is not None:
                raise UsageError(
                    f"{loaded.name!r} is a block: it has no variants (use --set for its parameters)"
                )
            graph = resolver.block_file(m, doc, overrides or {})
        if not errors.errors:
            graph.lint()
            result.graph = graph
            result.shapes = infer_shapes(graph, None, errors, input_shapes)
            sizes = graph.example_sizes(dims)
            explicit = bool(input_shapes or dims)
            if not errors.errors and (explicit or (concrete and _has_sizes(graph, sizes))):
                infer_shapes(graph, concrete_inputs(graph, sizes, input_shapes), errors)
                if any("too small" in e.message for e in errors.errors):
                    _hint_minimum_size(graph, sizes, input_shapes, errors)
    except NetdslError as e:
        errors.add(e)
    result.errors = sorted(errors.errors, key=lambda e: (e.loc.file, e.loc.line, e.loc.col))
    result.warnings = errors.warnings
    return result


def _hint_minimum_size(
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
    for e in errors.errors:
        if "too small" in e.message:
            e.hint = f"the smallest input that fits has {text}"


def _network_base(alias: NetworkAlias, doc: Doc) -> tuple[NetworkFile, Doc]:
    """The network file a thin network file extends (its path is relative to the thin file)."""
    from .errors import ResolveError

    base_path = Path(doc.file).parent / alias.extends
    base_doc = load_file(base_path, display=display_path(base_path))
    base = parse_spec(base_doc)
    if not isinstance(base, NetworkFile):
        raise ResolveError(f"{alias.extends} is not a network file with a graph", doc.loc(("extends",)))
    if alias.variant is not None and alias.variant not in base.variants:
        raise ResolveError(
            f"{alias.extends} has no variant {alias.variant!r}",
            doc.loc(("variant",)),
            expected=base.variants,
            hint=did_you_mean(alias.variant, base.variants),
        )
    return base, base_doc


def _has_sizes(graph: Graph, sizes: Sizes) -> bool:
    try:
        concrete_inputs(graph, sizes)
    except NetdslError:
        return False
    return True


def build(
    spec: PathLike | Spec,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    blocks_path: Sequence[PathLike] | PathLike | None = None,
    seed: int | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
) -> fx.GraphModule:
    """Build the ``torch.fx.GraphModule`` of a spec; raises :class:`NetdslError` with all errors."""
    res = check(spec, variant, overrides, blocks_path=blocks_path, input_shapes=input_shapes, dims=dims)
    res.raise_if_errors()
    assert res.graph is not None and res.shapes is not None
    from .lower import lower

    gm = lower(res.graph, res.shapes, seed=seed)
    gm.meta["netdsl"]["check"] = res
    return gm


def compile(module: Any, **kwargs: Any) -> Any:
    """``torch.compile`` a built module (or build a spec path first)."""
    import torch

    if isinstance(module, str | os.PathLike | Spec):
        module = build(module)
    return torch.compile(module, **kwargs)


def example_inputs(
    res: CheckResult,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Random inputs for a forward pass, one per spec input, in order."""
    import torch

    assert res.graph is not None
    types = concrete_inputs(res.graph, res.graph.example_sizes(dims), shapes)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for gi in res.graph.inputs:
        t: TensorType = types[gi.name]
        size = [d.value for d in t.shape]
        dtype = getattr(torch, t.dtype)
        if dtype.is_floating_point:
            out.append(torch.randn(size, generator=gen, dtype=dtype))
        elif dtype == torch.bool:
            out.append(torch.rand(size, generator=gen) > 0.5)
        else:
            out.append(torch.randint(0, 2, size, generator=gen, dtype=dtype))
    return out


def spec_files(paths: Sequence[PathLike]) -> list[Path]:
    """Spec files named by ``paths`` (files, or folders searched for *.yaml / *.yml)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"no such file or folder: {str(p)!r}")
    return out


def diagram(
    spec: PathLike | Spec | CheckResult,
    format: str = "svg",
    output: PathLike | None = None,
    **options: Any,
) -> bytes:
    """Draw a spec (see :mod:`netdsl.diagram`): the bytes of ``format``, also written atomically to
    ``output`` when given. ``options`` are :class:`netdsl.diagram.DiagramOptions` fields."""
    from .diagram import DiagramOptions, render, write

    res = spec if isinstance(spec, CheckResult) else check(spec)
    res.raise_if_errors()
    opts = DiagramOptions(**options)
    if output is not None:
        write(res, output, format, opts)
    return render(res, format, opts)

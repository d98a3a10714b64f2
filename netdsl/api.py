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
from .files import FilePolicy, load_reference, read_named
from .ir import Graph
from .library import BlockLibrary
from .resolve import Resolver
from .schema import BlockAlias, BlockFile, NetworkAlias, NetworkFile
from .shapes import ShapeResult, Sizes, concrete_inputs, infer_shapes, minimum_sizes
from .suggest import did_you_mean
from .types import TensorType
from .validate import parse_spec, validate_spec
from .yaml_loader import Doc, load_text

if TYPE_CHECKING:
    import torch
    from torch import fx

PathLike = str | os.PathLike[str]


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
    return load_text(read_named(path_or_text), display_path(os.fspath(path_or_text)))


def load(path_or_text: PathLike | Spec, *, text: str | None = None) -> Spec:
    """Load and validate a spec file (or ``text`` with ``path_or_text`` as its display name)."""
    if isinstance(path_or_text, Spec):
        return path_or_text
    doc = _doc(path_or_text, text)
    return Spec(doc, parse_spec(doc), Path(path_or_text))


def _library(blocks_path: Sequence[PathLike] | PathLike | None, policy: FilePolicy) -> BlockLibrary:
    if blocks_path is None:
        return BlockLibrary(policy=policy)
    paths = [blocks_path] if isinstance(blocks_path, str | os.PathLike) else list(blocks_path)
    return BlockLibrary(paths, policy=policy)


def check(
    spec: PathLike | Spec,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    blocks_path: Sequence[PathLike] | PathLike | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    concrete: bool = False,
    root: PathLike | Sequence[PathLike] | None = None,
) -> CheckResult:
    """Validate, resolve and shape-check a spec. Errors are returned, not raised.

    With ``concrete=True`` (or input shapes / dims given), shapes are also checked
    for concrete input sizes, which catches maps that shrink to nothing. Files the spec
    refers to must lie in its project, ``root`` or ``blocks_path`` (see :mod:`netdsl.files`).
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
        loaded = Spec(doc, model, Path(spec))
    result = CheckResult(loaded)
    try:
        policy = FilePolicy.for_spec(loaded.path or loaded.file, trusted=_paths(blocks_path), root=root)
        library = _library(blocks_path, policy)
        resolver = Resolver(library, errors)
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
            m, doc = _network_base(m, loaded.doc, loaded.path or Path(loaded.file), policy)
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
            graph = resolver.block_file(m, doc, overrides or {}, example_doc)
        if not errors.errors:
            graph.lint()
            result.graph = graph
            _check_size_args(graph, input_shapes, dims)
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


def _network_base(alias: NetworkAlias, doc: Doc, path: Path, policy: FilePolicy) -> tuple[NetworkFile, Doc]:
    """The network file a thin network file extends (its path is relative to the thin file)."""
    from .errors import ResolveError

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


def _paths(paths: Sequence[PathLike] | PathLike | None) -> list[PathLike]:
    if paths is None:
        return []
    return [paths] if isinstance(paths, str | os.PathLike) else list(paths)


def _has_sizes(graph: Graph, sizes: Sizes) -> bool:
    try:
        concrete_inputs(graph, sizes)
    except NetdslError:
        return False
    return True


SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed accepts
MAX_SIZE = 2**63 - 1  # largest size of a dim


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_size_args(
    graph: Graph, input_shapes: Mapping[str, Any] | None, dims: Mapping[str, Any] | None
) -> None:
    """Refuse (UsageError) input shapes and dims that are not sizes (integers 1 .. 2**63 - 1), that
    name no input or dim of the spec, or that give an input another rank than it declares."""
    from .shapes import IDENT, _unknowns
    from .symbolic import format_shape

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
                    dim_names.update(_unknowns(d, {}))
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


def _check_seed(seed: object, what: str = "seed") -> None:
    if seed is None:
        return
    if not isinstance(seed, int) or isinstance(seed, bool) or not SEED_MIN <= seed <= SEED_MAX:
        raise UsageError(f"{what}: expected an integer from {SEED_MIN} to {SEED_MAX}, got {seed!r}")


def build(
    spec: PathLike | Spec,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    blocks_path: Sequence[PathLike] | PathLike | None = None,
    seed: int | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    max_memory: int | str | None = None,
    root: PathLike | Sequence[PathLike] | None = None,
) -> fx.GraphModule:
    """Build the ``torch.fx.GraphModule`` of a spec; raises :class:`NetdslError` with all errors.

    Refuses (BuildError), before allocating, a network whose parameters and buffers do not fit in
    the memory this process has (see :mod:`netdsl.memory`; ``max_memory``, e.g. ``"8G"``, or
    ``$NETDSL_MAX_MEMORY`` set the limit).
    """
    from .errors import SourceLoc
    from .memory import check_fits, is_out_of_memory, memory_budget, out_of_memory_error, param_bytes

    _check_seed(seed)
    budget = memory_budget(max_memory, what="max_memory")
    res = check(
        spec,
        variant,
        overrides,
        blocks_path=blocks_path,
        input_shapes=input_shapes,
        dims=dims,
        root=root,
    )
    res.raise_if_errors()
    assert res.graph is not None and res.shapes is not None
    check_fits(budget, SourceLoc(res.graph.file), params=param_bytes(res.shapes))
    from .lower import lower

    try:
        gm = lower(res.graph, res.shapes, seed=seed)
    except Exception as e:
        if is_out_of_memory(e):
            raise out_of_memory_error(e, res.graph, "building the module", budget=budget) from e
        raise
    gm.meta["netdsl"]["check"] = res
    return gm


def compile(module: Any, **kwargs: Any) -> Any:
    """``torch.compile`` a built module (or build a spec path first)."""
    import torch

    if isinstance(module, str | os.PathLike | Spec):
        module = build(module)
    if not callable(module):
        raise UsageError(f"compile: expected a module or the path of a spec, got a {type(module).__name__}")
    return torch.compile(module, **kwargs)


def example_inputs(
    res: CheckResult,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    seed: int = 0,
    *,
    max_memory: int | str | None = None,
) -> list[torch.Tensor]:
    """Random inputs for a forward pass, one per spec input, in order (refused, BuildError, when
    they do not fit in memory; see :mod:`netdsl.memory`)."""
    import torch

    from .errors import SourceLoc
    from .memory import check_fits, memory_budget, tensor_bytes

    if res.graph is None:
        raise UsageError("example_inputs: the spec did not check", hint="see the CheckResult's errors")
    _check_seed(seed)
    if shapes is not None or dims is not None:
        _check_size_args(res.graph, shapes, dims)
    types = concrete_inputs(res.graph, res.graph.example_sizes(dims), shapes)
    need = sum(tensor_bytes([[d.value for d in ty.shape]], ty.dtype) for ty in types.values())
    budget = memory_budget(max_memory, what="max_memory")
    check_fits(budget, SourceLoc(res.graph.file), inputs=need, what="making the example inputs")
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
    """Spec files named by ``paths`` (files, or folders searched for *.yaml / *.yml); a folder
    without any spec is a UsageError."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
            if not found:
                raise UsageError(f"no spec files (*.yaml, *.yml) in folder {str(p)!r}")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"no such file or folder: {str(p)!r}")
    return out


def find_specs(
    paths: Sequence[PathLike], root: PathLike | Sequence[PathLike] | None = None
) -> tuple[list[Path], list[NetdslError]]:
    """The spec files named by ``paths`` (files, or folders walked for *.yaml / *.yml), and the
    errors of entries refused by the file policy (symlinks leaving the folder: never opened)."""
    from .files import walk_specs

    files: list[Path] = []
    problems: list[NetdslError] = []
    for p in map(Path, paths):
        if p.is_dir():
            found, refused = walk_specs(p, FilePolicy.for_spec(p / "_", root=root))
            files += found
            problems += refused
        elif p.exists() or p.is_symlink():
            files.append(p)
        else:
            raise UsageError(f"no such file or folder: {str(p)!r}")
    return files, problems


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

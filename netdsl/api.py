"""The Python API: load, check, build, compile, diagram, example_inputs.

Each call runs one :class:`~netdsl.pipeline.Pipeline` (every pass at most once). ``load``/``check``
never import torch, so ``netdsl validate`` stays fast and torch-free; ``build``/``compile`` import
it when called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.core.errors import NetdslError, NetdslErrors, UsageError, show_value
from netdsl.frontend.files import FilePolicy
from netdsl.frontend.library import LibraryCache
from netdsl.frontend.validate import parse_spec
from netdsl.passes.sizes import concrete_inputs
from netdsl.pipeline import CheckResult, PathLike, Pipeline, Spec, check_size_args, read_doc

if TYPE_CHECKING:
    import torch
    from torch import fx


def load(path_or_text: PathLike | Spec, *, text: str | None = None) -> Spec:
    """Load and validate a spec file (or ``text`` with ``path_or_text`` as its display name)."""
    if isinstance(path_or_text, Spec):
        return path_or_text
    doc = read_doc(path_or_text, text)
    return Spec(doc, parse_spec(doc), Path(path_or_text))


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
    libraries: LibraryCache | None = None,
) -> CheckResult:
    """Validate, resolve and shape-check a spec. Errors are returned, not raised.

    With ``concrete=True`` (or input shapes / dims given), shapes are also checked
    for concrete input sizes, which catches maps that shrink to nothing. Files the spec
    refers to must lie in its project, ``root`` or ``blocks_path`` (see :mod:`netdsl.frontend.files`).
    ``libraries`` shares the block libraries of several checks (see
    :class:`netdsl.frontend.library.LibraryCache`).
    """
    run = Pipeline(
        spec,
        variant,
        overrides,
        blocks_path=blocks_path,
        input_shapes=input_shapes,
        dims=dims,
        root=root,
        libraries=libraries,
    )
    return run.check(concrete)


SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed accepts
MAX_SIZE = 2**63 - 1  # largest size of a dim


def check_seed(seed: object, what: str = "seed") -> None:
    """Refuse (UsageError) a seed torch.manual_seed does not take; None is no seed."""
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
    the memory this process has (see :mod:`netdsl.passes.memory`; ``max_memory``, e.g. ``"8G"``, or
    ``$NETDSL_MAX_MEMORY`` set the limit).
    """
    from netdsl.core.errors import SourceLoc
    from netdsl.passes.memory import (
        check_fits,
        is_out_of_memory,
        memory_budget,
        out_of_memory_error,
        param_bytes,
    )

    check_seed(seed)
    budget = memory_budget(max_memory, what="max_memory")
    run = Pipeline(
        spec, variant, overrides, blocks_path=blocks_path, input_shapes=input_shapes, dims=dims, root=root
    )
    res = run.check()
    res.raise_if_errors()
    assert res.graph is not None and res.shapes is not None
    check_fits(budget, SourceLoc(res.graph.file), params=param_bytes(res.shapes))
    try:
        gm = run.module(seed)
    except Exception as e:
        if is_out_of_memory(e):
            raise out_of_memory_error(e, res.graph, "building the module", budget=budget) from e
        raise
    gm.meta["netdsl"]["check"] = res
    return gm


def compile(
    module: Any,
    *,
    purpose: str = "inference",
    dynamic: bool | None = True,
    freeze: bool = False,
    regional: bool | None = None,
    **kwargs: Any,
) -> Any:
    """``torch.compile`` a built module (or build a spec path first) for ``purpose``: "inference"
    (eval, no grad, the graph rewritten for inference) or "training". Each kind of repeated block is
    compiled once (``regional``, the default unless ``freeze``); ``freeze=True`` compiles one graph
    with the weights frozen in (load weights before compiling). ``dynamic``: batch and image size
    changes do not recompile. The result's ``state_dict()`` keys are the spec's. Other keywords go to
    ``torch.compile`` (``mode="max-autotune"``, ...). See :mod:`netdsl.backend.compile`."""
    from netdsl.backend.compile import compile_module

    if isinstance(module, str | os.PathLike | Spec):
        module = build(module)
    return compile_module(
        module, purpose=purpose, dynamic=dynamic, freeze=freeze, regional=regional, **kwargs
    )


def example_inputs(
    res: CheckResult | Pipeline,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    seed: int = 0,
    *,
    max_memory: int | str | None = None,
) -> list[torch.Tensor]:
    """Random inputs for a forward pass, one per spec input, in order (refused, BuildError, when
    they do not fit in memory; see :mod:`netdsl.passes.memory`). From a :class:`Pipeline`, the sizes are
    the run's unless ``shapes`` / ``dims`` are given."""
    from netdsl.backend.inputs import random_inputs
    from netdsl.core.errors import SourceLoc
    from netdsl.passes.memory import check_fits, memory_budget, tensor_bytes

    if isinstance(res, Pipeline):
        if shapes is None and dims is None:
            shapes, dims = res.input_shapes, res.dims
        res = res.check()
    if res.graph is None:
        raise UsageError("example_inputs: the spec did not check", hint="see the CheckResult's errors")
    check_seed(seed)
    if shapes is not None or dims is not None:
        check_size_args(res.graph, shapes, dims)
    types = concrete_inputs(res.graph, res.graph.example_sizes(dims), shapes)
    need = sum(tensor_bytes([[d.value for d in ty.shape]], ty.dtype) for ty in types.values())
    budget = memory_budget(max_memory, what="max_memory")
    check_fits(budget, SourceLoc(res.graph.file), inputs=need, what="making the example inputs")
    return random_inputs([gi.name for gi in res.graph.inputs], types, seed)


def spec_files(paths: Sequence[PathLike], root: PathLike | Sequence[PathLike] | None = None) -> list[Path]:
    """The spec files of :func:`find_specs`; entries the file policy refuses are raised."""
    files, problems = find_specs(paths, root)
    if problems:
        raise NetdslErrors(problems)
    return files


def find_specs(
    paths: Sequence[PathLike], root: PathLike | Sequence[PathLike] | None = None
) -> tuple[list[Path], list[NetdslError]]:
    """The spec files named by ``paths`` (files, or folders walked for *.yaml / *.yml), each once,
    and the errors of entries refused by the file policy (symlinks leaving the folder: never
    opened); a folder without any spec is a UsageError."""
    from netdsl.frontend.files import walk_specs

    files: list[Path] = []
    problems: list[NetdslError] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found, refused = walk_specs(p, FilePolicy.for_spec(p / "_", root=root))
            if not found and not refused:
                raise UsageError(f"no spec files (*.yaml, *.yml) in folder {show_value(os.fspath(raw))}")
            files += [f for f in found if f not in files]
            problems += refused
        elif p.exists() or p.is_symlink():
            files += [] if p in files else [p]
        else:
            raise UsageError(f"no such file or folder: {str(p)!r}")
    return files, problems


def diagram(
    spec: PathLike | Spec | CheckResult | Pipeline,
    format: str = "svg",
    output: PathLike | None = None,
    **options: Any,
) -> bytes:
    """Draw a spec (see :mod:`netdsl.tools.diagrams`): the bytes of ``format``, also written atomically to
    ``output`` when given. ``options`` are :class:`netdsl.tools.diagrams.DiagramOptions` fields."""
    from netdsl.core.outfile import atomic_write
    from netdsl.tools.diagrams import DiagramOptions, render

    source = spec if isinstance(spec, CheckResult | Pipeline) else Pipeline(spec)
    (source if isinstance(source, CheckResult) else source.check()).raise_if_errors()
    opts = DiagramOptions(**options)
    data = render(source, format, opts)
    if output is not None:
        atomic_write(output, data)
    return data


__all__ = [
    "SEED_MAX",
    "SEED_MIN",
    "CheckResult",
    "PathLike",
    "Pipeline",
    "Spec",
    "build",
    "check",
    "check_seed",
    "compile",
    "diagram",
    "example_inputs",
    "find_specs",
    "load",
    "spec_files",
]

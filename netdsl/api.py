"""The Python API: load, check, build, compile, export, diagram, example_inputs.

Each call runs one :class:`~netdsl.pipeline.Pipeline` (every pass at most once). ``load``/``check``
never import torch, so ``netdsl validate`` stays fast and torch-free; ``build``/``compile`` import
it when called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypedDict, Unpack

from netdsl.backend.torch_extra import require_torch
from netdsl.core.errors import NetdslError, NetdslErrors, UsageError, show_value
from netdsl.frontend.files import FilePolicy
from netdsl.frontend.library import LibraryCache
from netdsl.frontend.validate import parse_spec
from netdsl.passes.sizes import concrete_inputs
from netdsl.pipeline import CheckResult, PathLike, Pipeline, Spec, check_size_args, read_doc

if TYPE_CHECKING:
    import torch
    from torch import fx

    from netdsl.backend.export import ExportReport
    from netdsl.frontend.checkpoint import Tree
    from netdsl.passes.weights_report import WeightsReport
    from netdsl.passes.weights_unwrap import Checkpoint
    from netdsl.tools.importer import ImportedSpec


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
    weights: PathLike | None = None,
    weights_key: str | None = None,
    weights_map: Mapping[str, str] | None = None,
) -> fx.GraphModule:
    """Build the ``torch.fx.GraphModule`` of a spec; raises :class:`NetdslError` with all errors.

    Refuses (BuildError), before allocating, a network whose parameters and buffers do not fit in
    the memory this process has (see :mod:`netdsl.passes.memory`; ``max_memory``, e.g. ``"8G"``, or
    ``$NETDSL_MAX_MEMORY`` set the limit).

    ``weights``: a checkpoint (.safetensors or a torch.save file) checked as :func:`check_weights`
    does (``weights_key``, ``weights_map`` are its ``key`` and ``key_map``) before anything is
    built (a :class:`~netdsl.passes.weights.WeightsError` when it would not load), then loaded
    with ``load_state_dict(strict=True)``.
    """
    from netdsl.core.errors import SourceLoc
    from netdsl.passes.memory import (
        check_fits,
        is_out_of_memory,
        memory_budget,
        out_of_memory_error,
        param_bytes,
    )

    require_torch("building a module")
    check_seed(seed)
    budget = memory_budget(max_memory, what="max_memory")
    run = Pipeline(
        spec, variant, overrides, blocks_path=blocks_path, input_shapes=input_shapes, dims=dims, root=root
    )
    res = run.check()
    res.raise_if_errors()
    assert res.graph is not None and res.shapes is not None
    report = None
    if weights is not None:
        report = weights_report(run, weights, key=weights_key, key_map=weights_map)
        report.raise_if_not_loadable()
    check_fits(budget, SourceLoc(res.graph.file), params=param_bytes(res.shapes))
    try:
        gm = run.module(seed)
        if report is not None and weights is not None:
            from netdsl.backend.checkpoint_io import load_weights

            load_weights(gm, weights, report)
    except Exception as e:
        if is_out_of_memory(e):
            raise out_of_memory_error(e, res.graph, "building the module", budget=budget) from e
        raise
    gm.meta["netdsl"]["check"] = res
    return gm


def capture(
    module: Any, names: Sequence[str] | str, *inputs: Any, **kwinputs: Any
) -> tuple[Any, dict[str, torch.Tensor]]:
    """Run a built module once on ``inputs`` and read values inside it by spec name: returns
    ``(outputs, {name: tensor})``, the module's usual outputs and one tensor per name.

    A name is a spec node path as ``netdsl shapes`` lists it (``conv.c1a``, ``attn1.spatial_scale``,
    ``stage.1.bn2``; ``node.i`` for output i of a node with several), a network input or output, or a
    block instance (``attn1``: its first output, ``attn1.1``: its second). Unknown names are a
    ``UsageError`` with the closest ones. The values are the ones the nodes computed, also where the
    module later works in place (they are cloned then); gradients flow through them. The module is
    not changed; a ``DistributedDataParallel`` wrapper is looked through. For many calls, build the
    capturing module once with :func:`capturing`. See :mod:`netdsl.backend.capture`."""
    require_torch("capturing values of a module")
    from netdsl.backend.capture import capture as _capture

    return _capture(module, names, *inputs, **kwinputs)


def capturing(module: Any, names: Sequence[str] | str) -> fx.GraphModule:
    """A module sharing ``module``'s parameters whose forward returns ``(outputs, {name: tensor})``
    for ``names`` (see :func:`capture`), to call many times (a training or evaluation loop)."""
    require_torch("capturing values of a module")
    from netdsl.backend.capture import capturing as _capturing

    return _capturing(module, names)


def read_checkpoint(path: PathLike) -> Checkpoint:
    """A checkpoint's tree of tensors (shapes and dtypes; no data read): a .safetensors file is
    read torch-free, a torch.save file with ``torch.load(weights_only=True)`` onto the meta device.
    :class:`~netdsl.frontend.checkpoint.CheckpointError` for a file that is neither, or corrupt."""
    from netdsl.frontend.checkpoint import checkpoint_format, checkpoint_name, read_safetensors_header
    from netdsl.passes.weights_unwrap import Checkpoint

    fmt = checkpoint_format(path)
    if fmt == "safetensors":
        tree: Tree = read_safetensors_header(path).tree()
    else:
        require_torch("reading a torch.save checkpoint (.pt, .pth, .bin)")
        from netdsl.backend.checkpoint_io import read_torch_tree

        tree = read_torch_tree(path)
    return Checkpoint(checkpoint_name(path), fmt, tree)


def weights_report(
    run: Pipeline,
    checkpoint: PathLike,
    *,
    key: str | None = None,
    key_map: Mapping[str, str] | None = None,
) -> WeightsReport:
    """:func:`check_weights` for a :class:`Pipeline` (its errors raised): the spec's static
    parameters (for the run's sizes when it has some of its own) against the checkpoint."""
    from netdsl.passes.weights import compare_weights

    res = run.check()
    res.raise_if_errors()
    shapes = run.concrete_shapes() if run.explicit_sizes else res.shapes
    assert shapes is not None
    report = compare_weights(shapes, read_checkpoint(checkpoint), key=key, key_map=key_map)
    report.spec_warnings = list(res.warnings)
    return report


def check_weights(
    spec: PathLike | Spec,
    checkpoint: PathLike,
    *,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    key: str | None = None,
    key_map: Mapping[str, str] | None = None,
    blocks_path: Sequence[PathLike] | PathLike | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    root: PathLike | Sequence[PathLike] | None = None,
) -> WeightsReport:
    """Compare a checkpoint's keys, shapes and dtypes with the spec's parameters and persistent
    buffers, without building the module (see :mod:`netdsl.passes.weights`).

    ``checkpoint``: a .safetensors file (read torch-free) or a torch.save file (.pt, .pth, .bin;
    ``torch.load(weights_only=True)`` onto the meta device); a dict wrapping the state_dict
    (``state_dict``, ``model``, ``ema``, ...) is unwrapped, or ``key`` names the entry
    (``"model_ema"``, ``"ema.module"``). ``key_map`` renames keys by prefix (``{"module.": ""}``).

    Returns a :class:`~netdsl.passes.weights.WeightsReport`: ``ok`` when ``load_state_dict(strict=True)``
    would accept the checkpoint (dtype casts are warnings), its missing / unexpected keys (with the
    closest expected key), shape mismatches located at the spec's nodes, and a suggested key map.
    Raises the spec's errors, a ``CheckpointError`` for a file that cannot be read, ``UsageError``
    for a ``key`` the checkpoint lacks.
    """
    run = Pipeline(
        spec, variant, overrides, blocks_path=blocks_path, input_shapes=input_shapes, dims=dims, root=root
    )
    return weights_report(run, checkpoint, key=key, key_map=key_map)


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
    require_torch("compiling a module")
    from netdsl.backend.compile import compile_module

    if isinstance(module, str | os.PathLike | Spec):
        module = build(module)
    return compile_module(
        module, purpose=purpose, dynamic=dynamic, freeze=freeze, regional=regional, **kwargs
    )


def dynamic_dims(dynamic: str | Sequence[str] | None) -> list[str] | None:
    """The dims an export makes dynamic: None (or "all") every dim of the inputs, "none" (or an empty
    list) none, else the names (a list, or one string "B,H,W")."""
    if dynamic is None:
        return None
    names = [n.strip() for n in dynamic.split(",")] if isinstance(dynamic, str) else list(dynamic)
    if any(not isinstance(n, str) for n in names):
        raise UsageError(f"dynamic: expected dim names, got {dynamic!r}")
    if names in (["all"], ["ALL"]):
        return None
    if names in (["none"], ["NONE"], [""]):
        return []
    if "" in names:
        raise UsageError(
            f"--dynamic {show_value(str(dynamic))}: an empty dim name", hint="e.g. --dynamic B,H,W"
        )
    return list(dict.fromkeys(names))


def export(
    spec: PathLike | Spec,
    out: PathLike,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    dynamic: str | Sequence[str] | None = None,
    opset: int | None = None,
    seed: int | None = 0,
    weights: PathLike | None = None,
    weights_key: str | None = None,
    weights_map: Mapping[str, str] | None = None,
    blocks_path: Sequence[PathLike] | PathLike | None = None,
    root: PathLike | Sequence[PathLike] | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    dims: Mapping[str, int] | None = None,
    tolerance: float | None = None,
    check_sizes: Sequence[Mapping[str, int]] | None = None,
    max_memory: int | str | None = None,
    quiet: bool = False,
    progress: TextIO | None = None,
    flag: str | None = None,
) -> ExportReport:
    """Build a spec and write ``out``: a torch.export program (.pt2) or an ONNX model (.onnx, needs
    ``pip install 'netdsl[onnx]'``), with dynamic batch and image sizes, verified against the eager
    module before it replaces anything (see :mod:`netdsl.backend.export`).

    ``dynamic``: the dims of the inputs made dynamic: None or ``"all"`` every one (``B``, ``H``,
    ``W``), ``"none"`` / ``()`` none, else their names (``["B"]`` or ``"B,H"``); each gets the range
    the spec and torch.export allow. ``input_shapes`` / ``dims``: the example the export traces
    (default: the spec's ``dims:``). ``opset``: ONNX's (default 18). ``seed``: of the
    initialisation; ``weights``: a checkpoint loaded first (checked as :func:`check_weights` does;
    ``weights_key``, ``weights_map`` its key and key map). ``tolerance``: the verification's relative
    tolerance (default 1e-4 for float32); ``check_sizes``: the dims' sizes of the verification runs
    (default two batch sizes times two image sizes). ``quiet``: torch's warnings and logs silenced;
    ``progress``: a stream for a heartbeat during long steps.

    Returns the :class:`~netdsl.backend.export.ExportReport`: the file, the dims and their ranges,
    torch's adjustments, the verification runs and the times. Raises ``UsageError`` for bad
    arguments (the [onnx] extra missing included), the spec's errors, ``BuildError`` when torch
    cannot export it or the exported file does not match.
    """
    from netdsl.core.errors import SourceLoc
    from netdsl.passes.memory import check_fits, memory_budget, param_bytes

    require_torch("exporting a module", "torch,onnx" if str(out).endswith(".onnx") else "torch")
    check_seed(seed)
    wanted = dynamic_dims(dynamic)
    budget = memory_budget(max_memory, what="max_memory")
    from netdsl.backend.export import export_module
    from netdsl.backend.export_formats import check_target

    target = check_target(out, flag)
    run = Pipeline(
        spec, variant, overrides, blocks_path=blocks_path, input_shapes=input_shapes, dims=dims, root=root
    )
    res = run.check(concrete=True)
    res.raise_if_errors()
    assert res.graph is not None and res.shapes is not None
    graph = res.graph
    report = None
    if weights is not None:
        report = weights_report(run, weights, key=weights_key, key_map=weights_map)
        report.raise_if_not_loadable()
    example = concrete_inputs(graph, graph.example_sizes(run.dims), run.input_shapes)
    check_fits(budget, SourceLoc(graph.file), params=param_bytes(res.shapes))
    gm = run.module(seed)
    if report is not None and weights is not None:
        from netdsl.backend.checkpoint_io import load_weights

        load_weights(gm, weights, report)
    exported = export_module(
        gm,
        graph,
        res.shapes,
        example,
        target,
        dynamic=wanted,
        opset=opset,
        seed=0 if seed is None else seed,
        tolerance=tolerance,
        check_sizes=check_sizes,
        quiet=quiet,
        progress=progress,
        flag=flag,
    )
    exported.spec_warnings = list(res.warnings)
    return exported


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
    from netdsl.core.errors import SourceLoc
    from netdsl.passes.memory import check_fits, memory_budget, tensor_bytes

    require_torch("making example inputs")
    from netdsl.backend.inputs import random_inputs

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


class ImportOptions(TypedDict, total=False):
    """The options of :func:`import_module` / :func:`import_spec` (all keyword-only)."""

    input_names: Sequence[str] | None  # the spec's input names (default: forward's argument names)
    name: str | None  # the network's name (default: the module's class name in snake case)
    blocks: bool  # repeated submodule classes become blocks (default True; False: all inline)
    verify: bool  # build the spec and compare its outputs with the module's (default True)


def import_spec(
    module: torch.nn.Module, example_inputs: Sequence[torch.Tensor], **options: Unpack[ImportOptions]
) -> ImportedSpec:
    """:func:`import_module`, with the spec also as a network file and block files
    (``.network``, ``.blocks``) and the importer's notes."""
    require_torch("importing a module")
    from netdsl.tools.importer import import_module as _import

    return _import(module, example_inputs, **options)


def import_module(
    module: torch.nn.Module, example_inputs: Sequence[torch.Tensor], **options: Unpack[ImportOptions]
) -> str:
    """The YAML text of a spec for ``module`` (a ``torch.nn.Module``), traced with torch.fx on
    ``example_inputs`` (tensors, one per ``forward`` argument) in eval mode: its built module has
    the same state_dict keys (the module's state_dict loads with ``strict=True``) and the same
    outputs. Repeated submodule classes become blocks (``blocks=False``: every node inline); the
    batch and a 4-d input's spatial dims are the symbolic ``B``, ``H``, ``W``. ``verify`` (default):
    the spec is built and its outputs compared with the module's before it is returned. Options:
    :class:`ImportOptions`.

    Raises :class:`NetdslErrors` listing every call without a netdsl op, with its source line
    (docs/toolbox.md, ``netdsl import``)."""
    return import_spec(module, example_inputs, **options).text


__all__ = [
    "SEED_MAX",
    "SEED_MIN",
    "CheckResult",
    "ImportOptions",
    "PathLike",
    "Pipeline",
    "Spec",
    "build",
    "capture",
    "capturing",
    "check",
    "check_seed",
    "check_weights",
    "compile",
    "diagram",
    "dynamic_dims",
    "example_inputs",
    "export",
    "find_specs",
    "import_module",
    "import_spec",
    "load",
    "read_checkpoint",
    "spec_files",
    "weights_report",
]

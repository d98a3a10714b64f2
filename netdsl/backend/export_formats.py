"""The files an export writes (see :mod:`netdsl.backend.export`): the output file checked before
anything is built (.pt2 or .onnx), the ``[onnx]`` extra and the opsets torch.onnx writes, and the
spec's dim names written into an ONNX model's symbolic axes."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from netdsl.core import outfile
from netdsl.core.errors import UsageError

#: the file formats by suffix
FORMATS = {".pt2": "torch.export", ".onnx": "onnx"}
#: what installs the ONNX exporter's dependencies
ONNX_EXTRA = "pip install 'netdsl[onnx]'"
#: the opset written unless told otherwise (torch.onnx's own default with dynamo=True)
DEFAULT_OPSET = 18
MIN_OPSET = 18


def require_onnx() -> None:
    """Refuse (UsageError) an ONNX export when the ``[onnx]`` extra is not installed."""
    missing = []
    try:
        import onnx  # noqa: F401
    except ImportError:
        missing.append("onnx")
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        missing.append("onnxscript")
    try:
        import onnxruntime  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        missing.append("onnxruntime")
    if missing:
        raise UsageError(
            f"writing .onnx needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            "installed: they come with netdsl's [onnx] extra",
            hint=f"{ONNX_EXTRA}, or write a .pt2 (torch.export) file instead",
        )


def check_opset(opset: object) -> int:
    """The ONNX opset asked for, refused (UsageError) outside what torch.onnx's exporter writes."""
    import onnx

    newest = int(onnx.defs.onnx_opset_version())
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise UsageError(
            f"opset {opset!r}: torch.onnx.export(dynamo=True) writes opsets {MIN_OPSET} to {newest} "
            f"(this onnx {onnx.__version__})",
            hint=f"leave it out for opset {DEFAULT_OPSET}",
        )
    return opset


def check_target(out: str | os.PathLike[str], flag: str | None = None) -> Path:
    """The export's output file, refused (UsageError) before anything is built: see
    :func:`netdsl.core.outfile.check_target`; for .onnx, the [onnx] extra not installed."""
    writes = "a .pt2 (torch.export program) or .onnx file"
    target = outfile.check_target(out, list(FORMATS), writes, flag=flag)
    if target.suffix == ".onnx":
        require_onnx()
    return target


_TORCH_SYMBOL = re.compile(r"\bs\d+\b")


def name_onnx_axes(path: str, symbols: Mapping[str, str]) -> int | None:
    """Write the spec's dim names into the ONNX model's symbolic axes that torch left as its own
    symbols (``s44`` -> ``Hh``; ``(s44//2)`` -> ``(Hh//2)``); the model's opset (None: none)."""
    import onnx

    model = onnx.load(path)
    changed = False
    for v in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        for dim in v.type.tensor_type.shape.dim:
            if dim.dim_param and _TORCH_SYMBOL.search(dim.dim_param):
                named = _TORCH_SYMBOL.sub(lambda m: symbols.get(m.group(0), m.group(0)), dim.dim_param)
                if named != dim.dim_param:
                    dim.dim_param = named
                    changed = True
    if changed:
        onnx.save(model, path)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)

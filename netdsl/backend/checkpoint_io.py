"""Reading checkpoints with torch: the tree of a torch.save file (shapes and dtypes only, on the
meta device: no tensor data is read), and the tensors of a checkpoint loaded into a built module
(``netdsl build --weights``).

Torch files are read with ``torch.load(..., weights_only=True)``: tensors and plain containers
only, never code. Every failure (a corrupt or truncated file, objects weights_only refuses) is a
:class:`~netdsl.frontend.checkpoint.CheckpointError` naming the file. Safetensors files are read
without torch's help: their header by :mod:`netdsl.frontend.checkpoint`, their data here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx

from netdsl.core.errors import BuildError, SourceLoc
from netdsl.frontend.checkpoint import (
    CheckpointError,
    Opaque,
    TensorInfo,
    Tree,
    checkpoint_name,
    open_checkpoint,
    read_exact,
    read_safetensors_header,
)
from netdsl.passes.weights_keys import KeyRule, apply_rules
from netdsl.passes.weights_report import WeightsReport

MAX_TREE_DEPTH = 16


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _tree(obj: object, depth: int = 0) -> Tree:
    if isinstance(obj, torch.Tensor):
        return TensorInfo(tuple(int(d) for d in obj.shape), _dtype_name(obj.dtype))
    if isinstance(obj, Mapping) and depth < MAX_TREE_DEPTH:
        return {str(k): _tree(v, depth + 1) for k, v in obj.items()}
    return Opaque(type(obj).__name__)


def _problem(e: BaseException) -> str:
    """A short account of torch.load's error (its messages run to paragraphs)."""
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:  # weights_only's refusal: the line naming what it refused
        if "Unsupported global" in ln or "Unsupported operand" in ln or "WeightsUnpickler error" in ln:
            return "it holds objects that torch.load(weights_only=True) refuses: " + ln.split(". ")[0][:300]
    first = lines[0] if lines else type(e).__name__
    if "central directory" in first or "zip archive" in first:
        return "it is truncated or corrupt (its zip archive is incomplete)"
    if isinstance(e, EOFError):
        return "it is truncated (the file ends too early)"
    return f"{type(e).__name__}: {first[:300]}"


def _torch_load(path: str | os.PathLike[str], map_location: str) -> Any:
    name = checkpoint_name(path)
    with open_checkpoint(path) as (fd, _size):
        try:
            with os.fdopen(os.dup(fd), "rb") as f:
                return torch.load(f, map_location=map_location, weights_only=True)
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(
                f"cannot read {name} as a torch file: {_problem(e)}",
                SourceLoc(file=name),
                hint="netdsl reads state_dicts saved with torch.save(model.state_dict(), path) "
                "(maybe inside a dict) and .safetensors files",
            ) from None


def read_torch_tree(path: str | os.PathLike[str]) -> Tree:
    """The tree of a torch.save file: dicts, tensors as :class:`TensorInfo` (loaded onto the meta
    device: nothing of their data is read), anything else as :class:`Opaque`."""
    return _tree(_torch_load(path, "meta"))


def _dtype(name: str, file: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise CheckpointError(f"{file}: this torch has no dtype {name}", SourceLoc(file=file))
    return dtype


def read_safetensors(
    path: str | os.PathLike[str], keys: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (those named ``keys``, else all) on the CPU."""
    name = checkpoint_name(path)
    if sys.byteorder != "little":  # pragma: no cover
        raise CheckpointError(
            f"{name}: safetensors files are little-endian; this machine is not", SourceLoc(file=name)
        )
    header = read_safetensors_header(path)
    wanted = header.entries if keys is None else {k: header.entries[k] for k in keys if k in header.entries}
    out: dict[str, torch.Tensor] = {}
    with open_checkpoint(path) as (fd, _size):
        for key, entry in wanted.items():
            dtype = _dtype(entry.info.dtype, name)
            data = read_exact(fd, entry.begin, entry.end - entry.begin, name)
            flat = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.empty(0, dtype=dtype)
            out[key] = flat.reshape(entry.info.shape)
    return out


def read_state_dict(
    path: str | os.PathLike[str], fmt: str, wrapper: Sequence[str], rules: Sequence[KeyRule]
) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors on the CPU: the dict at ``wrapper`` (the keys a check followed),
    its keys renamed by ``rules``."""
    name = checkpoint_name(path)
    if fmt == "safetensors":
        tensors: Mapping[str, object] = read_safetensors(path)
    else:
        obj = _torch_load(path, "cpu")
        for k in wrapper:
            if not isinstance(obj, Mapping) or k not in obj:
                raise CheckpointError(
                    f"{name} changed while it was read: no entry {k!r}", SourceLoc(file=name)
                )
            obj = obj[k]
        if not isinstance(obj, Mapping):
            raise CheckpointError(
                f"{name} changed while it was read: no dict of tensors", SourceLoc(file=name)
            )
        tensors = obj
    return {apply_rules(str(k), rules): v for k, v in tensors.items() if isinstance(v, torch.Tensor)}


def load_weights(gm: fx.GraphModule, path: str | os.PathLike[str], report: WeightsReport) -> None:
    """Load the checkpoint ``report`` checked into ``gm`` with ``load_state_dict(strict=True)``
    (the wrapper and key map of the report applied); BuildError when torch refuses it."""
    report.raise_if_not_loadable()
    state = read_state_dict(path, report.format, report.wrapper, report.key_map)
    try:
        gm.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as e:
        message = " ".join(str(e).split())
        raise BuildError(
            f"loading {report.checkpoint} into the module failed: {message[:1000]}",
            SourceLoc(file=report.checkpoint),
        ) from None


def state_dict_report(gm: fx.GraphModule, state_dict: Mapping[str, Any]) -> WeightsReport | None:
    """What ``netdsl check-weights`` says of ``state_dict`` against the spec ``gm`` was built from
    (``gm.meta["netdsl"]["check"]``); None for a module that does not know its spec, or a state_dict
    that is not a mapping of tensors."""
    from netdsl.passes.weights import compare_weights
    from netdsl.passes.weights_unwrap import Checkpoint

    shapes = getattr(gm.meta.get("netdsl", {}).get("check"), "shapes", None)
    if shapes is None or not isinstance(state_dict, Mapping):
        return None
    try:
        return compare_weights(shapes, Checkpoint("the state_dict", "torch", _tree(dict(state_dict))))
    except Exception:  # the report is a courtesy on top of torch's own error: never a second error
        return None

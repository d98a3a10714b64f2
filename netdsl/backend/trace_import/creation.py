"""The entries of calls that make a tensor or a copy: creation in ``forward`` (``torch.zeros``,
``full``, ``arange``, ``*_like``), casts (``x.float()``, ``x.to(dtype)``, ``type_as``) and copies
(``clone``; ``contiguous`` and ``detach`` are the same tensor)."""

from __future__ import annotations

from typing import Any

import torch

from netdsl.backend.import_graph import DimOf, TRef
from netdsl.backend.trace_import.calls import (
    Alias,
    Call,
    Emit,
    Handler,
    Result,
    _dims_list,
    _dropped,
    _dtype_name,
    _number,
    _varargs,
)


def _identity(c: Call) -> Result:
    """``x.contiguous()``, ``x.detach()``: the same tensor (an in-place op on it changes both)."""
    return Alias(c.tensor(0))


def _copy(c: Call) -> Result:
    """``x.clone()``: a tensor of its own (an in-place op on ``x`` later leaves it)."""
    return Emit("identity", [c.tensor(0)])


def _cast_to(dtype: str) -> Handler:
    def handle(c: Call) -> Result:
        x = c.tensor(0)
        return Alias(x) if c.dtype(x) == dtype else Emit("cast", [x], {"dtype": dtype})

    return handle


def _to(c: Call) -> Result:
    """``x.to(dtype)``, ``x.to(other)``, ``x.type(dtype)``; a device alone changes nothing here."""
    x = c.tensor(0)
    dtype: str | None = None
    for value in [*c.args[1:], c.kwargs.get("dtype")]:
        if isinstance(value, torch.dtype):
            dtype = _dtype_name(value)
        elif isinstance(value, TRef):
            dtype = c.dtype(value)
    if dtype is None or dtype == c.dtype(x):
        return Alias(x)
    return Emit("cast", [x], {"dtype": dtype})


def _type_as(c: Call) -> Result:
    x, other = c.tensor(0), c.tensor(1, "other")
    dtype = c.dtype(other)
    return Alias(x) if dtype == c.dtype(x) else Emit("cast", [x], {"dtype": dtype})


def _creation(op: str, value_at: int | None = None) -> Handler:
    """torch.zeros(*size) / ones / full(size, value): a tensor of a (possibly size-dependent) shape."""

    def handle(c: Call) -> Result:
        c.check_unused(["size", "fill_value", "dtype", "device", "layout", "requires_grad", "pin_memory"])
        if value_at is None:
            shape = _varargs(c, 0, "size")
            attrs: dict[str, Any] = {"shape": shape}
        else:
            attrs = {
                "shape": _dims_list(c.get(0, "size")),
                "value": _number(c.get(1, "fill_value"), "fill_value"),
            }
        dtype = c.kwargs.get("dtype")
        if isinstance(dtype, torch.dtype):
            attrs["dtype"] = _dtype_name(dtype)
        return Emit(op, [], attrs)

    return handle


def _like(op: str, with_value: bool = False) -> Handler:
    def handle(c: Call) -> Result:
        x = c.tensor(0)
        attrs: dict[str, Any] = {"shape": [DimOf(x, i) for i in range(c.rank(x))]}
        if with_value:
            attrs["value"] = _number(c.get(1, "fill_value"), "fill_value")
        dtype = c.kwargs.get("dtype")
        attrs["dtype"] = _dtype_name(dtype) if isinstance(dtype, torch.dtype) else c.dtype(x)
        return Emit(op, [], attrs)

    return handle


def _arange(c: Call) -> Result:
    c.check_unused(["start", "end", "step", "dtype", "device", "layout", "requires_grad", "pin_memory"])
    numbers = [a for a in c.args if not isinstance(a, torch.dtype)]
    if len(numbers) == 1 and "end" not in c.kwargs:
        attrs: dict[str, Any] = {"end": numbers[0]}
    else:
        attrs = {"start": c.get(0, "start", 0), "end": c.get(1, "end"), "step": c.get(2, "step", 1)}
    dtype = c.kwargs.get("dtype")
    if isinstance(dtype, torch.dtype):
        attrs["dtype"] = _dtype_name(dtype)
    return Emit("arange", [], _dropped(attrs))

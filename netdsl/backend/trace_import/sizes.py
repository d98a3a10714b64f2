"""Symbolic sizes: sizes read from tensors (``x.size(0)``, ``B, C, H, W = x.shape``, ``x.numel()``)
stay :class:`~netdsl.backend.import_graph.DimOf`, and arithmetic on them
(:class:`~netdsl.backend.import_graph.SizeOp`) and choices by a condition over them
(``torch.sym_ite``) stay expressions, so that a reshape follows the input's size."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch

from netdsl.backend.import_graph import DimOf, SizeCond, SizeExpr, SizeOp, SizeSelect, TRef
from netdsl.backend.trace_import.calls import Alias, Call, Result, _Unsupported


def _is_size(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, DimOf | SizeOp | SizeSelect)


def _is_scalar(v: Any) -> bool:
    """A size, or a Python number (``C ** -0.5``: the scale of attention)."""
    return _is_size(v) or (isinstance(v, float))


_SIZE_FOLD: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "truediv": operator.truediv,
    "pow": operator.pow,
}


def _size_op(kind: str, a: Any, b: Any) -> Any:
    """Arithmetic on sizes (and numbers): folded when both are numbers, else kept for the writer
    (which computes it in the frame's dims: a dim expression, or a number where it is constant)."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        return _SIZE_FOLD[kind](a, b)
    return SizeOp(kind, a, b)


def _sym_ite(c: Call) -> Result:
    cond, then, other = c.get(0, "b"), c.get(1, "t"), c.get(2, "f")
    if isinstance(cond, bool) and _is_size(then) and _is_size(other):
        return Alias(then if cond else other)
    if not isinstance(cond, SizeCond) or not (_is_size(then) and _is_size(other)):
        raise _Unsupported("a choice between sizes by a condition over sizes only")
    return Alias(SizeSelect(cond, then, other))


class _Device:
    """A tensor's device: what creation calls (``torch.full(..., device=x.device)``) ignore."""


_DEVICE = _Device()


def _getattr(c: Call) -> Result:
    obj, name = c.args[0], c.args[1]
    if isinstance(obj, TRef) and name == "shape":
        return Alias(tuple(DimOf(obj, i) for i in range(c.rank(obj))))
    if isinstance(obj, TRef) and name == "ndim":
        return Alias(c.rank(obj))
    if isinstance(obj, TRef) and name == "dtype":
        return Alias(getattr(torch, c.dtype(obj)))
    if isinstance(obj, TRef) and name == "device":
        return Alias(_DEVICE)  # (tensors made in forward are on the input's device in netdsl too)
    raise _Unsupported(f"reading attribute {name!r}")


def _size(c: Call) -> Result:
    x = c.tensor(0)
    d = c.get(1, "dim", None)
    if d is None:
        return Alias(tuple(DimOf(x, i) for i in range(c.rank(x))))
    return Alias(DimOf(x, c.dim(x, d)))


def _ndim(c: Call) -> Result:
    return Alias(c.rank(c.tensor(0)))


def _numel(c: Call) -> Result:
    x = c.tensor(0)
    total: SizeExpr = 1
    for i in range(c.rank(x)):
        total = _size_op("mul", total, DimOf(x, i))
    return Alias(total)

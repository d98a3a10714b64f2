"""The entries of operators and elementwise math: ``+ - * / **`` and comparisons on tensors, numbers
and sizes (on sizes they stay size expressions), negation, matmul, where / masked_fill, clamp,
softmax and std / var."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from netdsl.backend.import_graph import SizeCond, TRef
from netdsl.backend.trace_import.calls import (
    PREV,
    Alias,
    Call,
    Chain,
    Emit,
    Handler,
    Result,
    _dropped,
    _number,
    _plain,
    _Unsupported,
)
from netdsl.backend.trace_import.sizes import _is_scalar, _is_size, _size_op


def _binary(
    op: str | None, size_op: str | None, reverse: Callable[[Any, TRef], list[Emit]] | None
) -> Handler:
    """``a <op> b`` for tensors or a tensor and a number (``other``), and on sizes ``size_op``
    (``x.size(2) * 2``). ``reverse`` makes ``number <op> tensor`` (``None``: the op commutes);
    ``op`` None: only sizes (``//`` and ``%``: netdsl has no such tensor op)."""

    def handle(c: Call) -> Result:
        a, b = c.get(0, "input"), c.get(1, "other")
        c.check_unused(["input", "other", "alpha", "rounding_mode"])
        if c.get(2, "alpha", 1) != 1 or c.kwargs.get("rounding_mode") is not None:
            raise _Unsupported("alpha and rounding_mode are not supported")
        if size_op is not None and _is_scalar(a) and _is_scalar(b) and (_is_size(a) or _is_size(b)):
            return Alias(_size_op(size_op, a, b))
        if op is None:
            raise _Unsupported("netdsl has no such op on tensors")
        if isinstance(a, TRef) and isinstance(b, TRef):
            return Emit(op, [a, b])
        if isinstance(a, TRef):
            return Emit(op, [a], {"other": _number(b, "the other operand")})
        if isinstance(b, TRef):
            if reverse is None:
                return Emit(op, [b], {"other": _number(a, "the other operand")})
            return Chain(reverse(_number(a, "the other operand"), b))
        raise _Unsupported("its operands are neither tensors nor sizes")

    return handle


def _compare(op: str, flipped: str) -> Handler:
    def handle(c: Call) -> Result:
        a, b = c.get(0, "input"), c.get(1, "other")
        if isinstance(a, TRef) and isinstance(b, TRef):
            return Emit(op, [a, b])
        if isinstance(a, TRef):
            return Emit(op, [a], {"other": _number(b, "the other operand")})
        if isinstance(b, TRef):
            return Emit(flipped, [b], {"other": _number(a, "the other operand")})
        if _is_size(a) and _is_size(b):
            if isinstance(a, int) and isinstance(b, int):
                return Alias(bool(_COMPARE[op](a, b)))
            return Alias(SizeCond(op, a, b))  # (torch.sym_ite reads it; torch._assert drops it)
        raise _Unsupported("its operands are neither tensors nor sizes")

    return handle


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    k: getattr(operator, k) for k in ("eq", "ne", "lt", "le", "gt", "ge")
}


def _neg(c: Call) -> Result:
    x = c.get(0, "input")
    if isinstance(x, TRef):
        return Emit("neg", [x])
    if _is_size(x):
        return Alias(_size_op("sub", 0, x))
    raise _Unsupported("its operand is neither a tensor nor a size")


def _rsub(number: Any, x: TRef) -> list[Emit]:
    return [Emit("neg", [x]), Emit("add", [PREV], {"other": number})]


def _rdiv(number: Any, x: TRef) -> list[Emit]:
    return [Emit("pow", [x], {"other": -1}), Emit("mul", [PREV], {"other": number})]


def _matmul(c: Call) -> Result:
    return Emit("matmul", [c.tensor(0), c.tensor(1, "other")])


def _where(c: Call) -> Result:
    cond, x, y = c.tensor(0, "condition"), c.get(1, "input"), c.get(2, "other")
    if not isinstance(x, TRef):
        raise _Unsupported("where(condition, number, ...) is not supported")
    if isinstance(y, TRef):
        return Emit("where", [cond, x, y])
    return Emit("where", [cond, x], {"other": _number(y, "other")})


def _masked_fill(c: Call) -> Result:
    return Emit(
        "masked_fill", [c.tensor(0), c.tensor(1, "mask")], {"value": _number(c.get(2, "value"), "value")}
    )


def _clamp(c: Call) -> Result:
    x = c.tensor(0)
    lo, hi = c.get(1, "min", None), c.get(2, "max", None)
    return Emit("clamp", [x], _dropped({"min": lo, "max": hi}))


def _hardtanh(c: Call) -> Result:
    x = c.tensor(0)
    lo, hi = c.get(1, "min_val", -1.0), c.get(2, "max_val", 1.0)
    return Emit("clamp", [x], {"min": lo, "max": hi}, inplace=bool(c.get(3, "inplace", False)))


def _softmax(op: str) -> Handler:
    def handle(c: Call) -> Result:
        x = c.tensor(0)
        dim = c.get(1, "dim", None)
        if dim is None:
            raise _Unsupported("softmax without a dim")
        if c.kwargs.get("dtype") is not None or (len(c.args) > 3 and c.args[3] is not None):
            raise _Unsupported("argument 'dtype' is not supported")
        return Emit(op, [x], {"dim": dim})

    return handle


def _std(op: str) -> Handler:
    def handle(c: Call) -> Result:
        x = c.tensor(0)
        c.check_unused(["input", "dim", "unbiased", "keepdim", "correction"])
        attrs = _dropped({"dim": _plain(c.get(1, "dim", None)), "keepdim": c.get(3, "keepdim", None)})
        unbiased = c.get(2, "unbiased", None)
        correction = c.kwargs.get("correction")
        if correction is not None:
            if correction not in (0, 1):
                raise _Unsupported(f"correction={correction!r} (netdsl has unbiased: 1 or 0)")
            unbiased = correction == 1
        if unbiased is not None:
            attrs["unbiased"] = bool(unbiased)
        return Emit(op, [x], attrs)

    return handle

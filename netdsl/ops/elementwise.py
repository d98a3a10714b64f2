"""Elementwise ops: activations, arithmetic with broadcasting, comparisons, masking."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, Literal

from ..types import TensorType, is_float, promote
from .base import Attrs, NoAttrs, OpDef, broadcast, fail, need_float, norm_dim, register


def torch_fn(path: str) -> Callable[..., Any]:
    """Look up a function of torch by its dotted path (fixed strings of the registry only)."""
    import torch

    obj: Any = torch
    for part in path.split(".")[1:]:
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def _unary(
    name: str,
    fn: str,
    doc: str,
    family: str = "activation",
    attrs: type[Attrs] = NoAttrs,
    floats: bool = True,
) -> None:
    def infer(a: Attrs, ins: list[TensorType]) -> list[TensorType]:
        if floats:
            need_float(ins[0], what=f"the input of {name}")
        return [ins[0]]

    def lower(ctx: Any, a: Attrs, args: list[Any]) -> Any:
        return ctx.fn(torch_fn(fn), *args, **a.model_dump())

    register(
        OpDef(
            name=name,
            family=family,
            doc=doc,
            attrs=attrs,
            infer=infer,
            lower=lower,
        )
    )


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


class LeakyReluAttrs(Attrs):
    negative_slope: float | int = 0.01


_unary("relu", "torch.relu", "max(x, 0).", floats=False)
_unary(
    "gelu",
    "torch.nn.functional.gelu",
    "Gaussian error linear unit (exact erf form by default).",
    attrs=GeluAttrs,
)
_unary("sigmoid", "torch.sigmoid", "1 / (1 + exp(-x)).")
_unary("tanh", "torch.tanh", "Hyperbolic tangent.")
_unary("silu", "torch.nn.functional.silu", "x * sigmoid(x) (swish).")
_unary(
    "leaky_relu",
    "torch.nn.functional.leaky_relu",
    "max(x, 0) + negative_slope * min(x, 0).",
    attrs=LeakyReluAttrs,
)
_unary("exp", "torch.exp", "Elementwise exponential.", family="elementwise")
_unary("log", "torch.log", "Elementwise natural logarithm.", family="elementwise")
_unary("sqrt", "torch.sqrt", "Elementwise square root.", family="elementwise")
_unary("abs", "torch.abs", "Elementwise absolute value.", family="elementwise", floats=False)
_unary("neg", "torch.neg", "Elementwise negation.", family="elementwise", floats=False)


def _identity_lower(ctx: Any, a: Attrs, args: list[Any]) -> Any:
    return args[0]


register(
    OpDef(
        name="identity",
        family="reshape",
        doc="Passes its input through (a named tap).",
        attrs=NoAttrs,
        infer=lambda a, ins: [ins[0]],
        lower=_identity_lower,
    )
)


class SoftmaxAttrs(Attrs):
    dim: int


def _softmax(name: str, fn: str, doc: str) -> None:
    def infer(a: SoftmaxAttrs, ins: list[TensorType]) -> list[TensorType]:
        need_float(ins[0], what=f"the input of {name}")
        norm_dim(a.dim, ins[0].rank)
        return [ins[0]]

    def lower(ctx: Any, a: SoftmaxAttrs, args: list[Any]) -> Any:
        return ctx.fn(torch_fn(fn), args[0], dim=a.dim)

    register(
        OpDef(
            name=name,
            family="attention",
            doc=doc,
            attrs=SoftmaxAttrs,
            infer=infer,
            lower=lower,
            macs=lambda a, ins, outs: outs[0].numel(),
        )
    )


_softmax("softmax", "torch.softmax", "Softmax along an explicit `dim`.")
_softmax("log_softmax", "torch.log_softmax", "Log-softmax along an explicit `dim`.")

# ---------------------------------------------------------------- arithmetic

Number = float | int


class ArithAttrs(Attrs):
    other: Number | None = None


_ARITH: dict[str, tuple[Callable[[Any, Any], Any], str, bool]] = {
    # name: (operator, doc, associative: takes any number of tensors)
    "add": (operator.add, "Sum of the inputs (and `other`), broadcasting.", True),
    "mul": (operator.mul, "Product of the inputs (and `other`), broadcasting.", True),
    "sub": (operator.sub, "x - y (or x - other), broadcasting.", False),
    "div": (operator.truediv, "x / y (or x / other), broadcasting.", False),
    "pow": (operator.pow, "x ** y (or x ** other), broadcasting.", False),
}


def _make_arith(name: str, op: Callable[[Any, Any], Any], doc: str, assoc: bool) -> None:
    def infer(a: ArithAttrs, ins: list[TensorType]) -> list[TensorType]:
        operands = len(ins) + (a.other is not None)
        if operands < 2 or (not assoc and operands != 2):
            want = "two or more operands" if assoc else "exactly two operands"
            raise fail(f"{name} needs {want} (inputs plus `other`), got {operands}")
        if a.other is not None and not math.isfinite(a.other) and name in ("div", "pow"):
            raise fail(f"`other` must be finite for {name}, got {a.other}")
        if name == "div" and a.other == 0:
            raise fail("division by a constant 0")
        shape = broadcast([t.shape for t in ins])
        dtype = promote([t.dtype for t in ins], a.other)
        if name == "div" and not is_float(dtype):
            dtype = "float32"  # true division
        return [TensorType(shape, dtype)]

    def lower(ctx: Any, a: ArithAttrs, args: list[Any]) -> Any:
        acc = args[0]
        for x in args[1:]:
            acc = ctx.fn(op, acc, x)
        if a.other is not None:
            acc = ctx.fn(op, acc, a.other)
        return acc

    register(
        OpDef(
            name=name,
            family="elementwise",
            doc=doc,
            attrs=ArithAttrs,
            infer=infer,
            lower=lower,
            variadic=True,
            macs=lambda a, ins, outs: outs[0].numel() * (len(ins) - 1 + (a.other is not None)),
        )
    )


for _name, (_op, _doc, _assoc) in _ARITH.items():
    _make_arith(_name, _op, _doc, _assoc)


class CompareAttrs(Attrs):
    other: Number | bool | None = None


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _make_compare(name: str, op: Callable[[Any, Any], Any]) -> None:
    def infer(a: CompareAttrs, ins: list[TensorType]) -> list[TensorType]:
        if len(ins) + (a.other is not None) != 2:
            raise fail(f"{name} compares exactly two operands (two inputs, or one input and `other`)")
        return [TensorType(broadcast([t.shape for t in ins]), "bool")]

    def lower(ctx: Any, a: CompareAttrs, args: list[Any]) -> Any:
        rhs = args[1] if len(args) > 1 else a.other
        return ctx.fn(op, args[0], rhs)

    register(
        OpDef(
            name=name,
            family="elementwise",
            doc=f"Elementwise comparison x {name} y, a bool tensor.",
            attrs=CompareAttrs,
            infer=infer,
            lower=lower,
            inputs=("x", "y"),
            optional_inputs=1,
        )
    )


for _name, _cmp in _COMPARE.items():
    _make_compare(_name, _cmp)


class MaskedFillAttrs(Attrs):
    value: Number


def _masked_fill_infer(a: MaskedFillAttrs, ins: list[TensorType]) -> list[TensorType]:
    x, mask = ins
    if mask.dtype != "bool":
        raise fail(f"the mask must be a bool tensor, got {mask.dtype} (make one with op eq/ne/...)")
    shape = broadcast([x.shape, mask.shape])
    if shape != x.shape:
        raise fail(f"mask of shape {mask} does not broadcast to the input's shape {x}")
    return [x]


def _masked_fill_lower(ctx: Any, a: MaskedFillAttrs, args: list[Any]) -> Any:
    return ctx.method("masked_fill", args[0], args[1], a.value)


register(
    OpDef(
        name="masked_fill",
        family="attention",
        doc="x where mask is False, `value` where it is True.",
        attrs=MaskedFillAttrs,
        infer=_masked_fill_infer,
        lower=_masked_fill_lower,
        inputs=("x", "mask"),
    )
)

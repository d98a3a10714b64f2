"""Elementwise ops: activations, arithmetic with broadcasting, comparisons, masking."""

import math
import operator
from collections.abc import Callable
from typing import Any, Literal

from pydantic import model_validator

from netdsl.core.types import (
    DTYPES,
    FLOAT_MAX,
    FLOATS,
    NUMERIC,
    TensorType,
    float_result,
    is_float,
    promote,
    scalar_fits,
)
from netdsl.ops.base import (
    Attrs,
    Finite,
    NoAttrs,
    OpDef,
    PositiveFinite,
    Scalar,
    broadcast,
    fail,
    norm_dim,
    register,
)


def _same(dtype: str) -> str:
    return dtype


def _unary(
    name: str,
    doc: str,
    family: str = "activation",
    attrs: type[Attrs] = NoAttrs,
    dtypes: tuple[str, ...] = FLOATS,
    out: Callable[[str], str] = _same,
    check: Callable[[Any, TensorType], None] | None = None,
) -> None:
    """An elementwise function of one tensor; ``out`` maps the input dtype to the output's."""

    def infer(a: Attrs, ins: list[TensorType]) -> list[TensorType]:
        if check is not None:
            check(a, ins[0])
        return [TensorType(ins[0].shape, out(ins[0].dtype))]

    register(
        OpDef(
            name=name,
            family=family,
            doc=doc,
            attrs=attrs,
            infer=infer,
            dtypes=dtypes,
        )
    )


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


class LeakyReluAttrs(Attrs):
    negative_slope: Finite = 0.01


def _slope_fits(a: LeakyReluAttrs, x: TensorType) -> None:
    """torch converts the slope to float32 for every input dtype but float64."""
    if x.dtype != "float64" and not scalar_fits(a.negative_slope, "float32"):
        raise fail(
            f"negative_slope {a.negative_slope} overflows float32 (largest {FLOAT_MAX['float32']:.6g}), "
            f"which torch converts it to for a {x.dtype} input"
        )


_unary("relu", "max(x, 0).", dtypes=NUMERIC)
_unary(
    "gelu",
    "Gaussian error linear unit (exact erf form by default).",
    attrs=GeluAttrs,
)
_unary(
    "sigmoid",
    "1 / (1 + exp(-x)); float32 for integer inputs.",
    dtypes=DTYPES,
    out=float_result,
)
_unary("tanh", "Hyperbolic tangent; float32 for integer inputs.", dtypes=DTYPES, out=float_result)
_unary("silu", "x * sigmoid(x) (swish).")
_unary("relu6", "min(max(x, 0), 6) (torch.nn.functional.relu6; MobileNetV2).", dtypes=NUMERIC)
_unary("hardsigmoid", "relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid; MobileNetV3).")
_unary("hardswish", "x * relu6(x + 3) / 6 (torch.nn.functional.hardswish; MobileNetV3).")
_unary(
    "leaky_relu",
    "max(x, 0) + negative_slope * min(x, 0).",
    attrs=LeakyReluAttrs,
    check=_slope_fits,
)


class SoftplusAttrs(Attrs):
    beta: PositiveFinite = 1
    threshold: Finite = 20


_unary(
    "softplus",
    "log(1 + exp(beta * x)) / beta, linear above `threshold` (torch.nn.functional.softplus).",
    attrs=SoftplusAttrs,
)
_unary("mish", "x * tanh(softplus(x)) (torch.nn.functional.mish).")
for _name, _what in (("exp", "exponential"), ("log", "natural logarithm"), ("sqrt", "square root")):
    _unary(
        _name,
        f"Elementwise {_what}; float32 for integer inputs.",
        family="elementwise",
        dtypes=DTYPES,
        out=float_result,
    )
_unary(
    "erf",
    "Gauss error function (torch.erf); float32 for integer and bool inputs.",
    family="elementwise",
    dtypes=DTYPES,
    out=float_result,
)
_unary("abs", "Elementwise absolute value.", family="elementwise", dtypes=NUMERIC)
_unary("neg", "Elementwise negation.", family="elementwise", dtypes=NUMERIC)


register(
    OpDef(
        name="identity",
        family="reshape",
        doc="Passes its input through (a named tap).",
        attrs=NoAttrs,
        infer=lambda a, ins: [ins[0]],
    )
)


class SoftmaxAttrs(Attrs):
    dim: int


def _softmax(name: str, doc: str) -> None:
    def infer(a: SoftmaxAttrs, ins: list[TensorType]) -> list[TensorType]:
        norm_dim(a.dim, ins[0].rank)
        return [ins[0]]

    register(
        OpDef(
            name=name,
            family="attention",
            doc=doc,
            attrs=SoftmaxAttrs,
            infer=infer,
            macs=lambda a, ins, outs: outs[0].numel(),
            dtypes=FLOATS,
        )
    )


_softmax("softmax", "Softmax along an explicit `dim`.")
_softmax("log_softmax", "Log-softmax along an explicit `dim`.")

# ---------------------------------------------------------------- arithmetic


class ArithAttrs(Attrs):
    other: Scalar | None = None


ArithCheck = Callable[[ArithAttrs, list[TensorType], str], None]


def _div_check(a: ArithAttrs, ins: list[TensorType], dtype: str) -> None:
    if a.other is not None and not math.isfinite(a.other):
        raise fail(f"`other` must be finite for div, got {a.other}")
    if a.other == 0:
        raise fail("division by a constant 0")


def _pow_check(a: ArithAttrs, ins: list[TensorType], dtype: str) -> None:
    """What torch refuses of x ** y: bool ** bool, integers to negative integer powers, and an
    exponent that overflows the result dtype it is converted to."""
    if a.other is None:
        if all(t.dtype == "bool" for t in ins):
            raise fail("pow of two bool tensors is not supported by torch", hint="make one of them int64")
        return
    if not math.isfinite(a.other):
        raise fail(f"`other` must be finite for pow, got {a.other}")
    if not is_float(dtype) and a.other < 0:
        raise fail(
            f"pow of {ins[0].dtype} to the negative integer power {a.other}: torch does not allow "
            "integers to negative integer powers",
            hint=f"use a float exponent (other: {float(a.other)}) for a float32 result",
        )
    if dtype in ("float16", "bfloat16", "int32") and not scalar_fits(a.other, dtype):
        raise fail(f"the exponent {a.other} overflows {dtype}, the dtype torch converts it to here")


_ARITH: dict[str, tuple[Callable[[Any, Any], Any], str, bool, tuple[str, ...], ArithCheck | None]] = {
    # name: (operator, doc, associative: takes any number of tensors, input dtypes, extra rule)
    "add": (operator.add, "Sum of the inputs (and `other`), broadcasting.", True, DTYPES, None),
    "mul": (operator.mul, "Product of the inputs (and `other`), broadcasting.", True, DTYPES, None),
    "sub": (operator.sub, "x - y (or x - other), broadcasting.", False, NUMERIC, None),
    "div": (
        operator.truediv,
        "x / y (or x / other), broadcasting; true division (float32 for integers).",
        False,
        DTYPES,
        _div_check,
    ),
    "pow": (
        operator.pow,
        "x ** y (or x ** other), broadcasting; not bool ** bool, nor integers ** negative integers.",
        False,
        DTYPES,
        _pow_check,
    ),
}


def _make_arith(
    name: str,
    op: Callable[[Any, Any], Any],
    doc: str,
    assoc: bool,
    dtypes: tuple[str, ...],
    check: ArithCheck | None,
) -> None:
    true_division = op is operator.truediv

    def infer(a: ArithAttrs, ins: list[TensorType]) -> list[TensorType]:
        operands = len(ins) + (a.other is not None)
        if operands < 2 or (not assoc and operands != 2):
            want = "two or more operands" if assoc else "exactly two operands"
            raise fail(f"{name} needs {want} (inputs plus `other`), got {operands}")
        shape = broadcast([t.shape for t in ins])
        dtype = promote([t.dtype for t in ins], a.other)
        if check is not None:
            check(a, ins, dtype)
        if true_division:
            dtype = float_result(dtype)
        return [TensorType(shape, dtype)]

    register(
        OpDef(
            name=name,
            family="elementwise",
            doc=doc,
            attrs=ArithAttrs,
            infer=infer,
            variadic=True,
            macs=lambda a, ins, outs: outs[0].numel() * (len(ins) - 1 + (a.other is not None)),
            dtypes=dtypes,
        )
    )


for _name, (_op, _doc, _assoc, _dtypes, _check) in _ARITH.items():
    _make_arith(_name, _op, _doc, _assoc, _dtypes, _check)


class CompareAttrs(Attrs):
    other: Scalar | bool | None = None


#: the comparisons and the Python operators they lower to
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _make_compare(name: str) -> None:
    def infer(a: CompareAttrs, ins: list[TensorType]) -> list[TensorType]:
        if len(ins) + (a.other is not None) != 2:
            raise fail(f"{name} compares exactly two operands (two inputs, or one input and `other`)")
        return [TensorType(broadcast([t.shape for t in ins]), "bool")]

    register(
        OpDef(
            name=name,
            family="elementwise",
            doc=f"Elementwise comparison x {name} y, a bool tensor.",
            attrs=CompareAttrs,
            infer=infer,
            inputs=("x", "y"),
            optional_inputs=1,
        )
    )


for _name in _COMPARE:
    _make_compare(_name)


class MaskedFillAttrs(Attrs):
    value: Scalar


def _masked_fill_infer(a: MaskedFillAttrs, ins: list[TensorType]) -> list[TensorType]:
    x, mask = ins
    if not scalar_fits(a.value, x.dtype):
        raise fail(f"value {a.value} does not fit the input's dtype {x.dtype}")
    shape = broadcast([x.shape, mask.shape])
    if shape != x.shape:
        raise fail(f"mask of shape {mask} does not broadcast to the input's shape {x}")
    return [x]


register(
    OpDef(
        name="masked_fill",
        family="attention",
        doc="x where mask is False, `value` where it is True; `value` must fit the dtype of x.",
        attrs=MaskedFillAttrs,
        infer=_masked_fill_infer,
        inputs=("x", "mask"),
        input_dtypes={"mask": ("bool",)},
    )
)


# ---------------------------------------------------------------- clamp and where


def _no_nan(v: float | int | None, name: str) -> None:
    if v is not None and v != v:
        raise ValueError(f"{name} must not be NaN")


class ClampAttrs(Attrs):
    min: Scalar | None = None
    max: Scalar | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "ClampAttrs":
        if self.min is None and self.max is None:
            raise ValueError("clamp needs `min`, `max` or both")
        _no_nan(self.min, "min")
        _no_nan(self.max, "max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


def _clamp_bound(a: ClampAttrs) -> float | int:
    """The bound that decides the result dtype with the input's: a float one if any (torch promotes
    an integer or bool tensor clamped by a float to float32)."""
    bounds = [b for b in (a.min, a.max) if b is not None]
    return next((b for b in bounds if isinstance(b, float)), bounds[0])


def _clamp_infer(a: ClampAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    dtype = promote([x.dtype], _clamp_bound(a))
    for name, b in (("min", a.min), ("max", a.max)):
        if b is not None and not scalar_fits(b, dtype):
            raise fail(f"{name} {b} overflows {dtype}, the dtype torch converts it to here")
    return [TensorType(x.shape, dtype)]


register(
    OpDef(
        name="clamp",
        family="activation",
        doc="min(max(x, min), max) with `min`, `max` or both (torch.clamp); an integer or bool input "
        "promotes as torch does (float32 with a float bound, int64 for bool with integer bounds).",
        attrs=ClampAttrs,
        infer=_clamp_infer,
    )
)


class WhereAttrs(Attrs):
    other: Scalar | bool | None = None


def _where_infer(a: WhereAttrs, ins: list[TensorType]) -> list[TensorType]:
    if (len(ins) == 3) == (a.other is not None):
        raise fail("where takes y as a third input or as the constant `other`, exactly one of them")
    values = ins[1:]
    shape = broadcast([t.shape for t in ins])
    dtype = promote([t.dtype for t in values], a.other)
    # torch converts `other` to the result dtype; it checks the range but for float16 and bfloat16
    if a.other is not None and dtype not in ("float16", "bfloat16") and not scalar_fits(a.other, dtype):
        raise fail(f"other {a.other} overflows {dtype}, the dtype torch converts it to here")
    return [TensorType(shape, dtype)]


register(
    OpDef(
        name="where",
        family="elementwise",
        doc="x where condition is True, else y (a third input or the constant `other`), broadcasting "
        "(torch.where); the dtype of x and y promoted.",
        attrs=WhereAttrs,
        infer=_where_infer,
        inputs=("condition", "x", "y"),
        optional_inputs=1,
        input_dtypes={"condition": ("bool",)},
    )
)

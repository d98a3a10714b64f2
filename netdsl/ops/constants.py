"""Ops that make tensors from their attributes (arange, full, zeros, ones), casts, and `buffer`,
which stores a constant in the state_dict. A node whose value depends on no input tensor and no
input size is a *constant*: it is computed once, when the module is built (see
:mod:`netdsl.passes.constants`); with a size from the input (`end: H`) it is computed in forward.

Default dtypes are torch's: arange of ints is int64; full's dtype follows its value (bool: bool,
int: int64, float: float32); zeros and ones are float32."""

import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import model_validator

from netdsl.core.symbolic import Sym
from netdsl.core.symbolic_proofs import provably_nonnegative
from netdsl.core.types import DTYPES, INT_RANGE, ParamSpec, TensorType, scalar_fits
from netdsl.ops.base import OpDef, _rule, fail, register, shp
from netdsl.ops.shape_ops import DimAttrs, DimList, as_sym

Dtype = Literal["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]
#: an int torch takes as an int64 Scalar
Int64 = Annotated[int, _rule(lambda v: INT_RANGE["int64"][0] <= v <= INT_RANGE["int64"][1], "an int64")]
#: a fill value: bool, or a number torch takes as a Scalar (integers must fit in int64)
FillValue = Annotated[
    bool | float | int,
    _rule(
        lambda v: isinstance(v, float) or INT_RANGE["int64"][0] <= v <= INT_RANGE["int64"][1],
        "a bool, a float or an integer that fits in int64",
    ),
]
#: the most elements of a tensor of static shape made at build time (as `op: parameter`)
MAX_NUMEL = 1 << 31


def _check_size(shape: list[Sym], what: str) -> None:
    if len(shape) > 8:
        raise fail(f"{what} shape {shp(shape)} has more than 8 dims")
    if any(d.is_const and d.value < 0 for d in shape):
        raise fail(f"{what} shape {shp(shape)} has a negative size")
    for d in shape:
        if not d.is_const and not provably_nonnegative(d):
            raise fail(
                f"{what} shape {shp(shape)}: cannot prove {d} >= 0 for every input size",
                hint="torch refuses a negative size at run time: write a size that cannot be negative "
                "(e.g. max(0, H - 3), or pad first)",
            )
    if all(d.is_const for d in shape) and math.prod(d.value for d in shape) > MAX_NUMEL:
        raise fail(f"{what} shape {shp(shape)} is too large (more than {MAX_NUMEL} elements)")


class ArangeAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("end",)
    end: DimList | int | str
    start: Int64 = 0
    step: Int64 = 1
    dtype: Dtype = "int64"

    @model_validator(mode="before")
    @classmethod
    def _end_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and "end" in data and not isinstance(data["end"], list):
            data = {**data, "end": [data["end"]]}  # (a dim field is a list: one entry)
        return data

    @model_validator(mode="after")
    def _one_end(self) -> "ArangeAttrs":
        assert isinstance(self.end, list)
        if len(self.end) != 1:
            raise ValueError("`end` is one size (an int or a dim expression such as 'H')")
        if self.step == 0:
            raise ValueError("`step` must not be 0")
        if self.dtype == "bool":
            raise ValueError("arange makes no bool tensors (torch has no bool arange)")
        return self


def _arange_infer(a: ArangeAttrs, ins: list[TensorType]) -> list[TensorType]:
    assert isinstance(a.end, list)
    end = as_sym(a.end[0])
    if not end.is_const:
        if a.step != 1:
            raise fail(f"arange to a size from the input ({end}) takes step 1, got step {a.step}")
        if not provably_nonnegative(end - a.start):
            raise fail(
                f"arange from {a.start} to {end}: cannot prove {end} >= {a.start} for every input size",
                hint="torch refuses an end before the start: start at 0, or make sure of the end",
            )
        return [TensorType((end - a.start,), a.dtype)]
    stop = end.value
    if not scalar_fits(stop, "int64"):
        raise fail(f"arange end {stop} does not fit int64")
    if stop != a.start and (stop > a.start) != (a.step > 0):  # torch's "inconsistent with step sign"
        raise fail(f"arange from {a.start} to {stop} with step {a.step} never reaches its end")
    n = -((a.start - stop) // a.step)  # ceil((end - start) / step)
    _check_size([Sym.const(n)], "arange")
    last = a.start + (n - 1) * a.step
    if n and not (scalar_fits(a.start, a.dtype) and scalar_fits(last, a.dtype)):
        raise fail(f"arange from {a.start} to {last} does not fit {a.dtype}")  # torch wraps or gives inf
    return [TensorType.of([n], a.dtype)]


register(
    OpDef(
        name="arange",
        family="constant",
        doc="1-d ramp start, start + step, ... below `end` (torch.arange); `end` may be a dim such as "
        "'H' (then computed in forward, with step 1); int64 by default, any dtype but bool (its values "
        "must fit it).",
        attrs=ArangeAttrs,
        infer=_arange_infer,
        inputs=(),
        creates=True,
    )
)


class FilledAttrs(DimAttrs):
    """zeros, ones: a `shape` and a `dtype` (float32 by default, as torch.zeros / torch.ones)."""

    dim_fields: ClassVar[tuple[str, ...]] = ("shape",)
    shape: DimList
    dtype: Dtype = "float32"


class FullAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("shape",)
    shape: DimList
    value: FillValue
    dtype: Dtype | None = None


#: the value each op without a `value` attribute fills with
FILLS: dict[str, float] = {"zeros": 0.0, "ones": 1.0}


def fill_value(op: str, a: FullAttrs | FilledAttrs) -> bool | float | int:
    return a.value if isinstance(a, FullAttrs) else FILLS[op]


def fill_dtype(a: FullAttrs | FilledAttrs) -> str:
    """torch.full's dtype: the given one, else from the value (bool, int64, float32)."""
    if a.dtype is not None:
        return a.dtype
    assert isinstance(a, FullAttrs)
    v = a.value
    return "bool" if isinstance(v, bool) else "int64" if isinstance(v, int) else "float32"


def _fill_infer(op: str) -> Callable[[Any, list[TensorType]], list[TensorType]]:
    def infer(a: FullAttrs | FilledAttrs, ins: list[TensorType]) -> list[TensorType]:
        shape = [as_sym(d) for d in a.shape]
        _check_size(shape, op)
        dtype = fill_dtype(a)
        value = fill_value(op, a)
        if not scalar_fits(value, dtype):
            raise fail(f"value {value!r} does not fit {dtype}")
        return [TensorType(tuple(shape), dtype)]

    return infer


for _name, _attrs, _doc in (
    (
        "full",
        FullAttrs,
        "A tensor of `shape` filled with `value` (torch.full; dtype from the value by default: bool, "
        "int64 or float32).",
    ),
    ("zeros", FilledAttrs, "A tensor of `shape` filled with 0 (torch.zeros; float32 by default)."),
    ("ones", FilledAttrs, "A tensor of `shape` filled with 1 (torch.ones; float32 by default)."),
):
    register(
        OpDef(
            name=_name,
            family="constant",
            doc=_doc,
            attrs=_attrs,
            infer=_fill_infer(_name),
            inputs=(),
            creates=True,
        )
    )


class CastAttrs(DimAttrs):
    dtype: Dtype


def _cast_infer(a: CastAttrs, ins: list[TensorType]) -> list[TensorType]:
    return [TensorType(ins[0].shape, a.dtype)]


register(
    OpDef(
        name="cast",
        family="constant",
        doc="x converted to `dtype` (Tensor.to).",
        attrs=CastAttrs,
        infer=_cast_infer,
        dtypes=DTYPES,
    )
)


class BufferAttrs(DimAttrs):
    persistent: bool = True


def _buffer_infer(a: BufferAttrs, ins: list[TensorType]) -> list[TensorType]:
    if not all(d.is_const for d in ins[0].shape):
        raise fail(
            f"a buffer holds a constant of a fixed shape; its input has shape {shp(ins[0])}",
            hint="a value that depends on the input's size is computed in forward: use it without `buffer`",
        )
    return [ins[0]]


register(
    OpDef(
        name="buffer",
        family="constant",
        doc="Stores its input, a constant computed when the module is built, as a buffer at the node's "
        "path (in the state_dict unless `persistent: false`): torchvision's relative_position_index.",
        attrs=BufferAttrs,
        infer=_buffer_infer,
        params=lambda a, ins: {"": ParamSpec(tuple(Sym.of(d) for d in ins[0].shape), "buffer")},
        warn_if_unused=False,
        constant_input=True,
    )
)

"""Static tensor types: a shape of symbolic dims and a dtype (torch-free)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from netdsl.core.symbolic import Sym, format_shape

DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
FLOATS = ("float16", "bfloat16", "float32", "float64")
NUMERIC = tuple(d for d in DTYPES if d != "bool")  # every dtype but bool
_ONE = Sym.const(1)
_RANK = {"bool": 0, "int32": 1, "int64": 2, "float16": 3, "bfloat16": 3, "float32": 4, "float64": 5}

#: the largest finite value of each floating dtype
FLOAT_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}
#: the value range of each integer dtype
INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def float_result(dtype: str) -> str:
    """The dtype of a floating-point function (exp, sigmoid, ...) of a ``dtype`` tensor: ints and bool
    become the default float32."""
    return dtype if is_float(dtype) else "float32"


def scalar_fits(value: float | int, dtype: str) -> bool:
    """Whether torch converts the Python number ``value`` to ``dtype`` without its overflow error
    ("value cannot be converted to type ... without overflow"), as c10's ``overflows``: infinities
    and NaN fit a floating dtype, no integer dtype; finite values must lie in the dtype's range
    (a float is compared with the integer limits as a double)."""
    if dtype == "bool":
        return True
    if dtype in FLOAT_MAX:
        return not math.isfinite(value) or abs(value) <= FLOAT_MAX[dtype]
    lo, hi = INT_RANGE[dtype]
    if isinstance(value, float):
        return math.isfinite(value) and float(lo) <= value <= float(hi)
    return lo <= value <= hi


def dtype_list(dtypes: Sequence[str]) -> str:
    """Dtypes for messages and docs, in the order of :data:`DTYPES`."""
    return ", ".join(d for d in DTYPES if d in dtypes)


def promote(dtypes: Sequence[str], scalar: object = None) -> str:
    """torch's result dtype of an elementwise op on tensors of ``dtypes`` (and a Python scalar)."""
    tensors = list(dtypes)
    if {"float16", "bfloat16"} <= set(tensors):
        tensors.append("float32")
    best = max(tensors, key=lambda d: _RANK[d])
    if isinstance(scalar, float) and not is_float(best):
        return "float32"
    if isinstance(scalar, int) and not isinstance(scalar, bool) and best == "bool":
        return "int64"
    return best


_sym_of = Sym.of


def prod(dims: Sequence[Sym | int]) -> Sym:
    """The product of dims (symbolic)."""
    n = _ONE
    for d in dims:
        n = n * d
    return n


@dataclass(frozen=True)
class TensorType:
    """The statically known type of one tensor."""

    shape: tuple[Sym, ...]
    dtype: str = "float32"

    @staticmethod
    def of(shape: Sequence[Sym | int], dtype: str = "float32") -> TensorType:
        return TensorType(tuple(map(_sym_of, shape)), dtype)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def numel(self) -> Sym:
        return prod(self.shape)

    def with_shape(self, shape: Sequence[Sym | int]) -> TensorType:
        return TensorType(tuple(map(_sym_of, shape)), self.dtype)

    def __str__(self) -> str:
        return format_shape(self.shape)


@dataclass(frozen=True)
class ParamSpec:
    """A parameter or buffer an op owns: its shape, and whether it is trained."""

    shape: tuple[Sym, ...]
    kind: Literal["parameter", "buffer"] = "parameter"

    @property
    def numel(self) -> Sym:
        return prod(self.shape)

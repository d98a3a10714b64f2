"""Static tensor types: a shape of symbolic dims and a dtype (torch-free)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .symbolic import Sym, format_shape

DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
FLOATS = ("float16", "bfloat16", "float32", "float64")
_RANK = {"bool": 0, "int32": 1, "int64": 2, "float16": 3, "bfloat16": 3, "float32": 4, "float64": 5}


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


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


def prod(dims: Sequence[Sym | int]) -> Sym:
    """The product of dims (symbolic)."""
    n = Sym.const(1)
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
        return TensorType(tuple(Sym.of(d) for d in shape), dtype)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def numel(self) -> Sym:
        return prod(self.shape)

    def with_shape(self, shape: Sequence[Sym | int]) -> TensorType:
        return TensorType(tuple(Sym.of(d) for d in shape), self.dtype)

    def __str__(self) -> str:
        return format_shape(self.shape)


@dataclass(frozen=True)
class ParamSpec:
    """A parameter or buffer an op owns: its shape, and whether it is trained."""

    shape: tuple[Sym, ...]
    kind: str = "parameter"  # or "buffer"

    @property
    def numel(self) -> Sym:
        return prod(self.shape)

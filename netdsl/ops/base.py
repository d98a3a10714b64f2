"""The op registry: every primitive op is defined once, here and in its family module.

An :class:`OpDef` carries everything the passes need about an op: the pydantic
schema of its attributes, the static shape rule, the parameters it owns, the
lowering to torch.fx and the MAC count.  Passes look ops up in :data:`REGISTRY`;
nothing else in netdsl switches on op names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..errors import ShapeError
from ..symbolic import Sym, format_shape
from ..types import ParamSpec, TensorType

if TYPE_CHECKING:
    from ..lower import LowerCtx

FAMILIES = (
    "linear",
    "conv",
    "norm",
    "activation",
    "attention",
    "elementwise",
    "reduce",
    "pool",
    "reshape",
    "parameter",
    "regularization",
)


class Attrs(BaseModel):
    """Base of every op's attribute schema: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoAttrs(Attrs):
    pass


InferFn = Callable[[Any, list[TensorType]], list[TensorType]]
ParamsFn = Callable[[Any, list[TensorType]], dict[str, ParamSpec]]
MacsFn = Callable[[Any, list[TensorType], list[TensorType]], Sym]
LowerFn = Callable[["LowerCtx", Any, list[Any]], Any]


@dataclass(frozen=True)
class OpDef:
    """Definition of one primitive op."""

    name: str
    family: str
    doc: str
    attrs: type[Attrs]
    infer: InferFn
    lower: LowerFn
    inputs: tuple[str, ...] = ("x",)
    optional_inputs: int = 0  # how many trailing inputs may be left out
    variadic: bool = False  # takes a list of >= 1 inputs (cat, stack, add ...)
    params: ParamsFn | None = None
    macs: MacsFn | None = None
    outputs: Callable[[Any], int] = field(default=lambda _a: 1)

    def param_specs(self, attrs: Attrs, ins: list[TensorType]) -> dict[str, ParamSpec]:
        return self.params(attrs, ins) if self.params else {}

    def mac_count(self, attrs: Attrs, ins: list[TensorType], outs: list[TensorType]) -> Sym:
        return self.macs(attrs, ins, outs) if self.macs else Sym.const(0)

    def arity_ok(self, n: int) -> bool:
        if self.variadic:
            return n >= 1
        return len(self.inputs) - self.optional_inputs <= n <= len(self.inputs)

    def arity_text(self) -> str:
        if self.variadic:
            return "one or more inputs"
        lo, hi = len(self.inputs) - self.optional_inputs, len(self.inputs)
        names = ", ".join(self.inputs)
        count = f"{lo}" if lo == hi else f"{lo} to {hi}"
        return f"{count} input{'s' if hi != 1 else ''} ({names})"


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in REGISTRY:
        raise RuntimeError(f"op {op.name!r} registered twice")
    if op.family not in FAMILIES:
        raise RuntimeError(f"op {op.name!r}: unknown family {op.family!r}")
    REGISTRY[op.name] = op
    return op


# ---------------------------------------------------------------- shape helpers


def fail(message: str, hint: str | None = None) -> ShapeError:
    return ShapeError(message, hint=hint)


def shp(t: TensorType | Sequence[Sym | int]) -> str:
    return format_shape(t.shape if isinstance(t, TensorType) else t)


def need_rank(x: TensorType, ranks: Sequence[int], what: str = "input") -> None:
    if x.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise fail(f"{what} must have rank {want}, got shape {shp(x)} (rank {x.rank})")


def need_min_rank(x: TensorType, rank: int, what: str = "input") -> None:
    if x.rank < rank:
        raise fail(f"{what} must have rank >= {rank}, got shape {shp(x)}")


def need_float(*types: TensorType, what: str = "input") -> None:
    from ..types import is_float

    for t in types:
        if not is_float(t.dtype):
            raise fail(f"{what} must be a floating-point tensor, got {t.dtype} {shp(t)}")


def norm_dim(dim: int, rank: int, what: str = "dim") -> int:
    if not -rank <= dim < max(rank, 1):
        raise fail(f"{what} {dim} is out of range for a tensor of rank {rank} (valid: {-rank}..{rank - 1})")
    return dim % rank if rank else 0


def same_dim(a: Sym, b: Sym | int, message: str) -> None:
    if Sym.of(a) != Sym.of(b):
        raise fail(message)


def broadcast(shapes: Sequence[tuple[Sym, ...]]) -> tuple[Sym, ...]:
    """NumPy broadcasting over symbolic shapes; dims must be equal or 1."""
    rank = max(len(s) for s in shapes)
    out: list[Sym] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        chosen = Sym.const(1)
        for d in dims:
            if d == 1:
                continue
            if chosen == 1:
                chosen = d
            elif chosen != d:
                listed = " and ".join(format_shape(s) for s in shapes)
                raise fail(f"shapes {listed} do not broadcast: dim {i - rank} is {chosen} vs {d}")
        out.append(chosen)
    return tuple(out)


def positive(d: Sym, what: str) -> None:
    if d.is_const and d.value <= 0:
        raise fail(f"{what} would be {d.value} (must be >= 1): the input is too small")


IntOrList = int | list[int]


def int_tuple(v: IntOrList, n: int, name: str) -> tuple[int, ...]:
    """An attribute given as one int or as one int per spatial dim, as an n-tuple."""
    if isinstance(v, int):
        return (v,) * n
    if len(v) != n:
        raise fail(f"{name} must be one int or a list of {n} ints, got {v}")
    return tuple(v)


def same_type(_attrs: Any, ins: list[TensorType]) -> list[TensorType]:
    return [ins[0]]

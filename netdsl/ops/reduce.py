"""Reductions, matrix products, pooling and resampling."""

import math
from collections.abc import Callable
from typing import Literal

from pydantic import model_validator

from netdsl.core.symbolic import Sym
from netdsl.core.types import DTYPES, FLOATS, NUMERIC, TensorType, float_result, is_float
from netdsl.ops.base import (
    GEOMETRY_MAX,
    Attrs,
    IntOrList,
    NoAttrs,
    OpDef,
    broadcast,
    fail,
    int_tuple,
    need_min_rank,
    need_rank,
    norm_dim,
    positive,
    register,
    shp,
)
from netdsl.ops.nn import conv_out


class ReduceAttrs(Attrs):
    dim: int | list[int] | None = None
    keepdim: bool = False


class StdAttrs(ReduceAttrs):
    unbiased: bool = True


def _reduced_dims(a: ReduceAttrs, x: TensorType) -> list[int]:
    if a.dim is None:
        return list(range(x.rank))
    dims = [a.dim] if isinstance(a.dim, int) else a.dim
    if not dims:
        raise fail("`dim: []` is ambiguous; leave `dim` out to reduce over every dim")
    norm = [norm_dim(d, x.rank) for d in dims]
    if len(set(norm)) != len(norm):
        raise fail(f"dim {a.dim} names a dim twice")
    return norm


def _sum_dtype(dtype: str) -> str:
    return dtype if is_float(dtype) else "int64"


def _same(dtype: str) -> str:
    return dtype


def _reduce_infer(
    a: ReduceAttrs, ins: list[TensorType], out: Callable[[str], str] = _same
) -> list[TensorType]:
    x = ins[0]
    dims = _reduced_dims(a, x)
    if isinstance(a, StdAttrs) and a.unbiased:
        n = Sym.const(1)
        for d in dims:
            n = n * x.shape[d]
        if n.is_const and n.value < 2:
            raise fail(f"unbiased std/var over {n.value} element(s) is NaN; it needs >= 2 (input {shp(x)})")
    if a.keepdim:
        shape = [Sym.const(1) if i in dims else s for i, s in enumerate(x.shape)]
    else:
        shape = [s for i, s in enumerate(x.shape) if i not in dims]
    return [TensorType(tuple(shape), out(x.dtype))]


def _make_reduce(
    name: str,
    doc: str,
    attrs: type[ReduceAttrs] = ReduceAttrs,
    dtypes: tuple[str, ...] = DTYPES,
    out: Callable[[str], str] = _same,
) -> None:
    register(
        OpDef(
            name=name,
            family="reduce",
            doc=doc,
            attrs=attrs,
            infer=lambda a, ins: _reduce_infer(a, ins, out),
            macs=lambda a, ins, outs: ins[0].numel(),
            dtypes=dtypes,
        )
    )


_make_reduce("mean", "Mean over `dim` (all dims if omitted).", dtypes=FLOATS)
_make_reduce("sum", "Sum over `dim` (all dims if omitted); int64 for integer inputs.", out=_sum_dtype)
_make_reduce("amax", "Maximum over `dim`.")
_make_reduce("amin", "Minimum over `dim`.")
_make_reduce(
    "logsumexp",
    "log(sum(exp(x))) over `dim`, computed stably; float32 for integer inputs.",
    out=float_result,
)
_make_reduce(
    "std",
    "Standard deviation over `dim`; unbiased (n - 1) by default.",
    StdAttrs,
    dtypes=FLOATS,
)
_make_reduce("var", "Variance over `dim`; unbiased (n - 1) by default.", StdAttrs, dtypes=FLOATS)


def _matmul_infer(a: NoAttrs, ins: list[TensorType]) -> list[TensorType]:
    x, y = ins
    need_min_rank(x, 1, "first matmul operand")
    need_min_rank(y, 1, "second matmul operand")
    xs = (Sym.const(1), *x.shape) if x.rank == 1 else x.shape
    ys = (*y.shape, Sym.const(1)) if y.rank == 1 else y.shape
    if x.dtype != y.dtype:
        raise fail(f"matmul operands must have the same dtype, got {x.dtype} and {y.dtype}")
    if xs[-1] != ys[-2]:
        raise fail(f"matmul of {shp(x)} and {shp(y)}: inner dims differ ({xs[-1]} vs {ys[-2]})")
    batch = broadcast([xs[:-2], ys[:-2]]) if len(xs) > 2 or len(ys) > 2 else ()
    out = [*batch, *(xs[-2:-1] if x.rank > 1 else ()), *(ys[-1:] if y.rank > 1 else ())]
    return [x.with_shape(out)]


register(
    OpDef(
        name="matmul",
        family="attention",
        doc="Matrix product with batch broadcasting (torch.matmul); both operands of one dtype.",
        attrs=NoAttrs,
        infer=_matmul_infer,
        inputs=("x", "y"),
        macs=lambda a, ins, outs: outs[0].numel() * ins[0].shape[-1],
        dtypes=NUMERIC,
    )
)

# ---------------------------------------------------------------- pooling


class PoolAttrs(Attrs):
    kernel_size: IntOrList
    stride: IntOrList | None = None
    padding: IntOrList = 0
    ceil_mode: bool = False


class MaxPoolAttrs(PoolAttrs):
    dilation: IntOrList = 1


class AvgPoolAttrs(PoolAttrs):
    count_include_pad: bool = True


def _ints(v: IntOrList | None, n: int, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    return default if v is None else int_tuple(v, n, name)


def _pool_geometry(a: PoolAttrs, n: int) -> tuple[tuple[int, ...], ...]:
    k = int_tuple(a.kernel_size, n, "kernel_size")
    s = _ints(a.stride, n, "stride", default=k)
    p = int_tuple(a.padding, n, "padding")
    d = int_tuple(getattr(a, "dilation", 1), n, "dilation")
    if any(v < 1 for v in k + s + d) or any(v < 0 for v in p):
        raise fail(f"kernel_size, stride, dilation must be >= 1 and padding >= 0; got {k}, {s}, {d}, {p}")
    if any(2 * pi > ki for pi, ki in zip(p, k, strict=True)):
        raise fail(f"padding {list(p)} must be at most half the kernel size {list(k)}")
    return k, s, p, d


def _ceil_out(size: Sym, k: int, s: int, p: int, d: int) -> Sym:
    """Pool output with ceil_mode, as torch: the last window must start inside the input or left padding."""
    o = (size + 2 * p - d * (k - 1) - 1 + s - 1) // s + 1
    if size.is_const:
        return o - 1 if (o.value - 1) * s >= size.value + p else o
    if p == 0 and s <= d * (k - 1) + 1:
        return o  # the last window always starts inside the input
    raise fail(f"ceil_mode with padding {p}, stride {s} needs a concrete size here (input {size})")


# what the CPU kernels of torch implement (tests/test_ops.py checks these against torch)
POOL_DTYPES: dict[tuple[str, int], tuple[str, ...]] = {
    ("max", 1): FLOATS,
    ("max", 2): NUMERIC,
    ("max", 3): NUMERIC,
    ("avg", 1): (*FLOATS, "int64"),
    ("avg", 2): (*FLOATS, "int64"),
    ("avg", 3): ("float32", "float64", "int64"),
}


def _make_pool(kind: str, n: int) -> None:
    name = f"{kind}_pool{n}d"
    attrs: type[PoolAttrs] = MaxPoolAttrs if kind == "max" else AvgPoolAttrs

    def infer(a: PoolAttrs, ins: list[TensorType]) -> list[TensorType]:
        x = ins[0]
        need_rank(x, [n + 1, n + 2], f"{name} input")
        k, s, p, d = _pool_geometry(a, n)
        lead = x.rank - n
        out = []
        for i in range(n):
            size = x.shape[lead + i]
            if a.ceil_mode:
                o = _ceil_out(size, k[i], s[i], p[i], d[i])
            else:
                o = conv_out(size, k[i], s[i], p[i], d[i])
            positive(
                o,
                f"{name} of input {shp(x)}: the output size along dim {lead + i} "
                f"(kernel {k[i]}, stride {s[i]}, padding {p[i]})",
            )
            out.append(o)
        return [x.with_shape((*x.shape[:lead], *out))]

    register(
        OpDef(
            name=name,
            family="pool",
            doc=f"{kind.capitalize()} pooling over {n} spatial dim(s).",
            attrs=attrs,
            infer=infer,
            macs=lambda a, ins, outs: ins[0].numel(),
            dtypes=POOL_DTYPES[kind, n],
        )
    )


class AdaptiveAttrs(Attrs):
    output_size: IntOrList


def _make_adaptive(kind: str, n: int) -> None:
    name = f"adaptive_{kind}_pool{n}d"

    def infer(a: AdaptiveAttrs, ins: list[TensorType]) -> list[TensorType]:
        x = ins[0]
        need_rank(x, [n + 1, n + 2], f"{name} input")
        size = int_tuple(a.output_size, n, "output_size")
        if any(v < 1 for v in size):
            raise fail(f"output_size must be >= 1, got {list(size)}")
        return [x.with_shape((*x.shape[: x.rank - n], *size))]

    register(
        OpDef(
            name=name,
            family="pool",
            doc=f"Adaptive {kind} pooling to `output_size` ({n}-d).",
            attrs=AdaptiveAttrs,
            infer=infer,
            macs=lambda a, ins, outs: ins[0].numel(),
            dtypes=FLOATS,
        )
    )


for _n in (1, 2, 3):
    _make_pool("max", _n)
    _make_pool("avg", _n)
    _make_adaptive("avg", _n)
    _make_adaptive("max", _n)

# ---------------------------------------------------------------- resampling

#: the spatial ranks each mode of interpolate takes (torch.nn.functional.interpolate)
INTERP_RANKS: dict[str, tuple[int, ...]] = {
    "nearest": (1, 2, 3),
    "nearest-exact": (1, 2, 3),
    "area": (1, 2, 3),
    "linear": (1,),
    "bilinear": (2,),
    "bicubic": (2,),
    "trilinear": (3,),
}
_LINEAR_MODES = ("linear", "bilinear", "bicubic", "trilinear")
Number = float | int


def _positive_number(v: Number) -> bool:
    return math.isfinite(v) and v > 0


class InterpolateAttrs(Attrs):
    size: IntOrList | None = None
    scale_factor: Number | list[Number] | None = None
    mode: Literal["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"] = (
        "nearest"
    )
    align_corners: bool | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "InterpolateAttrs":
        if (self.size is None) == (self.scale_factor is None):
            raise ValueError("interpolate needs exactly one of `size` and `scale_factor`")
        sizes = [self.size] if isinstance(self.size, int) else self.size or []
        if any(not 1 <= s <= GEOMETRY_MAX for s in sizes):
            raise ValueError(f"size must be from 1 to {GEOMETRY_MAX}, got {self.size}")
        scales = self.scale_factor if isinstance(self.scale_factor, list) else [self.scale_factor]
        if self.scale_factor is not None and not all(s is not None and _positive_number(s) for s in scales):
            raise ValueError(f"scale_factor must be finite and > 0, got {self.scale_factor}")
        if self.align_corners is not None and self.mode not in _LINEAR_MODES:
            raise ValueError(
                f"align_corners goes with the modes {', '.join(_LINEAR_MODES)}, not with mode {self.mode!r}"
            )
        return self


def _scaled(size: Sym, scale: Number, dim: int, x: TensorType) -> Sym:
    """floor(size * scale), as torch computes the output size from a scale factor (in doubles)."""
    if size.is_const:
        return Sym.const(math.floor(float(size.value) * scale))
    if float(scale).is_integer():
        return size * int(scale)
    inverse = 1 / scale
    if inverse.is_integer() and int(inverse) & (int(inverse) - 1) == 0:  # 1/2, 1/4 ...: exact in doubles
        return size // int(inverse)
    raise fail(
        f"interpolate by scale_factor {scale} of the symbolic dim {dim} ({size}) of {shp(x)}: the output "
        "size is known for integer factors (and 1/2, 1/4, ...) only",
        hint="give `size`, or an integer scale_factor, or concrete input sizes",
    )


def _interpolate_infer(a: InterpolateAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    n = x.rank - 2
    ranks = INTERP_RANKS[a.mode]
    if n not in ranks:
        want = " or ".join(str(r + 2) for r in ranks)
        raise fail(f"interpolate mode {a.mode!r} needs an input of rank {want} (N, C, ...), got {shp(x)}")
    if a.size is not None:
        out = [Sym.of(s) for s in int_tuple(a.size, n, "size")]
    else:
        scales = a.scale_factor if isinstance(a.scale_factor, list) else [a.scale_factor] * n
        if len(scales) != n:
            raise fail(f"scale_factor must be one number or a list of {n}, got {a.scale_factor}")
        out = [_scaled(x.shape[2 + i], s, 2 + i, x) for i, s in enumerate(scales) if s is not None]
    for i, o in enumerate(out):
        positive(o, f"interpolate of {shp(x)}: the output size along dim {2 + i}")
    return [x.with_shape((*x.shape[:2], *out))]


def _interpolate_macs(a: InterpolateAttrs, ins: list[TensorType], outs: list[TensorType]) -> Sym:
    """Nearest modes copy; linear modes weigh 2 inputs per spatial dim, bicubic 4; area averages."""
    n = ins[0].rank - 2
    if a.mode == "area":
        return ins[0].numel()
    per_output = {"linear": 1 << n, "bilinear": 1 << n, "trilinear": 1 << n, "bicubic": 1 << 2 * n}.get(
        a.mode, 0
    )
    return outs[0].numel() * per_output


register(
    OpDef(
        name="interpolate",
        family="pool",
        doc="Resize the spatial dims (torch.nn.functional.interpolate) to `size` or by `scale_factor` "
        "(floor(size * scale_factor)); modes nearest, nearest-exact, area (1 to 3 spatial dims), linear "
        "(1), bilinear, bicubic (2), trilinear (3); `align_corners` with the linear modes.",
        attrs=InterpolateAttrs,
        infer=_interpolate_infer,
        macs=_interpolate_macs,
        dtypes=FLOATS,
    )
)

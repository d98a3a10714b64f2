"""Lowerings of the reductions, matrix products and pooling (netdsl/ops/reduce.py)."""

from __future__ import annotations

from typing import Any

from torch import fx

from netdsl.ops.base import Attrs, int_tuple
from netdsl.ops.lowerings.base import LowerCtx, LowerFn, lowering, torch_fn
from netdsl.ops.reduce import (
    AdaptiveAttrs,
    AvgPoolAttrs,
    InterpolateAttrs,
    PoolAttrs,
    ReduceAttrs,
    StdAttrs,
    _pool_geometry,
    _reduced_dims,
)

#: the reductions: each calls torch.<name>
_REDUCE = ("mean", "sum", "amax", "amin", "logsumexp", "std", "var")


def _reduce(fn: str) -> LowerFn:
    def lower(ctx: LowerCtx, a: ReduceAttrs, args: list[fx.Node]) -> fx.Node:
        dims = _reduced_dims(a, ctx.in_types[0])
        kwargs: dict[str, Any] = {"dim": dims, "keepdim": a.keepdim}
        if isinstance(a, StdAttrs):
            kwargs["correction"] = 1 if a.unbiased else 0
        return ctx.fn(torch_fn(fn), args[0], **kwargs)

    return lower


for _name in _REDUCE:
    lowering(_name)(_reduce(f"torch.{_name}"))


@lowering("matmul")
def _matmul(ctx: LowerCtx, a: Attrs, args: list[fx.Node]) -> fx.Node:
    return ctx.fn(torch_fn("torch.matmul"), *args)


# ---------------------------------------------------------------- pooling


def _pool(kind: str, n: int) -> LowerFn:
    fn = f"torch.nn.functional.{kind}_pool{n}d"

    def lower(ctx: LowerCtx, a: PoolAttrs, args: list[fx.Node]) -> fx.Node:
        k, s, p, d = _pool_geometry(a, n)
        kw: dict[str, Any] = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": a.ceil_mode}
        if isinstance(a, AvgPoolAttrs):
            kw["count_include_pad"] = a.count_include_pad
        else:
            kw["dilation"] = d
        return ctx.fn(torch_fn(fn), args[0], **kw)

    return lower


def _adaptive(kind: str, n: int) -> LowerFn:
    fn = f"torch.nn.functional.adaptive_{kind}_pool{n}d"

    def lower(ctx: LowerCtx, a: AdaptiveAttrs, args: list[fx.Node]) -> fx.Node:
        return ctx.fn(torch_fn(fn), args[0], int_tuple(a.output_size, n, "output_size"))

    return lower


for _n in (1, 2, 3):
    for _kind in ("max", "avg"):
        lowering(f"{_kind}_pool{_n}d")(_pool(_kind, _n))
        lowering(f"adaptive_{_kind}_pool{_n}d")(_adaptive(_kind, _n))


@lowering("interpolate")
def _interpolate(ctx: LowerCtx, a: InterpolateAttrs, args: list[fx.Node]) -> fx.Node:
    size = tuple(a.size) if isinstance(a.size, list) else a.size
    scale: Any = a.scale_factor
    if scale is not None:
        scale = tuple(map(float, scale)) if isinstance(scale, list) else float(scale)
    fn = torch_fn("torch.nn.functional.interpolate")
    return ctx.fn(fn, args[0], size=size, scale_factor=scale, mode=a.mode, align_corners=a.align_corners)

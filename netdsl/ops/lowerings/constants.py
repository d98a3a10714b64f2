"""Lowerings of the constant ops (netdsl/ops/constants.py). Constants are lowered like any op; the
backend computes those of static shape once, when the module is built (netdsl.passes.constants
decides which, netdsl.backend.lower.Constants computes them)."""

from __future__ import annotations

import torch
from torch import fx

from netdsl.ops.constants import (
    ArangeAttrs,
    BufferAttrs,
    CastAttrs,
    FilledAttrs,
    FullAttrs,
    fill_dtype,
    fill_value,
)
from netdsl.ops.lowerings.base import LowerCtx, LowerFn, lowering
from netdsl.ops.shape_ops import as_sym


@lowering("arange")
def _arange(ctx: LowerCtx, a: ArangeAttrs, args: list[fx.Node]) -> fx.Node:
    assert isinstance(a.end, list)
    end = ctx.dim(as_sym(a.end[0]))
    return ctx.fn(torch.arange, a.start, end, a.step, dtype=getattr(torch, a.dtype), device=ctx.device())


def _filler(op: str) -> LowerFn:
    def lower(ctx: LowerCtx, a: FullAttrs | FilledAttrs, args: list[fx.Node]) -> fx.Node:
        shape = ctx.shape([as_sym(d) for d in a.shape])
        return ctx.fn(
            torch.full, shape, fill_value(op, a), dtype=getattr(torch, fill_dtype(a)), device=ctx.device()
        )

    return lower


for _name in ("full", "zeros", "ones"):
    lowering(_name)(_filler(_name))


@lowering("cast")
def _cast(ctx: LowerCtx, a: CastAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("to", args[0], getattr(torch, a.dtype))


@lowering("buffer")
def _buffer(ctx: LowerCtx, a: BufferAttrs, args: list[fx.Node]) -> fx.Node:
    value = ctx.constant(args[0])
    return ctx.tensor_attr(value, trainable=False, persistent=a.persistent)

"""Lowerings of the ops that move data around (netdsl/ops/shape_ops.py): tensor methods mostly."""

from __future__ import annotations

import operator

from torch import fx

from netdsl.ops.base import norm_dim
from netdsl.ops.lowerings.base import LowerCtx, lowering, torch_fn
from netdsl.ops.shape_ops import (
    DimAttr,
    ExpandAttrs,
    FlattenAttrs,
    PadAttrs,
    PermuteAttrs,
    ReshapeAttrs,
    RollAttrs,
    SliceAttrs,
    SplitAttrs,
    TransposeAttrs,
    UnflattenAttrs,
    _split_sizes,
    as_sym,
)


@lowering("reshape")
def _reshape(ctx: LowerCtx, a: ReshapeAttrs, args: list[fx.Node]) -> fx.Node:
    shape = ctx.shape([as_sym(d) for d in a.shape])
    return ctx.method("reshape", args[0], *shape) if shape else ctx.method("reshape", args[0], ())


@lowering("flatten")
def _flatten(ctx: LowerCtx, a: FlattenAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("flatten", args[0], a.start_dim, a.end_dim)


@lowering("unflatten")
def _unflatten(ctx: LowerCtx, a: UnflattenAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("unflatten", args[0], a.dim, tuple(ctx.shape([as_sym(d) for d in a.sizes])))


@lowering("permute")
def _permute(ctx: LowerCtx, a: PermuteAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("permute", args[0], *a.dims)


@lowering("transpose")
def _transpose(ctx: LowerCtx, a: TransposeAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("transpose", args[0], a.dim0, a.dim1)


@lowering("unsqueeze")
def _unsqueeze(ctx: LowerCtx, a: DimAttr, args: list[fx.Node]) -> fx.Node:
    return ctx.method("unsqueeze", args[0], a.dim)


@lowering("squeeze")
def _squeeze(ctx: LowerCtx, a: DimAttr, args: list[fx.Node]) -> fx.Node:
    return ctx.method("squeeze", args[0], a.dim)


@lowering("cat")
def _cat(ctx: LowerCtx, a: DimAttr, args: list[fx.Node]) -> fx.Node:
    return ctx.fn(torch_fn("torch.cat"), list(args), dim=a.dim)


@lowering("stack")
def _stack(ctx: LowerCtx, a: DimAttr, args: list[fx.Node]) -> fx.Node:
    return ctx.fn(torch_fn("torch.stack"), list(args), dim=a.dim)


@lowering("split")
def _split(ctx: LowerCtx, a: SplitAttrs, args: list[fx.Node]) -> list[fx.Node]:
    sizes = _split_sizes(a, ctx.in_types[0])
    parts = ctx.intermediate(torch_fn("torch.split"), args[0], ctx.shape(sizes), dim=a.dim)
    return ctx.unpack(parts, len(sizes))


@lowering("slice")
def _slice(ctx: LowerCtx, a: SliceAttrs, args: list[fx.Node]) -> fx.Node:
    start = ctx.dim(as_sym(a.bounds[0]))
    end = ctx.dim(as_sym(a.bounds[1])) if len(a.bounds) > 1 else None
    index = (slice(None),) * norm_dim(a.dim, ctx.in_types[0].rank) + (slice(start, end, a.step),)
    return ctx.fn(operator.getitem, args[0], index)


@lowering("expand")
def _expand(ctx: LowerCtx, a: ExpandAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("expand", args[0], *ctx.shape([as_sym(d) for d in a.shape]))


@lowering("index_select")
def _index_select(ctx: LowerCtx, a: DimAttr, args: list[fx.Node]) -> fx.Node:
    return ctx.fn(torch_fn("torch.index_select"), args[0], a.dim, args[1])


@lowering("gather")
def _gather(ctx: LowerCtx, a: DimAttr, args: list[fx.Node]) -> fx.Node:
    return ctx.fn(torch_fn("torch.gather"), args[0], a.dim, args[1])


@lowering("roll")
def _roll(ctx: LowerCtx, a: RollAttrs, args: list[fx.Node]) -> fx.Node:
    shifts = ctx.shape([as_sym(s) for s in a.shifts])
    if a.dims is None:
        return ctx.fn(torch_fn("torch.roll"), args[0], shifts[0])
    return ctx.fn(torch_fn("torch.roll"), args[0], tuple(shifts), tuple(a.dims))


@lowering("pad")
def _pad(ctx: LowerCtx, a: PadAttrs, args: list[fx.Node]) -> fx.Node:
    amounts = ctx.shape([as_sym(p) for p in a.pad])
    kw = {} if a.value is None else {"value": a.value}
    return ctx.fn(torch_fn("torch.nn.functional.pad"), args[0], amounts, mode=a.mode, **kw)

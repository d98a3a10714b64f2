"""Lowerings of the ops with weights (netdsl/ops/nn.py): torch.nn modules at the node's path."""

from __future__ import annotations

from typing import Any

from torch import fx, nn

from netdsl.ops.lowerings.base import LowerCtx, LowerFn, lowering
from netdsl.ops.nn import (
    BatchNormAttrs,
    ConvAttrs,
    DropoutAttrs,
    GroupNormAttrs,
    LayerNormAttrs,
    LinearAttrs,
    _conv_geometry,
    _ln_shape,
)


@lowering("linear")
def _linear(ctx: LowerCtx, a: LinearAttrs, args: list[fx.Node]) -> fx.Node:
    n_in = ctx.in_types[0].shape[-1].value
    return ctx.module(nn.Linear(n_in, a.out_features, bias=a.bias), args)


def _conv(n: int) -> LowerFn:
    def lower(ctx: LowerCtx, a: ConvAttrs, args: list[fx.Node]) -> fx.Node:
        k, s, p, d = _conv_geometry(a, n)
        cls: Any = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[n - 1]  # (torch types the geometry per n)
        mod = cls(
            ctx.in_types[0].shape[1].value,
            a.out_channels,
            k,
            stride=s,
            padding="same" if a.padding == "same" else p,  # torch pads 'same' asymmetrically when needed
            dilation=d,
            groups=a.groups,
            bias=a.bias,
            padding_mode=a.padding_mode,
        )
        return ctx.module(mod, args)

    return lower


def _batch_norm(n: int) -> LowerFn:
    def lower(ctx: LowerCtx, a: BatchNormAttrs, args: list[fx.Node]) -> fx.Node:
        cls = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[n - 1]
        c = ctx.in_types[0].shape[1].value
        mod = cls(
            c, eps=a.eps, momentum=a.momentum, affine=a.affine, track_running_stats=a.track_running_stats
        )
        return ctx.module(mod, args)

    return lower


for _n in (1, 2, 3):
    lowering(f"conv{_n}d")(_conv(_n))
    lowering(f"batch_norm{_n}d")(_batch_norm(_n))


@lowering("layer_norm")
def _layer_norm(ctx: LowerCtx, a: LayerNormAttrs, args: list[fx.Node]) -> fx.Node:
    mod = nn.LayerNorm(
        list(_ln_shape(a, ctx.in_types[0])), eps=a.eps, elementwise_affine=a.elementwise_affine, bias=a.bias
    )
    return ctx.module(mod, args)


@lowering("group_norm")
def _group_norm(ctx: LowerCtx, a: GroupNormAttrs, args: list[fx.Node]) -> fx.Node:
    c = ctx.in_types[0].shape[1].value
    return ctx.module(nn.GroupNorm(a.num_groups, c, eps=a.eps, affine=a.affine), args)


@lowering("dropout")
def _dropout(ctx: LowerCtx, a: DropoutAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.module(nn.Dropout(a.p), args)

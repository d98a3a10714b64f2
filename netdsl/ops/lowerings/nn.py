"""Lowerings of the ops with weights (netdsl/ops/nn.py): torch.nn modules at the node's path."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from netdsl.ops.lowerings.base import LowerCtx, LowerFn, lowering
from netdsl.ops.nn import (
    BatchNormAttrs,
    ConvAttrs,
    DropoutAttrs,
    DropPathAttrs,
    EmbeddingAttrs,
    GroupNormAttrs,
    LayerNormAttrs,
    LinearAttrs,
    _conv_geometry,
    _ln_shape,
    ln_dim,
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


class LayerNormOverDim(nn.LayerNorm):
    """nn.LayerNorm over one dim that is not the last: moved last, normalised, moved back, exactly as
    torchvision's LayerNorm2d (ConvNeXt) does for dim 1 of NCHW (permute, F.layer_norm, permute)."""

    def __init__(self, dim: int, rank: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dim = dim
        self.perm = [*(i for i in range(rank) if i != dim), dim]
        self.inverse = [self.perm.index(i) for i in range(rank)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(*self.perm)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(*self.inverse)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}"


@lowering("layer_norm")
def _layer_norm(ctx: LowerCtx, a: LayerNormAttrs, args: list[fx.Node]) -> fx.Node:
    x = ctx.in_types[0]
    shape = list(_ln_shape(a, x))
    kw: dict[str, Any] = {"eps": a.eps, "elementwise_affine": a.elementwise_affine, "bias": a.bias}
    d = ln_dim(a, x)
    mod = nn.LayerNorm(shape, **kw) if d is None else LayerNormOverDim(d, x.rank, shape, **kw)
    return ctx.module(mod, args)


@lowering("group_norm")
def _group_norm(ctx: LowerCtx, a: GroupNormAttrs, args: list[fx.Node]) -> fx.Node:
    c = ctx.in_types[0].shape[1].value
    return ctx.module(nn.GroupNorm(a.num_groups, c, eps=a.eps, affine=a.affine), args)


@lowering("dropout")
def _dropout(ctx: LowerCtx, a: DropoutAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.module(nn.Dropout(a.p), args)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth (the same attributes ``p`` and ``mode``, the same draws from
    torch's generator), without torchvision: no parameters, no buffers."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


@lowering("drop_path")
def _drop_path(ctx: LowerCtx, a: DropPathAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.module(StochasticDepth(float(a.p), a.mode), args)


@lowering("embedding")
def _embedding(ctx: LowerCtx, a: EmbeddingAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.module(nn.Embedding(a.num_embeddings, a.embedding_dim, padding_idx=a.padding_idx), args)

"""Lowering of scaled_dot_product_attention (netdsl/ops/attention.py): a module at the node's path
that knows whether it is training (its dropout on the attention weights is off in eval mode)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from netdsl.ops.attention import AttentionAttrs
from netdsl.ops.lowerings.base import LowerCtx, lowering


class ScaledDotProductAttention(nn.Module):
    """torch.nn.functional.scaled_dot_product_attention with its dropout active in training mode only
    (as nn.MultiheadAttention's): no parameters, no buffers."""

    def __init__(self, dropout_p: float = 0.0, scale: float | None = None, is_causal: bool = False) -> None:
        super().__init__()
        self.dropout_p = dropout_p
        self.scale = scale
        self.is_causal = is_causal

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0,
            is_causal=self.is_causal,
            scale=self.scale,
        )

    def extra_repr(self) -> str:
        return f"dropout_p={self.dropout_p}, scale={self.scale}, is_causal={self.is_causal}"


@lowering("scaled_dot_product_attention")
def _attention(ctx: LowerCtx, a: AttentionAttrs, args: list[fx.Node]) -> fx.Node:
    scale = None if a.scale is None else float(a.scale)
    return ctx.module(ScaledDotProductAttention(float(a.dropout_p), scale, a.is_causal), args)

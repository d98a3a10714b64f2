"""Lowering of `op: parameter` (netdsl/ops/params.py): a parameter or buffer at the node's path."""

from __future__ import annotations

import torch
from torch import fx

from netdsl.ops.lowerings.base import LowerCtx, lowering
from netdsl.ops.lowerings.initializers import apply_init
from netdsl.ops.params import ParameterAttrs


@lowering("parameter")
def _parameter(ctx: LowerCtx, a: ParameterAttrs, args: list[fx.Node]) -> fx.Node:
    t = torch.empty(a.shape)
    apply_init(t, a.init)
    return ctx.tensor_attr(t, trainable=a.trainable)

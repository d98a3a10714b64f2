"""The lowering of ``squared_relu`` to torch.fx: imported (with torch) only when a module is built."""

from __future__ import annotations

import torch
from torch import fx

from netdsl.ops.lowerings import LowerCtx
from netdsl_example_plugin.ops import SquaredReluAttrs


def squared_relu(ctx: LowerCtx, a: SquaredReluAttrs, args: list[fx.Node]) -> fx.Node:
    """relu, then the square; the last fx node (``ctx.fn``) is the op's result, named after the node."""
    positive = ctx.intermediate(torch.relu, args[0])
    if a.scale == 1:
        return ctx.fn(torch.mul, positive, positive)
    square = ctx.intermediate(torch.mul, positive, positive)
    return ctx.fn(torch.mul, square, a.scale)

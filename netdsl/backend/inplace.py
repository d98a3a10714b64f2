"""In-place activations and additions where nothing else reads their input: what torchvision writes
as ``nn.ReLU(inplace=True)``, ``nn.Hardswish(inplace=True)`` or ``result += input``. The values are
the same; no new tensor is made (the eager speed of MobileNet and EfficientNet at batch 8 depends on
it). Only on the fresh output of an op whose backward does not read its output (a convolution, a
batch norm, a linear layer, an addition), read by the activation or addition alone, so that training
computes the same gradients."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx

#: the ops whose output may be overwritten: fresh tensors their backward does not read
SAFE_PRODUCERS = frozenset(
    {"conv1d", "conv2d", "conv3d", "batch_norm1d", "batch_norm2d", "batch_norm3d", "linear", "add"}
)
#: activation -> its in-place form
IN_PLACE: dict[Callable[..., Any], tuple[Callable[..., Any], dict[str, Any]]] = {
    torch.relu: (torch.relu_, {}),
    F.relu6: (F.relu6, {"inplace": True}),
    F.hardswish: (F.hardswish, {"inplace": True}),
    F.hardsigmoid: (F.hardsigmoid, {"inplace": True}),
    F.silu: (F.silu, {"inplace": True}),
}


def _overwritable(n: object, user: fx.Node) -> bool:
    """``n`` is the fresh output of a safe producer that only ``user`` reads."""
    if not isinstance(n, fx.Node) or n.op not in ("call_module", "call_function", "call_method"):
        return False
    meta = n.meta.get("netdsl", {})
    return meta.get("op") in SAFE_PRODUCERS and "output" in meta and list(n.users) == [user]


def _same_type(a: fx.Node, out: fx.Node) -> bool:
    ta, to = a.meta.get("netdsl", {}), out.meta.get("netdsl", {})
    return "shape" in ta and ta.get("shape") == to.get("shape") and ta.get("dtype") == to.get("dtype")


def make_in_place(gm: fx.GraphModule) -> int:
    """Rewrite the activations and additions that can work in place; the number rewritten."""
    count = 0
    for n in gm.graph.nodes:
        if n.op != "call_function" or n.kwargs:
            continue
        if n.target in IN_PLACE and len(n.args) == 1 and _overwritable(n.args[0], n):
            fn, kwargs = IN_PLACE[n.target]
            n.target, n.kwargs = fn, kwargs
            count += 1
        elif n.target is operator.add and len(n.args) == 2 and n.args[0] is not n.args[1]:
            a, b = n.args
            if (
                isinstance(b, fx.Node)
                and _overwritable(b, n)
                and _same_type(b, n)
                and not _overwritable(a, n)
            ):
                a, b = b, a  # (x + y == y + x exactly)
            if _overwritable(a, n) and _same_type(a, n) and isinstance(a, fx.Node):
                n.op, n.target, n.args = "call_method", "add_", (a, b)
                count += 1
    if count:
        gm.recompile()
    return count

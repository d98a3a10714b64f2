"""Rewrites that remove work: regularization that is inactive in inference (dropout, stochastic
depth), reshapes to the shape a tensor already has, and ``split`` into size-1 parts each squeezed
(``torch.unbind``)."""

from __future__ import annotations

import operator

import torch
from torch import fx

from netdsl.backend.rewrites.base import Fired, erase_unread, fired, spec_def, spec_meta


def drop_inactive_regularization(gm: fx.GraphModule) -> list[Fired]:
    """Inference: a dropout or drop_path is the identity in eval mode; its input is read instead (its
    module stays installed, for its path)."""
    out = []
    for n in list(gm.graph.nodes):
        op = spec_def(n)
        if op is None or op.family != "regularization" or not n.args:
            continue
        source = n.args[0]
        if not isinstance(source, fx.Node):
            continue
        n.replace_all_uses_with(source)
        gm.graph.erase_node(n)
        out.append(fired("inactive-regularization", n, f"{op.name} is the identity in eval mode: removed"))
    return out


def drop_same_shape_reshapes(gm: fx.GraphModule) -> list[Fired]:
    """A reshape (flatten, unflatten, expand) whose output has its input's static shape and dtype
    (the same dim expressions) returns its input: read the input instead."""
    out = []
    for n in list(gm.graph.nodes):
        op = spec_def(n)
        if op is None or not op.identity_when_same_type or not n.args:
            continue
        source = n.args[0]
        before, after = spec_meta(source), spec_meta(n)
        if "shape" not in before or (before.get("shape"), before.get("dtype")) != (
            after.get("shape"),
            after.get("dtype"),
        ):
            continue
        n.replace_all_uses_with(source)
        args = list(n.all_input_nodes)
        gm.graph.erase_node(n)
        erase_unread(gm.graph, args)
        out.append(fired("no-op-reshape", n, f"{op.name} to the shape it has {after['shape']}: removed"))
    return out


def split_squeeze_to_unbind(gm: fx.GraphModule) -> list[Fired]:
    """``torch.split`` into parts of size 1 along ``dim``, each part read only by a squeeze of that
    dim, becomes one ``torch.unbind(x, dim)`` (no intermediate views)."""
    out = []
    for n in list(gm.graph.nodes):
        if n.op != "call_function" or n.target is not torch.split or len(n.args) != 2:
            continue
        x, sizes = n.args
        dim = n.kwargs.get("dim", 0)
        if not isinstance(sizes, list | tuple) or any(s != 1 for s in sizes) or not isinstance(dim, int):
            continue
        parts = list(n.users)
        if len(parts) != len(sizes) or not all(_squeezes_part(p, dim) for p in parts):
            continue
        with gm.graph.inserting_after(n):
            unbound = gm.graph.call_function(torch.unbind, (x, dim))
        unbound.meta = dict(n.meta)
        for part in parts:
            (squeeze,) = part.users
            part.replace_input_with(n, unbound)
            squeeze.replace_all_uses_with(part)
            part.meta = squeeze.meta  # (the part now holds the squeeze's result)
            gm.graph.erase_node(squeeze)
        gm.graph.erase_node(n)
        detail = f"split into {len(sizes)} parts of 1, each squeezed: torch.unbind"
        out.append(fired("unbind", parts[0], detail))
    return out


def _squeezes_part(part: fx.Node, dim: int) -> bool:
    """``part`` is ``split(...)[i]`` and is read by one squeeze of ``dim`` alone."""
    if part.op != "call_function" or part.target is not operator.getitem or len(part.users) != 1:
        return False
    (user,) = part.users
    squeezes = user.op == "call_method" and user.target == "squeeze"
    return squeezes and user.args[1:] == (dim,) and not user.kwargs

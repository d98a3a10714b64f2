"""Graph rewrites of a built module before ``torch.compile`` (netdsl.compile): each a small pass over
the lowered ``torch.fx`` graph, matching on the spec ops its nodes come from (``node.meta``), exact
in values (up to rounding), never changing ``state_dict()``. :func:`rewrite` applies those of a
purpose to a copy of the module and records where each fired (``gm.meta["netdsl"]["rewrites"]``)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import fx

from netdsl.backend.provenance import track
from netdsl.backend.rewrites.attention import attention_to_sdpa
from netdsl.backend.rewrites.base import Fired, with_graph
from netdsl.backend.rewrites.cleanup import (
    drop_inactive_regularization,
    drop_same_shape_reshapes,
    split_squeeze_to_unbind,
)
from netdsl.backend.rewrites.layout import contiguous_conv_inputs

Rewrite = Callable[[fx.GraphModule], list[Fired]]

#: the rewrites of each purpose, in the order they run (inference first drops dropout, so that the
#: attention pattern sees none)
REWRITES: dict[str, tuple[Rewrite, ...]] = {
    "inference": (
        drop_inactive_regularization,
        drop_same_shape_reshapes,
        split_squeeze_to_unbind,
        attention_to_sdpa,
        contiguous_conv_inputs,
    ),
    "training": (
        drop_same_shape_reshapes,
        split_squeeze_to_unbind,
        attention_to_sdpa,
        contiguous_conv_inputs,
    ),
}


#: rewrites needed only when torch.compile sees symbolic sizes (they cost time otherwise: a
#: contiguous copy before a convolution is ~10% of Shunted-T at batch 8, compiled statically)
FOR_DYNAMIC_SIZES = (contiguous_conv_inputs,)


def rewrite(gm: fx.GraphModule, purpose: str, dynamic: bool = True) -> tuple[fx.GraphModule, list[Fired]]:
    """A copy of ``gm`` (sharing its parameters, buffers and modules) with the rewrites of ``purpose``
    applied (those for symbolic sizes only if ``dynamic``), and where they fired. ``gm`` itself is
    unchanged."""
    new = with_graph(gm, copy.deepcopy(gm.graph))  # (nodes and their meta copied; not the module)
    done: list[Fired] = []
    for step in REWRITES[purpose]:
        if dynamic or step not in FOR_DYNAMIC_SIZES:
            done += step(new)
    new.graph.lint()
    new.recompile()
    track(new)
    new.meta = {**gm.meta, "netdsl": {**gm.meta.get("netdsl", {}), "rewrites": done}}
    return new, done


__all__ = ["FOR_DYNAMIC_SIZES", "REWRITES", "Fired", "Rewrite", "rewrite"]

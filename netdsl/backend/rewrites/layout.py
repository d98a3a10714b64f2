"""Layout rewrites for torch.compile.

A convolution fed by a view (a permute, transpose or reshape: the token-to-image step of a vision
transformer, ``x.permute(0, 2, 1).reshape(B, C, H, W)``) reads its input through strides that are
expressions of the image size. With dynamic sizes, inductor (torch 2.13) fails on such an input while
choosing the convolution's layout (``ValueRangeError: Invalid ranges [0:-1]`` from its stride checks);
made contiguous first, the same values compile, and inductor writes the producer's output in that
layout directly (eager mode copies a non-contiguous input of a convolution anyway)."""

from __future__ import annotations

from torch import fx

from netdsl.backend.rewrites.base import Fired, fired, spec_def, spec_meta


def contiguous_conv_inputs(gm: fx.GraphModule) -> list[Fired]:
    """``x.contiguous()`` before every convolution whose input ``x`` is the result of a view op."""
    out = []
    for n in list(gm.graph.nodes):
        op = spec_def(n)
        if op is None or op.family != "conv" or n.op != "call_module" or not n.args:
            continue
        x = n.args[0]
        source = spec_def(x)
        if source is None or source.family != "reshape":
            continue
        with gm.graph.inserting_before(n):
            packed = gm.graph.call_method("contiguous", (x,))
        packed.meta = {"netdsl": {k: v for k, v in x.meta.get("netdsl", {}).items() if k != "output"}}
        n.replace_input_with(x, packed)
        what = f"its input {spec_meta(x).get('node', x.name)} ({source.name}) made contiguous"
        out.append(fired("contiguous-conv-input", n, what))
    return out

"""The definition of ``squared_relu``: attributes, shape rule, MACs. Torch-free: ``netdsl validate``
imports this module to check a spec that uses the op, and must not import torch."""

from netdsl.core.symbolic import Sym
from netdsl.core.types import FLOATS, TensorType
from netdsl.ops.base import Attrs, Finite, OpDef, fail

# (no `from __future__ import annotations`: pydantic reads the attribute annotations)


class SquaredReluAttrs(Attrs):
    """The op's attributes: a strict, closed pydantic model (a spec's unknown attribute is an error)."""

    scale: Finite = 1.0


def infer(a: SquaredReluAttrs, ins: list[TensorType]) -> list[TensorType]:
    """The static shape rule: the input's shape and dtype; a ShapeError for a scalar."""
    if ins[0].rank == 0:
        raise fail("squared_relu needs a tensor of rank >= 1, got a scalar")
    return [ins[0]]


def macs(a: SquaredReluAttrs, ins: list[TensorType], outs: list[TensorType]) -> Sym:
    """One multiply per element (x * x), one more when the result is scaled."""
    per_element = 1 if a.scale == 1 else 2
    return outs[0].numel() * per_element


SQUARED_RELU = OpDef(
    name="squared_relu",
    family="activation",
    doc="scale * relu(x) ** 2 (Primer's squared ReLU; example plugin).",
    attrs=SquaredReluAttrs,
    infer=infer,
    macs=macs,
    dtypes=FLOATS,
    lowering="netdsl_example_plugin.lowering:squared_relu",  # imported when a module is built
)

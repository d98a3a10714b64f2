"""Lowerings of the elementwise ops (netdsl/ops/elementwise.py): torch functions and operators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import fx

from netdsl.ops.base import Attrs
from netdsl.ops.elementwise import (
    _ARITH,
    _COMPARE,
    ArithAttrs,
    ClampAttrs,
    CompareAttrs,
    MaskedFillAttrs,
    SoftmaxAttrs,
    WhereAttrs,
)
from netdsl.ops.lowerings.base import LowerCtx, LowerFn, lowering, torch_fn

#: one-tensor ops: the torch function each calls (its attributes are the keyword arguments)
_UNARY: dict[str, str] = {
    "relu": "torch.relu",
    "gelu": "torch.nn.functional.gelu",
    "sigmoid": "torch.sigmoid",
    "tanh": "torch.tanh",
    "silu": "torch.nn.functional.silu",
    "relu6": "torch.nn.functional.relu6",
    "hardsigmoid": "torch.nn.functional.hardsigmoid",
    "hardswish": "torch.nn.functional.hardswish",
    "leaky_relu": "torch.nn.functional.leaky_relu",
    "softplus": "torch.nn.functional.softplus",
    "mish": "torch.nn.functional.mish",
    "erf": "torch.erf",
    "exp": "torch.exp",
    "log": "torch.log",
    "sqrt": "torch.sqrt",
    "abs": "torch.abs",
    "neg": "torch.neg",
}


def _unary(fn: str) -> LowerFn:
    def lower(ctx: LowerCtx, a: Attrs, args: list[fx.Node]) -> fx.Node:
        return ctx.fn(torch_fn(fn), *args, **a.model_dump())

    return lower


for _name, _fn in _UNARY.items():
    lowering(_name)(_unary(_fn))


@lowering("identity")
def _identity(ctx: LowerCtx, a: Attrs, args: list[fx.Node]) -> fx.Node:
    return args[0]


def _softmax(fn: str) -> LowerFn:
    def lower(ctx: LowerCtx, a: SoftmaxAttrs, args: list[fx.Node]) -> fx.Node:
        return ctx.fn(torch_fn(fn), args[0], dim=a.dim)

    return lower


lowering("softmax")(_softmax("torch.softmax"))
lowering("log_softmax")(_softmax("torch.log_softmax"))


def _arith(op: Callable[[Any, Any], Any]) -> LowerFn:
    def lower(ctx: LowerCtx, a: ArithAttrs, args: list[fx.Node]) -> fx.Node:
        operands: list[fx.Node | float | int] = [*args[1:], *([] if a.other is None else [a.other])]
        acc = args[0]  # infer checked there are two operands or more
        for x in operands[:-1]:
            acc = ctx.intermediate(op, acc, x)
        return ctx.fn(op, acc, operands[-1])

    return lower


for _name, (_op, *_) in _ARITH.items():
    lowering(_name)(_arith(_op))


def _compare(op: Callable[[Any, Any], Any]) -> LowerFn:
    def lower(ctx: LowerCtx, a: CompareAttrs, args: list[fx.Node]) -> fx.Node:
        rhs = args[1] if len(args) > 1 else a.other
        return ctx.fn(op, args[0], rhs)

    return lower


for _name, _op in _COMPARE.items():
    lowering(_name)(_compare(_op))


@lowering("masked_fill")
def _masked_fill(ctx: LowerCtx, a: MaskedFillAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.method("masked_fill", args[0], args[1], a.value)


@lowering("clamp")
def _clamp(ctx: LowerCtx, a: ClampAttrs, args: list[fx.Node]) -> fx.Node:
    return ctx.fn(torch_fn("torch.clamp"), args[0], min=a.min, max=a.max)


@lowering("where")
def _where(ctx: LowerCtx, a: WhereAttrs, args: list[fx.Node]) -> fx.Node:
    y = args[2] if len(args) > 2 else a.other
    return ctx.fn(torch_fn("torch.where"), args[0], args[1], y)

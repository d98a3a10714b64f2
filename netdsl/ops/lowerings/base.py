"""The lowering half of the op registry: the :class:`LowerCtx` protocol and the ``@lowering`` table.

An op's *definition* (``netdsl/ops/<family>.py``: attributes, shape rule, parameters, MACs) is
torch-free; its *lowering* to ``torch.fx`` lives side by side in ``netdsl/ops/lowerings/<family>.py``
and is registered by op name with :func:`lowering`. :data:`netdsl.ops.lowerings.LOWERINGS` collects
them; ``netdsl.backend.lower`` looks an op's lowering up there. Importing the definitions never
imports the lowerings (nor torch); tests/test_op_lowerings.py checks that every registered op has
exactly one lowering.

:class:`netdsl.backend.lower.LowerCtx` implements :class:`LowerCtx`; the lowerings are type-checked
against this protocol.

Naming: the fx node holding an op's result is created under the spec node's name (dots become
``_``: ``stage.0.proj`` -> ``stage_0_proj``), so ``gm.code`` reads like the spec. ``module``,
``tensor_attr``, ``fn``, ``method`` and ``unpack`` emit the op's result(s); an op whose result takes
more than one fx node emits the others with ``intermediate`` (they keep fx's default names, like
the ``size`` and arithmetic nodes ``dim`` and ``shape`` emit). ``netdsl.backend.lower`` checks that the
results an op emits are exactly the outputs it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar

import torch
from torch import fx, nn
from torch.fx.node import Argument

from netdsl.core.symbolic import Sym
from netdsl.core.types import TensorType

#: what a lowering function returns: the fx node of its one output, or one per output
LowerOut: TypeAlias = fx.Node | list[fx.Node]


class LowerCtx(Protocol):
    """The emission API of lowering, as the ops see it."""

    @property
    def in_types(self) -> Sequence[TensorType]:
        """The static types of the node's inputs (concrete dims where the op needs numbers)."""
        ...

    def module(self, mod: nn.Module, args: Sequence[fx.Node]) -> fx.Node:
        """Install ``mod`` at the node's path and call it: the op's result."""
        ...

    def tensor_attr(self, tensor: torch.Tensor, trainable: bool = True, persistent: bool = True) -> fx.Node:
        """Install ``tensor`` at the node's path (a parameter, or a buffer: in the state_dict unless
        not ``persistent``) and read it: the result."""
        ...

    def device(self) -> fx.Node | None:
        """The device of the network's (first) input, for a tensor made in forward (arange to a size
        of the input); None when there is none (constants made at build time: buffers, which move
        with the module)."""
        ...

    def constant(self, value: fx.Node) -> torch.Tensor:
        """The tensor that ``value`` (an input of the node) holds: a constant, computed when the
        module is built (:mod:`netdsl.passes.constants`); an error for any other input."""
        ...

    def fn(self, f: Callable[..., Any], *args: Argument, **kwargs: Argument) -> fx.Node:
        """Call a function: the op's result."""
        ...

    def method(self, name: str, *args: Argument, **kwargs: Argument) -> fx.Node:
        """Call a tensor method on ``args[0]``: the op's result."""
        ...

    def unpack(self, value: fx.Node, n: int) -> list[fx.Node]:
        """``value[0]`` .. ``value[n - 1]``: the op's ``n`` results."""
        ...

    def intermediate(self, f: Callable[..., Any], *args: Argument, **kwargs: Argument) -> fx.Node:
        """Call a function for a value on the way to the result (not the op's result)."""
        ...

    def dim(self, d: Sym | int) -> int | fx.Node:
        """An int, or an fx node computing a symbolic dim at run time (from tensor sizes)."""
        ...

    def shape(self, dims: Sequence[Sym | int]) -> list[int | fx.Node]:
        """:meth:`dim` of each dim."""
        ...


def torch_fn(path: str) -> Callable[..., Any]:
    """A function of torch by its dotted path (``"torch.nn.functional.gelu"``), looked up when an op
    is lowered (not when its lowering is registered: a function patched in torch is the one called)."""
    obj: Any = torch
    for part in path.split(".")[1:]:
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


#: an op's lowering: ``lower(ctx, attrs, args)`` with the node's validated (and dim-evaluated)
#: attributes and the fx nodes of its inputs; attrs are each op's own model, hence ``Any`` here
LowerFn: TypeAlias = Callable[[LowerCtx, Any, list[fx.Node]], LowerOut]

_L = TypeVar("_L", bound=LowerFn)

#: op name -> its lowering, filled by :func:`lowering` (read it as netdsl.ops.lowerings.LOWERINGS)
REGISTERED: dict[str, LowerFn] = {}


def lowering(name: str) -> Callable[[_L], _L]:
    """Register the decorated function as the lowering of op ``name`` (once per op)::

        @lowering("linear")
        def _linear(ctx: LowerCtx, a: LinearAttrs, args: list[fx.Node]) -> fx.Node: ...

    Ops made by a factory get their lowerings from a matching factory:
    ``lowering(f"conv{n}d")(_conv(n))``.
    """

    def register(fn: _L) -> _L:
        if name in REGISTERED:
            raise RuntimeError(f"op {name!r}: lowering registered twice")
        REGISTERED[name] = fn
        return fn

    return register

"""A call being mapped (:class:`Call`: its arguments as values of the import) and what an entry of
the table returns for it (:class:`Emit`, :class:`Chain`, :class:`Alias`); the argument helpers every
entry uses, and :func:`_op`, the entry of a call that is one op of its first argument."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from netdsl.backend.import_graph import DimOf, SizeOp, SizeSelect, TRef


class _Unsupported(Exception):
    """Raised by a table entry: this call (with these arguments) has no netdsl op."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Skip(Exception):
    """An input of the call was itself unsupported (reported there)."""


#: an input of a chain's step that is the previous step's output
PREV = TRef("\0prev")


@dataclass
class Emit:
    """One netdsl op made by a call: ``inputs`` (tensor refs), ``attrs`` (plain values, sizes as
    :data:`SizeExpr`), how many outputs, and whether the call works in place on its first input."""

    op: str
    inputs: list[TRef]
    attrs: dict[str, Any] = field(default_factory=dict)
    outputs: int = 1
    inplace: bool = False
    #: the module path whose state the op owns (a functional call on a module's parameters)
    module: str | None = None


@dataclass(frozen=True)
class AttrRef:
    """A parameter or persistent buffer of the module read with ``get_attr``: a ``parameter`` (or
    ``buffer``) node when a call uses it as a tensor, or the state of the op of a functional call that
    takes it (``F.layer_norm(x, s, self.weight, self.bias)``: a layer_norm at the owner's path)."""

    path: str
    shape: tuple[int, ...]
    parameter: bool

    @property
    def owner(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def leaf(self) -> str:
        return self.path.rpartition(".")[2]


@dataclass
class Chain:
    """Several ops in a row (``x[:, 0]``: a slice, then a squeeze); each step's :data:`PREV` input is
    the previous step's output."""

    steps: list[Emit]


@dataclass
class Alias:
    """The call makes no op: its value is ``value`` (``x.contiguous()``, ``x.shape``, ``t[0]``)."""

    value: Any


Result = Emit | Chain | Alias


Handler = Callable[["Call"], Result]

_REQUIRED = object()
_NUMBER = (int, float, bool)


class Call:
    """One call being mapped: its arguments with fx nodes replaced by their values (tensor refs,
    sizes, tuples), its module (call_module) and the concrete result of the example run."""

    def __init__(
        self,
        what: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        module: nn.Module | None,
        result: Any,
        shapes: Mapping[TRef, tuple[int, ...]],
        dtypes: Mapping[TRef, str],
        owner_state: Callable[[str], set[str]] | None = None,
    ) -> None:
        self.what = what
        self.owner_state = owner_state
        self.args = args
        self.kwargs = kwargs
        self.module = module
        self.result = result
        self._shapes = shapes
        self._dtypes = dtypes

    def get(self, i: int, name: str, default: Any = _REQUIRED) -> Any:
        """Argument ``name``, at position ``i`` (the tensor a method is called on is position 0)."""
        if name in self.kwargs:
            return self.kwargs[name]
        if i < len(self.args):
            return self.args[i]
        if default is _REQUIRED:
            raise _Unsupported(f"argument {name!r} is missing")
        return default

    def tensor(self, i: int = 0, name: str = "input") -> TRef:
        value = self.get(i, name)
        if not isinstance(value, TRef):
            raise _Unsupported(f"argument {name!r} is not a tensor of the graph ({type(value).__name__})")
        return value

    def shape(self, ref: TRef) -> tuple[int, ...]:
        got = self._shapes.get(ref)
        if got is None:
            raise _Unsupported("the shape of an input is not known")
        return got

    def dtype(self, ref: TRef) -> str:
        return self._dtypes.get(ref, "float32")

    def rank(self, ref: TRef) -> int:
        return len(self.shape(ref))

    def dim(self, ref: TRef, d: Any) -> int:
        """``d`` as a non-negative dim of ``ref``."""
        if not isinstance(d, int) or isinstance(d, bool):
            raise _Unsupported(f"dim {d!r} is not an integer")
        rank = self.rank(ref)
        if not -rank <= d < rank:
            raise _Unsupported(f"dim {d} is out of range for rank {rank}")
        return d % rank

    def result_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of the tensors the call returned in the example run (a tuple's, in order)."""
        res = self.result
        items = res if isinstance(res, list) else [res]
        shapes = [r for r in items if isinstance(r, tuple)]
        if len(shapes) != len(items):
            raise _Unsupported("it does not return tensors")
        return shapes

    def check_unused(self, allowed: Sequence[str]) -> None:
        """Refuse keyword arguments the mapping does not read (``out=``, ``dtype=`` ...)."""
        extra = sorted(k for k in self.kwargs if k not in allowed)
        if extra:
            raise _Unsupported(f"argument {extra[0]!r} is not supported")


# ----------------------------------------------------------------------------------------------------
# helpers of the entries


def _plain(value: Any) -> Any:
    """Attribute values as spec values: tuples -> lists, a tuple of equal ints -> the int
    (``kernel_size: 3``), torch dtypes -> names."""
    if isinstance(value, torch.dtype):
        return _dtype_name(value)
    if isinstance(value, tuple | list):
        items = [_plain(v) for v in value]
        if isinstance(value, tuple) and items and all(type(v) is int and v == items[0] for v in items):
            return items[0]
        return items
    return value


def _dims_list(value: Any) -> list[Any]:
    """A dims argument given as varargs or one sequence, as a list (sizes kept symbolic)."""
    if isinstance(value, tuple | list):
        return [_plain(v) if isinstance(v, torch.dtype) else v for v in value]
    return [value]


def _varargs(c: Call, start: int, name: str) -> list[Any]:
    """``x.view(2, 3)`` / ``x.view((2, 3))`` / ``x.view(shape=(2, 3))``: the dims as a list."""
    if name in c.kwargs:
        return _dims_list(c.kwargs[name])
    rest = c.args[start:]
    if len(rest) == 1 and isinstance(rest[0], tuple | list):
        return list(rest[0])
    if not rest:
        raise _Unsupported(f"argument {name!r} is missing")
    return list(rest)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _number(value: Any, what: str) -> Any:
    if isinstance(value, _NUMBER) or isinstance(value, DimOf | SizeOp | SizeSelect):
        return value
    raise _Unsupported(f"{what} is a {type(value).__name__}, not a number")


def _dropped(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None}


def _op(op: str, *params: str | tuple[str, str], require: Mapping[str, Any] | None = None) -> Handler:
    """A call ``f(x, a, b, ...)`` (or ``x.f(a, b, ...)``) that is op ``op`` of ``x``: ``params`` are
    the parameters after ``x``, in order, each an attribute of the same name, or ``(param, attr)``
    (attr ``""``: not an attribute; ``inplace`` marks an in-place call). Parameters left out take the
    op's default. ``require``: parameters that must have these values (else unsupported)."""
    names = [(p, p) if isinstance(p, str) else p for p in params]
    required = dict(require or {})

    def handle(c: Call) -> Result:
        x = c.tensor(0)
        c.check_unused([p for p, _ in names] + ["input"] + list(required))
        attrs: dict[str, Any] = {}
        inplace = False
        for i, (param, attr) in enumerate(names, start=1):
            value = c.get(i, param, None)
            if param == "inplace":
                inplace = bool(value)
            elif value is not None and attr:
                attrs[attr] = _plain(value)
        for param, want in required.items():
            got = c.get(len(names) + 1 + list(required).index(param), param, want)
            if got != want:
                raise _Unsupported(f"{param}={got!r} is not supported (only {want!r})")
        return Emit(op, [x], attrs, inplace=inplace)

    return handle

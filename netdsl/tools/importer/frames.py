"""Symbolic shapes of imported nodes in one frame (the network, or one block instance), with
netdsl's own shape rules: sizes read from tensors become dim expressions in the frame's names
(``x.view(x.size(0), -1)`` in the network: ``[B, -1]``; in a block whose input is ``[B, C, H, W]``:
``H*W`` for ``H * W``)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from netdsl.backend.import_graph import DimOf, ImportedNode, SizeOp, SizeSelect, TRef
from netdsl.core.errors import NetdslError, SourceLoc
from netdsl.core.symbolic import Sym, SymbolicError
from netdsl.core.types import TensorType
from netdsl.ops import REGISTRY
from netdsl.passes.dims import dim_list

#: the names of the dims of an input, by rank (the first is the batch)
DIM_NAMES: dict[int, tuple[str, ...]] = {
    1: ("B",),
    2: ("B", "C"),
    3: ("B", "N", "C"),
    4: ("B", "C", "H", "W"),
    5: ("B", "C", "D", "H", "W"),
}


def dim_names(rank: int) -> tuple[str, ...]:
    return DIM_NAMES.get(rank, ("B", *(f"D{i}" for i in range(1, rank))))


class FrameError(Exception):
    """A node of the frame cannot be written in it (a size it reads is not in the frame, attributes
    netdsl refuses, a shape rule that fails)."""

    def __init__(self, message: str, node: ImportedNode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


@dataclass
class Frame:
    """The symbolic types of a frame's tensors and the attributes of its nodes as spec values."""

    names: dict[str, Sym]
    types: dict[TRef, TensorType] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)


_ARITHMETIC: dict[str, Callable[[Sym, Sym], Sym]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
}


def scalar_of(expr: Any, types: Mapping[TRef, TensorType]) -> Sym | float:
    """The value of a size expression in a frame: a dim (symbolic or constant), or a float (``C **
    -0.5``, which needs its sizes to be constant here)."""
    if isinstance(expr, bool):
        raise FrameError(f"a bool ({expr}) used as a size")
    if isinstance(expr, int):
        return Sym.const(expr)
    if isinstance(expr, float):
        return expr
    if isinstance(expr, DimOf):
        t = types.get(expr.ref)
        if t is None:
            raise FrameError(f"it reads the size of {expr.ref.node!r}, a tensor from outside the block")
        return t.shape[expr.dim]
    if isinstance(expr, SizeSelect):
        cond = expr.cond
        x, y = size_of(cond.a, types), size_of(cond.b, types)
        compare = _CONDITIONS.get(cond.kind)
        if compare is None:
            raise FrameError(f"a condition {cond.kind} over sizes (netdsl compares sizes with < <= > >=)")
        return Sym.select(compare(x, y), size_of(expr.then, types), size_of(expr.other, types))
    if isinstance(expr, SizeOp):
        a, b = scalar_of(expr.a, types), scalar_of(expr.b, types)
        fn = _ARITHMETIC.get(expr.kind)
        if fn is not None and isinstance(a, Sym) and isinstance(b, Sym):
            try:
                return fn(a, b)
            except SymbolicError as e:
                raise FrameError(f"size arithmetic: {e}") from None
        value = _NUMERIC[expr.kind](_number(a), _number(b))
        return Sym.const(value) if isinstance(value, int) else float(value)
    raise FrameError(f"not a size: {expr!r}")


_CONDITIONS: dict[str, Callable[[Sym, Sym], Any]] = {
    k: getattr(operator, k) for k in ("lt", "le", "gt", "ge")
}


def _number(v: Sym | float) -> int | float:
    if isinstance(v, float):
        return v
    if not v.is_const:
        raise FrameError(f"a number computed from the size {v}, which depends on the input here")
    return v.value


_NUMERIC: dict[str, Callable[[Any, Any], Any]] = {
    **{k: getattr(operator, k) for k in ("add", "sub", "mul", "floordiv", "mod")},
    "truediv": operator.truediv,
    "pow": operator.pow,
}


def size_of(expr: Any, types: Mapping[TRef, TensorType]) -> Sym:
    """The symbolic value of a size expression in a frame."""
    v = scalar_of(expr, types)
    if not isinstance(v, Sym):
        raise FrameError(f"a size that is not an integer: {v}")
    return v


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%"}


def size_text(expr: Any, types: Mapping[TRef, TensorType]) -> str:
    """A size expression written as the module computes it (``(H - 1)//2 + 1)*(...)``), each size
    read from a tensor in the frame's names."""
    if isinstance(expr, SizeOp) and expr.kind in _SYMBOLS:
        a, b = size_text(expr.a, types), size_text(expr.b, types)
        return f"({a}){_SYMBOLS[expr.kind]}({b})"
    d = size_of(expr, types)
    return str(d)


def _tidy(text: str) -> str:
    """Drop the parentheses around names and numbers: ``(H)*(W)`` -> ``H*W``."""
    return re.sub(r"\(([A-Za-z0-9_]+)\)", r"\1", text)


def spec_value(value: Any, types: Mapping[TRef, TensorType]) -> Any:
    """An attribute value with its sizes as spec dims: an int when constant, else the dim expression
    in the frame's names (``"H*W"``); a float for arithmetic that gives one."""
    if isinstance(value, DimOf | SizeOp | SizeSelect):
        d = scalar_of(value, types)
        if isinstance(d, float):
            return d
        return d.value if d.is_const else _tidy(size_text(value, types))
    if isinstance(value, list | tuple):
        return [spec_value(v, types) for v in value]
    if isinstance(value, dict):
        return {k: spec_value(v, types) for k, v in value.items()}
    return value


def infer(nodes: Iterable[ImportedNode], seeds: Mapping[TRef, TensorType], names: Iterable[str]) -> Frame:
    """The types of ``nodes`` (in order) from the types of the frame's inputs ``seeds``."""
    frame = Frame({n: Sym.var(n) for n in names}, dict(seeds))
    for node in nodes:
        run_node(frame, node)
    return frame


def run_node(frame: Frame, node: ImportedNode) -> None:
    opdef = REGISTRY.get(node.op)
    if opdef is None:
        raise FrameError(f"netdsl has no op {node.op!r}", node)
    try:
        ins = [frame.types[r] for r in node.inputs]
    except KeyError as e:
        raise FrameError(f"input {e.args[0].node!r} is not in the frame", node) from None
    plain = spec_value(node.attrs, frame.types)
    try:
        attrs = opdef.attrs.model_validate(plain)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise FrameError(f"{node.op} attributes {plain}: {problems}", node) from None
    fields: Sequence[str] = getattr(type(attrs), "dim_fields", ())
    try:
        update = {
            f: dim_list(v, frame.names, SourceLoc()) for f in fields if (v := getattr(attrs, f)) is not None
        }
        if update:
            attrs = attrs.model_copy(update=update)
        outs = opdef.infer_types(attrs, ins)
    except NetdslError as e:
        raise FrameError(f"{node.op}: {e.message}", node) from None
    except SymbolicError as e:
        raise FrameError(f"{node.op}: {e}", node) from None
    for i, t in enumerate(outs):
        frame.types[TRef(node.name, i)] = t
    frame.attrs[node.name] = plain


def input_types(
    refs: Sequence[TRef], types: Mapping[TRef, TensorType]
) -> tuple[dict[TRef, TensorType], list[list[str | int]], list[str]]:
    """The types of a block's inputs in its own names: each dim that is not a number in the caller
    gets a name (``B, C, H, W`` by rank; the second input's ``H2``... unless the dim is the same),
    numbers stay. Returns the local types, each input's declaration (names; None-free) and the
    names used."""
    seen: dict[Sym, str] = {}
    used: set[str] = set()
    local: dict[TRef, TensorType] = {}
    decls: list[list[str | int]] = []
    for k, ref in enumerate(refs):
        t = types[ref]
        base = dim_names(t.rank)
        shape: list[Sym] = []
        decl: list[str | int] = []
        for i, d in enumerate(t.shape):
            if d.is_const:
                shape.append(d)
                decl.append(d.value)
                continue
            name = seen.get(d)
            if name is None:
                name = base[i] if k == 0 else f"{base[i]}{k + 1}"
                while name in used:
                    name += "_"
                used.add(name)
                seen[d] = name
            shape.append(Sym.var(name))
            decl.append(name)
        local[ref] = TensorType(tuple(shape), t.dtype)
        decls.append(decl)
    return local, decls, sorted(used)


__all__ = [
    "DIM_NAMES",
    "Frame",
    "FrameError",
    "dim_names",
    "infer",
    "input_types",
    "run_node",
    "size_of",
    "spec_value",
]

"""The checks of a checkpoint's tensors against the spec's entries they match, torch-free: shapes
(symbolic dims bound from the checkpoint's sizes) and the dtype casts ``load_state_dict`` makes
(``copy_`` converts: float16 into float32 is a warning, not an error).
"""

from __future__ import annotations

from collections.abc import Sequence

from netdsl.core.errors import NetdslError, SourceLoc, show_value
from netdsl.core.symbolic import Sym, SymbolicError, format_shape
from netdsl.core.types import FLOATS
from netdsl.frontend.checkpoint import TensorInfo, shape_text
from netdsl.passes.weights_report import Mismatch
from netdsl.passes.weights_spec import Expected, at_node

FLOAT_KINDS = (*FLOATS, "float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu")


class ShapeCheck:
    """Compares the spec's shapes (maybe symbolic) with the checkpoint's: a dim that is a plain
    symbol (``C``) takes its size from the first tensor that has it; another symbolic dim is
    compared once its symbols are bound, and accepted otherwise."""

    def __init__(self) -> None:
        self.env: dict[str, int] = {}

    def bind(self, e: Expected, info: TensorInfo) -> None:
        if len(e.shape) != len(info.shape):
            return
        for d, n in zip(e.shape, info.shape, strict=True):
            if not d.is_const and len(d.free_symbols) == 1:
                sym = next(iter(d.free_symbols))
                if d == Sym.var(sym) and sym not in self.env:
                    self.env[sym] = n

    def wanted(self, e: Expected) -> tuple[int | Sym, ...]:
        out: list[int | Sym] = []
        for d in e.shape:
            try:
                out.append(d.value if d.is_const else d.evaluate(self.env))
            except SymbolicError:
                out.append(d)
        return tuple(out)

    def fits(self, e: Expected, info: TensorInfo) -> bool:
        wanted = self.wanted(e)
        if not wanted and info.shape == (1,):  # load_state_dict takes a 1-element tensor for a 0-d one
            return True
        if len(wanted) != len(info.shape):
            return False
        return all(not isinstance(w, int) or w == n for w, n in zip(wanted, info.shape, strict=True))


def wanted_text(dims: tuple[int | Sym, ...]) -> str:
    return format_shape(dims) if any(isinstance(d, Sym) for d in dims) else shape_text([int(d) for d in dims])


#: floating casts that keep every value: (from, to)
_EXACT = {
    *(
        (a, b)
        for a in ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu")
        for b in ("float32", "float64")
    ),
    ("float32", "float64"),
    *((a, b) for a in ("float8_e4m3fn", "float8_e5m2") for b in ("float16", "bfloat16")),
}


def _cast_note(have: str, want: str) -> str:
    """How ``copy_`` changes the values of a ``have`` tensor copied into a ``want`` one."""
    if have in FLOAT_KINDS and want in FLOAT_KINDS:
        return "exact" if (have, want) in _EXACT else "rounded"
    return "values converted"


def cast_warnings(casts: Sequence[Mismatch], at_file: SourceLoc, each: int = 3) -> list[NetdslError]:
    """One warning per cast tensor, at its node; one for all the tensors of a (checkpoint dtype,
    module dtype) pair when there are more than ``each`` of them (a float16 checkpoint)."""
    pairs: dict[tuple[str, str], list[Mismatch]] = {}
    for c in casts:
        pairs.setdefault((c.info.dtype, c.expected.dtype), []).append(c)
    out: list[NetdslError] = []
    for (have, want), items in pairs.items():
        note = _cast_note(have, want)
        if len(items) > each:
            keys = ", ".join(show_value(c.expected.key) for c in items[:3])
            out.append(
                NetdslError(
                    f"dtype cast: {len(items)} {have} tensors of the checkpoint become the module's {want} "
                    f"in load_state_dict ({note}): {keys}, ...",
                    at_file,
                    severity="warning",
                )
            )
            continue
        for c in items:
            e = c.expected
            via = "" if c.original == e.key else f" (the file's {show_value(c.original)})"
            out.append(
                at_node(
                    NetdslError(
                        f"dtype cast for {show_value(e.key)}{via}: the checkpoint's {have} becomes the "
                        f"module's {want} in load_state_dict ({note})",
                        e.node.loc,
                        severity="warning",
                    ),
                    e.node,
                )
            )
    return out

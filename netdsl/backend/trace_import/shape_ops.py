"""The entries of calls that move elements: indexing (``x[:, 0]``, ``t[1]``), reshapes and views,
permutes, (un)squeezes, concatenation and splits, roll, pad, index_select / gather."""

from __future__ import annotations

from typing import Any

from netdsl.backend.import_graph import DimOf, TRef
from netdsl.backend.trace_import.calls import (
    PREV,
    Alias,
    Call,
    Chain,
    Emit,
    Handler,
    Result,
    _dims_list,
    _dropped,
    _op,
    _Unsupported,
    _varargs,
)
from netdsl.backend.trace_import.sizes import _is_size


def _getitem(c: Call) -> Result:
    obj, index = c.args[0], c.args[1]
    if isinstance(obj, tuple | list):
        if isinstance(index, int | slice):
            return Alias(obj[index])
        raise _Unsupported(f"indexing a sequence with {type(index).__name__}")
    if isinstance(obj, TRef):
        return _index(c, obj, index)
    raise _Unsupported(f"indexing a {type(obj).__name__}")


def _index(c: Call, x: TRef, index: Any) -> Result:
    """``x[...]`` with ints, slices, None and ``...``: slices, squeezes and unsqueezes."""
    items = list(index) if isinstance(index, tuple) else [index]
    rank = c.rank(x)
    given = sum(1 for i in items if i is not None and i is not Ellipsis)
    if items.count(Ellipsis) > 1 or given > rank:
        raise _Unsupported("too many indices")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (rank - given)
    else:
        items += [slice(None)] * (rank - given)
    steps: list[Emit] = []
    out_dim = 0
    for item in items:
        source = [PREV] if steps else [x]
        if item is None:
            steps.append(Emit("unsqueeze", source, {"dim": out_dim}))
            out_dim += 1
        elif isinstance(item, int) and not isinstance(item, bool):
            end = None if item == -1 else item + 1
            steps.append(Emit("slice", source, _dropped({"dim": out_dim, "start": item, "end": end})))
            steps.append(Emit("squeeze", [PREV], {"dim": out_dim}))
        elif isinstance(item, slice):
            if item != slice(None):
                start, stop, step = item.start, item.stop, item.step
                if not all(v is None or _is_size(v) for v in (start, stop)) or not (
                    step is None or isinstance(step, int)
                ):
                    raise _Unsupported("a slice bound that is not an integer or a size")
                attrs = _dropped({"dim": out_dim, "start": start, "end": stop, "step": step})
                steps.append(Emit("slice", source, attrs))
            out_dim += 1
        else:
            raise _Unsupported(f"indexing with a {type(item).__name__} (advanced indexing)")
    if not steps:
        return Alias(x)
    return Chain(steps)


def _reshape(c: Call) -> Result:
    x = c.tensor(0)
    c.check_unused(["input", "shape", "size"])
    shape = _varargs(c, 1, "shape" if "shape" in c.kwargs else "size")
    return Emit("reshape", [x], {"shape": shape})


def _reshape_as(c: Call) -> Result:
    x, other = c.tensor(0), c.tensor(1, "other")
    return Emit("reshape", [x], {"shape": [DimOf(other, i) for i in range(c.rank(other))]})


def _expand(c: Call) -> Result:
    x = c.tensor(0)
    return Emit("expand", [x], {"shape": _varargs(c, 1, "size")})


def _expand_as(c: Call) -> Result:
    x, other = c.tensor(0), c.tensor(1, "other")
    return Emit("expand", [x], {"shape": [DimOf(other, i) for i in range(c.rank(other))]})


def _permute(c: Call) -> Result:
    x = c.tensor(0)
    dims = _varargs(c, 1, "dims")
    return Emit("permute", [x], {"dims": [c.dim(x, d) for d in dims]})


def _squeeze(c: Call) -> Result:
    x = c.tensor(0)
    d = c.get(1, "dim", None)
    if d is None:
        raise _Unsupported("squeeze without a dim (which dims have size 1 depends on the input)")
    dims = sorted({c.dim(x, v) for v in _dims_list(d)}, reverse=True)
    steps = [Emit("squeeze", [PREV if i else x], {"dim": v}) for i, v in enumerate(dims)]
    return steps[0] if len(steps) == 1 else Chain(steps)


def _flatten(c: Call) -> Result:
    return _op("flatten", "start_dim", "end_dim")(c)


def _unflatten(c: Call) -> Result:
    x = c.tensor(0)
    return Emit("unflatten", [x], {"dim": c.get(1, "dim"), "sizes": _dims_list(c.get(2, "sizes"))})


def _cat(op: str) -> Handler:
    def handle(c: Call) -> Result:
        tensors = c.get(0, "tensors")
        if not isinstance(tensors, tuple | list) or not all(isinstance(t, TRef) for t in tensors):
            raise _Unsupported("its inputs are not a sequence of tensors")
        c.check_unused(["tensors", "dim", "axis"])
        dim = c.get(1, "dim", c.kwargs.get("axis", 0))
        return Emit(op, list(tensors), {"dim": dim})

    return handle


def _split(c: Call) -> Result:
    """split / chunk: the sizes of the parts from the example run (one ``chunks`` when equal)."""
    x = c.tensor(0)
    dim = c.dim(x, c.get(2, "dim", 0))
    parts = [s[dim] for s in c.result_shapes()]
    if len(parts) == 1:
        return Alias((x,))
    attrs: dict[str, Any] = {"dim": dim}
    if all(p == parts[0] for p in parts):
        attrs["chunks"] = len(parts)
    else:
        attrs["sizes"] = parts
    return Emit("split", [x], attrs, outputs=len(parts))


def _roll(c: Call) -> Result:
    x = c.tensor(0)
    dims = c.get(2, "dims", None)
    return Emit(
        "roll",
        [x],
        _dropped(
            {"shifts": _dims_list(c.get(1, "shifts")), "dims": None if dims is None else _dims_list(dims)}
        ),
    )


def _pad(c: Call) -> Result:
    x = c.tensor(0)
    attrs = {
        "pad": _dims_list(c.get(1, "pad")),
        "mode": c.get(2, "mode", "constant"),
        "value": c.get(3, "value", None),
    }
    return Emit("pad", [x], _dropped(attrs))


def _indexed(op: str) -> Handler:
    """index_select(x, dim, index) / gather(x, dim, index)."""

    def handle(c: Call) -> Result:
        x, index = c.tensor(0), c.tensor(2, "index")
        return Emit(op, [x, index], {"dim": c.get(1, "dim")})

    return handle

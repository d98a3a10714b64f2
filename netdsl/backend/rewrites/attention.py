"""The written-out attention of a spec to ``torch.nn.functional.scaled_dot_product_attention``.

The pattern, matched on the calls of the lowered graph (torch.matmul, torch.softmax, ...) whose
nodes hold results of spec nodes (their static types in ``node.meta``), each intermediate read by the
next alone::

    scores = matmul(q, transpose(k, -2, -1))     # q may be q * c
    scores = scores * c | scores / c             # optional, c a number
    scores = scores + mask                       # optional: a float mask (added)
           | scores.masked_fill(drop, -inf)      #         : a bool mask of what is dropped
    weights = softmax(scores, dim=-1)
    weights = dropout(weights, p=0)              # optional, p 0 (inference drops dropout first)
    out = matmul(weights, v)

becomes ``F.scaled_dot_product_attention(q, k, v, attn_mask=..., scale=c)``: the same values up to
rounding (torch's fused kernel on CPU, flash / memory-efficient kernels on GPU), the L x S weights
never materialised. Nothing is installed or removed from the module tree: ``state_dict()`` keeps its
keys."""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from netdsl.backend.rewrites.base import Fired, erase_unread, fired, only_user, spec_meta

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _result(n: Any) -> bool:
    """``n`` is an fx node holding the result of a spec node (its static type is in its meta)."""
    return isinstance(n, fx.Node) and "shape" in spec_meta(n)


def _calls(n: Any, *targets: Any) -> bool:
    return _result(n) and n.op == "call_function" and any(n.target is t for t in targets)


def _method(n: Any, name: str) -> bool:
    return _result(n) and n.op == "call_method" and n.target == name


def _rank(n: Any) -> int | None:
    shape = spec_meta(n).get("shape")
    return len(shape) if isinstance(shape, tuple) else None


def _scalar(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _scaled(n: Any) -> tuple[Any, float] | None:
    """``(x, c)`` when ``n`` is x * c, c * x or x / c with a number c (not 0)."""
    if _calls(n, operator.mul) and len(n.args) == 2:
        x, c = n.args
        if _scalar(c) is not None:
            return x, _scalar(c)  # type: ignore[return-value]
        if _scalar(x) is not None:
            return c, _scalar(x)  # type: ignore[return-value]
    if _calls(n, operator.truediv) and len(n.args) == 2 and _scalar(n.args[1]):
        return n.args[0], 1.0 / _scalar(n.args[1])  # type: ignore[operator]
    return None


def _key(kt: Any) -> Any:
    """``k`` when ``kt`` is k transposed over its last two dims."""
    if not _method(kt, "transpose") or len(kt.args) != 3:
        return None
    rank = _rank(kt)
    if rank is None or rank < 2:
        return None
    dims = {d % rank for d in kt.args[1:] if isinstance(d, int)}
    return kt.args[0] if dims == {rank - 2, rank - 1} else None


def _dropout_p(gm: fx.GraphModule, n: Any) -> float | None:
    """p of the nn.Dropout that ``n`` calls (None when ``n`` is no dropout)."""
    if not _result(n) or n.op != "call_module":
        return None
    mod = gm.get_submodule(str(n.target))
    return float(mod.p) if isinstance(mod, nn.Dropout) else None


def _added(n: Any) -> tuple[Any, Any] | None:
    """``(x, y)`` when ``n`` is x + y (operator.add, or the in-place ``x.add_(y)`` of
    netdsl.backend.inplace)."""
    if (_calls(n, operator.add) or _method(n, "add_")) and len(n.args) == 2 and not n.kwargs:
        return n.args[0], n.args[1]
    return None


def _same_shape(a: Any, b: Any) -> bool:
    shape = spec_meta(a).get("shape")
    return shape is not None and shape == spec_meta(b).get("shape")


def _match(gm: fx.GraphModule, out: fx.Node) -> dict[str, Any] | None:
    """The parts of the pattern ending in ``out`` (a matmul), or None. ``inner``: the nodes between
    the two matmuls, the first matmul last (each read by the one before it alone)."""
    if not _calls(out, torch.matmul) or len(out.args) != 2:
        return None
    w: Any = out.args[0]
    v: Any = out.args[1]
    inner: list[Any] = []
    reader: Any = out

    def take(n: Any) -> None:
        nonlocal reader
        inner.append(n)
        reader = n

    if _dropout_p(gm, w) is not None:
        if _dropout_p(gm, w) != 0.0 or not only_user(w, reader):
            return None
        take(w)
        w = w.args[0]
    if not _calls(w, torch.softmax) or not only_user(w, reader):
        return None
    rank = _rank(w)
    if rank is None or rank < 2 or w.kwargs.get("dim") not in (-1, rank - 1):
        return None
    if spec_meta(w).get("dtype") not in FLOAT_DTYPES:
        return None
    take(w)
    s: Any = w.args[0]
    mask: Any = None
    added = _added(s)
    if (added is not None or _method(s, "masked_fill")) and not _same_shape(s, s.args[0]):
        return None  # (a mask that broadcasts the scores to a larger shape: not an attention mask)
    if _method(s, "masked_fill") and len(s.args) == 3 and only_user(s, reader):
        value = s.args[2]
        if not (isinstance(value, float) and value == -math.inf):
            return None
        mask = ("not", s.args[1])
        take(s)
        s = s.args[0]
    elif added is not None and only_user(s, reader):
        scores, m = added
        if not _result(m) or spec_meta(m).get("dtype") != spec_meta(w).get("dtype"):
            return None
        mask = m
        take(s)
        s = scores
    scale = 1.0
    scaled = _scaled(s)
    if scaled is not None and only_user(s, reader):
        take(s)
        s, scale = scaled
    if not _calls(s, torch.matmul) or len(s.args) != 2 or not only_user(s, reader):
        return None
    take(s)
    q: Any = s.args[0]
    kt: Any = s.args[1]
    k = _key(kt)
    if k is None:
        return None
    q_scaled = _scaled(q)
    if q_scaled is not None and only_user(q, s):
        inner.append(q)
        q, c = q_scaled
        scale *= c
    ranks = {_rank(q), _rank(k), _rank(v)}
    if len(ranks) != 1 or None in ranks:
        return None
    dtypes = {spec_meta(t).get("dtype") for t in (q, k, v)}
    if len(dtypes) != 1 or dtypes.pop() not in FLOAT_DTYPES:
        return None
    return {"q": q, "k": k, "v": v, "mask": mask, "scale": scale, "inner": inner, "kt": kt}


def attention_to_sdpa(gm: fx.GraphModule) -> list[Fired]:
    """Rewrite every match of the pattern; the records of those rewritten."""
    fired_at = []
    g = gm.graph
    for out in list(g.nodes):
        if out.graph is not g:
            continue  # (erased by an earlier match)
        m = _match(gm, out)
        if m is None:
            continue
        with g.inserting_before(out):
            mask = m["mask"]
            if isinstance(mask, tuple):  # masked_fill(-inf) where True: SDPA keeps where True
                mask = g.call_function(torch.logical_not, (mask[1],))
            kwargs: dict[str, Any] = {"scale": m["scale"]}
            if mask is not None:
                kwargs["attn_mask"] = mask
            fused = g.call_function(F.scaled_dot_product_attention, (m["q"], m["k"], m["v"]), kwargs)
        fused.meta = dict(out.meta)
        out.replace_all_uses_with(fused)
        g.erase_node(out)
        inner = m["inner"]
        rest = [i for n in inner for i in n.all_input_nodes if i not in inner]
        for n in inner:  # each read by the one erased before it alone
            g.erase_node(n)
        erase_unread(g, [m["kt"], *rest])
        detail = f"matmul, softmax, matmul: scaled_dot_product_attention (scale {m['scale']:.6g})"
        fired_at.append(fired("attention", fused, detail))
    return fired_at

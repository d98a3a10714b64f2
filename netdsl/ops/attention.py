"""Fused attention: scaled_dot_product_attention (torch.nn.functional.scaled_dot_product_attention).

softmax(q kᵀ · scale + mask) v in one op, so that torch picks its fused kernels (a flash kernel on
CPU, flash / memory-efficient ones on GPU) instead of materialising the L x S weights; the written
out form (matmul, mul, softmax, dropout, matmul) computes the same values.
"""

from netdsl.core.errors import ShapeError
from netdsl.core.symbolic import Sym
from netdsl.core.types import FLOATS, TensorType
from netdsl.ops.base import Attrs, Finite, Fraction, OpDef, broadcast, fail, need_min_rank, register, shp


class AttentionAttrs(Attrs):
    #: dropout on the attention weights, in training mode only (torch's dropout_p)
    dropout_p: Fraction = 0.0
    #: the factor of q kᵀ; default 1 / sqrt(E), E the last dim of q
    scale: Finite | None = None
    #: mask out the weights above the diagonal (q i attends to k j <= i, aligned top-left)
    is_causal: bool = False


def _attention_infer(a: AttentionAttrs, ins: list[TensorType]) -> list[TensorType]:
    q, k, v = ins[:3]
    for t, name in ((q, "q"), (k, "k"), (v, "v")):
        need_min_rank(t, 2, name)
    if not q.dtype == k.dtype == v.dtype:
        raise fail(f"q, k and v must have one dtype, got {q.dtype}, {k.dtype} and {v.dtype}")
    if k.shape[-1] != q.shape[-1]:
        raise fail(
            f"k {shp(k)} must have the last dim of q {shp(q)} ({k.shape[-1]} vs {q.shape[-1]}): "
            "q kᵀ is a matrix product over it"
        )
    if v.shape[-2] != k.shape[-2]:
        raise fail(
            f"v {shp(v)} must have as many rows as k {shp(k)} ({v.shape[-2]} vs {k.shape[-2]}): "
            "one value per key"
        )
    scores = _batch(q, k)
    out = q.with_shape((*_batch(q, k, v), q.shape[-2], v.shape[-1]))
    if len(ins) == 4:
        _check_mask(a, ins[3], q, (*scores, q.shape[-2], k.shape[-2]))
    return [out]


def _batch(*ts: TensorType) -> tuple[Sym, ...]:
    """The leading dims (all but the last two) of ``ts``, broadcast as torch.matmul does."""
    try:
        return broadcast([t.shape[:-2] for t in ts])
    except ShapeError:
        listed = ", ".join(shp(t) for t in ts)
        names = ", ".join("qkv"[: len(ts)])
        raise fail(
            f"the leading dims of {names} ({listed}) do not broadcast (all but the last two dims)"
        ) from None


def _check_mask(a: AttentionAttrs, mask: TensorType, q: TensorType, weights: tuple[Sym, ...]) -> None:
    if a.is_causal:
        raise fail(
            "is_causal and a mask input exclude each other (torch refuses both)",
            hint="drop the mask input, or set is_causal: false and make the causal mask part of the mask",
        )
    if mask.dtype not in ("bool", "float32", q.dtype):
        raise fail(
            f"the mask must be bool (True: take part), or float32 or the dtype of q ({q.dtype}), added "
            f"to the scores; got {mask.dtype}"
        )
    lead = len(weights) - mask.rank
    if lead < 0 or any(d != w and d != 1 for d, w in zip(mask.shape, weights[lead:], strict=True)):
        raise fail(
            f"the mask {shp(mask)} must broadcast to the shape of the attention weights {shp(weights)} "
            "(q's leading dims, L, S)"
        )


def _attention_macs(a: AttentionAttrs, ins: list[TensorType], outs: list[TensorType]) -> Sym:
    s = ins[1].shape[-2]
    scores = ins[0].numel() // ins[0].shape[-1] * s  # the attention weights: leading dims x L x S
    return ins[0].numel() * s + outs[0].numel() * s + scores  # q kᵀ, weights v, softmax


register(
    OpDef(
        name="scaled_dot_product_attention",
        family="attention",
        doc="softmax(q kᵀ · scale + mask) v in one fused op "
        "(torch.nn.functional.scaled_dot_product_attention): "
        "q [..., L, E], k [..., S, E], v [..., S, Ev] -> [..., L, Ev]; `scale` defaults to 1 / sqrt(E); "
        "leading dims broadcast; an optional `mask` input, bool (True: take part) or float (added: float32 "
        "or q's dtype), broadcast to [..., L, S], "
        "or `is_causal`; `dropout_p` on the weights in training mode only.",
        attrs=AttentionAttrs,
        infer=_attention_infer,
        inputs=("q", "k", "v", "mask"),
        optional_inputs=1,
        macs=_attention_macs,
        dtypes=FLOATS,
        input_dtypes={"mask": ("bool", *FLOATS)},
        module=True,
    )
)

__all__ = ["AttentionAttrs"]

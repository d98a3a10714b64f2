"""Ops with weights: linear, embedding, convolutions, normalisations; dropout and drop_path."""

from collections.abc import Callable
from typing import Literal

from pydantic import model_validator

from netdsl.core.symbolic import Sym
from netdsl.core.symbolic_proofs import assume_positive
from netdsl.core.types import FLOATS, ParamSpec, TensorType, dtype_list, is_float, prod
from netdsl.ops.base import (
    GEOMETRY_MAX,
    Attrs,
    Fraction,
    IntOrList,
    OpDef,
    PositiveFinite,
    fail,
    int_tuple,
    need_min_rank,
    need_rank,
    norm_dim,
    positive,
    register,
    same_type,
    shp,
)


def _concrete(d: Sym, what: Callable[[], str], attr: str) -> int:
    """``d`` as a number (``what()`` names it in the error: messages are made only for errors)."""
    if not d.is_const:
        raise fail(f"{what()} is the symbolic dim {d}; it must be a number here: give `{attr}` explicitly")
    return d.value


def _features(given: int | None, actual: Sym, attr: str, what: Callable[[], str]) -> int:
    if given is None:
        return _concrete(actual, what, attr)
    if actual != given:
        raise fail(
            f"{what()} is {actual} but {attr} = {given}",
            hint=f"`{attr}` is inferred from the input: remove it, or feed this node a tensor with {given}",
        )
    return given


# Weights and running statistics are float32 (torch's default dtype). Linear and convolutions need
# inputs of their weights' dtype; normalisations also take float16 and bfloat16 inputs (mixed
# precision), but not float64 ones.
WEIGHTED = ("float32",)
NORM_WITH_WEIGHTS = ("float32", "float16", "bfloat16")


def _norm_dtype(x: TensorType, name: str, state: bool, switch: str) -> None:
    """A float64 input of a normalisation is refused when it has float32 weights or running stats."""
    if state and x.dtype not in NORM_WITH_WEIGHTS:
        raise fail(
            f"{name} does not accept {x.dtype} tensors when it has weights or running statistics "
            f"(float32); accepted dtypes then: {dtype_list(NORM_WITH_WEIGHTS)}",
            hint=f"feed it a float32 tensor, or set {switch}",
        )


# ---------------------------------------------------------------- linear


class LinearAttrs(Attrs):
    out_features: int
    in_features: int | None = None
    bias: bool = True


def _linear_infer(a: LinearAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    need_min_rank(x, 1)
    _features(a.in_features, x.shape[-1], "in_features", lambda: f"the input's last dim (shape {shp(x)})")
    if a.out_features < 1:
        raise fail(f"out_features must be >= 1, got {a.out_features}")
    return [x.with_shape((*x.shape[:-1], a.out_features))]


def _linear_params(a: LinearAttrs, ins: list[TensorType]) -> dict[str, ParamSpec]:
    n_in = ins[0].shape[-1]
    p = {"weight": ParamSpec((Sym.of(a.out_features), n_in))}
    if a.bias:
        p["bias"] = ParamSpec((Sym.of(a.out_features),))
    return p


register(
    OpDef(
        name="linear",
        family="linear",
        doc="y = x @ weight.T + bias over the last dim (torch.nn.Linear).",
        attrs=LinearAttrs,
        infer=_linear_infer,
        params=_linear_params,
        macs=lambda a, ins, outs: outs[0].numel() * ins[0].shape[-1],
        dtypes=WEIGHTED,
    )
)

# ---------------------------------------------------------------- convolution


class ConvAttrs(Attrs):
    out_channels: int
    kernel_size: IntOrList
    in_channels: int | None = None
    stride: IntOrList = 1
    padding: IntOrList | Literal["same", "valid"] = 0
    dilation: IntOrList = 1
    groups: int = 1
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"


def _conv_geometry(a: ConvAttrs, n: int) -> tuple[tuple[int, ...], ...]:
    k = int_tuple(a.kernel_size, n, "kernel_size")
    s = int_tuple(a.stride, n, "stride")
    d = int_tuple(a.dilation, n, "dilation")
    if a.padding == "valid":
        p = (0,) * n
    elif a.padding == "same":
        if any(v != 1 for v in s):
            raise fail("padding 'same' needs stride 1")
        p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d, strict=True))
    else:
        p = int_tuple(a.padding, n, "padding")
    for name, vals, lo in (("kernel_size", k, 1), ("stride", s, 1), ("dilation", d, 1), ("padding", p, 0)):
        if any(v < lo for v in vals):
            raise fail(f"{name} must be >= {lo}, got {list(vals)}")
    return k, s, p, d


def conv_out(size: Sym, k: int, s: int, p: int, d: int = 1) -> Sym:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _make_conv(n: int) -> None:
    name = f"conv{n}d"
    spatial = "LHW"[-n:] if n < 3 else "DHW"
    input_what = f"{name} input (B, C, {', '.join(spatial)})"

    def infer(a: ConvAttrs, ins: list[TensorType]) -> list[TensorType]:
        x = ins[0]
        need_rank(x, [n + 2], input_what)
        c_in = _features(a.in_channels, x.shape[1], "in_channels", lambda: f"input channels (shape {shp(x)})")
        if a.groups < 1 or c_in % a.groups or a.out_channels % a.groups:
            raise fail(
                f"in_channels {c_in} and out_channels {a.out_channels} must both be divisible by "
                f"groups {a.groups}"
            )
        if a.out_channels < 1:
            raise fail(f"out_channels must be >= 1, got {a.out_channels}")
        k, s, p, d = _conv_geometry(a, n)
        out = []
        for i in range(n):
            o = x.shape[2 + i] if a.padding == "same" else conv_out(x.shape[2 + i], k[i], s[i], p[i], d[i])
            if o.is_const and o.value <= 0:  # (the message only then)
                positive(
                    o,
                    f"{name} of input {shp(x)}: the output size along {spatial[i]} "
                    f"(kernel {k[i]}, stride {s[i]}, padding {p[i]}, dilation {d[i]})",
                )
            else:
                assume_positive(o)  # (a symbolic output size: the input sizes it needs are assumed)
            out.append(o)
        return [x.with_shape((x.shape[0], a.out_channels, *out))]

    def params(a: ConvAttrs, ins: list[TensorType]) -> dict[str, ParamSpec]:
        k, _, _, _ = _conv_geometry(a, n)
        c_in = ins[0].shape[1]
        p = {"weight": ParamSpec((Sym.of(a.out_channels), c_in // a.groups, *map(Sym.of, k)))}
        if a.bias:
            p["bias"] = ParamSpec((Sym.of(a.out_channels),))
        return p

    def macs(a: ConvAttrs, ins: list[TensorType], outs: list[TensorType]) -> Sym:
        k, _, _, _ = _conv_geometry(a, n)
        return outs[0].numel() * (ins[0].shape[1] // a.groups) * prod(k)

    register(
        OpDef(
            name=name,
            family="conv",
            doc=f"{n}-d convolution (torch.nn.Conv{n}d); grouped and depthwise with `groups`.",
            attrs=ConvAttrs,
            infer=infer,
            params=params,
            macs=macs,
            dtypes=WEIGHTED,
        )
    )


for _n in (1, 2, 3):
    _make_conv(_n)

# ---------------------------------------------------------------- normalisation


class BatchNormAttrs(Attrs):
    num_features: int | None = None
    eps: PositiveFinite = 1e-5
    momentum: Fraction = 0.1
    affine: bool = True
    track_running_stats: bool = True


def _make_batch_norm(n: int, ranks: list[int]) -> None:
    name = f"batch_norm{n}d"
    input_what = f"{name} input"

    def infer(a: BatchNormAttrs, ins: list[TensorType]) -> list[TensorType]:
        x = ins[0]
        need_rank(x, ranks, input_what)
        state = a.affine or a.track_running_stats
        _norm_dtype(x, name, state, "affine: false and track_running_stats: false")
        _features(a.num_features, x.shape[1], "num_features", lambda: f"input channels (shape {shp(x)})")
        return [ins[0]]

    def params(a: BatchNormAttrs, ins: list[TensorType]) -> dict[str, ParamSpec]:
        c = (ins[0].shape[1],)
        p: dict[str, ParamSpec] = {}
        if a.affine:
            p |= {"weight": ParamSpec(c), "bias": ParamSpec(c)}
        if a.track_running_stats:
            p |= {
                "running_mean": ParamSpec(c, "buffer"),
                "running_var": ParamSpec(c, "buffer"),
                "num_batches_tracked": ParamSpec((), "buffer"),
            }
        return p

    register(
        OpDef(
            name=f"batch_norm{n}d",
            family="norm",
            doc=f"Batch normalisation over dim 1 (torch.nn.BatchNorm{n}d), running stats in the state_dict; "
            "float64 inputs only with `affine: false, track_running_stats: false`.",
            attrs=BatchNormAttrs,
            infer=infer,
            params=params,
            macs=lambda a, ins, outs: outs[0].numel() * 2,
            dtypes=FLOATS,
        )
    )


_make_batch_norm(1, [2, 3])
_make_batch_norm(2, [4])
_make_batch_norm(3, [5])


class LayerNormAttrs(Attrs):
    normalized_shape: int | list[int] | None = None
    eps: PositiveFinite = 1e-5
    elementwise_affine: bool = True
    bias: bool = True
    #: the one dim normalised over when it is not the last (ConvNeXt's LayerNorm2d: `dim: 1`); the
    #: default -1 normalises over the trailing dims of `normalized_shape`
    dim: int = -1


def ln_dim(a: LayerNormAttrs, x: TensorType) -> int | None:
    """The dim normalised over when it is not the last one (None: the trailing dims, as torch)."""
    d = norm_dim(a.dim, x.rank)
    return None if d == x.rank - 1 else d


def _ln_shape(a: LayerNormAttrs, x: TensorType) -> tuple[int, ...]:
    d = ln_dim(a, x)
    if d is not None:
        return _ln_one_dim(a, x, d)
    if a.normalized_shape is None:
        return (_features(None, x.shape[-1], "normalized_shape", lambda: f"the last dim (shape {shp(x)})"),)
    ns = (a.normalized_shape,) if isinstance(a.normalized_shape, int) else tuple(a.normalized_shape)
    if (
        not ns
        or len(ns) > x.rank
        or any(Sym.of(v) != d for v, d in zip(ns, x.shape[-len(ns) :], strict=True))
    ):
        raise fail(f"normalized_shape {list(ns)} does not match the trailing dims of the input {shp(x)}")
    return ns


def _ln_one_dim(a: LayerNormAttrs, x: TensorType, d: int) -> tuple[int, ...]:
    """normalized_shape of a layer norm over dim ``d`` (not the last): that dim's size, one entry."""
    ns = a.normalized_shape
    if isinstance(ns, list):
        if len(ns) != 1:
            raise fail(
                f"layer_norm over dim {a.dim} normalises that one dim: normalized_shape must be one size, "
                f"got {ns}",
                hint="leave normalized_shape out (it is the size of that dim)",
            )
        ns = ns[0]
    return (
        _features(ns, x.shape[d], "normalized_shape", lambda: f"dim {a.dim} of the input (shape {shp(x)})"),
    )


def _ln_infer(a: LayerNormAttrs, ins: list[TensorType]) -> list[TensorType]:
    need_min_rank(ins[0], 1)
    _norm_dtype(ins[0], "layer_norm", a.elementwise_affine, "elementwise_affine: false")
    _ln_shape(a, ins[0])
    return [ins[0]]


def _ln_params(a: LayerNormAttrs, ins: list[TensorType]) -> dict[str, ParamSpec]:
    if not a.elementwise_affine:
        return {}
    s = tuple(map(Sym.of, _ln_shape(a, ins[0])))
    return {"weight": ParamSpec(s), "bias": ParamSpec(s)} if a.bias else {"weight": ParamSpec(s)}


register(
    OpDef(
        name="layer_norm",
        family="norm",
        doc="Layer normalisation over the trailing dims (torch.nn.LayerNorm); default: the last dim; "
        "`dim: 1` normalises over dim 1 alone (ConvNeXt's LayerNorm2d on NCHW: weight and bias [C]); "
        "float64 inputs only with `elementwise_affine: false`.",
        attrs=LayerNormAttrs,
        infer=_ln_infer,
        params=_ln_params,
        macs=lambda a, ins, outs: outs[0].numel() * 2,
        dtypes=FLOATS,
    )
)


class GroupNormAttrs(Attrs):
    num_groups: int
    num_channels: int | None = None
    eps: PositiveFinite = 1e-5
    affine: bool = True


def _gn_infer(a: GroupNormAttrs, ins: list[TensorType]) -> list[TensorType]:
    need_min_rank(ins[0], 2)
    _norm_dtype(ins[0], "group_norm", a.affine, "affine: false")
    x = ins[0]
    c = _features(a.num_channels, x.shape[1], "num_channels", lambda: f"input channels (shape {shp(x)})")
    if a.num_groups < 1 or c % a.num_groups:
        raise fail(f"num_channels {c} must be divisible by num_groups {a.num_groups}")
    return [ins[0]]


register(
    OpDef(
        name="group_norm",
        family="norm",
        doc="Group normalisation over channel groups (torch.nn.GroupNorm); float64 inputs only with "
        "`affine: false`.",
        attrs=GroupNormAttrs,
        infer=_gn_infer,
        params=lambda a, ins: (
            {"weight": ParamSpec((ins[0].shape[1],)), "bias": ParamSpec((ins[0].shape[1],))}
            if a.affine
            else {}
        ),
        macs=lambda a, ins, outs: outs[0].numel() * 2,
        dtypes=FLOATS,
    )
)


class DropoutAttrs(Attrs):
    p: Fraction = 0.5


def _dropout_infer(a: DropoutAttrs, ins: list[TensorType]) -> list[TensorType]:
    if not 0 <= a.p <= 1:  # the attribute schema refuses it first; kept for attrs built in code
        raise fail(f"dropout probability p must be in [0, 1], got {a.p}")
    _scaled_by_float_mask("dropout", a.p, ins[0])
    return [ins[0]]


register(
    OpDef(
        name="dropout",
        family="regularization",
        doc="Dropout, active only in training mode (torch.nn.Dropout); integer and bool inputs only with "
        "p 0 or 1.",
        attrs=DropoutAttrs,
        infer=_dropout_infer,
        module=True,
    )
)


def _scaled_by_float_mask(op: str, p: float | int, x: TensorType) -> None:
    """Dropout and drop_path with 0 < p < 1 scale by a float mask in training mode: floats only."""
    if 0 < p < 1 and not is_float(x.dtype):
        raise fail(
            f"{op} with p = {p} does not accept {x.dtype} tensors (in training mode torch "
            f"scales by a float mask); accepted dtypes: {dtype_list(FLOATS)}"
        )


class DropPathAttrs(Attrs):
    p: Fraction
    mode: Literal["row", "batch"] = "row"


def _drop_path_infer(a: DropPathAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    _scaled_by_float_mask("drop_path", a.p, x)
    if a.mode == "row" and a.p > 0 and x.rank == 0:
        raise fail("drop_path in mode 'row' drops rows of dim 0: the input needs rank >= 1, got a 0-d tensor")
    return [x]


register(
    OpDef(
        name="drop_path",
        family="regularization",
        doc="Stochastic depth (torchvision.ops.StochasticDepth): in training mode zeroes the whole input "
        "(`mode: batch`) or each row of dim 0 (`mode: row`) with probability `p`, scaling the rest by "
        "1 / (1 - p); identity in eval mode; integer and bool inputs only with p 0 or 1.",
        attrs=DropPathAttrs,
        infer=_drop_path_infer,
        module=True,
    )
)

# ---------------------------------------------------------------- embedding

INDEX_DTYPES = ("int64", "int32")


class EmbeddingAttrs(Attrs):
    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None

    @model_validator(mode="after")
    def _sizes(self) -> "EmbeddingAttrs":
        for name in ("num_embeddings", "embedding_dim"):
            if not 1 <= getattr(self, name) <= GEOMETRY_MAX:
                raise ValueError(f"{name} must be from 1 to {GEOMETRY_MAX}, got {getattr(self, name)}")
        n, pad = self.num_embeddings, self.padding_idx
        if pad is not None and not -n <= pad < n:
            raise ValueError(f"padding_idx must be from {-n} to {n - 1} (num_embeddings {n}), got {pad}")
        return self


register(
    OpDef(
        name="embedding",
        family="linear",
        doc="Rows of `weight` [num_embeddings, embedding_dim] picked by an integer tensor of any shape "
        "(torch.nn.Embedding): shape + [embedding_dim], float32; init normal(0, 1), the `padding_idx` "
        "row zeroed.",
        attrs=EmbeddingAttrs,
        infer=lambda a, ins: [TensorType.of((*ins[0].shape, a.embedding_dim), "float32")],
        params=lambda a, ins: {"weight": ParamSpec((Sym.of(a.num_embeddings), Sym.of(a.embedding_dim)))},
        dtypes=INDEX_DTYPES,
    )
)

__all__ = ["conv_out", "same_type"]

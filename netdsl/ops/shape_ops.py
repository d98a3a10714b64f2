"""Ops that move data around without arithmetic: reshape, permute, cat, split, ..."""

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from netdsl.core.symbolic import Sym
from netdsl.core.symbolic_proofs import expanded, provably_nonnegative
from netdsl.core.types import TensorType, prod, promote, scalar_fits
from netdsl.ops.base import Attrs, OpDef, Scalar, broadcast, fail, norm_dim, register, shp

DimList = list[int | str]


def as_sym(d: object) -> Sym:
    """A dim of an evaluated dim field (shape inference has turned strings into Syms)."""
    if isinstance(d, Sym):
        return d
    if isinstance(d, int) and not isinstance(d, bool):
        return Sym.const(d)
    raise TypeError(f"dim {d!r} was not evaluated")


class DimAttrs(Attrs):
    """Attrs whose `dim_fields` hold dim expressions ("H*W", "C//2"), evaluated by shape inference."""

    dim_fields: ClassVar[tuple[str, ...]] = ()


class ReshapeAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("shape",)
    shape: DimList


def _reshape_infer(a: ReshapeAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    dims: list[Any] = list(a.shape)
    unknown = [i for i, d in enumerate(dims) if as_sym(d) == -1]
    if len(unknown) > 1:
        raise fail(f"reshape to {shp(dims)}: at most one dim may be -1")
    if any(as_sym(d).is_const and as_sym(d).value < 0 and as_sym(d) != -1 for d in dims):
        raise fail(f"reshape to {shp(dims)}: negative size")
    known = prod([d for i, d in enumerate(dims) if i not in unknown])
    total = x.numel()
    if unknown:
        q = total.exact_div(known) if known != 0 else None
        if q is None and known != 0:  # (names of `expect:` read as what they stand for: Hp = 7*(H//7))
            q = expanded(total).exact_div(expanded(known))
        if q is None:
            raise fail(
                f"cannot reshape {shp(x)} ({total} elements) to {shp(dims)}: {total} is not divisible "
                f"by {known}"
            )
        dims[unknown[0]] = q
    elif known != total and expanded(known) != expanded(total):
        raise fail(f"cannot reshape {shp(x)} ({total} elements) to {shp(dims)} ({known} elements)")
    return [x.with_shape(dims)]


register(
    OpDef(
        name="reshape",
        family="reshape",
        doc="Reshape to `shape` (ints, one -1, or dim expressions such as 'H*W').",
        attrs=ReshapeAttrs,
        infer=_reshape_infer,
        identity_when_same_type=True,
    )
)


class FlattenAttrs(Attrs):
    start_dim: int = 0
    end_dim: int = -1


def _flatten_infer(a: FlattenAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    if x.rank == 0:
        if a.start_dim not in (0, -1) or a.end_dim not in (0, -1):
            raise fail("a 0-d tensor flattens only with start_dim and end_dim 0 or -1")
        return [x.with_shape((1,))]
    s, e = norm_dim(a.start_dim, x.rank, "start_dim"), norm_dim(a.end_dim, x.rank, "end_dim")
    if s > e:
        raise fail(f"start_dim {a.start_dim} comes after end_dim {a.end_dim} for shape {shp(x)}")
    return [x.with_shape((*x.shape[:s], prod(x.shape[s : e + 1]), *x.shape[e + 1 :]))]


register(
    OpDef(
        name="flatten",
        family="reshape",
        doc="Merge dims start_dim..end_dim into one (torch.flatten).",
        attrs=FlattenAttrs,
        infer=_flatten_infer,
        identity_when_same_type=True,
    )
)


class UnflattenAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("sizes",)
    dim: int
    sizes: DimList


def _unflatten_infer(a: UnflattenAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    d = norm_dim(a.dim, x.rank)
    sub = TensorType((x.shape[d],), x.dtype)
    inner = _reshape_infer(ReshapeAttrs.model_construct(shape=a.sizes), [sub])[0].shape
    return [x.with_shape((*x.shape[:d], *inner, *x.shape[d + 1 :]))]


register(
    OpDef(
        name="unflatten",
        family="reshape",
        doc="Split dim `dim` into `sizes` (torch.unflatten).",
        attrs=UnflattenAttrs,
        infer=_unflatten_infer,
        identity_when_same_type=True,
    )
)


class PermuteAttrs(Attrs):
    dims: list[int]


def _permute_infer(a: PermuteAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    dims = [norm_dim(d, x.rank) for d in a.dims]
    if sorted(dims) != list(range(x.rank)):
        raise fail(f"permute dims {a.dims} are not a permutation of the {x.rank} dims of {shp(x)}")
    return [x.with_shape([x.shape[d] for d in dims])]


register(
    OpDef(
        name="permute",
        family="reshape",
        doc="Reorder dims (torch.permute).",
        attrs=PermuteAttrs,
        infer=_permute_infer,
    )
)


class TransposeAttrs(Attrs):
    dim0: int
    dim1: int


def _transpose_infer(a: TransposeAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    i, j = norm_dim(a.dim0, x.rank, "dim0"), norm_dim(a.dim1, x.rank, "dim1")
    s = list(x.shape)
    s[i], s[j] = s[j], s[i]
    return [x.with_shape(s)]


register(
    OpDef(
        name="transpose",
        family="reshape",
        doc="Swap two dims (torch.transpose).",
        attrs=TransposeAttrs,
        infer=_transpose_infer,
    )
)


class DimAttr(Attrs):
    dim: int


def _unsqueeze_infer(a: DimAttr, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    if not -(x.rank + 1) <= a.dim <= x.rank:
        raise fail(
            f"unsqueeze dim {a.dim} is out of range for shape {shp(x)} (valid: {-(x.rank + 1)}..{x.rank})"
        )
    d = norm_dim(a.dim, x.rank + 1)
    return [x.with_shape((*x.shape[:d], 1, *x.shape[d:]))]


register(
    OpDef(
        name="unsqueeze",
        family="reshape",
        doc="Insert a dim of size 1 at `dim`.",
        attrs=DimAttr,
        infer=_unsqueeze_infer,
    )
)


def _squeeze_infer(a: DimAttr, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    d = norm_dim(a.dim, x.rank)
    if x.shape[d] != 1:
        raise fail(f"cannot squeeze dim {a.dim} of {shp(x)}: its size is {x.shape[d]}, not 1")
    return [x.with_shape((*x.shape[:d], *x.shape[d + 1 :]))]


register(
    OpDef(
        name="squeeze",
        family="reshape",
        doc="Remove dim `dim`, which must have size 1.",
        attrs=DimAttr,
        infer=_squeeze_infer,
    )
)


def _cat_infer(a: DimAttr, ins: list[TensorType]) -> list[TensorType]:
    first = ins[0]
    d = norm_dim(a.dim, first.rank)
    shapes = ", ".join(shp(t) for t in ins)
    for t in ins[1:]:
        if t.rank != first.rank:
            raise fail(f"cat along dim {a.dim}: shapes {shapes} have different ranks")
        for i in range(first.rank):
            if i != d and t.shape[i] != first.shape[i]:
                raise fail(
                    f"cat along dim {a.dim}: shapes {shapes} differ in dim {i} ({first.shape[i]} vs "
                    f"{t.shape[i]}); only dim {a.dim} may differ"
                )
    out = TensorType(
        (*first.shape[:d], sum_dims(ins, d), *first.shape[d + 1 :]), promote([t.dtype for t in ins])
    )
    return [out]


def sum_dims(ins: list[TensorType], d: int) -> Sym:
    total = Sym.const(0)
    for t in ins:
        total = total + t.shape[d]
    return total


register(
    OpDef(
        name="cat",
        family="reshape",
        doc="Concatenate the inputs along `dim`.",
        attrs=DimAttr,
        infer=_cat_infer,
        variadic=True,
    )
)


def _stack_infer(a: DimAttr, ins: list[TensorType]) -> list[TensorType]:
    first = ins[0]
    if any(t.shape != first.shape for t in ins):
        raise fail(f"stack needs equal shapes, got {', '.join(shp(t) for t in ins)}")
    d = norm_dim(a.dim, first.rank + 1)
    return [
        TensorType((*first.shape[:d], Sym.const(len(ins)), *first.shape[d:]), promote([t.dtype for t in ins]))
    ]


register(
    OpDef(
        name="stack",
        family="reshape",
        doc="Stack the inputs along a new dim `dim`.",
        attrs=DimAttr,
        infer=_stack_infer,
        variadic=True,
    )
)


class SplitAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("sizes",)
    dim: int
    sizes: DimList | None = None
    chunks: int | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "SplitAttrs":
        if (self.sizes is None) == (self.chunks is None):
            raise ValueError("split needs exactly one of `sizes` (a list) or `chunks` (equal parts)")
        if self.chunks is not None and not 1 <= self.chunks <= 4096:
            raise ValueError(f"chunks must be from 1 to 4096, got {self.chunks}")
        if self.sizes is not None and not 1 <= len(self.sizes) <= 4096:
            raise ValueError("sizes must list from 1 to 4096 parts")
        return self


def _split_sizes(a: SplitAttrs, x: TensorType) -> list[Sym]:
    d = norm_dim(a.dim, x.rank)
    if (a.sizes is None) == (a.chunks is None):
        raise fail("split needs exactly one of `sizes` (list) or `chunks` (equal parts)")
    if a.chunks is not None:
        if a.chunks < 1:
            raise fail(f"chunks must be >= 1, got {a.chunks}")
        part = x.shape[d].exact_div(a.chunks)
        if part is None:
            raise fail(f"dim {a.dim} of {shp(x)} ({x.shape[d]}) does not split into {a.chunks} equal chunks")
        return [part] * a.chunks
    sizes = [as_sym(s) for s in a.sizes or []]
    if any(s.is_const and s.value < 0 for s in sizes):
        raise fail(f"split sizes {shp(sizes)} must not be negative")
    total = sum_dims([TensorType((s,)) for s in sizes], 0)
    if total != x.shape[d]:
        raise fail(f"split sizes {shp(sizes)} add up to {total}, but dim {a.dim} of {shp(x)} is {x.shape[d]}")
    return sizes


def _split_infer(a: SplitAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    d = norm_dim(a.dim, x.rank)
    return [x.with_shape((*x.shape[:d], s, *x.shape[d + 1 :])) for s in _split_sizes(a, x)]


register(
    OpDef(
        name="split",
        family="reshape",
        doc="Split along `dim` into `chunks` equal parts or parts of `sizes`; one output per part "
        "(refer to them as node.0, node.1, ...).",
        attrs=SplitAttrs,
        infer=_split_infer,
        outputs=lambda a: a.chunks if a.chunks is not None else len(a.sizes or []),
    )
)


class SliceAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("bounds",)
    dim: int
    start: int | str = 0
    end: int | str | None = None
    step: int = 1
    #: [start, end] as evaluated by shape inference (end None: the size); not written in specs
    bounds: DimList = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounds(self) -> "SliceAttrs":
        if not self.bounds:
            ends: DimList = [self.start] if self.end is None else [self.start, self.end]
            object.__setattr__(self, "bounds", ends)
        return self


def _slice_infer(a: SliceAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    d = norm_dim(a.dim, x.rank)
    if a.step < 1:
        raise fail(f"step must be >= 1, got {a.step}")
    size = x.shape[d]
    start = as_sym(a.bounds[0])
    end = as_sym(a.bounds[1]) if len(a.bounds) > 1 else size
    text = f"[{a.start}:{'' if a.end is None else a.end}:{a.step}]"
    if size.is_const and start.is_const and end.is_const:  # exactly Python's slicing
        length = Sym.const(len(range(size.value)[start.value : end.value : a.step]))
    else:
        # a negative constant counts from the end (clamped at 0: max over a symbolic size); a
        # non-negative one is taken to lie within the dim (a concrete check tells); a dim expression
        # must lie within the dim for every size
        given_end = len(a.bounds) > 1
        lo = Sym.maximum(0, size + start) if start.is_const and start.value < 0 else start
        hi = end if not given_end else Sym.maximum(0, size + end) if end.is_const and end.value < 0 else end
        checks = [] if start.is_const else [(f"0 <= start ({lo})", lo)]
        if given_end and not (start.is_const and end.is_const):
            checks.append((f"start ({lo}) <= end ({hi})", hi - lo))
        if given_end and not end.is_const:
            checks.append((f"end ({hi}) <= the size ({size})", size - hi))
        for what, cond in checks:
            if not provably_nonnegative(cond):
                raise fail(
                    f"slice {text} of dim {a.dim} (size {size}): cannot prove {what} for every input size",
                    hint="a bound that may fall outside the dim is clamped by torch, which static shapes "
                    "do not follow for dim expressions: slice within the dim (e.g. end: H of a map padded "
                    "from H)",
                )
        length = (hi - lo + a.step - 1) // a.step
    if length.is_const and length.value <= 0:
        raise fail(f"slice {text} of dim {a.dim} (size {size}) is empty")
    return [x.with_shape((*x.shape[:d], length, *x.shape[d + 1 :]))]


register(
    OpDef(
        name="slice",
        family="reshape",
        doc="x[..., start:end:step] along `dim`.",
        attrs=SliceAttrs,
        infer=_slice_infer,
    )
)


class ExpandAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("shape",)
    shape: DimList


def _expand_infer(a: ExpandAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    target = [as_sym(d) for d in a.shape]
    if len(target) < x.rank:
        raise fail(f"cannot expand {shp(x)} to fewer dims {shp(target)}")
    lead = len(target) - x.rank
    for i, t in enumerate(target):
        if t.is_const and (t.value < -1 or (t.value == -1 and i < lead)):
            raise fail(
                f"cannot expand {shp(x)} to {shp(target)}: -1 keeps an existing dim, other sizes are >= 0"
            )
    out = [x.shape[i - lead] if t == -1 and i >= lead else t for i, t in enumerate(target)]
    if broadcast([x.shape, tuple(out)]) != tuple(out):
        raise fail(f"cannot expand {shp(x)} to {shp(out)}")
    return [x.with_shape(out)]


register(
    OpDef(
        name="expand",
        family="reshape",
        doc="Broadcast to a larger `shape` (-1 keeps a dim).",
        attrs=ExpandAttrs,
        infer=_expand_infer,
        identity_when_same_type=True,
    )
)

# ---------------------------------------------------------------- indexing

INDEX_DTYPES = ("int64", "int32")


def _index_select_infer(a: DimAttr, ins: list[TensorType]) -> list[TensorType]:
    x, index = ins
    if x.rank == 0:
        raise fail("index_select needs an input of rank >= 1, got a 0-d tensor")
    d = norm_dim(a.dim, x.rank)
    if index.rank > 1:
        raise fail(f"the index of index_select must be a vector (rank 1), got shape {shp(index)}")
    n = index.shape[0] if index.rank else Sym.const(1)
    return [x.with_shape((*x.shape[:d], n, *x.shape[d + 1 :]))]


register(
    OpDef(
        name="index_select",
        family="reshape",
        doc="The entries of x at `index` (a vector of int64 or int32) along `dim` (torch.index_select).",
        attrs=DimAttr,
        infer=_index_select_infer,
        inputs=("x", "index"),
        input_dtypes={"index": INDEX_DTYPES},
    )
)


def _gather_infer(a: DimAttr, ins: list[TensorType]) -> list[TensorType]:
    x, index = ins
    if x.rank != index.rank:
        raise fail(f"gather needs an index of the rank of the input: index {shp(index)}, input {shp(x)}")
    d = norm_dim(a.dim, max(x.rank, 1))
    for i, (n, m) in enumerate(zip(index.shape, x.shape, strict=True)):
        gap = m - n  # (a number when the sizes are, or differ by a constant)
        if i != d and gap.is_const and gap.value < 0:
            raise fail(
                f"gather along dim {a.dim}: index {shp(index)} is larger than the input {shp(x)} in dim {i}; "
                f"only dim {a.dim} may be larger"
            )
    return [TensorType(index.shape, x.dtype)]


register(
    OpDef(
        name="gather",
        family="reshape",
        doc="out[i][j] = x[index[i][j]][j] along `dim` (torch.gather): the shape of `index` (int64 or "
        "int32, the rank of x, no larger than x but along `dim`), the dtype of x.",
        attrs=DimAttr,
        infer=_gather_infer,
        inputs=("x", "index"),
        input_dtypes={"index": INDEX_DTYPES},
    )
)

# ---------------------------------------------------------------- roll and pad


def _as_list(v: Any) -> Any:
    """One entry given alone, as a list of it (`shifts: 3` = `shifts: [3]`)."""
    return [v] if isinstance(v, int | str) else v


class RollAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("shifts",)
    shifts: DimList
    dims: list[int] | None = None

    _lists = field_validator("shifts", "dims", mode="before")(_as_list)

    @model_validator(mode="after")
    def _align(self) -> "RollAttrs":
        if not 1 <= len(self.shifts) <= 64:
            raise ValueError("shifts must list from 1 to 64 shifts")
        if self.dims is None and len(self.shifts) != 1:
            raise ValueError("roll without `dims` (over the flattened tensor) takes one shift")
        if self.dims is not None and len(self.dims) != len(self.shifts):
            raise ValueError(
                f"shifts and dims must have the same length, got {len(self.shifts)} and {len(self.dims)}"
            )
        return self


def _roll_infer(a: RollAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    for d in a.dims or []:
        norm_dim(d, x.rank)
    return [x]


register(
    OpDef(
        name="roll",
        family="reshape",
        doc="Shift entries cyclically by `shifts` along `dims` (torch.roll; no `dims`: the flattened "
        "tensor); shifts are ints or dim expressions such as '-(H//2)', computed at run time.",
        attrs=RollAttrs,
        infer=_roll_infer,
    )
)


class PadAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ("pad",)
    pad: DimList
    mode: Literal["constant", "reflect", "replicate", "circular"] = "constant"
    value: Scalar | None = None

    @model_validator(mode="after")
    def _pairs(self) -> "PadAttrs":
        if not self.pad or len(self.pad) % 2 or len(self.pad) > 64:
            raise ValueError(
                "pad must list pairs of amounts (before, after), last dim first, from 1 to 32 pairs; "
                f"got {len(self.pad)} entries"
            )
        if self.value is not None and self.mode != "constant":
            raise ValueError(f"`value` is the fill of mode 'constant'; mode {self.mode!r} takes none")
        return self


def _pad_infer(a: PadAttrs, ins: list[TensorType]) -> list[TensorType]:
    x = ins[0]
    amounts = [as_sym(p) for p in a.pad]
    n = len(amounts) // 2
    if a.mode == "constant":
        if n > x.rank:
            raise fail(f"pad lists {n} pairs of amounts, more than the {x.rank} dims of {shp(x)}")
        if a.value is not None and not scalar_fits(a.value, x.dtype):
            raise fail(f"value {a.value} does not fit the input's dtype {x.dtype}")
    else:
        _pad_mode_rank(a, x, n)
    shape = list(x.shape)
    for i in range(n):
        d = x.rank - 1 - i
        lo, hi = amounts[2 * i], amounts[2 * i + 1]
        _pad_amounts_fit(a, lo, hi, shape[d], d, x)
        shape[d] = shape[d] + lo + hi
    return [x.with_shape(shape)]


def _pad_mode_rank(a: PadAttrs, x: TensorType, n: int) -> None:
    if n > 3 or x.rank not in (n + 1, n + 2):
        raise fail(
            f"pad mode {a.mode!r} pads the last 1, 2 or 3 dims of a tensor with 1 or 2 more dims; "
            f"{n} pair{'s' if n > 1 else ''} of amounts do not fit {shp(x)} (rank {x.rank})"
        )
    if a.mode in ("reflect", "replicate") and x.dtype == "bool":
        raise fail(f"pad mode {a.mode!r} does not accept bool tensors (torch has no such kernel)")


def _pad_amounts_fit(a: PadAttrs, lo: Sym, hi: Sym, size: Sym, d: int, x: TensorType) -> None:
    """What torch refuses of the amounts of one dim, checked where they and the size are numbers."""
    where = f"dim {d} of {shp(x)} (size {size})"
    for amount in (lo, hi):
        if not amount.is_const:
            continue
        if amount.value < 0 and a.mode != "constant":
            raise fail(f"pad amount {amount} of {where}: only mode 'constant' crops (negative amounts)")
        if not size.is_const:
            continue
        if a.mode == "reflect" and amount.value >= size.value:
            raise fail(f"pad amount {amount} of {where}: mode 'reflect' pads less than the size")
        if a.mode == "circular" and amount.value > size.value:
            raise fail(f"pad amount {amount} of {where}: mode 'circular' pads at most the size")
        if a.mode == "replicate" and size.value == 0:
            raise fail(f"pad mode 'replicate' of {where}: nothing to replicate")
        if amount.value < -size.value:
            raise fail(f"pad amount {amount} of {where} crops more than the dim has")
    out = size + lo + hi
    if out.is_const and out.value < 0:
        raise fail(f"pad amounts {lo}, {hi} of {where} leave a negative size {out}")


register(
    OpDef(
        name="pad",
        family="reshape",
        doc="Pad (or crop, negative amounts, mode 'constant' only) by `pad`: pairs (before, after), last dim "
        "first, ints or dim expressions such as '(7 - W % 7) % 7' computed at run time "
        "(torch.nn.functional.pad); `value` fills mode 'constant' (default 0).",
        attrs=PadAttrs,
        infer=_pad_infer,
    )
)

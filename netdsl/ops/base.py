"""The op registry: every primitive op is defined once, here and in its family module.

An :class:`OpDef` carries everything the passes need about an op: the pydantic
schema of its attributes, the static shape rule, the parameters it owns and the MAC
count, and the flags other passes read (``installs``, ``takes_init_as_attribute``,
``warn_if_unused``).  Passes look ops up in :data:`REGISTRY`; nothing else in netdsl switches on
op names (tests/test_ops.py checks it).

The definitions are torch-free. An op's lowering to torch.fx lives in the lowering half,
``netdsl/ops/lowerings/<family>.py`` (through the :class:`~netdsl.ops.lowerings.base.LowerCtx`
protocol), registered by op name in :data:`netdsl.ops.lowerings.LOWERINGS`.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, overload

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

from netdsl.core.errors import ShapeError
from netdsl.core.symbolic import Sym, format_shape
from netdsl.core.symbolic_proofs import assume_positive
from netdsl.core.types import DTYPES, FLOATS, INT_RANGE, ParamSpec, TensorType, dtype_list

FAMILIES = (
    "linear",
    "conv",
    "norm",
    "activation",
    "attention",
    "elementwise",
    "reduce",
    "pool",
    "reshape",
    "parameter",
    "constant",
    "regularization",
)


# The op modules leave out `from __future__ import annotations` on purpose: pydantic would then
# evaluate every attribute's annotation string when the ~40 attribute models are made at import.


class Attrs(BaseModel):
    """Base of every op's attribute schema: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class NoAttrs(Attrs):
    pass


InferFn = Callable[[Any, list[TensorType]], list[TensorType]]
ParamsFn = Callable[[Any, list[TensorType]], dict[str, ParamSpec]]
MacsFn = Callable[[Any, list[TensorType], list[TensorType]], Sym]


@dataclass(frozen=True)
class OpDef:
    """Definition of one primitive op."""

    name: str
    family: str
    doc: str
    attrs: type[Attrs]
    infer: InferFn
    inputs: tuple[str, ...] = ("x",)
    optional_inputs: int = 0  # how many trailing inputs may be left out
    variadic: bool = False  # takes a list of >= 1 inputs (cat, stack, add ...)
    params: ParamsFn | None = None
    macs: MacsFn | None = None
    outputs: Callable[[Any], int] = field(default=lambda _a: 1)
    #: the dtypes every input accepts on the CPU build of torch (checked against torch by
    #: tests/test_ops.py); rules on combinations of dtypes and attributes live in ``infer``
    dtypes: tuple[str, ...] = DTYPES
    #: per-input exceptions to ``dtypes``, by input name (the mask of masked_fill: bool only)
    input_dtypes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: lowers to a module at the node's path although it owns no parameters (dropout)
    module: bool = False
    #: the node's `init:` is the op's own ``init`` attribute (the initialiser of the tensor the op
    #: is: `op: parameter`), not a map of parameter names to initialisers
    takes_init_as_attribute: bool = False
    #: the resolver warns about a node of this op that no output uses (not for a `parameter`, which
    #: may be declared for its state_dict entry alone)
    warn_if_unused: bool = True
    #: makes a tensor from its attributes alone (arange, full): with a static shape, its value is a
    #: constant, computed when the module is built (:mod:`netdsl.passes.constants`)
    creates: bool = False
    #: a function of its inputs only (not random, owns nothing): computed at build time when they are
    #: constants
    foldable: bool = True
    #: its (first) input must be a constant, computed at build time (`buffer` stores it)
    constant_input: bool = False
    #: returns its input unchanged when the output has the input's shape and dtype (a reshape to the
    #: same shape): netdsl.compile drops such nodes
    identity_when_same_type: bool = False
    #: a plugin op's lowering: an import path ``"package.module:function"``, imported when the op is
    #: first lowered (checking a spec never imports it, nor torch), or the function itself. netdsl's own
    #: ops leave it None: their lowerings are registered in ``netdsl/ops/lowerings/`` (docs/plugins.md)
    lowering: str | Callable[..., Any] | None = None
    #: where a plugin op comes from, set by netdsl when it registers one (``"<distribution> <version>"``
    #: for an entry point, ``"register_op in <module>"`` for a script); None for netdsl's own ops
    plugin: str | None = None

    @property
    def installs(self) -> bool:
        """Lowering puts a module, parameter or buffer at the node's path (an attribute of the
        GraphModule, or of a container module below it)."""
        return self.module or self.params is not None

    def input_name(self, i: int) -> str:
        return f"x{i + 1}" if self.variadic else self.inputs[i]

    def accepted_dtypes(self, i: int) -> tuple[str, ...]:
        return self.input_dtypes.get(self.input_name(i), self.dtypes)

    def check_dtypes(self, ins: Sequence[TensorType]) -> None:
        """Refuse an input dtype the op does not accept (a ShapeError naming the accepted ones)."""
        for i, t in enumerate(ins):
            accepted = self.accepted_dtypes(i)
            if t.dtype in accepted:
                continue
            name = self.input_name(i)
            if accepted == ("bool",):
                raise fail(
                    f"the {name} must be a bool tensor, got {t.dtype} {shp(t)}",
                    hint="make one with a comparison (op eq, ne, lt, le, gt or ge)",
                )
            which = "" if len(ins) == 1 else f" as input {name!r}"
            raise fail(
                f"{self.name} does not accept {t.dtype} tensors{which} (got one of shape {shp(t)}); "
                f"accepted dtypes: {dtype_list(accepted)}"
            )

    def infer_types(self, attrs: Attrs, ins: list[TensorType]) -> list[TensorType]:
        """The static rule of the op, dtypes included: what shape inference calls."""
        self.check_dtypes(ins)
        return self.infer(attrs, ins)

    def dtype_text(self) -> str:
        """The accepted dtypes, for docs/ops.md and ``netdsl ops``."""

        def words(dtypes: tuple[str, ...]) -> str:
            if set(dtypes) == set(DTYPES):
                return "any"
            if set(dtypes) == set(DTYPES) - {"bool"}:
                return "any but bool"
            if set(dtypes) == set(FLOATS):
                return "any float"
            return dtype_list(dtypes)

        if not self.inputs and not self.variadic:
            return "-"
        text = words(self.dtypes)
        for name, dtypes in self.input_dtypes.items():
            text += f"; {name}: {words(dtypes)}"
        return text

    def param_specs(self, attrs: Attrs, ins: list[TensorType]) -> dict[str, ParamSpec]:
        return self.params(attrs, ins) if self.params else {}

    def mac_count(self, attrs: Attrs, ins: list[TensorType], outs: list[TensorType]) -> Sym:
        return self.macs(attrs, ins, outs) if self.macs else Sym.const(0)

    def arity_ok(self, n: int) -> bool:
        if self.variadic:
            return n >= 1
        return len(self.inputs) - self.optional_inputs <= n <= len(self.inputs)

    def arity_text(self) -> str:
        if self.variadic:
            return "one or more inputs"
        lo, hi = len(self.inputs) - self.optional_inputs, len(self.inputs)
        names = ", ".join(self.inputs)
        count = f"{lo}" if lo == hi else f"{lo} to {hi}"
        return f"{count} input{'s' if hi != 1 else ''} ({names})"


_T = TypeVar("_T")


def _plugin_op(name: str) -> OpDef | None:
    from netdsl.ops.plugins import find_op  # (it imports this module)

    return find_op(name)


class OpRegistry(dict[str, OpDef]):
    """Op name -> :class:`OpDef`: netdsl's own ops, then the plugin ops found so far.

    A name that is not registered is looked up among the installed plugins' ops (entry point group
    ``netdsl.ops``, :mod:`netdsl.ops.plugins`) by ``registry[name]``, ``get`` and ``in``: the plugin
    that defines it is loaded then, once per process. A lookup of an op whose plugin cannot be loaded
    raises that plugin's :class:`~netdsl.core.plugins.PluginError`. Iterating gives the ops registered
    so far; :func:`netdsl.ops.plugins.load_all` loads every plugin op first (for listings).
    """

    def __missing__(self, name: str) -> OpDef:
        op = _plugin_op(name) if isinstance(name, str) else None
        if op is None:
            raise KeyError(name)
        return op

    def __contains__(self, name: object, /) -> bool:
        return dict.__contains__(self, name) or (isinstance(name, str) and _plugin_op(name) is not None)

    @overload
    def get(self, name: str, default: None = None, /) -> OpDef | None: ...
    @overload
    def get(self, name: str, default: OpDef, /) -> OpDef: ...
    @overload
    def get(self, name: str, default: _T, /) -> OpDef | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        op = _plugin_op(name) if isinstance(name, str) else None
        return default if op is None else op


#: every op by name (an :class:`OpRegistry`, typed as the dict it is to its readers)
REGISTRY: dict[str, OpDef] = OpRegistry()


def register(op: OpDef) -> OpDef:
    """Register one of netdsl's own ops (plugins use :func:`netdsl.register_op`)."""
    if dict.__contains__(REGISTRY, op.name):
        raise RuntimeError(f"op {op.name!r} registered twice")
    if op.family not in FAMILIES:
        raise RuntimeError(f"op {op.name!r}: unknown family {op.family!r}")
    if op.takes_init_as_attribute != ("init" in op.attrs.model_fields):  # `init:` fills the attribute
        raise RuntimeError(f"op {op.name!r}: an `init` attribute goes with takes_init_as_attribute")
    REGISTRY[op.name] = op
    return op


# ---------------------------------------------------------------- shape helpers


def fail(message: str, hint: str | None = None) -> ShapeError:
    return ShapeError(message, hint=hint)


def shp(t: TensorType | Sequence[Sym | int]) -> str:
    return format_shape(t.shape if isinstance(t, TensorType) else t)


def need_rank(x: TensorType, ranks: Sequence[int], what: str = "input") -> None:
    if x.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise fail(f"{what} must have rank {want}, got shape {shp(x)} (rank {x.rank})")


def need_min_rank(x: TensorType, rank: int, what: str = "input") -> None:
    if x.rank < rank:
        raise fail(f"{what} must have rank >= {rank}, got shape {shp(x)}")


def norm_dim(dim: int, rank: int, what: str = "dim") -> int:
    if not -rank <= dim < max(rank, 1):
        raise fail(f"{what} {dim} is out of range for a tensor of rank {rank} (valid: {-rank}..{rank - 1})")
    return dim % rank if rank else 0


def same_dim(a: Sym, b: Sym | int, message: str) -> None:
    if Sym.of(a) != Sym.of(b):
        raise fail(message)


def broadcast(shapes: Sequence[tuple[Sym, ...]]) -> tuple[Sym, ...]:
    """NumPy broadcasting over symbolic shapes; dims must be equal or 1."""
    rank = max(len(s) for s in shapes)
    out: list[Sym] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        chosen = Sym.const(1)
        for d in dims:
            if d == 1:
                continue
            if chosen == 1:
                chosen = d
            elif chosen != d:
                listed = " and ".join(format_shape(s) for s in shapes)
                raise fail(f"shapes {listed} do not broadcast: dim {i - rank} is {chosen} vs {d}")
        out.append(chosen)
    return tuple(out)


def positive(d: Sym, what: str) -> None:
    """A size that must be >= 1: an error when it is not, else (symbolic) an assumption on the input
    sizes that the prover of netdsl.core.symbolic takes."""
    if d.is_const and d.value <= 0:
        raise fail(f"{what} would be {d.value} (must be >= 1): the input is too small")
    assume_positive(d)


IntOrList = int | list[int]


#: bound of kernel sizes, strides, paddings, dilations and output sizes: torch's pooling kernels take
#: them as 32-bit ints ("value cannot be converted to type int without overflow")
GEOMETRY_MAX = 2**31 - 1


def int_tuple(v: IntOrList, n: int, name: str) -> tuple[int, ...]:
    """An attribute given as one int or as one int per spatial dim, as an n-tuple."""
    if isinstance(v, int):
        out: tuple[int, ...] = (v,) * n
    elif len(v) != n:
        raise fail(f"{name} must be one int or a list of {n} ints, got {v}")
    else:
        out = tuple(v)
    if any(abs(x) > GEOMETRY_MAX for x in out):
        raise fail(
            f"{name} {list(out)} is too large: torch takes it as a 32-bit int (at most {GEOMETRY_MAX})"
        )
    return out


def same_type(_attrs: Any, ins: list[TensorType]) -> list[TensorType]:
    return [ins[0]]


# ---------------------------------------------------------------- numeric attributes
# Ranges torch needs (or would silently misbehave outside of); a ValueError here becomes a
# validation error at the attribute's own position in the spec.


def _rule(ok: Callable[[float | int], bool], must: str) -> AfterValidator:
    def check(v: float | int, info: ValidationInfo) -> float | int:
        if not ok(v):
            raise ValueError(f"{info.field_name} must be {must}, got {v!r}")
        return v

    return AfterValidator(check)


def _in_int64(v: float | int) -> bool:
    lo, hi = INT_RANGE["int64"]
    return isinstance(v, float) or lo <= v <= hi


#: eps of normalisations: sqrt(var + eps) must stay real and finite
PositiveFinite = Annotated[float | int, _rule(lambda v: math.isfinite(v) and v > 0, "a finite number > 0")]
#: probabilities and momentum: a finite fraction
Fraction = Annotated[float | int, _rule(lambda v: 0 <= v <= 1, "from 0 to 1")]
#: a finite number (slopes)
Finite = Annotated[float | int, _rule(math.isfinite, "a finite number")]
#: a number torch takes as a Scalar: integers must fit in int64
Scalar = Annotated[float | int, _rule(_in_int64, "a float or an integer that fits in int64")]

"""Learnable tensors as graph nodes: `op: parameter` (state_dict key = the node path)."""

from typing import Any, ClassVar

from pydantic import field_validator

from netdsl.core.errors import SpecValidationError
from netdsl.core.symbolic import Sym
from netdsl.core.types import ParamSpec, TensorType
from netdsl.ops.base import OpDef, fail, register, shp
from netdsl.ops.initializers import parse_init
from netdsl.ops.shape_ops import DimAttrs


class ParameterAttrs(DimAttrs):
    dim_fields: ClassVar[tuple[str, ...]] = ()
    shape: list[int]
    init: str | dict[str, Any] = "zeros"
    trainable: bool = True

    @field_validator("init")
    @classmethod
    def _check_init(cls, v: str | dict[str, Any]) -> str | dict[str, Any]:
        try:
            parse_init(v)
        except SpecValidationError as exc:
            raise ValueError(exc.message) from None
        return v


def _param_infer(a: ParameterAttrs, ins: list[TensorType]) -> list[TensorType]:
    if any(d < 0 for d in a.shape):
        raise fail(f"parameter shape {shp(a.shape)} has a negative size")
    if len(a.shape) > 8 or _numel(a.shape) > 1 << 31:
        raise fail(f"parameter shape {shp(a.shape)} is too large")
    return [TensorType.of(a.shape)]


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


register(
    OpDef(
        name="parameter",
        family="parameter",
        doc="A learnable tensor of `shape`, initialised by `init`; its state_dict key is the node path.",
        attrs=ParameterAttrs,
        infer=_param_infer,
        inputs=(),
        params=lambda a, ins: {
            "": ParamSpec(tuple(map(Sym.of, a.shape)), "parameter" if a.trainable else "buffer")
        },
        takes_init_as_attribute=True,
        warn_if_unused=False,
    )
)

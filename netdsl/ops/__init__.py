"""The op registry. Importing this package registers every primitive op (torch-free)."""

from netdsl.ops import attention, constants, elementwise, nn, params, reduce, shape_ops  # noqa: F401  (registration)
from netdsl.ops.base import REGISTRY, Attrs, OpDef

__all__ = ["REGISTRY", "Attrs", "OpDef"]

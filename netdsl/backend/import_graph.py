"""The graph `netdsl import` reads from a traced ``nn.Module`` (torch-free plain data).

:mod:`netdsl.backend.trace_import` fills it from ``torch.fx`` (torch); :mod:`netdsl.tools.importer`
turns it into a spec (no torch). Every value is a netdsl op's output (:class:`TRef`), a size read
from a tensor (:class:`DimOf`, arithmetic on sizes: :class:`SizeOp`) or a Python constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netdsl.core.errors import NetdslError


class UnsupportedCall(NetdslError):
    """A call of the traced module that no netdsl op expresses (located at its Python source line)."""


@dataclass(frozen=True)
class TRef:
    """Output ``index`` of imported node (or input) ``node``."""

    node: str
    index: int = 0


@dataclass(frozen=True)
class DimOf:
    """``tensor.size(dim)``: a size read from a tensor (dim >= 0)."""

    ref: TRef
    dim: int


@dataclass(frozen=True)
class SizeOp:
    """Arithmetic on sizes (and numbers): ``kind`` is one of ``add sub mul floordiv mod`` (a size) or
    ``truediv pow`` (a number: its sizes must be constant where it is written)."""

    kind: str
    a: SizeExpr
    b: SizeExpr


@dataclass(frozen=True)
class SizeCond:
    """A comparison of sizes (``kind``: ``lt le gt ge``): the condition of a :class:`SizeSelect`."""

    kind: str
    a: SizeExpr
    b: SizeExpr


@dataclass(frozen=True)
class SizeSelect:
    """``torch.sym_ite(cond, then, other)``: one of two sizes, by a condition over sizes."""

    cond: SizeCond
    then: SizeExpr
    other: SizeExpr


SizeExpr = int | float | DimOf | SizeOp | SizeSelect


@dataclass(frozen=True)
class Source:
    """Where a call is written in the module's Python source."""

    file: str
    line: int
    code: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.code}" if self.code else where


@dataclass(frozen=True)
class CallScope:
    """One call of a submodule that was traced through (not a leaf): ``key`` is unique per call
    (``layer1.0``; ``layer1.0@1`` for the second call of the same module), ``path`` its module path,
    ``cls`` its class (``torchvision.models.resnet.BasicBlock``), ``container`` for the plain
    containers (``nn.Sequential``), which never become blocks."""

    key: str
    path: str
    cls: str
    container: bool = False


@dataclass
class ImportedNode:
    """One netdsl op: ``name`` is unique in the graph (the fx node's, or derived from it)."""

    name: str
    op: str
    inputs: tuple[TRef, ...]
    attrs: dict[str, Any]
    #: the module path the op's state lives at (call_module, a parameter), else None
    module: str | None = None
    #: it owns parameters or buffers (in the state_dict): must stay at ``module``
    stateful: bool = False
    #: the submodule calls it is made in, outermost first
    scopes: tuple[CallScope, ...] = ()
    source: Source | None = None
    outputs: int = 1
    #: what it was traced from, for messages (``call_module Conv2d``)
    origin: str = ""


@dataclass(frozen=True)
class ImportedInput:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass
class ImportedGraph:
    """A traced module: its inputs, nodes in execution order, outputs, and where each module's
    (or tensor's) first key is in the module's state_dict (``module_rank``: the order of the keys)."""

    name: str
    cls: str
    inputs: list[ImportedInput]
    nodes: list[ImportedNode]
    outputs: list[TRef]
    module_rank: dict[str, int] = field(default_factory=dict)
    #: the concrete shape of every output (from the example run), for the example dims of blocks
    shapes: dict[TRef, tuple[int, ...]] = field(default_factory=dict)


__all__ = [
    "CallScope",
    "DimOf",
    "ImportedGraph",
    "ImportedInput",
    "ImportedNode",
    "SizeCond",
    "SizeExpr",
    "SizeOp",
    "SizeSelect",
    "Source",
    "TRef",
    "UnsupportedCall",
]

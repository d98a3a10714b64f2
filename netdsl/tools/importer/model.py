"""What the importer writes: bodies of nodes (the network's, each block's), block definitions and the
calls of blocks, as plain data that :mod:`netdsl.tools.importer.emit` turns into YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netdsl.backend.import_graph import TRef


@dataclass(frozen=True)
class ParamRef:
    """A block parameter's value: ``$name``."""

    name: str


@dataclass(frozen=True)
class CondRef:
    """A reference chosen by a bool parameter: ``${'then' if flag else 'other'}``."""

    flag: str
    then: str
    other: str


@dataclass
class Entry:
    """One node of a body: an op (``kind`` "op", ``what`` the op) or a block instance (``kind``
    "block", ``what`` the block); ``inputs`` are local names (or :class:`ParamRef` /
    :class:`CondRef`), ``attrs`` the op's attributes or the block's arguments."""

    name: str
    kind: str
    what: Any  # the op or block: a name, or a ParamRef (`op: $act_op`)
    inputs: list[Any]
    attrs: dict[str, Any]
    rank: int = 0
    when: ParamRef | None = None
    repeat: int = 0
    repeat_var: str | None = None
    path: str | None = None
    outputs: int = 1
    #: a block instance's output names (its outputs are ``name.<output>`` when it has several)
    out_names: list[str] = field(default_factory=list)
    doc: str | None = None


@dataclass
class Body:
    """A network's or a block's nodes: inputs with their declared shapes, entries, outputs, and the
    example sizes of the dims its inputs name."""

    inputs: list[tuple[str, list[Any]]]
    entries: list[Entry]
    outputs: list[tuple[str, Any]]
    example: dict[str, int] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)


@dataclass
class Param:
    name: str
    type: str
    default: Any


@dataclass
class BlockDef:
    """A block made from the instances of one module class."""

    name: str
    cls: str
    params: dict[str, Param]
    body: Body
    instances: list[str] = field(default_factory=list)


@dataclass
class BlockCall:
    """One instance of a block: its arguments, the tensors it reads and makes, its module path."""

    block: str
    args: dict[str, Any]
    inputs: list[TRef]
    outputs: list[TRef]
    out_names: list[str]
    path: str


__all__ = ["BlockCall", "BlockDef", "Body", "CondRef", "Entry", "Param", "ParamRef"]

"""What a name stands for while a body is resolved: the symbol table's entries, a tagged union.

A body's table maps each name (a node, a block input) to one of:

- :class:`Outputs`: the refs of the node's outputs (a block input: one ref);
- :class:`Off`: a node that its `when:` switches off;
- :class:`Failed`: a node (or variable) whose resolution failed; its users are skipped, their
  errors would only echo its own;
- :class:`Absent`: an optional block input that this instance leaves unconnected.

The variables' environment uses :data:`FAILED` too, for a variable whose error is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from netdsl.ir.graph import Ref


@dataclass(frozen=True, slots=True)
class Outputs:
    """A node's (or an input's) outputs, in order."""

    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class Off:
    """A node switched off by its `when:` (or that of its ``group``, written at ``line``): it has no
    outputs."""

    group: str | None = None
    line: int = 0

    def why(self, name: str) -> str:
        if self.group is None:
            return f"{name!r} is switched off by its `when:` and has no outputs"
        return f"{name!r} is left out: its group {self.group!r} is switched off by `when:` (line {self.line})"


@dataclass(frozen=True, slots=True)
class Failed:
    """A node or variable whose error is reported."""


@dataclass(frozen=True, slots=True)
class Absent:
    """An optional block input left unconnected."""


Symbol = Outputs | Off | Failed | Absent

OFF = Off()
FAILED = Failed()
ABSENT = Absent()

#: a body's symbol table
Table = dict[str, Symbol]


class Reported(Exception):
    """A node failed and its errors are already collected."""


__all__ = ["ABSENT", "FAILED", "OFF", "Absent", "Failed", "Off", "Outputs", "Reported", "Symbol", "Table"]

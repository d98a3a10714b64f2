"""The one error hierarchy of netdsl.

Every problem a user can cause is a :class:`NetdslError` (a ``ValueError``) that
knows where it happened: file, line, column, and the path inside the spec
(``nodes.stem.kernel_size``).  Several errors of one file travel together in
:class:`NetdslErrors`.  Rendering follows the compiler convention::

    specs/x.yaml:12:5: error: unknown op 'conv2' [nodes.stem.op]
       12 |     op: conv2
          |         ^^^^^
      expected one of: conv1d, conv2d, conv3d
      hint: did you mean 'conv2d'?

An error met inside a block instance also says in which, innermost first (see
:class:`ContextFrame`, :meth:`NetdslError.in_context`), before ``expected`` and the hint::

    t.yaml:8:7: error: conv2d of input (1, 3, 2, 2): ... the input is too small [blocks.inner.nodes.c]
      8 |       c: {op: conv2d, in: x, out_channels: 4, kernel_size: 5}
        |       ^
      in block instance s1.a of inner (t.yaml:13)
      in block instance s1 of outer (t.yaml:16)
      hint: the smallest input that fits has H >= 5, W >= 5
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceLoc:
    """A position in a spec file: 1-based line and column, and the spec path."""

    file: str = "<spec>"
    line: int = 0
    col: int = 0
    path: PathT = ()
    end_col: int = 0
    text: str | None = field(default=None, compare=False, repr=False)

    def with_path(self, path: PathT) -> SourceLoc:
        return replace(self, path=path)

    @property
    def dotted(self) -> str:
        return format_path(self.path)

    def excerpt(self) -> str:
        """The offending line with a caret under the column ('' when unknown)."""
        if self.text is None or self.line <= 0:
            return ""
        lines = self.text.splitlines()
        if self.line > len(lines):
            return ""
        src = lines[self.line - 1].rstrip("\n")
        if len(src) > 160:
            src = src[:157] + "..."
        width = max(1, (self.end_col - self.col) if self.end_col > self.col else 1)
        width = min(width, max(1, len(src) - self.col + 1))
        num = str(self.line)
        pad = " " * len(num)
        caret = " " * max(0, self.col - 1) + "^" * width
        return f"  {num} | {src}\n  {pad} | {caret}"


def show_value(value: str, limit: int = 80) -> str:
    """A user's value for a message: quoted with escapes (no raw control characters), and cut
    short when it is long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[: limit - 20]!r}... ({len(value):,} characters)"


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass(frozen=True)
class ContextFrame:
    """One place an error was met on its way out: ``in block instance stage1.attn of
    shunted_attention (specs/net.yaml:12)``. ``loc`` is where that place is written (its file and
    line are shown; no file: nothing is shown)."""

    what: str
    loc: SourceLoc = SourceLoc()

    def where(self) -> str:
        """``file:line`` (``file`` without a line; '' without a file)."""
        if self.loc.file == SourceLoc.file:
            return ""
        return f"{self.loc.file}:{self.loc.line}" if self.loc.line else self.loc.file

    def render(self) -> str:
        where = self.where()
        return f"in {self.what}" + (f" ({where})" if where else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "what": self.what,
            "file": self.loc.file,
            "line": self.loc.line,
            "column": self.loc.col,
            "path": self.loc.dotted,
            "text": self.render(),
        }


def _rebuild(cls: type[NetdslError], state: dict[str, object]) -> NetdslError:
    """An error of class ``cls`` with the attributes ``state`` (unpickling, copies)."""
    new = cls.__new__(cls)
    new._freeze(state)
    return new


class NetdslError(ValueError):
    """A user-facing error with a location, what was expected and a fix.

    Errors are immutable: ``message``, ``loc``, ``expected``, ``hint``, ``severity`` and
    ``context`` are read-only (assigning raises ``AttributeError``). A changed error is a copy:
    :meth:`evolve`, :meth:`at`, :meth:`in_context`. Pickling (and copying) keeps the class and every field.

    ``context`` holds the places the error was met in, innermost first: :meth:`in_context`
    appends a frame, the next outer one. They are shown after the excerpt, one
    ``  in ...`` line each, before ``expected one of`` and the hint.
    """

    kind = "error"
    code = "netdsl"

    _message: str
    _loc: SourceLoc
    _expected: tuple[str, ...] | None
    _hint: str | None
    _severity: str
    _context: tuple[ContextFrame, ...]

    def __init__(
        self,
        message: str,
        loc: SourceLoc | None = None,
        *,
        expected: Iterable[str] | None = None,
        hint: str | None = None,
        severity: str = "error",
        context: Iterable[ContextFrame] = (),
    ) -> None:
        self._freeze(
            {
                "_message": message,
                "_loc": loc or SourceLoc(),
                "_expected": _sorted(expected),
                "_hint": hint,
                "_severity": severity,
                "_context": tuple(context),
            }
        )

    def _freeze(self, state: dict[str, object]) -> None:
        """Set the attributes (``state``), the exception's args, then refuse any further change."""
        for name, value in state.items():
            object.__setattr__(self, name, value)
        ValueError.__init__(self, self.render())
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("__") and name.endswith("__"):  # __traceback__, __cause__, __notes__, ...
            super().__setattr__(name, value)
            return
        if self.__dict__.get("_frozen"):
            raise AttributeError(
                f"{type(self).__name__} is immutable: {name!r} cannot be set; "
                "make a changed copy with evolve(), at() or in_context()"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name.startswith("__") and name.endswith("__"):
            super().__delattr__(name)
            return
        raise AttributeError(f"{type(self).__name__} is immutable: {name!r} cannot be deleted")

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only arguments (and subclasses' own state) do not survive ValueError's pickling
        return (_rebuild, (type(self), self._state()))

    def _state(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_frozen"}

    def _replace(self, **changes: object) -> Self:
        new = type(self).__new__(type(self))
        new._freeze(self._state() | changes)
        return new

    @property
    def message(self) -> str:
        return self._message

    @property
    def loc(self) -> SourceLoc:
        return self._loc

    @property
    def expected(self) -> list[str] | None:
        """The values that would have been accepted, sorted (a new list each time)."""
        return None if self._expected is None else list(self._expected)

    @property
    def hint(self) -> str | None:
        return self._hint

    @property
    def severity(self) -> str:
        return self._severity

    @property
    def context(self) -> tuple[ContextFrame, ...]:
        """Where the error was met, innermost first."""
        return self._context

    def __str__(self) -> str:
        return self.render()

    def at(self, loc: SourceLoc) -> Self:
        """This error re-anchored at ``loc`` when it has no position yet."""
        if self.loc.line:
            return self
        return self._replace(_loc=loc)

    def evolve(
        self,
        *,
        message: str | None = None,
        loc: SourceLoc | None = None,
        hint: str | None = None,
        expected: Iterable[str] | None = None,
    ) -> Self:
        """A copy of this error with the given fields changed (None: kept); the severity and the
        context frames are kept."""
        changes: dict[str, object] = {}
        if message is not None:
            changes["_message"] = message
        if loc is not None:
            changes["_loc"] = loc
        if hint is not None:
            changes["_hint"] = hint
        if expected is not None:
            changes["_expected"] = _sorted(expected)
        return self._replace(**changes)

    def in_context(self, frame: ContextFrame) -> Self:
        """A copy with ``frame`` added as the outermost context (the hint and earlier frames kept)."""
        return self._replace(_context=(*self._context, frame))

    @property
    def errors(self) -> list[NetdslError]:
        return [self]

    def header(self) -> str:
        loc = self.loc
        where = loc.file
        if loc.line:
            where += f":{loc.line}:{loc.col}"
        path = f" [{loc.dotted}]" if loc.path else ""
        if where == SourceLoc.file:  # no place in a file: a command-line or API argument
            return f"{self.severity}: {self.message}"
        return f"{where}: {self.severity}: {self.message}{path}"

    def render(self, excerpt: bool = True, header: str | None = None) -> str:
        """The header line (or ``header``), the caret excerpt, the context frames (``  in ...``),
        `expected one of` and the hint."""
        parts = [self.header() if header is None else header]
        if excerpt:
            ex = self.loc.excerpt()
            if ex:
                parts.append(ex)
        parts.extend(f"  {frame.render()}" for frame in self._context)
        if self._expected:
            shown = self._expected[:25]
            more = f", ... ({len(self._expected) - 25} more)" if len(self._expected) > 25 else ""
            parts.append("  expected one of: " + ", ".join(shown) + more)
        if self.hint:
            parts.append(f"  hint: {self.hint}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "kind": type(self).__name__,
            "message": self.message,
            "file": self.loc.file,
            "line": self.loc.line,
            "column": self.loc.col,
            "path": self.loc.dotted,
            "context": [frame.to_dict() for frame in self._context],  # in the order of render()
            "expected": self.expected,
            "hint": self.hint,
        }


def _sorted(expected: Iterable[str] | None) -> tuple[str, ...] | None:
    return tuple(sorted(set(expected))) if expected is not None else None


class SpecSyntaxError(NetdslError):
    """The file is not acceptable YAML (syntax, tags, duplicates, size, encoding)."""


class SpecValidationError(NetdslError):
    """The YAML is fine but does not follow the spec schema."""


class ExprError(NetdslError):
    """An expression (``${...}``) does not parse or evaluate; ``offset`` and ``length``: where in the
    expression's text (the caller turns them into a column of the spec)."""

    _offset: int
    _length: int

    def __init__(
        self,
        message: str,
        loc: SourceLoc | None = None,
        *,
        expected: Iterable[str] | None = None,
        hint: str | None = None,
        severity: str = "error",
        context: Iterable[ContextFrame] = (),
        offset: int = 0,
        length: int = 1,
    ) -> None:
        object.__setattr__(self, "_offset", offset)  # (kept by _state(): copies and pickles have it)
        object.__setattr__(self, "_length", max(1, length))
        super().__init__(message, loc, expected=expected, hint=hint, severity=severity, context=context)

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def length(self) -> int:
        return self._length


class ResolveError(NetdslError):
    """Names, blocks, variants, repeats or requirements do not resolve."""


class GraphError(NetdslError):
    """The graph structure is wrong: cycles, unknown references, missing outputs."""


class ShapeError(NetdslError):
    """Static shape inference found tensors that cannot work together."""


class BuildError(NetdslError):
    """Lowering to torch or running the module failed."""


class UsageError(NetdslError):
    """Bad command-line or API arguments (exit code 2)."""


class NetdslErrors(NetdslError):
    """Several errors reported together (all errors of one run), flattened: an item that is itself a
    :class:`NetdslErrors` adds its errors. Its own message, location, hint and context are those
    of the first error."""

    _errors: tuple[NetdslError, ...]

    def __init__(self, errors: Sequence[NetdslError]) -> None:
        flat: list[NetdslError] = []
        for e in errors:
            flat.extend(e.errors)
        object.__setattr__(self, "_errors", tuple(flat))
        first = flat[0] if flat else NetdslError("no errors")
        super().__init__(
            first.message, first.loc, expected=first.expected, hint=first.hint, context=first.context
        )

    @property
    def errors(self) -> list[NetdslError]:
        return list(self._errors)

    def in_context(self, frame: ContextFrame) -> Self:
        """A copy with ``frame`` added to each of the errors."""
        errors = tuple(e.in_context(frame) for e in self._errors)
        return self._replace(_errors=errors, _context=(*self._context, frame))

    def render(self, excerpt: bool = True, header: str | None = None) -> str:
        if not getattr(self, "_errors", None):
            return super().render(excerpt, header)
        body = "\n".join(e.render(excerpt) for e in self._errors)
        n = sum(1 for e in self._errors if e.severity == "error")
        return body + f"\n{n} error{'s' if n != 1 else ''}"


class ErrorCollector:
    """Collects errors of one pass so all of them are reported in one run."""

    def __init__(self) -> None:
        self.errors: list[NetdslError] = []
        self.warnings: list[NetdslError] = []

    def add(self, err: NetdslError) -> None:
        for e in err.errors:
            target = self.warnings if e.severity == "warning" else self.errors
            key = (e.loc.file, e.loc.line, e.loc.col, e.message)
            if all((x.loc.file, x.loc.line, x.loc.col, x.message) != key for x in target):
                target.append(e)  # the same error of a block used twice is reported once

    def warn(self, message: str, loc: SourceLoc, hint: str | None = None) -> None:
        self.add(NetdslError(message, loc, hint=hint, severity="warning"))

    def raise_if_any(self) -> None:
        if self.errors:
            errs = sorted(self.errors, key=lambda e: (e.loc.file, e.loc.line, e.loc.col))
            raise errs[0] if len(errs) == 1 else NetdslErrors(errs)


def display_path(path: str | Path) -> str:
    """A path relative to the working directory when it is below it.

    Symlinks are not followed (a link is shown under its own name, as the user sees it); only a
    working directory reached through a symlink is compared by its real path.
    """
    p = Path(path)
    try:
        return str(Path(os.path.abspath(p)).relative_to(os.path.abspath(Path.cwd())))
    except (ValueError, OSError):
        pass
    try:
        real_parent = Path(os.path.realpath(Path(os.path.abspath(p)).parent))
        return str((real_parent / p.name).relative_to(os.path.realpath(Path.cwd())))
    except (ValueError, OSError, RuntimeError):
        return str(p)

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
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

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


class NetdslError(ValueError):
    """A user-facing error with a location, what was expected and a fix."""

    kind = "error"
    code = "netdsl"

    def __init__(
        self,
        message: str,
        loc: SourceLoc | None = None,
        *,
        expected: Iterable[str] | None = None,
        hint: str | None = None,
        severity: str = "error",
    ) -> None:
        self.message = message
        self.loc = loc or SourceLoc()
        self.expected = sorted(set(expected)) if expected is not None else None
        self.hint = hint
        self.severity = severity
        super().__init__(self.render())

    def __str__(self) -> str:
        return self.render()  # rendered now: message, hint and location may be refined after creation

    def at(self, loc: SourceLoc) -> NetdslError:
        """This error re-anchored at ``loc`` when it has no position yet."""
        if self.loc.line:
            return self
        new = type(self).__new__(type(self))
        NetdslError.__init__(
            new, self.message, loc, expected=self.expected, hint=self.hint, severity=self.severity
        )
        return new

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
        """The header line (or ``header``), the caret excerpt, `expected one of` and the hint."""
        parts = [self.header() if header is None else header]
        if excerpt:
            ex = self.loc.excerpt()
            if ex:
                parts.append(ex)
        if self.expected:
            shown = self.expected[:25]
            more = f", ... ({len(self.expected) - 25} more)" if len(self.expected) > 25 else ""
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
            "expected": self.expected,
            "hint": self.hint,
        }


class SpecSyntaxError(NetdslError):
    """The file is not acceptable YAML (syntax, tags, duplicates, size, encoding)."""


class SpecValidationError(NetdslError):
    """The YAML is fine but does not follow the spec schema."""


class ExprError(NetdslError):
    """An expression (``${...}``) does not parse or evaluate."""


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
    """Several errors reported together (all errors of one run)."""

    def __init__(self, errors: Sequence[NetdslError]) -> None:
        flat: list[NetdslError] = []
        for e in errors:
            flat.extend(e.errors)
        self._errors = flat
        first = flat[0] if flat else NetdslError("no errors")
        super().__init__(first.message, first.loc, expected=first.expected, hint=first.hint)

    @property
    def errors(self) -> list[NetdslError]:
        return list(self._errors)

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

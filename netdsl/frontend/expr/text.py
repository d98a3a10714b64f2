"""Expressions inside spec strings: ``"${expr}"``, ``"$name"``, ``"layer_${i}"``: splitting a string
into literal pieces and expressions, resolving a spec value (errors located in the spec), and the
names a value refers to (cached by text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from netdsl.core.errors import ExprError, SourceLoc
from netdsl.frontend.expr.evaluator import evaluate
from netdsl.frontend.expr.syntax import _SHORTHAND, CACHE_CHARS, MAX_LEN, Expr, _error, parse


class _TextCache:
    """Results of a pure function of a spec string (split into parts, names referenced), at most
    CACHE_CHARS characters of keys in all (emptied when full): a repeated block's strings are
    worked out once, not per copy. Failures are not cached (they raise again, identically)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.chars = 0

    def put(self, text: str, value: Any) -> None:
        if self.chars + len(text) + 1 > CACHE_CHARS:
            self.values.clear()
            self.chars = 0
        if text not in self.values:
            self.values[text] = value
            self.chars += len(text) + 1


_SPLITS = _TextCache()  # text -> its literal pieces and expressions (_split)
_NAMES = _TextCache()  # text -> the names its expressions reference
_COMPILED = _TextCache()  # text -> its literal pieces and parsed expressions (_compiled)


def is_expression(value: object) -> bool:
    """True for a string with an (unescaped) ``${`` or the whole-string ``$name``."""
    if not isinstance(value, str):
        return False
    if re.fullmatch(_SHORTHAND, value):
        return True
    i = value.find("$")
    while i >= 0:
        nxt = value[i + 1 : i + 2]
        if nxt == "{":
            return True
        i = value.find("$", i + (2 if nxt == "$" else 1))
    return False


def _find_close(text: str, i: int) -> int:
    """The index of the ``}`` that closes an expression starting at ``i`` (not one in a quoted
    string literal of the expression), or -1."""
    end = text.find("}", i)
    if end < 0 or (text.find("'", i, end) < 0 and text.find('"', i, end) < 0):
        return end  # (the usual case: no string literal before the first '}')
    quote = ""
    while i < len(text):
        c = text[i]
        if quote and c == "\\":
            i += 1
        elif quote and c == quote:
            quote = ""
        elif not quote and c in "'\"":
            quote = c
        elif not quote and c == "}":
            return i
        i += 1
    return -1


def _split(text: str) -> tuple[str | tuple[int, str], ...]:
    """Literal pieces and ``(offset, source)`` of the expressions in ``text`` (cached by text)."""
    parts: tuple[str | tuple[int, str], ...] | None = _SPLITS.values.get(text)
    if parts is None:
        parts = tuple(_split_text(text))
        _SPLITS.put(text, parts)
    return parts


def _split_text(text: str) -> list[str | tuple[int, str]]:
    if re.fullmatch(_SHORTHAND, text):
        return [(1, text[1:])]
    parts: list[str | tuple[int, str]] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair == "$$":
            buf.append("$")
            i += 2
        elif pair == "${":
            end = _find_close(text, i + 2)
            if end < 0:
                raise _error(f"unterminated '${{' in '{text}'", i, 2, hint="close it with '}'")
            if not text[i + 2 : end].strip():
                raise _error(f"empty expression '${{}}' in '{text}'", i, end + 1 - i)
            parts.extend(["".join(buf)] if buf else [])
            parts.append((i + 2, text[i + 2 : end]))
            buf, i = [], end + 1
        else:
            buf.append(text[i])
            i += 1
    return parts + (["".join(buf)] if buf else [])


def _relocate(e: ExprError, text: str, base: int, loc: SourceLoc | None, exact: bool) -> ExprError:
    """``e`` (offset within an expression at ``base`` of ``text``) located in the spec."""
    off, length, msg = base + e.offset, e.length, e.message
    if f"'{text}'" not in msg and "'${" not in msg:
        msg += (" of " if " in '" in msg else " in ") + f"'{text}'"
    if loc is not None and loc.line and exact:
        lines = (loc.text or "").splitlines()
        line = lines[loc.line - 1] if loc.line <= len(lines) else ""
        col = loc.col + off + int(0 < loc.col <= len(line) and line[loc.col - 1] in "'\"")
        loc = replace(loc, col=col, end_col=col + length)
    return ExprError(msg, loc, expected=e.expected, hint=e.hint, offset=off, length=length)


_Part = str | tuple[int, str, Expr | None]


def _compiled(text: str) -> tuple[_Part, ...]:
    """:func:`_split` with each expression parsed (None where it does not parse: evaluating it parses
    it again, which raises its error then, after the expressions before it), cached by text."""
    parts: tuple[_Part, ...] | None = _COMPILED.values.get(text)
    if parts is None:
        out: list[_Part] = []
        for part in _split(text):
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                parsed: Expr | None = parse(part[1])
            except ExprError:
                parsed = None
            out.append((part[0], part[1], parsed))
        parts = tuple(out)
        _COMPILED.put(text, parts)
    return parts


def _resolve_str(text: str, env: Mapping[str, object], loc: SourceLoc | None, exact: bool) -> object:
    try:
        parts = _compiled(text)
    except ExprError as e:
        raise _relocate(e, text, 0, loc, exact) from None
    if len(parts) == 1 and type(parts[0]) is tuple:  # (usually: the whole string is `$name`)
        node = parts[0][2].node if parts[0][2] is not None else None
        if node is not None and node.kind == "name" and node.value in env:
            return env[node.value]
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        try:
            value = evaluate(part[2] if part[2] is not None else parse(part[1]), env)
            if len(parts) == 1:
                return value
            out.append(str(value))
        except ValueError as e:  # an ExprError, or str() of a huge int
            err = e if isinstance(e, ExprError) else _error(str(e), 0, len(part[1]))
            raise _relocate(err, text, part[0], loc, exact) from None
    result = "".join(out)
    if len(result) > MAX_LEN:
        err = _error(f"string result too long ({len(result)} characters; at most {MAX_LEN})", 0, len(text))
        raise _relocate(err, text, 0, loc, exact)
    return result


def simple_name(text: str) -> str | None:
    """The name when ``text`` is one expression that is just a name (``$x``, ``${x}``): its value
    is then the name's value when it is defined; else None (also for a broken expression)."""
    try:
        parts = _compiled(text)
    except ExprError:
        return None
    if len(parts) == 1 and type(parts[0]) is tuple and parts[0][2] is not None:
        node = parts[0][2].node
        if node.kind == "name":
            return str(node.value)
    return None


def _resolve(value: object, env: Mapping[str, object], loc: SourceLoc | None, exact: bool) -> object:
    if isinstance(value, str):
        return _resolve_str(value, env, loc, exact) if "$" in value else value
    if not isinstance(value, (list, tuple, dict)):
        return value

    def sub(v: object, key: object) -> object:
        inner = loc and loc.with_path((*loc.path, key if isinstance(key, (str, int)) else str(key)))
        return _resolve(v, env, inner, False)

    if isinstance(value, list):
        return [sub(v, i) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(sub(v, i) for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: sub(v, k) for k, v in value.items()}
    return value


def resolve_value(value: object, env: Mapping[str, object], loc: SourceLoc | None = None) -> object:
    """Substitute the expressions in ``value`` (strings; lists/dict values recursively).

    ``"${e}"`` and ``"$name"`` give the value itself; ``"a_${e}"`` interpolates
    (a string); ``$$`` is a literal ``$``.  Errors point at the expression
    inside the scalar at ``loc``; items of containers get ``loc`` with the path
    extended (same line/column).  The error's ``offset`` is within the string.
    """
    return _resolve(value, env, loc, True)


def referenced_names(value: object) -> frozenset[str]:
    """The free names of all expressions in ``value`` (nested lists/dicts too)."""
    if isinstance(value, (list, tuple)):
        return frozenset().union(*(referenced_names(v) for v in value))
    if isinstance(value, dict):
        return frozenset().union(*(referenced_names(v) for v in value.values()))
    if not isinstance(value, str) or "$" not in value:
        return frozenset()
    names: frozenset[str] | None = _NAMES.values.get(value)
    if names is not None:
        return names
    out: set[str] = set()
    base = 0
    try:
        for part in _split(value):
            if isinstance(part, tuple):
                base = part[0]
                out |= parse(part[1]).names
    except ExprError as e:
        raise _relocate(e, value, base, None, False) from None
    names = frozenset(out)
    _NAMES.put(value, names)
    return names

"""Pure helpers on spec values: evaluating them where an error is located only when one is made,
whether a value holds an expression, the names it uses, and hashable keys of values (attributes
are cached by their key: equal attributes share one model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.core.errors import NetdslError, PathT, SourceLoc
from netdsl.frontend.expr import referenced_names, resolve_value, simple_name
from netdsl.frontend.yaml_loader import Doc
from netdsl.passes.resolve.symbols import FAILED, Reported

SCALARS = (int, float, bool)


def plain(value: Any) -> bool:
    """Whether ``value`` holds no expression (no string with '$'): its value is itself."""
    t = type(value)
    if t is str:
        return "$" not in value
    if t is int or t is float or t is bool or value is None:
        return True
    if isinstance(value, str):
        return "$" not in value
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(plain(v) for v in value.values())
    return True


def attrs_key(attrs: dict[str, Any]) -> Any:
    """:func:`value_key` of a node's attributes (their names are strings), or None."""
    out = []
    for k, v in attrs.items():
        t = type(v)
        if t is int or t is str or t is bool or v is None:
            out.append((k, t, v))
        elif t is float:
            out.append((k, t, repr(v)))
        else:
            sub = value_key(v)
            if sub is None:
                return None
            out.append((k, t, sub))
    return tuple(out)


def value_key(value: Any) -> Any:
    """A hashable key equal only for values of the same types and values (None: no key for it)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return (t, value)
    if t is float:
        return (t, repr(value))  # (-0.0 and 0.0 are equal, but not the same attribute)
    if t is list or t is tuple:
        items = tuple(value_key(v) for v in value)
        return None if None in items else (t, items)
    if t is dict:
        pairs = tuple((k, value_key(v)) for k, v in value.items() if type(k) is str)
        if len(pairs) != len(value) or any(v is None for _, v in pairs):
            return None
        return (t, pairs)
    return None


def names(value: Any) -> frozenset[str]:
    """Names a value's expressions use (none for a broken expression: evaluating it reports it)."""
    try:
        return referenced_names(value)
    except NetdslError:
        return frozenset()


def evaluate(value: Any, env: Mapping[str, Any], doc: Doc, path: PathT) -> Any:
    """Evaluate the spec value at ``path``; raise :class:`Reported` when it uses a variable whose
    error is reported. The location is made only for an error (evaluation is pure: it is redone)."""
    if type(value) is str:
        if "$" not in value:
            return value
        name = simple_name(value)  # (usually: the whole string is `$name`, a defined name)
        if name is not None and name in env:
            got = env[name]
            if got is FAILED:
                raise Reported
            return got
    elif value is None or type(value) in SCALARS:
        return value
    if any(env.get(n) is FAILED for n in names(value)):
        raise Reported
    try:
        return resolve_value(value, env)
    except NetdslError:
        return resolve_value(value, env, doc.loc(path))


def evaluate_at(value: Any, env: Mapping[str, Any], loc: SourceLoc) -> Any:
    """:func:`evaluate` at a location already made."""
    if value is None or type(value) in SCALARS or (type(value) is str and "$" not in value):
        return value
    if any(env.get(n) is FAILED for n in names(value)):
        raise Reported
    return resolve_value(value, env, loc)

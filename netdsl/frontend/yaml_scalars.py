"""Scalars under the YAML 1.2 core schema, as netdsl reads them: an untagged plain scalar resolved to
null, a bool, an int (decimal, ``0o`` octal, ``0x`` hex; 64-bit), a float (``.inf``, ``.nan``) or
a str; and the value of a scalar with a standard tag (``!!int 3``). Out-of-range numbers are a
``ValueError`` (the loader reports it at the scalar's position), never a silent float or a huge
int. PyYAML's own resolver is YAML 1.1 (``yes``, ``on``, ``0777``, ``1_000``, sexagesimals), which
specs do not use.
"""

from __future__ import annotations

import math
import re

__all__ = ["CORE_TAG_PREFIX", "construct_tagged", "resolve_plain"]

#: the prefix of the standard tags (``!!str`` is ``tag:yaml.org,2002:str``)
CORE_TAG_PREFIX = "tag:yaml.org,2002:"
_INT_LIMIT = 2**63
_NULL = re.compile(r"~|null|Null|NULL|")
_NULL_WORDS = frozenset({"~", "null", "Null", "NULL", ""})
_NUMBER_START = frozenset("-+.0123456789")  # how every int and float of the core schema starts
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_DEC = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


def _to_int(s: str) -> int | None:
    for pattern, base, skip in ((_DEC, 10, 0), (_OCT, 8, 2), (_HEX, 16, 2)):
        if pattern.fullmatch(s):
            try:
                value = int(s[skip:], base)
            except ValueError:  # more digits than int() accepts: certainly out of range
                value = _INT_LIMIT
            if not -_INT_LIMIT <= value < _INT_LIMIT:
                raise ValueError(f"integer {s[:40]} is out of range (it must fit in 64 bits)")
            return value
    return None


def _to_float(s: str) -> float | None:
    m = _INF.fullmatch(s)
    if m:
        return -math.inf if m.group(1) == "-" else math.inf
    if _NAN.fullmatch(s):
        return math.nan
    if _FLOAT.fullmatch(s):
        value = float(s)
        if math.isinf(value):
            raise ValueError(f"number {s[:40]} is out of range for a float")
        return value
    return None


def resolve_plain(s: str) -> object:
    """The value of an untagged plain scalar under the YAML 1.2 core schema."""
    if s[:1] not in _NUMBER_START:  # (most scalars: names) not a number: null, a bool or a str
        if s in _NULL_WORDS:
            return None
        return True if s in _TRUE else False if s in _FALSE else s
    as_int = _to_int(s)
    if as_int is not None:
        return as_int
    as_float = _to_float(s)
    return s if as_float is None else as_float


def construct_tagged(tag: str, s: str) -> object:
    kind, v = tag[len(CORE_TAG_PREFIX) :], s.strip()
    if kind == "str":
        return s
    if kind == "null" and _NULL.fullmatch(v):
        return None
    result: object = v in _TRUE if kind == "bool" and v in _TRUE | _FALSE else None
    result = _to_int(v) if kind == "int" else _to_float(v) if kind == "float" else result
    if result is None:
        raise ValueError(f"{s[:40]!r} is not a valid !!{kind}")
    return result

"""The expression language's syntax: limits, the AST (:class:`Node`, :class:`Expr`), the tokenizer
and the Pratt parser, and the parse cache. User text is never handed to Python."""

from __future__ import annotations

import math
import operator
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from netdsl.core.errors import ExprError
from netdsl.core.symbolic import Sym

MAX_SOURCE = 2000  # characters of one expression
MAX_DEPTH = 64  # nesting of sub-expressions
MAX_INT = 2**64  # integer results satisfy |n| < MAX_INT
MAX_LEN = 10000  # items of a list / characters of a string result

_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError)
_SHORTHAND = r"\$[A-Za-z_][A-Za-z0-9_]*"


class Node(NamedTuple):
    """An AST node (immutable, compared by value); ``start``/``end`` are offsets into the source.

    kinds: const (value), name (value=id), list, unary (value=op; operand),
    binop (value=op; left, right), and/or (operands), compare (value=ops;
    left, comparators...), if (body, test, orelse), call (value=function;
    args), index (target, index), slice (target, lower, upper, step).
    """

    kind: str
    start: int
    end: int
    value: Any = None
    args: tuple[Node | None, ...] = ()


@dataclass(frozen=True)
class Expr:
    """A parsed expression."""

    source: str
    node: Node

    @cached_property
    def names(self) -> frozenset[str]:
        """The free variable names the expression references (computed once per parse)."""
        out: set[str] = set()
        stack = [self.node]
        while stack:
            n = stack.pop()
            if n.kind == "name":
                out.add(n.value)
            for a in n.args:
                if a is not None:
                    stack.append(a)
        return frozenset(out)


def _error(
    msg: str, offset: int, length: int = 1, hint: str | None = None, expected: Any = None
) -> ExprError:
    return ExprError(msg, hint=hint, expected=expected, offset=offset, length=length)


def _quote(src: str) -> str:
    return "'${" + src + "}'"


def _tname(v: object) -> str:
    return f"'{type(v).__name__}'"


def _did_you_mean(name: str, options: Any) -> str | None:
    import difflib  # (only on an error: not imported by a run that finds none)

    match = difflib.get_close_matches(name, [str(o) for o in options], n=1)
    return f"did you mean '{match[0]}'?" if match else None


def _of_list(fn: Callable[[Any], Any], name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if len(args) > 1:
            return fn(args)
        if not isinstance(args[0], (list, tuple)):
            raise TypeError(f"{name}() expects a list, got {_tname(args[0])}")
        return fn(args[0])

    return call


def _extreme(fn: Callable[[Any], Any], sym: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    """min / max of a list; over symbolic dims (Sym) a select atom (``min(H, 7)``)."""

    def pick(values: Any) -> Any:
        if not any(isinstance(v, Sym) for v in values):
            return fn(values)
        if not values:
            raise ValueError("arg is an empty sequence")
        out = values[0]
        for v in values[1:]:
            out = sym(out, v)
        return out

    return pick


def _range(*args: Any) -> list[int]:
    r = range(*args)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_LEN + 1
    if n > MAX_LEN:
        raise ValueError(f"range() result too long (more than {MAX_LEN} items)")
    return list(r)


def _round(x: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int):  # round(5, -10**18) would build 10**(10**18); same result
        ndigits = max(-400, min(400, ndigits))
    return round(x, ndigits)


_MANY = 1 << 30
_FUNCS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "min": (1, _MANY, _of_list(_extreme(min, Sym.minimum), "min")),
    "max": (1, _MANY, _of_list(_extreme(max, Sym.maximum), "max")),
    "abs": (1, 1, abs), "int": (1, 1, int), "float": (1, 1, float), "round": (1, 2, _round),
    "len": (1, 1, len), "sqrt": (1, 1, math.sqrt), "ceil": (1, 1, math.ceil),
    "floor": (1, 1, math.floor), "sum": (1, 1, _of_list(sum, "sum")), "range": (1, 3, _range),
}  # fmt: skip
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}  # fmt: skip
_CMPOPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge, "in": lambda a, b: a in b,
}  # fmt: skip
_CONSTS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}
_KEYWORDS = {"and", "or", "not", "if", "else", "in", *_CONSTS}
_UNSUPPORTED = {"is", "lambda", "for", "import", "def", "class", "yield", "await"}
_BAD_HINTS = {
    ".": "attribute access is not supported",
    "=": "use '==' to compare; keyword arguments are not supported",
    "!": "use 'not' or '!='", "&": "use 'and'", "|": "use 'or'",
    "{": "dict and set literals are not supported",
}  # fmt: skip
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_PLAIN = (int, float, str, list, tuple, type(None))
_UNARY_BP = 8
_BP = {"**": 9, "*": 7, "/": 7, "//": 7, "%": 7, "+": 6, "-": 6, "[": 10, "(": 10,
       "and": 3, "or": 2, "if": 1, **dict.fromkeys(_CMPOPS, 5)}  # fmt: skip

_DIGITS = r"[0-9](?:_?[0-9])*"
_EXP = rf"(?:[eE][+-]?{_DIGITS})"
_TOKEN_RE = (
    r"(?P<ws>\s+)"
    r"|(?P<num>0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    rf"|(?:{_DIGITS})?\.{_DIGITS}{_EXP}?|{_DIGITS}\.?{_EXP}?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>\*\*|//|==|!=|<=|>=|[-+*/%<>()\[\],:])"
    r"|(?P<bad>.)"
)


class Tok(NamedTuple):
    kind: str  # num, str, name, kw, op, end
    text: str
    pos: int
    end: int
    value: object = None


class _Parser:
    def __init__(self, source: str) -> None:
        self.src, self.i, self.depth = source, 0, 0
        toks: list[Tok] = []
        for m in re.finditer(_TOKEN_RE, source, re.DOTALL):
            kind = m.lastgroup
            if kind == "op":  # (the most common kind, inlined)
                toks.append(Tok(kind, m.group(), m.start(), m.end()))
            elif kind != "ws":
                toks.append(self.token(m))
        toks.append(Tok("end", "", len(source), len(source)))
        self.toks = toks

    def fail(self, what: str, pos: int, want: str | None = None, **kw: Any) -> ExprError:
        tail = f"; expected {want}" if want else ""
        return _error(f"{what} at column {pos + 3} of {_quote(self.src)}{tail}", pos, **kw)

    def token(self, m: re.Match[str]) -> Tok:
        kind, text, pos, end = m.lastgroup or "bad", m.group(), m.start(), m.end()
        if kind == "bad":
            if text in ("'", '"'):
                raise self.fail("unterminated string literal", pos)
            raise self.fail(f"unexpected character {text!r}", pos, hint=_BAD_HINTS.get(text))
        if kind == "num":
            return Tok(kind, text, pos, end, self.number(text, pos, end))
        if kind == "str":
            return Tok(kind, text, pos, end, self.string(text, pos))
        if text in _UNSUPPORTED:
            raise self.fail(f"'{text}' is not supported in expressions", pos, length=len(text))
        return Tok("kw" if text in _KEYWORDS else kind, text, pos, end)

    def number(self, text: str, pos: int, end: int) -> object:
        nxt = self.src[end : end + 1]
        if not (nxt.isalnum() or nxt in ("_", ".")):
            if text[:2].lower() not in ("0x", "0o", "0b") and ("." in text or "e" in text or "E" in text):
                return float(text)
            try:
                value = int(text, 0)
            except ValueError:  # leading zeros, as in Python
                pass
            else:
                if value >= MAX_INT:
                    raise self.fail("integer literal too large (limit 2**64)", pos, length=len(text))
                return value
        raise self.fail(f"invalid number literal '{text}{nxt}'", pos, length=len(text) + 1)

    def string(self, text: str, pos: int) -> str:
        out, i = [], 1
        while i < len(text) - 1:
            if text[i] == "\\":
                if text[i + 1] not in _ESCAPES:
                    raise self.fail(f"unknown escape '\\{text[i + 1]}' in string literal", pos + i, length=2)
                out.append(_ESCAPES[text[i + 1]])
                i += 1
            else:
                out.append(text[i])
            i += 1
        return "".join(out)

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def at(self, text: str) -> bool:
        return self.tok.kind in ("op", "kw") and self.tok.text == text

    def expect(self, text: str, expected: str | None = None) -> Tok:
        if not self.at(text):
            raise self.unexpected(expected or f"'{text}'")
        self.i += 1
        return self.toks[self.i - 1]

    def unexpected(self, expected: str) -> ExprError:
        t = self.tok
        what = "unexpected end of expression" if t.kind == "end" else f"unexpected token '{t.text}'"
        return self.fail(what, t.pos, expected, length=t.end - t.pos)

    def expr(self, min_bp: int) -> Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(f"expression nested too deeply (more than {MAX_DEPTH} levels)", self.tok.pos)
            left = self.prefix()
            while True:
                t = self.tok
                bp = _BP.get(t.text, 0) if t.kind in ("op", "kw") else 0
                if bp <= min_bp:
                    return left
                self.i += 1
                left = self.infix(left, t, bp)
        finally:
            self.depth -= 1

    def prefix(self) -> Node:
        t = self.tok
        self.i += 1
        if t.kind in ("num", "str"):
            return Node("const", t.pos, t.end, t.value)
        if t.kind == "kw" and t.text in _CONSTS:
            return Node("const", t.pos, t.end, _CONSTS[t.text])
        if t.kind == "name":
            return self.call(t) if self.at("(") else Node("name", t.pos, t.end, t.text)
        if t.kind in ("op", "kw") and t.text in ("-", "+", "not"):
            operand = self.expr(4 if t.text == "not" else _UNARY_BP)
            return Node("unary", t.pos, operand.end, t.text, (operand,))
        if t.kind == "op" and t.text == "(":
            inner, close = self.expr(0), self.expect(")")
            return inner._replace(start=t.pos, end=close.end)
        if t.kind == "op" and t.text == "[":
            items, close = self.items("]")
            return Node("list", t.pos, close.end, None, items)
        self.i -= 1
        raise self.unexpected("an operand")

    def items(self, close: str) -> tuple[tuple[Node, ...], Tok]:
        items: list[Node] = []
        while not self.at(close):
            items.append(self.expr(0))
            if not self.at(","):
                break
            self.i += 1
        return tuple(items), self.expect(close, f"',' or '{close}'")

    def call(self, name: Tok) -> Node:
        fn = name.text
        if fn not in _FUNCS:
            raise self.fail(f"unknown function '{fn}'", name.pos, length=len(fn),
                            hint=_did_you_mean(fn, _FUNCS), expected=_FUNCS)  # fmt: skip
        self.i += 1
        args, close = self.items(")")
        lo, hi, _ = _FUNCS[fn]
        if not lo <= len(args) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} or {hi}" if hi == lo + 1 else f"{lo} to {hi}"
            want = f"at least {lo}" if hi == _MANY else want
            plural = "" if want.endswith("1") else "s"
            raise self.fail(f"{fn}() takes {want} argument{plural} ({len(args)} given)", name.pos,
                            length=close.end - name.pos)  # fmt: skip
        return Node("call", name.pos, close.end, fn, args)

    def infix(self, left: Node, t: Tok, bp: int) -> Node:
        if t.text == "if":
            test = self.expr(1)
            self.expect("else")
            orelse = self.expr(0)
            return Node("if", left.start, orelse.end, None, (left, test, orelse))
        if t.text in ("and", "or"):
            values = [left, self.expr(bp)]
            while self.at(t.text):
                self.i += 1
                values.append(self.expr(bp))
            return Node(t.text, left.start, values[-1].end, None, tuple(values))
        if t.text in _CMPOPS:
            ops, comps = [t.text], [left, self.expr(bp)]
            while self.tok.kind in ("op", "kw") and self.tok.text in _CMPOPS:
                ops.append(self.tok.text)
                self.i += 1
                comps.append(self.expr(bp))
            return Node("compare", left.start, comps[-1].end, tuple(ops), tuple(comps))
        if t.text == "[":
            return self.subscript(left)
        if t.text == "(":
            raise self.fail("only the built-in functions can be called", t.pos, expected=_FUNCS)
        right = self.expr(_UNARY_BP if t.text == "**" else bp)
        return Node("binop", left.start, right.end, t.text, (left, right))

    def subscript(self, target: Node) -> Node:
        def part(*stops: str) -> Node | None:
            return None if any(self.at(s) for s in stops) else self.expr(0)

        parts = [part(":", "]")]
        if self.at(":"):
            self.i += 1
            parts.append(part(":", "]"))
            if self.at(":"):
                self.i += 1
                parts.append(part("]"))
        elif parts[0] is None:
            raise self.unexpected("an index")
        close = self.expect("]", "']'" if len(parts) > 1 else "':' or ']'")
        kind = "slice" if len(parts) > 1 else "index"
        return Node(kind, target.start, close.end, None, (target, *parts, *[None] * (3 - len(parts))))


#: the parse cache holds expressions of at most this many characters in all: every expression of a
#: spec at the size limit (a spec is parsed twice: for dependencies, then for values), and its memory
#: stays bounded (about 60 bytes per character) whatever the expressions' lengths
CACHE_CHARS = 600_000


class _ParseCache:
    """Least recently used parses, at most CACHE_CHARS characters of source in all."""

    def __init__(self) -> None:
        self.parsed: OrderedDict[str, Expr] = OrderedDict()
        self.chars = 0
        self.lock = threading.Lock()

    def get(self, source: str) -> Expr | None:
        with self.lock:
            hit = self.parsed.get(source)
            if hit is not None:
                self.parsed.move_to_end(source)
            return hit

    def put(self, source: str, parsed: Expr) -> None:
        with self.lock:
            if source in self.parsed:
                return
            self.parsed[source] = parsed
            self.chars += len(source) + 1
            while self.chars > CACHE_CHARS:
                old, _ = self.parsed.popitem(last=False)
                self.chars -= len(old) + 1


_CACHE = _ParseCache()


def parse(source: str) -> Expr:
    """Parse one expression (the text between ``${`` and ``}``); parses are cached (they are pure)."""
    if not isinstance(source, str) or len(source) > MAX_SOURCE:
        return _parse(source)
    parsed = _CACHE.get(source)
    if parsed is None:
        parsed = _parse(source)  # (an ExprError is not cached)
        _CACHE.put(source, parsed)
    return parsed


def _parse(source: str) -> Expr:
    if not isinstance(source, str):
        raise _error(f"expression must be a string, not {_tname(source)}", 0)
    if len(source) > MAX_SOURCE:
        raise _error(f"expression too long ({len(source)} characters; at most {MAX_SOURCE})", 0)
    if not source.strip():
        raise _error(f"empty expression {_quote(source)}", 0)
    if source.isascii() and source.isidentifier() and source not in _KEYWORDS and source not in _UNSUPPORTED:
        return Expr(source, Node("name", 0, len(source), source))  # (just a name: as the parser makes it)
    p = _Parser(source)
    node = p.expr(0)
    if p.tok.kind != "end":
        raise p.unexpected("an operator or the end of the expression")
    return Expr(source, node)

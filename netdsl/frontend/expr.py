"""Safe expressions in spec values: ``"${expr}"``, ``"$name"`` and ``"layer_${i}"``.

Our own tokenizer, a Pratt parser into frozen AST nodes and a tree-walking
evaluator; user text is never handed to Python.  Arithmetic applies the plain
operators, so any value with numeric dunders (symbolic dimensions) works.
``and``/``or`` short-circuit and return an operand, exactly like Python.
"""

from __future__ import annotations

import math
import operator
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NamedTuple

from netdsl.core.errors import ExprError, NetdslError, SourceLoc

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
    "min": (1, _MANY, _of_list(min, "min")), "max": (1, _MANY, _of_list(max, "max")),
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


def _describe(e: BaseException, default: str = "invalid operation") -> str:
    if isinstance(e, NetdslError):
        return e.message
    if isinstance(e, ZeroDivisionError) and "power" not in str(e):
        return "division by zero"
    if isinstance(e, OverflowError):
        return "numeric overflow"
    if isinstance(e, KeyError):
        return f"key {e} not found"
    return str(e) or default


class _Evaluator:
    def __init__(self, expr: Expr, env: Mapping[str, object]) -> None:
        self.src, self.env = expr.source, env

    def fail(self, what: str, node: Node) -> ExprError:
        text = self.src[node.start : node.end]
        where = _quote(self.src) if text.strip() == self.src.strip() else f"'{text}'"
        return _error(f"{what} in {where}", node.start, node.end - node.start)

    def checked(self, value: object, node: Node) -> object:
        if isinstance(value, int) and not -MAX_INT < value < MAX_INT:
            raise self.fail("integer result too large (limit 2**64)", node)
        if isinstance(value, (str, list, tuple)) and len(value) > MAX_LEN:
            raise self.fail(f"result too long ({len(value)} items; at most {MAX_LEN})", node)
        if isinstance(value, complex):
            raise self.fail("complex result", node)
        return value

    def truth(self, value: object, node: Node) -> bool:
        try:
            return bool(value)
        except _ERRORS as e:
            raise self.fail(f"cannot use {_tname(value)} as a condition: {_describe(e)}", node) from None

    def ev(self, node: Node | None) -> Any:
        assert node is not None
        kind, args = node.kind, node.args
        if kind in ("binop", "index", "slice"):  # left-nested chains run iteratively
            spine = []
            while node.kind in ("binop", "index", "slice"):
                spine.append(node)
                node = node.args[0]
                assert node is not None
            value = self.ev(node)
            for n in reversed(spine):
                value = self.binop(n, value) if n.kind == "binop" else self.subscript(n, value)
                value = self.checked(value, n)
            return value
        if kind == "const":
            return node.value
        if kind == "name":
            if node.value in self.env:
                return self.env[node.value]
            hint = _did_you_mean(node.value, self.env)
            size = node.end - node.start
            raise _error(f"unknown name '{node.value}'", node.start, size, hint, list(self.env))
        if kind == "list":
            return [self.ev(x) for x in args]
        if kind == "and" or kind == "or":
            for sub in args[:-1]:
                v = self.ev(sub)
                if self.truth(v, node) == (kind == "or"):
                    return v
            return self.ev(args[-1])
        if kind == "if":
            return self.ev(args[0] if self.truth(self.ev(args[1]), node) else args[2])
        if kind == "compare":
            return self.compare(node)
        values = [self.ev(a) for a in args]
        if kind == "unary" and node.value == "not":
            return not self.truth(values[0], node)
        try:
            if kind == "unary":
                result = operator.neg(values[0]) if node.value == "-" else operator.pos(values[0])
            else:
                result = _FUNCS[node.value][2](*values)
        except _ERRORS as e:
            if kind == "unary":
                raise self.fail(_describe(e, f"bad operand type for unary {node.value}"), node) from None
            msg = _describe(e)
            msg = msg if msg.startswith(node.value + "(") else f"{node.value}(): {msg}"
            raise self.fail(msg, node) from None
        return self.checked(result, node)

    def binop(self, n: Node, a: Any) -> Any:
        b, op = self.ev(n.args[1]), n.value
        seqs = (str, bytes, list, tuple)
        if op == "*" and (isinstance(a, seqs) or isinstance(b, seqs)):
            raise self.fail("repetition of a list or string with '*' is not supported", n)
        if op == "%" and isinstance(a, (str, bytes)):
            raise self.fail("string formatting with '%' is not supported", n)
        if op == "**" and isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            if b * (abs(a).bit_length() - 1) >= 64:  # |a|**b >= 2**64: refuse before computing
                raise self.fail("integer result too large (limit 2**64)", n)
        try:
            return _BINOPS[op](a, b)
        except _ERRORS as e:
            generic = f"unsupported operand types for {op}: {_tname(a)} and {_tname(b)}"
            plain = isinstance(e, TypeError) and isinstance(a, _PLAIN) and isinstance(b, _PLAIN)
            raise self.fail(generic if plain else _describe(e, generic), n) from None

    def compare(self, node: Node) -> Any:
        left, result = self.ev(node.args[0]), True
        for i, op in enumerate(node.value):
            right = self.ev(node.args[i + 1])
            try:
                result = _CMPOPS[op](left, right)
            except _ERRORS as e:
                msg = _describe(e, f"cannot compare {_tname(left)} and {_tname(right)}")
                raise self.fail(msg, node) from None
            if i < len(node.value) - 1 and not self.truth(result, node):
                return result
            left = right
        return result

    def subscript(self, n: Node, target: Any) -> Any:
        idx = [None if p is None else self.ev(p) for p in n.args[1:]]
        key = slice(*idx) if n.kind == "slice" else idx[0]
        try:
            return target[key]
        except IndexError:
            size = len(target) if isinstance(target, (str, list, tuple)) else "?"
            raise self.fail(f"index {key!r} out of range (length {size})", n) from None
        except _ERRORS as e:
            raise self.fail(_describe(e, f"cannot index {_tname(target)}"), n) from None


def evaluate(expr: Expr, env: Mapping[str, object]) -> object:
    """The value of ``expr`` with names looked up in ``env``."""
    result: object = _Evaluator(expr, env).ev(expr.node)
    return result


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

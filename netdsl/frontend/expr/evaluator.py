"""The evaluator of parsed expressions: a tree walk over :class:`~.syntax.Node` with the language's
few built-in functions; arithmetic applies the plain operators, so symbolic dims work."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from netdsl.core.errors import ExprError, NetdslError
from netdsl.core.symbolic import Sym, SymBool
from netdsl.frontend.expr.syntax import (
    _BINOPS,
    _CMPOPS,
    _ERRORS,
    _FUNCS,
    _PLAIN,
    MAX_INT,
    MAX_LEN,
    Expr,
    Node,
    _did_you_mean,
    _error,
    _quote,
    _tname,
)


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
            cond = self.ev(args[1])
            if isinstance(cond, SymBool):  # a condition over symbolic dims: a dim that depends on it
                return self.select(cond, node)
            return self.ev(args[0] if self.truth(cond, node) else args[2])
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

    def select(self, cond: SymBool, node: Node) -> Sym:
        then, other = self.ev(node.args[0]), self.ev(node.args[2])
        for v in (then, other):
            if not isinstance(v, (int, Sym)) or isinstance(v, bool):
                raise self.fail(
                    f"a condition over symbolic dims ({cond}) chooses between dims (integers), "
                    f"not {_tname(v)}",
                    node,
                )
        return Sym.select(cond, then, other)

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
        left = self.ev(node.args[0])
        result: Any = True
        for i, op in enumerate(node.value):
            right = self.ev(node.args[i + 1])
            try:
                if op in ("==", "!=") and _symbolic(left, right):  # (Sym's == compares expressions)
                    result = SymBool.make(Sym.of(left) - Sym.of(right), op)
                else:
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


def _symbolic(a: object, b: object) -> bool:
    """Both are dims (ints or Syms), one of them symbolic: their equality is a condition over dims."""
    dims = all(isinstance(v, int | Sym) and not isinstance(v, bool) for v in (a, b))
    return dims and any(isinstance(v, Sym) and not v.is_const for v in (a, b))

"""Tests of the safe expression language (netdsl.frontend.expr)."""

from __future__ import annotations

import operator
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdsl.core.errors import ExprError, NetdslError, SourceLoc
from netdsl.core.symbolic import Sym, SymBool
from netdsl.frontend import expr as expr_mod
from netdsl.frontend.expr import (
    Expr,
    evaluate,
    is_expression,
    parse,
    referenced_names,
    resolve_value,
)

ENV: dict[str, Any] = {"a": 1, "b": 0, "width": 64, "xs": [1, 2, 3], "s": "ab", "f": 2.5, "n": None}


def ev(source: str, env: dict[str, Any] | None = None) -> Any:
    return evaluate(parse(source), ENV if env is None else env)


def err(source: str, env: dict[str, Any] | None = None) -> ExprError:
    with pytest.raises(ExprError) as info:
        ev(source, env)
    return info.value


VALID = [
    ("2 in xs", True),
    ("not 5 in xs and 'a' in s", True),
    ("1 < 2 in xs", True),
    # literals
    ("42", 42),
    ("0x1F", 31),
    ("0o17", 15),
    ("0b101", 5),
    ("1_000_000", 1000000),
    ("0", 0),
    ("1.5", 1.5),
    ("1e-5", 1e-5),
    ("2E3", 2000.0),
    (".5", 0.5),
    ("3.", 3.0),
    ("1_0.2_5", 10.25),
    ("'it\\'s'", "it's"),
    ('"a\\"b"', 'a"b'),
    ("'x\\ny'", "x\ny"),
    ("'back\\\\slash'", "back\\slash"),
    ("'}'", "}"),
    ("true", True),
    ("True", True),
    ("false", False),
    ("False", False),
    ("null", None),
    ("None", None),
    ("[]", []),
    ("[1, 'a', [2]]", [1, "a", [2]]),
    ("[1, 2,]", [1, 2]),
    # names
    ("width", 64),
    ("n", None),
    # arithmetic
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("7 / 2", 3.5),
    ("4 / 2", 2.0),
    ("-7 % 3", 2),
    ("7 % -3", -2),
    ("2 ** 10", 1024),
    ("2 ** 3 ** 2", 512),
    ("-2 ** 2", -4),
    ("(-2) ** 2", 4),
    ("2 ** -1", 0.5),
    ("--3", 3),
    ("+-3", -3),
    ("f * 2", 5.0),
    ("True + True", 2),
    ("width // 8 * 3", 24),
    ("1 - 2 - 3", -4),
    ("100 // 10 // 5", 2),
    ("'ab' + 'cd'", "abcd"),
    ("xs + [4]", [1, 2, 3, 4]),
    # comparisons and logic
    ("1 < 2", True),
    ("1 < 2 < 3", True),
    ("3 > 2 > 5", False),
    ("1 == 1.0", True),
    ("1 != 2 != 1", True),
    ("1 <= 1 >= 0", True),
    ("'a' < 'b'", True),
    ("[1, 2] == [1, 2]", True),
    ("not 1 == 2", True),
    ("not 0", True),
    ("not not 5", True),
    ("0 or 3", 3),
    ("2 or 3", 2),
    ("1 and 0", 0),
    ("1 and 2 and 3", 3),
    ("0 and b // 0", 0),  # short-circuit: the division never runs
    ("1 or b // 0", 1),
    ("1 < 0 < b // 0", False),  # chained comparisons short-circuit too
    ("0 or 0 and 1", 0),
    ("1 or 0 and 0", 1),
    ("n or 'default'", "default"),
    ("1 if a else 2", 1),
    ("1 if b else 2", 2),
    ("1 if b else 2 if b else 3", 3),
    ("1 + a if b else 7", 7),
    ("[1 if a else 2, 3]", [1, 3]),
    # indexing and slicing
    ("xs[0]", 1),
    ("xs[-1]", 3),
    ("xs[1:]", [2, 3]),
    ("xs[:2]", [1, 2]),
    ("xs[:]", [1, 2, 3]),
    ("xs[::-1]", [3, 2, 1]),
    ("xs[0:3:2]", [1, 3]),
    ("s[1]", "b"),
    ("[[1, 2], [3]][0][1]", 2),
    ("-xs[0]", -1),
    ("xs[a] ** 2", 4),
    # functions
    ("min(3, 1, 2)", 1),
    ("max(3, 1)", 3),
    ("min(xs)", 1),
    ("max([4, 9])", 9),
    ("abs(-3)", 3),
    ("abs(-2.5)", 2.5),
    ("int(2.9)", 2),
    ("int(-2.9)", -2),
    ("int('12')", 12),
    ("float(2)", 2.0),
    ("round(2.5)", 2),
    ("round(3.5)", 4),
    ("round(1.2345, 2)", 1.23),
    ("round(1234, -2)", 1200),
    ("len(xs)", 3),
    ("len('abc')", 3),
    ("sqrt(16)", 4.0),
    ("ceil(2.1)", 3),
    ("floor(-2.1)", -3),
    ("sum(xs)", 6),
    ("sum([])", 0),
    ("range(3)", [0, 1, 2]),
    ("range(1, 4)", [1, 2, 3]),
    ("range(10, 0, -3)", [10, 7, 4, 1]),
    ("sum(range(101))", 5050),
    ("len(range(10000))", 10000),
    ("min(width // 2, 16)", 16),
    ("max(xs)[0] if 0 else max(xs)", 3),
    ("  1 +\n 2 ", 3),
]


@pytest.mark.parametrize(("source", "expected"), VALID)
def test_valid_expressions(source: str, expected: object) -> None:
    value = ev(source)
    assert value == expected
    assert type(value) is type(expected)


def test_ints_stay_ints_and_bools_stay_bools() -> None:
    assert type(ev("2 + 3")) is int
    assert type(ev("7 // 2")) is int
    assert type(ev("6 / 2")) is float
    assert ev("1 < 2") is True
    assert ev("not 1") is False


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("1 + 2", set()),
        ("a + b * a", {"a", "b"}),
        ("min(x, y[z]) if c else [d, e][0:k]", {"x", "y", "z", "c", "d", "e", "k"}),
        ("true or None", set()),
        ("len", {"len"}),  # a bare name is a variable, only calls are functions
    ],
)
def test_names(source: str, names: set[str]) -> None:
    parsed = parse(source)
    assert isinstance(parsed, Expr)
    assert parsed.source == source
    assert parsed.names == frozenset(names)


def test_ast_is_frozen() -> None:
    parsed = parse("a + 1")
    with pytest.raises(AttributeError):
        parsed.node.kind = "x"  # type: ignore[misc]
    assert parse("a + 1") == parsed  # value equality


# ------------------------------------------------------------------ parse errors
PARSE_ERRORS = [
    ("a + )", 4, "unexpected token ')' at column 7 of '${a + )}'; expected an operand"),
    ("(a + b", 6, "unexpected end of expression at column 9 of '${(a + b}'; expected ')'"),
    ("a b", 2, "expected an operator or the end of the expression"),
    ("1 +", 3, "expected an operand"),
    ("[1, 2", 5, "expected ',' or ']'"),
    ("x[]", 2, "expected an index"),
    ("x[1:2", 5, "expected ']'"),
    ("1 if a", 6, "expected 'else'"),
    ("foo(1)", 0, "unknown function 'foo'"),
    ("round(1, 2, 3)", 0, "round() takes 1 or 2 arguments (3 given)"),
    ("abs()", 0, "abs() takes 1 argument (0 given)"),
    ("range()", 0, "range() takes 1 to 3 arguments (0 given)"),
    ("(a)(1)", 3, "only the built-in functions can be called"),
    ("a.b", 1, "unexpected character '.'"),
    ("x.__class__", 1, "unexpected character '.'"),
    ("min(a=1)", 5, "unexpected character '='"),
    ("a = 1", 2, "unexpected character '='"),
    ("!a", 0, "unexpected character '!'"),
    ("a && b", 2, "unexpected character '&'"),
    ("{1: 2}", 0, "unexpected character '{'"),
    ("a $ b", 2, "unexpected character '$'"),
    ("'abc", 0, "unterminated string literal"),
    ("'a\\qb'", 2, "unknown escape '\\q'"),
    ("1abc", 0, "invalid number literal"),
    ("007", 0, "invalid number literal"),
    ("1__0", 0, "invalid number literal"),
    ("0x", 0, "invalid number literal"),
    ("1.2.3", 0, "invalid number literal"),
    ("18446744073709551616", 0, "integer literal too large"),
    ("lambda: 1", 0, "'lambda' is not supported"),
    ("[x for x in xs]", 3, "'for' is not supported"),
    ("a is xs", 2, "'is' is not supported"),
    ("a is None", 2, "'is' is not supported"),
    ("", 0, "empty expression"),
    ("   ", 0, "empty expression"),
    ("else", 0, "unexpected token 'else'"),
]


@pytest.mark.parametrize(("source", "offset", "message"), PARSE_ERRORS)
def test_parse_errors(source: str, offset: int, message: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(source)
    assert message in info.value.message
    assert info.value.offset == offset  # type: ignore[attr-defined]
    assert isinstance(info.value, NetdslError) and isinstance(info.value, ValueError)


def test_parse_error_hints() -> None:
    with pytest.raises(ExprError) as info:
        parse("mni(1, 2)")
    assert info.value.hint == "did you mean 'min'?"
    assert info.value.expected is not None and "range" in info.value.expected
    with pytest.raises(ExprError) as info:
        parse("a.shape")
    assert info.value.hint is not None and "attribute" in info.value.hint
    with pytest.raises(ExprError) as info:
        parse("f(x=1)")
    assert info.value.hint is not None and "keyword" in info.value.hint


# ------------------------------------------------------------- evaluation errors
def test_unknown_name() -> None:
    e = err("widht * 2")
    assert e.message == "unknown name 'widht'"
    assert e.hint == "did you mean 'width'?"
    assert e.expected == sorted(ENV)
    assert e.offset == 0  # type: ignore[attr-defined]
    assert err("1 + nope").offset == 4  # type: ignore[attr-defined]
    assert err("zzz").hint is None


EVAL_ERRORS = [
    ("a // b", "division by zero in '${a // b}'"),
    ("a // b + 1", "division by zero in 'a // b'"),
    ("a / 0", "division by zero"),
    ("a % b", "division by zero"),
    ("0 ** -1", "0.0 cannot be raised to a negative power"),
    ("xs + 1", "unsupported operand types for +: 'list' and 'int'"),
    ("s - 1", "unsupported operand types for -: 'str' and 'int'"),
    ("n + 1", "unsupported operand types for +: 'NoneType' and 'int'"),
    ("xs < 1", "'<' not supported between instances of 'list' and 'int'"),
    ("-xs", "bad operand type for unary -"),
    ("xs * 2", "repetition of a list or string with '*' is not supported"),
    ("2 * s", "repetition of a list or string with '*' is not supported"),
    ("[0] * 3", "repetition"),
    ("'%s' % a", "string formatting with '%' is not supported"),
    ("xs[3]", "index 3 out of range (length 3) in '${xs[3]}'"),
    ("xs['a']", "list indices must be integers"),
    ("a[0]", "'int' object is not subscriptable"),
    ("xs[::0]", "slice step cannot be zero"),
    ("min(5)", "min() expects a list, got 'int'"),
    ("max([])", "max()"),
    ("sum(3)", "sum() expects a list"),
    ("sum(['a'])", "sum()"),
    ("sqrt(-1)", "sqrt(): math domain error"),
    ("int('x')", "int(): invalid literal"),
    ("len(3)", "len(): object of type 'int' has no len()"),
    ("range(1.5)", "range(): 'float' object cannot be interpreted as an integer"),
    ("range(1, 2, 0)", "range() arg 3 must not be zero"),
    ("floor(1e400)", "floor(): numeric overflow"),
    ("2.0 ** 5000", "numeric overflow"),
    ("1 + (-8) ** 0.5", "complex result in '(-8) ** 0.5'"),
]


@pytest.mark.parametrize(("source", "message"), EVAL_ERRORS)
def test_evaluation_errors(source: str, message: str) -> None:
    e = err(source)
    assert message in e.message, e.message


def test_evaluation_error_offsets() -> None:
    assert err("1 + a // b").offset == 4  # type: ignore[attr-defined]
    assert err("[1, xs + 1]").offset == 4  # type: ignore[attr-defined]
    assert err("(xs) + 1").offset == 0  # type: ignore[attr-defined]


# ------------------------------------------------------------------------ limits
def test_integer_bound() -> None:
    assert ev("2 ** 63 + (2 ** 63 - 1)") == 2**64 - 1
    assert ev("-(2 ** 63 + (2 ** 63 - 1))") == -(2**64 - 1)
    assert "too large" in err("2 ** 64").message
    assert "too large" in err("2 ** 63 * 2").message
    assert "too large" in err("-(2 ** 63) - 2 ** 63").message
    assert "too large" in err("(-2) ** 65").message
    assert "too large" in err("int(1e30)").message
    assert "too large" in err("round(1e300)").message
    assert ev("1 ** 1000000000") == 1
    assert ev("(-1) ** 1000000001") == -1
    assert ev("0 ** 1000000000") == 0


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("round(5, -10**18)", 0),
        ("round(123456, -10**18)", 0),
        ("round(2.5, 10**18)", 2.5),
        ("round(7, 10**18)", 7),
    ],
)
def test_round_with_huge_ndigits_is_fast(source: str, expected: object) -> None:
    start = time.perf_counter()
    assert ev(source) == expected
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("source", ["2**2**2**2**2**2", "10**10**10", "9**9**9**9", "(2**63)**(2**63)"])
def test_power_towers_are_rejected_fast(source: str) -> None:
    start = time.perf_counter()
    e = err(source)
    assert time.perf_counter() - start < 0.5
    assert "too large" in e.message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("(" * 1000 + "1" + ")" * 1000, "too long"),
        ("(" * 500 + "1" + ")" * 500, "nested too deeply"),
        ("-" * 1999 + "1", "nested too deeply"),
        ("not " * 400 + "1", "nested too deeply"),
        ("[" * 600 + "]" * 600, "nested too deeply"),
        ("2**" * 600 + "2", "nested too deeply"),
        ("min(" * 300 + "1" + ")" * 300, "nested too deeply"),
        ("1 if 1 else " * 150 + "1", "nested too deeply"),
        ("1" * 2001, "too long"),
    ],
)
def test_deep_nesting_is_an_expr_error(source: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(source)
    assert message in info.value.message


def test_moderate_nesting_and_long_chains_work() -> None:
    assert ev("(" * 40 + "1" + ")" * 40) == 1
    assert ev("+".join(["1"] * 1000)) == 1000  # long flat chain: no recursion problem
    assert ev(" and ".join(["1"] * 300)) == 1
    assert ev(" < ".join(str(i) for i in range(300))) is True
    nested: Any = 7
    for _ in range(600):
        nested = [nested]
    assert ev("x" + "[0]" * 600, {"x": nested}) == 7


def test_length_limits() -> None:
    assert "too long" in err("range(10001)").message
    assert "too long" in err("range(-10**18, 10**18)").message
    assert "too long" in err("range(0, 2**63, 1)").message
    assert len(ev("range(10000)")) == 10000
    big = {"l": list(range(6000)), "t": "x" * 6000}
    assert "too long" in err("l + l", big).message
    assert "too long" in err("t + t", big).message
    assert len(ev("l + l[:4000]", big)) == 10000


def test_no_unsafe_builtins_in_module_source() -> None:
    source = "".join(p.read_text() for p in Path(expr_mod.__file__).parent.glob("*.py"))
    for needle in ("eval(", "exec(", "compile(", "__import__", "literal_eval", "import ast", "globals("):
        assert needle not in source, needle


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "().__class__",
        "open('/etc/passwd')",
        "getattr(a, 'x')",
        "print(1)",
        "exec('1')",
        "[].__class__.__base__",
        "(lambda: 1)()",
    ],
)
def test_escape_attempts_fail_at_parse_time(source: str) -> None:
    with pytest.raises(ExprError):
        parse(source)


# -------------------------------------------------------------- symbolic values
class FakeSym:
    """A stand-in for a symbolic dimension: records the operations."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeSym) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return self.text

    def _op(self, other: object, op: str, swap: bool = False) -> FakeSym:
        a, b = (other, self) if swap else (self, other)
        return FakeSym(f"({a} {op} {b})")

    def __add__(self, o: object) -> FakeSym:
        return self._op(o, "+")

    def __radd__(self, o: object) -> FakeSym:
        return self._op(o, "+", True)

    def __sub__(self, o: object) -> FakeSym:
        return self._op(o, "-")

    def __mul__(self, o: object) -> FakeSym:
        return self._op(o, "*")

    def __rmul__(self, o: object) -> FakeSym:
        return self._op(o, "*", True)

    def __floordiv__(self, o: object) -> FakeSym:
        if o == 0:
            raise ZeroDivisionError("division by zero")
        return self._op(o, "//")

    def __pow__(self, o: object) -> FakeSym:
        return self._op(o, "**")

    def __neg__(self) -> FakeSym:
        return FakeSym(f"-{self}")

    def __mod__(self, o: object) -> FakeSym:
        raise ArithmeticError(f"cannot take {self} modulo {o}")

    def __truediv__(self, o: object) -> FakeSym:
        raise NetdslError(f"{self} is not divisible by {o}")

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a symbolic dimension is unknown")


def test_symbolic_values_use_plain_operators() -> None:
    env = {"H": FakeSym("H"), "W": FakeSym("W")}
    assert ev("H // 8", env) == FakeSym("(H // 8)")
    assert ev("2 * H + 1", env) == FakeSym("((2 * H) + 1)")
    assert ev("H * W - 1", env) == FakeSym("((H * W) - 1)")
    assert ev("-H ** 2", env) == FakeSym("-(H ** 2)")
    assert ev("sum([H, W])", env) == FakeSym("((0 + H) + W)")
    assert ev("[H, 3][0]", env) == FakeSym("H")
    assert "division by zero in '${H // 0}'" == err("H // 0", env).message
    assert "cannot take H modulo 3" in err("H % 3", env).message
    assert err("H / 3", env).message == "H is not divisible by 3 in '${H / 3}'"
    assert "truth value" in err("1 if H else 2", env).message
    assert "truth value" in err("H and 1", env).message


# -------------------------------------------------------------- ${...} in values
def test_is_expression() -> None:
    assert is_expression("${a}")
    assert is_expression("$a")
    assert is_expression("$_x1")
    assert is_expression("layer_${i}")
    assert is_expression("$$${a}")
    assert is_expression("${unterminated")
    assert not is_expression("$$")
    assert not is_expression("$${a}")
    assert not is_expression("price $5")
    assert not is_expression("$a b")
    assert not is_expression("plain")
    assert not is_expression(5)
    assert not is_expression(["${a}"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${width}", 64),
        ("${xs}", [1, 2, 3]),
        ("${n}", None),
        ("$width", 64),
        ("${ width // 2 }", 32),
        ("layer_${a}", "layer_1"),
        ("${a}${b}", "10"),
        ("${a} ", "1 "),
        ("x=${f}, ok=${a > 0}, n=${n}", "x=2.5, ok=True, n=None"),
        ("${'}'}", "}"),
        ('${"a}b"}', "a}b"),
        ("$$", "$"),
        ("$$a", "$a"),
        ("$${a}", "${a}"),
        ("cost: $$${a}", "cost: $1"),
        ("price $5", "price $5"),
        ("$a b", "$a b"),
        ("plain", "plain"),
        ("", ""),
        (7, 7),
        (None, None),
        (["$a", "${b + 1}", ["x_${a}"]], [1, 1, ["x_1"]]),
        ({"k": "$width", "${a}": "$a"}, {"k": 64, "${a}": 1}),  # keys stay as they are
        (("$a",), (1,)),
    ],
)
def test_resolve_value(value: object, expected: object) -> None:
    result = resolve_value(value, ENV)
    assert result == expected
    assert type(result) is type(expected)


def test_resolve_value_does_not_mutate_input() -> None:
    value = {"a": ["$a"]}
    resolve_value(value, ENV)
    assert value == {"a": ["$a"]}


def test_referenced_names() -> None:
    assert referenced_names("${a + b}") == {"a", "b"}
    assert referenced_names("$width") == {"width"}
    assert referenced_names("x_${i}_${j * k}") == {"i", "j", "k"}
    assert referenced_names("$${a}") == frozenset()
    assert referenced_names({"k": ["$a", {"z": "${min(b, c)}"}], "${q}": 1}) == {"a", "b", "c"}
    assert referenced_names(3) == frozenset()
    with pytest.raises(ExprError):
        referenced_names(["ok", "${a +}"])
    with pytest.raises(ExprError) as info:
        referenced_names("x_${a")
    assert "unterminated '${'" in info.value.message


def test_unterminated_and_empty() -> None:
    with pytest.raises(ExprError) as info:
        resolve_value("layer_${i", ENV)
    assert "unterminated '${' in 'layer_${i'" in info.value.message
    assert info.value.offset == 6  # type: ignore[attr-defined]
    with pytest.raises(ExprError) as info:
        resolve_value("${}", ENV)
    assert "empty expression" in info.value.message
    with pytest.raises(ExprError) as info:
        resolve_value("x${ }", ENV)
    assert "empty expression" in info.value.message
    with pytest.raises(ExprError) as info:
        resolve_value("${'abc}", ENV)
    assert "unterminated" in info.value.message


def test_string_result_limit() -> None:
    with pytest.raises(ExprError) as info:
        resolve_value("${t}${t}", {"t": "x" * 6000})
    assert "too long" in info.value.message


TEXT = "width: \"${a + )}\"\nx: ${widht * 2}\ny: 'n_${a // b}'\nz: [$q]\nw: $nope\n"


@pytest.mark.parametrize(
    ("line", "col", "value", "err_col", "message"),
    [
        # column = loc.col + 1 (quote) + offset of '${' + 2 + offset in the expression
        (1, 8, "${a + )}", 8 + 1 + 0 + 2 + 4, "unexpected token ')' at column 7 of '${a + )}'"),
        (2, 4, "${widht * 2}", 4 + 0 + 0 + 2 + 0, "unknown name 'widht' in '${widht * 2}'"),
        (3, 4, "n_${a // b}", 4 + 1 + 2 + 2 + 0, "division by zero in '${a // b}'"),
        (5, 4, "$nope", 4 + 0 + 0 + 1 + 0, "unknown name 'nope' in '$nope'"),
    ],
)
def test_resolve_value_error_location(line: int, col: int, value: str, err_col: int, message: str) -> None:
    loc = SourceLoc("spec.yaml", line, col, ("nodes", "stem"), text=TEXT)
    with pytest.raises(ExprError) as info:
        resolve_value(value, ENV, loc)
    e = info.value
    assert message in e.message, e.message
    assert (e.loc.file, e.loc.line, e.loc.col, e.loc.path) == ("spec.yaml", line, err_col, ("nodes", "stem"))
    src_line = TEXT.splitlines()[line - 1]
    # the caret points into the expression inside the YAML line
    assert src_line[err_col - 1 :].startswith((")", "widht", "a // b", "nope"))
    assert e.render().startswith(f"spec.yaml:{line}:{err_col}: error:")


def test_resolve_value_error_location_nested_and_without_loc() -> None:
    loc = SourceLoc("spec.yaml", 4, 4, ("z",), text=TEXT)
    with pytest.raises(ExprError) as info:
        resolve_value(["$q"], ENV, loc)
    assert info.value.loc.path == ("z", 0)
    assert info.value.loc.line == 4
    with pytest.raises(ExprError) as info:
        resolve_value({"k": {"j": "${a // b}"}}, ENV, loc)
    assert info.value.loc.path == ("z", "k", "j")
    with pytest.raises(ExprError) as info:
        resolve_value("ab${a // b}", ENV)
    assert info.value.loc.line == 0
    assert info.value.offset == 4  # type: ignore[attr-defined]  # within the string


def test_eval_error_inside_interpolation_quotes_the_string() -> None:
    with pytest.raises(ExprError) as info:
        resolve_value("n_${1 + a // b}", ENV)
    assert info.value.message == "division by zero in 'a // b' of 'n_${1 + a // b}'"
    with pytest.raises(ExprError) as info:
        resolve_value("n_${nope}", ENV)
    assert info.value.message == "unknown name 'nope' in 'n_${nope}'"


# -------------------------------------------------------------------- hypothesis
_OPS: dict[str, Any] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


class _TooBig(Exception):
    pass


def _reference(tree: Any) -> int:
    """Python's arithmetic with our bound applied to every intermediate result."""
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    value = int(_OPS[op](_reference(left), _reference(right)))
    if abs(value) >= 2**64:
        raise _TooBig
    return value


def _render(tree: Any) -> str:
    if isinstance(tree, int):
        return f"({tree})" if tree < 0 else str(tree)
    op, left, right = tree
    return f"({_render(left)} {op} {_render(right)})"


_trees = st.recursive(
    st.integers(-(10**6), 10**6),
    lambda sub: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "//", "%"]), sub, sub),
        st.tuples(st.just("**"), sub, st.integers(0, 6)),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_random_int_arithmetic_matches_python(tree: Any) -> None:
    source = _render(tree)
    try:
        expected = _reference(tree)
    except (ZeroDivisionError, _TooBig):
        with pytest.raises(ExprError):
            ev(source, {})
        return
    assert eval(source, {"__builtins__": {}}, {}) == expected  # test only: Python as the oracle
    result = ev(source, {})
    assert result == expected and type(result) is int


_operand = st.builds(
    lambda minus, digit, power: "-" * minus + str(digit) + ("" if power is None else f" ** {power}"),
    st.integers(0, 2),
    st.integers(0, 9),
    st.one_of(st.none(), st.integers(0, 2)),
)
_flat_ops = st.sampled_from(["+", "-", "*", "/", "//", "%", "<", "<=", "==", "!=", ">", ">="])


@settings(max_examples=400, deadline=None)
@given(_operand, st.lists(st.tuples(_flat_ops, _operand), max_size=6))
def test_precedence_and_associativity_match_python(first: str, rest: list[tuple[str, str]]) -> None:
    source = first + "".join(f" {op} {operand}" for op, operand in rest)
    try:
        expected = eval(source, {"__builtins__": {}}, {})  # test only: Python as the oracle
    except ZeroDivisionError:
        with pytest.raises(ExprError, match="division by zero"):
            ev(source, {})
        return
    result = ev(source, {})
    assert result == expected and type(result) is type(expected), source


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_text_never_crashes(text: str) -> None:
    try:
        resolve_value(text, ENV)
        resolve_value("${" + text + "}", ENV)
    except ExprError:
        pass


def test_a_bare_name_parses_as_the_parser_parses_it() -> None:
    from netdsl.frontend.expr import syntax as E

    for source in ["x", "_a1", "min", "lambda", "True", "null", "in", " x", "é"]:
        try:
            fast: object = E._parse(source)
        except ExprError as e:
            fast = ("error", e.message)
        try:
            p = E._Parser(source)
            node = p.expr(0)
            slow: object = E.Expr(source, node) if p.tok.kind == "end" else ("error", "trailing")
        except ExprError as e:
            slow = ("error", e.message)
        assert fast == slow, source


def test_simple_name() -> None:
    from netdsl.frontend.expr import simple_name

    assert simple_name("$x") == "x" and simple_name("${ dim }") == "dim"
    assert simple_name("${x + 1}") is None and simple_name("a_$x") is None and simple_name("${1}") is None
    assert simple_name("${x") is None and simple_name("${x +}") is None  # (broken: evaluating reports it)


# ------------------------------------------------- conditions over symbolic dims (Sym)
SYM_ENV: dict[str, Any] = {"H": Sym.var("H"), "W": Sym.var("W"), "k": 7, "xs": [1, 2]}
SH, SW = Sym.var("H"), Sym.var("W")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("0 if H <= 7 else 3", Sym.select(SH <= 7, 0, 3)),
        ("0 if H <= k else k // 2", Sym.select(SH <= 7, 0, 3)),
        ("-(0 if H <= 7 else 3)", -Sym.select(SH <= 7, 0, 3)),
        ("k - (0 if H <= k else 3)", 7 - Sym.select(SH <= 7, 0, 3)),
        ("H if H < W else W", Sym.select(SH < SW, SH, SW)),
        ("1 if H > 7 else 2", Sym.select(SH > 7, 1, 2)),
        ("1 if 7 >= H else 2", Sym.select(SH <= 7, 1, 2)),
        ("(H // 2 if H <= 7 else H - 7) * 2", 2 * Sym.select(SH <= 7, SH // 2, SH - 7)),
        ("min(H, 7)", Sym.minimum(SH, 7)),
        ("max(H, W)", Sym.maximum(SH, SW)),
        ("min([H, 7])", Sym.minimum(SH, 7)),
        ("min(H, 7, W)", Sym.minimum(Sym.minimum(SH, 7), SW)),
        ("max(W - 2, 1) + H", Sym.maximum(SW - 2, 1) + SH),
        ("min(H, H + 1)", SH),  # decided: folds
        ("max(H, H)", SH),
        ("1 if H <= H + 1 else 2", 1),  # a decided condition picks its branch
        ("3 if H <= 7 else 3", 3),  # equal branches fold
        ("min(3, 4)", 3),
    ],
)
def test_conditions_over_symbolic_dims_make_selects(source: str, expected: object) -> None:
    got = ev(source, SYM_ENV)
    assert got == expected, got
    assert str(got) == str(expected)


def test_selects_evaluate_to_the_branch_python_picks() -> None:
    for source in ["0 if H <= 7 else 3", "min(H, 7) - max(W, 3)", "(H if H < W else W) + 1"]:
        value = ev(source, SYM_ENV)
        for h in (1, 6, 7, 8, 30):
            for w in (2, 7, 9):
                assert value.evaluate({"H": h, "W": w}) == ev(source, {"H": h, "W": w})


def test_plain_ints_keep_python_semantics() -> None:
    assert ev("min(3, 4)", SYM_ENV) == 3 and type(ev("min(3, 4)", SYM_ENV)) is int
    assert ev("0 if k <= 7 else 3", SYM_ENV) == 0
    assert ev("min(xs)", SYM_ENV) == 1


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("H if H < 3 else 1.5", "not 'float'"),
        ("'a' if H <= 7 else 3", "not 'str'"),
        ("True if H <= 7 else 0", "not 'bool'"),
        ("0 if H <= 7 else xs", "not 'list'"),
    ],
)
def test_a_symbolic_condition_with_a_non_integer_branch_is_an_error(source: str, what: str) -> None:
    e = err(source, SYM_ENV)
    assert "a condition over symbolic dims" in e.message and "chooses between dims (integers)" in e.message
    assert what in e.message, e.message
    assert e.offset == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "source",
    ["H <= 7 and W <= 7", "H <= 7 or W <= 7", "not H <= 7", "1 if H <= 7 and W <= 7 else 0", "H < 7 < W"],
)
def test_and_or_not_of_symbolic_conditions_are_errors(source: str) -> None:
    e = err(source, SYM_ENV)
    assert "cannot tell statically whether" in e.message and "depends on the input size" in e.message, (
        e.message
    )


def test_a_bare_symbolic_condition_is_a_value_not_a_bool() -> None:
    cond = ev("H <= 7", SYM_ENV)
    assert isinstance(cond, SymBool) and cond == (SH <= 7)


def test_equality_of_a_symbolic_dim_is_not_decided_silently() -> None:
    try:
        value = ev("0 if H == 7 else 1", SYM_ENV)
    except ExprError:
        return
    assert isinstance(value, Sym) and not value.is_const, value

"""Tests for netdsl.core.symbolic."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdsl.core.symbolic import Select, Sym, SymbolicError, SymBool, format_shape, is_concrete
from netdsl.core.symbolic_proofs import DEFINITIONS, provably_nonnegative

B, C, H, W = (Sym.var(n) for n in "BCHW")


def conv(h: Sym | int, k: int, s: int = 1, p: int = 0, d: int = 1) -> Sym:
    return (Sym.of(h) + 2 * p - d * (k - 1) - 1) // s + 1


# -- construction and basics -------------------------------------------------


def test_const_var_of() -> None:
    assert Sym.const(3) == 3
    assert 3 == Sym.const(3)
    assert hash(Sym.const(3)) == hash(3)
    assert hash(Sym.const(0)) == hash(0)
    assert Sym.of(H) is H
    assert Sym.of(5) == Sym.const(5)
    assert Sym.var("H") == H
    assert hash(Sym.var("H")) == hash(H)
    assert H != 3 and H != W
    with pytest.raises(TypeError):
        Sym.const(True)
    with pytest.raises(TypeError):
        Sym.const(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Sym.var("not a name")


def test_immutable_and_hashable() -> None:
    with pytest.raises(AttributeError):
        H._terms = {}
    assert len({H * W, W * H, H * W + 0, Sym.const(2), 2}) == 2
    assert {H: 1}[Sym.var("H")] == 1


def test_is_const_value_int_index() -> None:
    assert Sym.const(7).is_const and Sym.const(0).is_const
    assert not H.is_const
    assert (H - H).is_const and (H - H).value == 0
    assert int(Sym.const(4)) == 4
    assert list(range(Sym.const(3))) == [0, 1, 2]
    assert [10, 20, 30][Sym.const(1)] == 20
    bads: list[Callable[[], object]] = [
        lambda: H.value,
        lambda: int(H),
        lambda: H.__index__(),
        lambda: bool(H),
    ]
    for bad in bads:
        with pytest.raises(SymbolicError):
            bad()
    assert not Sym.const(0) and Sym.const(2)


def test_free_symbols() -> None:
    assert Sym.const(1).free_symbols == frozenset()
    assert (B * H + W).free_symbols == {"B", "H", "W"}
    assert ((H - 1) // 4 + C).free_symbols == {"H", "C"}


# -- printing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (H, "H"),
        (H * W, "H*W"),
        (W * H, "H*W"),
        (2 * C, "2*C"),
        (W * H * B, "B*H*W"),
        ((H - 1) // 4 + 1, "(H - 1)//4 + 1"),
        (H + 2, "H + 2"),
        (5 - H, "-H + 5"),
        (H * H, "H**2"),
        (Sym.const(-3), "-3"),
        (Sym.const(0), "0"),
        (H // 2, "H//2"),
        (-(H // 2), "-(H//2)"),
        (H - H // 2, "H - H//2"),
        (W * ((H - 1) // 4), "W*((H - 1)//4)"),
        (3 * (H // 2), "3*(H//2)"),
        ((H // 2) * (H // 2), "(H//2)**2"),
        ((H * W) // 4, "(H*W)//4"),
        (H % 2, "H - 2*(H//2)"),
        (-H * W, "-H*W"),
    ],
)
def test_str(expr: Sym, text: str) -> None:
    assert str(expr) == text


def test_repr() -> None:
    assert repr(H * W) == "Sym('H*W')"
    assert repr(Sym.const(3)) == "Sym('3')"


def test_str_is_python() -> None:
    env = {"H": 37, "W": 5, "B": -3, "C": 2}
    for e in [(H - 1) // 4 + 1, -(H // 2) * W + 3, W * ((H - 1) // 4) ** 2 - B, (H * W + C) % 3]:
        assert eval(str(e), {}, dict(env)) == e.evaluate(env)


# -- floor division ----------------------------------------------------------


def test_floordiv_rules() -> None:
    assert Sym.const(7) // 2 == 3
    assert Sym.const(-7) // 2 == -4
    assert (H + 2 * 3 - 6 - 1) // 1 + 1 == H
    assert (4 * H + 3) // 4 == H
    assert (H - 1) // 1 == H - 1
    assert H // 1 == H
    assert (H // 2) // 3 == H // 6
    assert (H // 2) // Sym.const(3) == H // 6
    assert (6 * H + 2 * W) // 2 == 3 * H + W
    assert (6 * H + W) // 2 == 3 * H + W // 2
    assert (2 * H + 2) // 4 == (H + 1) // 2
    assert (2 * H) % 2 == 0
    assert (4 * H + 6) % 2 == 0
    assert H % 1 == 0


def test_conv_formulas() -> None:
    a = (H + 2 * 1 - 3) // 2 + 1
    b = (H + 2 * 1 - 3) // 2 + 1
    assert a == b and hash(a) == hash(b)
    assert a == conv(H, 3, 2, 1)
    assert (H - 1) // 2 + 1 != H // 2
    assert conv(H, 3, 1, 1) == H  # "same" conv
    assert conv(H, 1) == H
    assert conv(H, 2, 2) == H // 2
    assert conv(conv(H, 3, 2, 1), 3, 2, 1) == conv(conv(H, 3, 2, 1), 3, 2, 1)
    assert conv(224, 7, 2, 3) == 112
    assert conv(H, 7, 2, 3).subs({"H": 224}) == 112


def test_division_errors() -> None:
    bads: list[Callable[[], object]] = [
        lambda: H // W,
        lambda: H // 0,
        lambda: H // -2,
        lambda: H % W,
        lambda: H % 0,
        lambda: 7 // H,
        lambda: H / W,
        lambda: H / 0,
    ]
    for bad in bads:
        with pytest.raises(SymbolicError):
            bad()
    assert 7 // Sym.const(2) == 3
    assert 7 % Sym.const(4) == 3


# -- exact division ----------------------------------------------------------


def test_exact_div() -> None:
    assert (B * C * H * W).exact_div(B * C) == H * W
    assert (6 * H).exact_div(3) == 2 * H
    assert (2 * H * W + 4 * W).exact_div(2 * W) == H + 2
    assert Sym.const(12).exact_div(4) == 3
    assert Sym.const(12).exact_div(5) is None
    assert (6 * H + 1).exact_div(3) is None
    assert (H * W).exact_div(B) is None
    assert (H + 1).exact_div(H + 1) == 1
    assert (2 * H * W + 2 * W).exact_div(H + 1) == 2 * W
    assert (H * W + 1).exact_div(H + 1) is None
    assert Sym.const(0).exact_div(H) == 0
    assert (-2 * H).exact_div(-2) == H
    assert (6 * H) / 3 == 2 * H
    assert 12 / Sym.const(4) == 3
    assert (B * H * W * C) / (H * W) == B * C
    with pytest.raises(SymbolicError, match="is not provably divisible by"):
        _ = (H * W) / 3
    with pytest.raises(SymbolicError):
        H.exact_div(0)


# -- arithmetic --------------------------------------------------------------


def test_polynomial_arithmetic() -> None:
    assert (H + 1) * (H - 1) == H * H - 1
    assert (H + W) ** 2 == H**2 + 2 * H * W + W**2
    assert H**0 == 1
    assert H - H == 0
    assert 3 - H == -H + 3
    neg = -H
    assert -neg == H and +H is H
    assert 2 * H + H == 3 * H
    with pytest.raises(SymbolicError):
        _ = H**-1
    with pytest.raises(TypeError):
        _ = H + 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = H * 1.5  # type: ignore[operator]


def test_limits() -> None:
    with pytest.raises(SymbolicError):
        Sym.const(2**63 + 1)
    assert Sym.const(-(2**63)) == -(2**63)
    with pytest.raises(SymbolicError):
        _ = (H + 1) ** 80  # binomial coefficients overflow
    big = sum((Sym.var(f"x{i}") for i in range(40)), Sym.const(0))
    square = big * big  # 40 + 780 = 820 terms: still fine
    with pytest.raises(SymbolicError, match="terms"):
        _ = square * (H + W)


# -- subs / evaluate ---------------------------------------------------------


def test_subs() -> None:
    e = (H - 1) // 4 + 1
    assert e.subs({"H": 9}) == 3
    assert e.subs({"H": 9}).is_const
    assert e.subs({"W": 9}) is e
    assert (H * W).subs({"H": 2 * C}) == 2 * C * W
    assert e.subs({"H": 4 * H + 1}) == H + 1
    assert (H * W + B).subs({"H": 2, "W": 3, "B": Sym.const(1)}) == 7


def test_evaluate() -> None:
    e = B * ((H - 1) // 4 + 1) * W
    assert e.evaluate({"B": 2, "H": 9, "W": 5}) == 30
    assert Sym.const(4).evaluate({}) == 4
    with pytest.raises(SymbolicError, match="'W'"):
        e.evaluate({"B": 2, "H": 9})


# -- shapes ------------------------------------------------------------------


def test_format_shape_and_is_concrete() -> None:
    assert format_shape((B, 3, H, W)) == "(B, 3, H, W)"
    assert format_shape([Sym.const(1), 64]) == "(1, 64)"
    assert format_shape((64,)) == "(64,)"
    assert format_shape(()) == "()"
    assert format_shape((B, (H - 1) // 2 + 1)) == "(B, (H - 1)//2 + 1)"
    assert is_concrete((Sym.const(1), 3))
    assert is_concrete(())
    assert not is_concrete((B, 3))
    assert is_concrete(((H - H) + 2,))


def test_copy_and_pickle() -> None:
    e = B * ((H - 1) // 4 + 1)
    assert copy.copy(e) == e
    assert copy.deepcopy(e) == e
    f = pickle.loads(pickle.dumps(e))
    assert f == e and hash(f) == hash(e) and str(f) == str(e)


# -- property tests ----------------------------------------------------------

NAMES = ("B", "H", "W")
Pair = tuple[Sym, Callable[[dict[str, int]], int]]


def _leaf(draw: st.DrawFn) -> Pair:
    if draw(st.booleans()):
        name = draw(st.sampled_from(NAMES))
        return Sym.var(name), lambda env: env[name]
    n = draw(st.integers(-6, 6))
    return Sym.const(n), lambda env: n


@st.composite
def exprs(draw: st.DrawFn, depth: int = 3) -> Pair:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw)
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "neg"]))
    a, fa = draw(exprs(depth - 1))
    if op == "neg":
        return -a, lambda env: -fa(env)
    if op in ("//", "%"):
        k = draw(st.integers(1, 6))
        if op == "//":
            return a // k, lambda env: fa(env) // k
        return a % k, lambda env: fa(env) % k
    b, fb = draw(exprs(depth - 1))
    if op == "+":
        return a + b, lambda env: fa(env) + fb(env)
    if op == "-":
        return a - b, lambda env: fa(env) - fb(env)
    return a * b, lambda env: fa(env) * fb(env)


envs = st.fixed_dictionaries({n: st.integers(-40, 40) for n in NAMES})


@settings(max_examples=400, deadline=None)
@given(exprs(), envs)
def test_substitution_agrees_with_python(pair: Pair, env: dict[str, int]) -> None:
    expr, fn = pair
    want = fn(env)
    assert expr.subs(env) == want
    assert expr.subs(env).is_const
    assert expr.evaluate(env) == want
    assert eval(str(expr), {}, dict(env)) == want


@settings(max_examples=200, deadline=None)
@given(exprs(), envs)
def test_partial_substitution(pair: Pair, env: dict[str, int]) -> None:
    expr, fn = pair
    step = expr.subs({"H": env["H"]}).subs({"B": env["B"], "W": env["W"]})
    assert step == fn(env)


@settings(max_examples=200, deadline=None)
@given(exprs(), st.integers(1, 5), st.integers(-10, 10), envs)
def test_floordiv_of_affine(pair: Pair, k: int, c: int, env: dict[str, int]) -> None:
    expr, fn = pair
    e = (k * expr + c) // k
    assert e.evaluate(env) == (k * fn(env) + c) // k
    assert e == expr + c // k


@settings(max_examples=100, deadline=None)
@given(exprs(), exprs())
def test_exact_div_of_product(p1: Pair, p2: Pair) -> None:
    a, b = p1[0], p2[0]
    assert (a * 6).exact_div(3) == a * 2
    if b != 0:
        q = (a * b).exact_div(b)
        assert q is None or q * b == a * b
        if len(b.free_symbols) <= 1 and str(b).isidentifier():  # b is a single symbol
            assert q == a


@settings(max_examples=100, deadline=None)
@given(exprs(), envs)
def test_rebuild_is_equal_and_same_hash(pair: Pair, env: dict[str, int]) -> None:
    expr, _ = pair
    again = expr.subs({})
    assert again == expr and hash(again) == hash(expr)
    renamed = expr.subs({"H": Sym.var("Z")}).subs({"Z": H})
    assert renamed == expr and hash(renamed) == hash(expr) and str(renamed) == str(expr)


def test_atoms_include_those_of_floor_division_numerators() -> None:
    e = (2 * ((H - 1) // 3) + W) // 5 + C  # (a floor division inside another's numerator)
    assert sorted(str(a) for a in e.atoms) == ["(H - 1)//3", "(W + 2*((H - 1)//3))//5", "C", "H", "W"]
    assert Sym.const(3).atoms == frozenset()
    assert e.replace_atoms({"B": C}) == e  # a mapping of none of its atoms changes nothing


def test_floor_division_atoms_pickle_with_a_fresh_hash() -> None:
    e = (H - 1) // 4 + 1
    back = pickle.loads(pickle.dumps(e))
    assert back == e and hash(back) == hash(e) and {back: 1}[e] == 1
    assert e.atoms == back.atoms


def test_terms_are_the_public_read_only_view_of_the_polynomial() -> None:
    h, w = Sym.var("H"), Sym.var("W")
    e = 3 * h * w + h // 2 + 5
    terms = dict(e.terms)
    assert terms[()] == 5 and terms[(("H", 1), ("W", 1))] == 3
    ((mono, coeff),) = [(m, c) for m, c in terms.items() if m and not isinstance(m[0][0], str)]
    assert coeff == 1 and mono[0][0].divisor == 2
    with pytest.raises(TypeError):
        e.terms[()] = 6  # type: ignore[index]
    assert Sym.const(0).terms == {}


# -- selects, conditions, min / max ------------------------------------------


def _select_atom(e: Sym) -> Select:
    (atom,) = [a for a in e.atoms if isinstance(a, Select)]
    return atom


def test_comparisons_decided_fold_to_bools() -> None:
    assert (Sym.const(3) <= 4) is True and (Sym.const(5) <= 4) is False
    assert (H <= H) is True and (H < H + 1) is True and (H + 1 <= H) is False
    assert (H - H >= 0) is True and (2 * H > 2 * H) is False
    assert (H // 4 * 4 + H % 4 <= H) is True  # (equal dims: a constant difference)


def test_comparisons_undecided_are_symbools() -> None:
    c = H <= 7
    assert isinstance(c, SymBool) and c.op == "<=" and c.diff == H - 7
    assert str(c) == "H <= 7"
    assert str(H < 7) == "H <= 6"  # (dims are integers: < is <= one less)
    assert str(H > 7) == "8 <= H" and str(H >= 7) == "7 <= H"
    assert str(H <= W) == "H <= W" and str(2 * H <= W + 3) == "2*H <= W + 3"
    assert c == (H <= 7) and hash(c) == hash(H <= 7) and c != (H <= 8)
    assert (H < 8) == c  # the same condition, however written
    assert repr(c) == "SymBool('H <= 7')"
    with pytest.raises(SymbolicError, match="cannot tell statically whether H <= 7"):
        bool(c)
    with pytest.raises(SymbolicError):
        if H <= W:  # a Python `if` over an undecided condition is an error, not a guess
            pass


def test_symbool_holds_and_subs() -> None:
    c = H <= 7
    assert c.holds({"H": 7}) and not c.holds({"H": 8})
    assert c.subs({"H": 1}) is True and c.subs({"H": 100}) is False
    assert c.subs({"H": W}) == (W <= 7)
    assert c.subs({"W": 3}) == c
    eq = SymBool(H - W, "==")
    assert eq.holds({"H": 2, "W": 2}) and not eq.holds({"H": 2, "W": 3})
    assert eq.subs({"H": W}) is True and str(eq) == "H == W"


def test_select_decided_condition_folds() -> None:
    assert Sym.select(True, H, W) == H and Sym.select(False, H, W) == W
    assert Sym.select(Sym.const(3) <= 7, 0, 3) == 0
    assert Sym.select(H <= H + 1, H, 5) == H
    assert isinstance(Sym.select(True, 1, 2), Sym)  # ints are made dims


def test_select_equal_branches_fold() -> None:
    assert Sym.select(H <= 7, 3, 3) == 3
    assert Sym.select(H <= 7, W, W) == W
    assert Sym.select(H <= 7, H // 4 * 4 + H % 4, H) == H  # (equal as dims)
    assert Sym.minimum(H, H) == H and Sym.maximum(W, W) == W


def test_min_max_fold_when_decided() -> None:
    assert Sym.minimum(3, 5) == 3 and Sym.maximum(3, 5) == 5
    assert Sym.minimum(H, H + 1) == H and Sym.maximum(H, H + 1) == H + 1
    assert Sym.minimum(H - 2, H) == H - 2 and Sym.maximum(2 * H, 2 * H - 1) == 2 * H


def test_select_subs_and_evaluate_pick_the_branch() -> None:
    s = Sym.select(H <= 7, 0, 3)
    assert s.subs({"H": 7}) == 0 and s.subs({"H": 8}) == 3
    assert s.evaluate({"H": 1}) == 0 and s.evaluate({"H": 7}) == 0 and s.evaluate({"H": 8}) == 3
    m = Sym.minimum(H, 7)
    assert [m.evaluate({"H": h}) for h in (1, 6, 7, 8, 100)] == [1, 6, 7, 7, 7]
    assert m.subs({"H": 3}) == 3 and m.subs({"H": 9}) == 7
    assert m.subs({"H": W}) == Sym.minimum(W, 7)
    x = Sym.maximum(H, W)
    assert x.evaluate({"H": 2, "W": 5}) == 5 and x.evaluate({"H": 9, "W": 5}) == 9
    assert x.subs({"H": W}) == W  # (the branches become equal)
    assert x.subs({"H": 3}) == Sym.maximum(3, W)
    # a branch that is itself symbolic: substituted, the condition over another symbol kept
    t = Sym.select(W <= 7, H, 3)
    assert t.subs({"H": 2}) == Sym.select(W <= 7, 2, 3)
    assert t.subs({"W": 2}) == H and t.subs({"W": 8}) == 3
    # replace_atoms reaches the condition and the branches
    assert m.replace_atoms({"H": Sym.const(3)}) == 3
    assert m.replace_atoms({"H": W}) == Sym.minimum(W, 7)
    with pytest.raises(SymbolicError, match="no value for symbol 'H'"):
        s.evaluate({})


def test_select_arithmetic() -> None:
    s = Sym.select(H <= 7, 0, 3)
    e = 2 * s + 1
    assert [e.evaluate({"H": h}) for h in (7, 8)] == [1, 7]
    f = (Sym.minimum(H, 7) + 1) // 2
    assert [f.evaluate({"H": h}) for h in (1, 2, 6, 7, 50)] == [1, 1, 3, 4, 4]
    assert s - s == 0 and s * 1 == s


def test_select_str_forms() -> None:
    assert str(Sym.minimum(H, 7)) == "min(H, 7)"
    assert str(Sym.maximum(H, W)) == "max(H, W)"
    assert str(Sym.maximum(3, W)) == "max(3, W)"
    assert str(Sym.select(H <= 7, 0, 3)) == "(0 if H <= 7 else 3)"
    assert str(Sym.select(H >= W, 1, 2)) == "(1 if W <= H else 2)"
    assert str(SymBool(H - W, "==")) == "H == W" and str(Sym.select(SymBool(H - W, "=="), 1, 2)) == (
        "(1 if H == W else 2)"
    )
    assert str(2 * Sym.minimum(H, 7)) == "2*min(H, 7)"
    assert str(Sym.minimum(H, 7) + 1) == "min(H, 7) + 1"
    assert str(2 * Sym.select(H <= 7, 0, 3) + 1) == "2*(0 if H <= 7 else 3) + 1"
    assert str(7 - Sym.select(H <= 7, 0, 3)) == "-(0 if H <= 7 else 3) + 7"
    assert repr(Sym.minimum(H, 7)) == "Sym('min(H, 7)')"
    assert repr(_select_atom(Sym.select(H <= 7, 0, 3))) == "Select('(0 if H <= 7 else 3)')"


def test_select_str_is_python() -> None:
    selects = [
        Sym.minimum(H, 7),
        Sym.maximum(H, W) - 1,
        2 * Sym.select(H <= 7, 0, 3) + 1,
        7 - Sym.select(H <= 7, 0, 3),
        (Sym.minimum(H, 7) + 1) // 2,
        Sym.minimum(Sym.minimum(H, 7), W),
    ]
    for h in (1, 7, 8, 20):
        for w in (1, 5, 9):
            env = {"H": h, "W": w}
            for e in selects:
                assert eval(str(e), {}, dict(env)) == e.evaluate(env), str(e)


def test_select_str_is_python_in_sums_and_conditions() -> None:
    env = {"H": 8, "W": 5}
    for e in [
        Sym.select(H <= 7, 0, 3) + 1,
        H + Sym.select(H <= 7, 0, 3),
        Sym.select(Sym.select(H <= 7, H, W) <= 3, 1, 2),
    ]:
        assert eval(str(e), {}, dict(env)) == e.evaluate(env), str(e)


def test_select_free_symbols_and_atoms_include_the_parts() -> None:
    s = Sym.select(H <= 7, W, 3)
    atom = _select_atom(s)
    assert atom.cond == (H <= 7) and atom.then == W and atom.other == 3
    assert atom.parts() == (H - 7, W, Sym.const(3))
    assert s.free_symbols == {"H", "W"}
    assert s.atoms == {atom, "H", "W"}
    assert Sym.select(H <= 7, 0, 3).free_symbols == {"H"}  # (a symbol of the condition only)
    e = 2 * Sym.maximum((B - 1) // 2, C) + 1
    assert e.free_symbols == {"B", "C"}
    assert {str(a) for a in e.atoms} == {"max((B - 1)//2, C)", "(B - 1)//2", "B", "C"}


def test_select_equality_hash_and_pickle() -> None:
    s = Sym.select(H <= 7, 0, 3)
    assert s == Sym.select(H < 8, 0, 3) and hash(s) == hash(Sym.select(H < 8, 0, 3))
    assert s != Sym.select(H <= 7, 3, 0) and s != Sym.select(H <= 6, 0, 3)
    for e in (s, Sym.minimum(H, W) + 1):
        back = pickle.loads(pickle.dumps(e))
        assert back == e and hash(back) == hash(e) and str(back) == str(e)
        assert copy.deepcopy(e) == e


# -- the prover of non-negativity ----------------------------------------------


def test_provably_nonnegative_constants() -> None:
    assert provably_nonnegative(Sym.const(0)) and provably_nonnegative(Sym.const(5))
    assert not provably_nonnegative(Sym.const(-1))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 12, 32])
def test_provably_nonnegative_padding_to_a_multiple(k: int) -> None:
    pad = (k - H % k) % k
    assert provably_nonnegative(pad)
    assert provably_nonnegative(H + pad - H)
    assert provably_nonnegative(k * ((H + k - 1) // k) - H)  # (the same size, written with //)
    assert provably_nonnegative(H - (H + pad)) == (k == 1)  # (a padded map is not within H)


@pytest.mark.parametrize(
    "expr",
    [
        H,
        H - 1,
        H // 4,
        (H - 1) // 4 + 1,
        (H - 1) // 4,
        H % 7,
        H - H // 4 * 4,
        H + (7 - H % 7) % 7 - H,
        H - H // 2,
        (H + 1) // 2 - H // 2,
        Sym.minimum(H, 7),
        Sym.select(H <= 7, 0, 3),
        H + W - 2,
        2 * H - W // 2 - (W + 1) // 2 + W,
    ],
    ids=str,
)
def test_provably_nonnegative_proves(expr: Sym) -> None:
    assert provably_nonnegative(expr)


@pytest.mark.parametrize(
    "expr",
    [
        H - 2,  # H = 1
        -(H % 7),
        H // 4 * 4 - H,
        H // 4 - 1,  # H < 4
        W - H,
        Sym.select(H <= 7, -1, 3),
        H - 2 * W,
    ],
    ids=str,
)
def test_provably_nonnegative_refuses_what_can_be_negative(expr: Sym) -> None:
    assert not provably_nonnegative(expr)


@pytest.mark.parametrize(
    "expr",
    [
        7 - Sym.minimum(H, 7),  # true; selects are not bounded
        H - Sym.minimum(H, 7),
        H * W - H,  # true; products are not bounded
        H * H - H,
    ],
    ids=str,
)
def test_provably_nonnegative_known_limitations(expr: Sym) -> None:
    """True for every size, not proven (a sufficient test): what it is expected to miss."""
    assert all(expr.evaluate({"H": h, "W": w}) >= 0 for h in range(1, 30) for w in range(1, 30))
    assert not provably_nonnegative(expr)


def test_provably_nonnegative_reads_definitions() -> None:
    pH = Sym.var("pH")
    assert not provably_nonnegative(pH - H)  # (pH is any size)
    token = DEFINITIONS.set({"pH": H + (7 - H % 7) % 7})
    try:
        assert provably_nonnegative(pH - H)
        assert not provably_nonnegative(H - pH)
        assert provably_nonnegative(pH - 7 * (pH // 7))
    finally:
        DEFINITIONS.reset(token)
    assert not provably_nonnegative(pH - H)


# one symbol, quasi-linear: + - of such, * by ints, // and % by small ints
Quasi = tuple[Sym, Callable[[int], int]]


@st.composite
def quasi_linear(draw: st.DrawFn, depth: int = 4) -> Quasi:
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        if draw(st.booleans()):
            return H, lambda h: h
        n = draw(st.integers(-12, 12))
        return Sym.const(n), lambda h: n
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "+c"]))
    a, fa = draw(quasi_linear(depth - 1))
    if op == "*":
        m = draw(st.integers(-5, 5))
        return a * m, lambda h: fa(h) * m
    if op == "+c":
        m = draw(st.integers(-20, 20))
        return a + m, lambda h: fa(h) + m
    if op in ("//", "%"):
        k = draw(st.integers(1, 9))
        return (a // k, lambda h: fa(h) // k) if op == "//" else (a % k, lambda h: fa(h) % k)
    b, fb = draw(quasi_linear(depth - 1))
    if op == "+":
        return a + b, lambda h: fa(h) + fb(h)
    return a - b, lambda h: fa(h) - fb(h)


@settings(max_examples=500, deadline=None)
@given(quasi_linear())
def test_provably_nonnegative_is_sound_on_quasi_linear_dims(pair: Quasi) -> None:
    expr, fn = pair
    values = [fn(h) for h in range(1, 201)]
    assert [expr.evaluate({"H": h}) for h in (1, 2, 7, 200)] == [values[0], values[1], values[6], values[199]]
    if provably_nonnegative(expr):
        worst = min(values)
        assert worst >= 0, f"{expr} proven >= 0, but it is {worst} at H = {values.index(worst) + 1}"


@settings(max_examples=300, deadline=None)
@given(quasi_linear(), st.integers(1, 9), st.integers(0, 9))
def test_provably_nonnegative_proves_paddings_of_quasi_linear_dims(pair: Quasi, k: int, c: int) -> None:
    """What is made non-negative by construction is proven: a remainder, the padding to a multiple,
    and a dim plus a non-negative constant minus itself."""
    expr, _ = pair
    assert provably_nonnegative(expr % k)
    assert provably_nonnegative((k - expr % k) % k)
    assert provably_nonnegative(expr + c - expr)


@settings(max_examples=200, deadline=None)
@given(exprs(), exprs(), exprs(), st.integers(-6, 6), envs)
def test_selects_agree_with_python(p1: Pair, p2: Pair, p3: Pair, t: int, env: dict[str, int]) -> None:
    (a, fa), (b, fb), (c, fc) = p1, p2, p3
    cond = c <= t
    s = Sym.select(cond, a, b)
    want = fa(env) if fc(env) <= t else fb(env)
    assert s.evaluate(env) == want and s.subs(env) == want
    assert Sym.minimum(a, b).evaluate(env) == min(fa(env), fb(env))
    assert Sym.maximum(a, b).subs(env) == max(fa(env), fb(env))

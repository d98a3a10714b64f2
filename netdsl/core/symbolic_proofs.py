"""What can be proved about a symbolic dimension (:class:`~netdsl.core.symbolic.Sym`): that it is
never negative, for every value of its symbols, given the definitions of derived dims
(:data:`DEFINITIONS`, ``H2 = (H - 1)//2 + 1``) and the sizes assumed positive
(:data:`ASSUMED`, every input dim and every size an op requires to be positive) of the check that
runs in this context. The shape rules ask it (``provably_nonnegative(H - 7)``: can a 7-wide kernel
run?) and the shape pass sets the context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextvars import ContextVar
from fractions import Fraction

from netdsl.core.symbolic import Atom, FloorDiv, Select, Sym

__all__ = ["ASSUMED", "DEFINITIONS", "assume_positive", "expanded", "provably_nonnegative"]


Linear = tuple[dict[str, Fraction], Fraction]  # coefficients of symbols, constant


def _bound(x: Sym, low: bool) -> Linear | None:
    """A linear form in the symbols that is <= ``x`` (``low``) or >= ``x`` for all their values: a
    floor division ``n//k`` lies between ``(n - k + 1)/k`` and ``n/k``. None when ``x`` is not linear
    in its symbols and floor divisions of such (products, powers, selects)."""
    coeffs: dict[str, Fraction] = {}
    const = Fraction(0)
    for mono, c in x.terms.items():
        if not mono:
            const += c
            continue
        if len(mono) != 1 or mono[0][1] != 1:
            return None
        atom = mono[0][0]
        if isinstance(atom, str):
            coeffs[atom] = coeffs.get(atom, Fraction(0)) + c
            continue
        if not isinstance(atom, FloorDiv):
            return None
        # c * (n // k): bounded below by c * (lower n - k + 1) / k when c > 0, else by c * (upper n) / k
        inner = _bound(atom.numerator, low == (c > 0))
        if inner is None:
            return None
        k = atom.divisor
        shift = (1 - k) if low == (c > 0) else 0
        for name, a in inner[0].items():
            coeffs[name] = coeffs.get(name, Fraction(0)) + Fraction(c) * a / k
        const += Fraction(c) * (inner[1] + shift) / k
    return coeffs, const


#: the names that stand for dim expressions (``expect: [B, C, Hp, Wp]`` names a size): the prover
#: reads a name as what it stands for (shape inference sets it while it runs)
DEFINITIONS: ContextVar[Mapping[str, Sym] | None] = ContextVar("netdsl_dim_definitions", default=None)


#: sizes that must be >= 1 for the network to run at all (a convolution's output size), recorded by
#: shape inference while it runs: the prover takes only the input sizes that satisfy them
ASSUMED: ContextVar[list[Sym] | None] = ContextVar("netdsl_assumed_sizes", default=None)


def assume_positive(d: Sym) -> None:
    """Record that size ``d`` must be >= 1 (shape inference reports the sizes that are not)."""
    facts = ASSUMED.get()
    if facts is not None and not d.is_const and len(facts) < 10_000:
        facts.append(d)


def _smallest_valid(name: str) -> int:
    """The smallest value >= 1 of symbol ``name`` for which every recorded size of it alone is >= 1."""
    assumed = ASSUMED.get() or []
    memo = _memo()
    key = ("smallest", name, len(assumed), len(DEFINITIONS.get() or ()))
    found = memo.get(key)
    if isinstance(found, int):
        return found
    facts = [f for f in (expanded(d) for d in assumed) if f.free_symbols == {name}]
    smallest = next((h for h in range(1, 4097) if all(f.evaluate({name: h}) >= 1 for f in facts)), 1)
    memo[key] = smallest
    return smallest


#: expansions made under the current DEFINITIONS (the object itself, kept: names are only added to
#: it as shape inference goes, so a result stays valid for as many names as it had)
_MEMO: ContextVar[tuple[object, dict[object, object]] | None] = ContextVar("netdsl_expansions", default=None)


def _memo() -> dict[object, object]:
    defs = DEFINITIONS.get()
    held = _MEMO.get()
    if held is None or held[0] is not defs:
        held = (defs, {})
        _MEMO.set(held)
    return held[1]


def expanded(x: Sym) -> Sym:
    """``x`` with the names of :data:`DEFINITIONS` replaced by what they stand for."""
    defs = DEFINITIONS.get()
    if not defs or x.free_symbols.isdisjoint(defs):
        return x
    memo = _memo()
    key = (x, len(defs))
    got = memo.get(key)
    if isinstance(got, Sym):
        return got
    out = x
    for _ in range(16):  # (names defined in terms of names: a few levels)
        if out.free_symbols.isdisjoint(defs):
            break
        out = out.subs({k: v for k, v in defs.items() if k in out.free_symbols})
    memo[key] = out
    return out


def provably_nonnegative(x: Sym) -> bool:
    """True when ``x >= 0`` for every value >= 1 of its symbols (they are sizes): a sufficient test,
    through a linear lower bound with non-negative coefficients, at least 0 where every symbol is 1;
    False means "not proven"."""
    c = x.constant()
    if c is not None:
        return c >= 0
    x = expanded(x)
    c = x.constant()
    if c is not None:
        return c >= 0
    return _nonneg(x, 4)


def _one_level(x: Sym, depth: int, relax: bool) -> bool:
    """``x >= 0`` by a linear bound over its atoms, floor divisions replaced by bounds until none
    that can be is left: one of negative net coefficient by ``n/k`` (or ``m/(k/j)`` for another atom
    ``m = n//j`` of ``x``: ``n//8 <= (n//4)/2``), one of positive coefficient by ``(n - k + 1)/k`` with
    ``relax``, else kept as a variable >= 0 (its numerator being >= 0); symbols are >= 1; ``x`` is
    an integer, so a bound above -1 proves it."""
    coeffs: dict[Atom, Fraction] = {}
    const = Fraction(0)
    for mono, c in x.terms.items():
        if not mono:
            const += c
        elif len(mono) == 1 and mono[0][1] == 1:
            coeffs[mono[0][0]] = coeffs.get(mono[0][0], Fraction(0)) + c
        else:
            return False
    floors_seen = {a for a in coeffs if isinstance(a, FloorDiv)}
    for _ in range(12):
        # (negative ones first: their numerators add to the other atoms before those are bounded)
        target = next((a for a, c in coeffs.items() if isinstance(a, FloorDiv) and c < 0), None)
        if target is None and relax:
            target = next((a for a, c in coeffs.items() if isinstance(a, FloorDiv) and c > 0), None)
        if target is None:
            break
        assert isinstance(target, FloorDiv)
        cf = coeffs.pop(target)
        k = target.divisor
        coarser = (
            next(
                (
                    g
                    for g in floors_seen
                    if g.divisor < k and k % g.divisor == 0 and g.numerator == target.numerator
                ),
                None,
            )
            if cf < 0
            else None
        )
        if coarser is not None:
            coeffs[coarser] = coeffs.get(coarser, Fraction(0)) + cf * Fraction(coarser.divisor, k)
            continue
        if cf > 0:
            const += cf * Fraction(1 - k, k)
        for m, a in target.numerator.terms.items():
            if not m:
                const += cf * Fraction(a, k)
            elif len(m) == 1 and m[0][1] == 1:
                atom = m[0][0]
                coeffs[atom] = coeffs.get(atom, Fraction(0)) + cf * Fraction(a, k)
                if isinstance(atom, FloorDiv):
                    floors_seen.add(atom)
            else:
                return False
    floors: set[Atom] = set()
    for atom, coeff in coeffs.items():
        if coeff == 0:
            continue
        if coeff < 0 or isinstance(atom, Select):
            return False
        if isinstance(atom, FloorDiv):
            if not _nonneg(atom.numerator, depth - 1):
                return False
            floors.add(atom)
    return const + sum(coeff for atom, coeff in coeffs.items() if atom not in floors) > -1


def _quasi_linear_period(x: Sym, name: str) -> int | None:
    """For ``x`` linear in the symbol ``name`` and in floor divisions of such (no products, no
    selects): a period P with x(H + P) - x(H) the same for every H; else None (or beyond the cap)."""
    period = 1
    for mono, _ in x.terms.items():
        if not mono:
            continue
        if len(mono) != 1 or mono[0][1] != 1:
            return None
        atom = mono[0][0]
        if isinstance(atom, Select):
            return None
        if isinstance(atom, FloorDiv):
            inner = _quasi_linear_period(atom.numerator, name)
            if inner is None:
                return None
            step = atom.numerator.evaluate({name: 1 + inner}) - atom.numerator.evaluate({name: 1})
            p = inner * (atom.divisor // math.gcd(atom.divisor, step))
            period = period * p // math.gcd(period, p)
            if period > _MAX_PERIOD:
                return None
    return period


_MAX_PERIOD = 1 << 12


def _periodic_nonneg(x: Sym) -> bool:
    """Whether ``x >= 0`` for every value >= 1 of its one symbol, when ``x`` is quasi-linear in it:
    ``x(H) = a*H + p(H)`` with ``p`` of period P, so it holds when a >= 0 and it holds for H in
    1..P (exact: x(H + n*P) = x(H) + n*a*P)."""
    free = x.free_symbols
    if len(free) != 1:
        return False
    (name,) = free
    period = _quasi_linear_period(x, name)
    if period is None:
        return False
    lo = _smallest_valid(name)  # (the sizes below it do not run: a convolution's output would be 0)
    first = x.evaluate({name: lo})
    if x.evaluate({name: lo + period}) < first:
        return False
    return all(x.evaluate({name: h}) >= 0 for h in range(lo, lo + period))


def _nonneg(x: Sym, depth: int) -> bool:
    select = next((a for m in x.terms for a, _ in m if isinstance(a, Select)), None)
    if select is not None:  # one of its branches: x >= 0 when it is with either one in its place
        return depth > 0 and all(
            _nonneg(x.replace_atoms({select: branch}), depth - 1) for branch in (select.then, select.other)
        )
    if _periodic_nonneg(x):
        return True
    lower = _bound(x, True)
    if lower is not None and all(a >= 0 for a in lower[0].values()):
        if lower[1] + sum(lower[0].values()) > -1:  # (x is an integer: a bound above -1 is one of 0)
            return True
    if depth > 0 and (_one_level(x, depth, relax=False) or _one_level(x, depth, relax=True)):
        return True
    if depth == 0:
        return False
    # terms c * atom with c > 0 and atom >= 0 (a floor division or select of non-negatives) can only
    # add: x >= 0 when the rest is (H//4 >= 0 although (H - 3)/4 may be negative)
    rest = {m: c for m, c in x.terms.items() if not (c > 0 and len(m) == 1 and _atom_nonneg(m[0][0], depth))}
    return len(rest) < len(x.terms) and _nonneg(Sym(rest), depth - 1)


def _atom_nonneg(atom: Atom, depth: int) -> bool:
    if isinstance(atom, str):
        return True  # (a size)
    if isinstance(atom, FloorDiv):
        return _nonneg(atom.numerator, depth - 1)
    return _nonneg(atom.then, depth - 1) and _nonneg(atom.other, depth - 1)

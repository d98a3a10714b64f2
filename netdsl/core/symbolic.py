"""Symbolic integer arithmetic for tensor dimensions (dependency-free).

A :class:`Sym` is a polynomial with integer coefficients over *atoms*: symbol
names (``B``, ``H``) and floor divisions ``numerator // k`` with ``k > 1``.
Every value is kept in a normal form, so equal constructions compare equal and
``str`` is deterministic, valid Python: ``(H - 1)//4 + 1``, ``B*H*W``, ``H**2``.
All rewrite rules hold for every integer value of the symbols. What can be *proved* about a value
(that it is never negative, given the dims' definitions and the sizes assumed positive) is in
:mod:`netdsl.core.symbolic_proofs`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

__all__ = [
    "FloorDiv",
    "Select",
    "Sym",
    "SymBool",
    "SymbolicError",
    "format_shape",
    "is_concrete",
]

MAX_TERMS = 1000
MAX_COEFF = 2**63


class SymbolicError(ArithmeticError):
    """An unsupported or unprovable symbolic operation."""


class FloorDiv:
    """The atom ``numerator // divisor`` (``divisor > 1``); made by ``Sym // k``."""

    __slots__ = ("_hash", "divisor", "key", "numerator")

    def __init__(self, numerator: Sym, divisor: int) -> None:
        self.numerator = numerator
        self.divisor = divisor
        num = str(numerator)
        self.key = f"{num}//{divisor}" if num.isidentifier() else f"({num})//{divisor}"
        self._hash = hash((numerator, divisor))  # (atoms are hashed often: in sets, as dict keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FloorDiv):
            return NotImplemented
        return self.divisor == other.divisor and self.numerator == other.numerator

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[FloorDiv], tuple[Sym, int]]:
        return (FloorDiv, (self.numerator, self.divisor))  # (the hash is made again: seeds differ)

    def __str__(self) -> str:
        return self.key

    def __repr__(self) -> str:
        return f"FloorDiv({self.numerator!r}, {self.divisor})"


class SymBool:
    """A comparison of dims that cannot be decided statically, kept as ``diff <= 0`` or ``diff == 0``
    (``a < b`` is ``a - b + 1 <= 0``: dims are integers). ``bool()`` of one is an error: it is the
    condition of a :class:`Select` (``x if H <= 7 else y``, ``min(H, 7)``)."""

    __slots__ = ("diff", "op")

    def __init__(self, diff: Sym, op: str) -> None:
        assert op in ("<=", "==", "!=")
        self.diff = diff
        self.op = op

    @staticmethod
    def make(diff: Sym, op: str) -> bool | SymBool:
        """``diff <= 0`` or ``diff == 0``: a bool when it is decided (``diff`` a constant)."""
        c = diff.constant()
        if c is not None:
            return c <= 0 if op == "<=" else c == 0 if op == "==" else c != 0
        return SymBool(diff, op)

    def holds(self, env: Mapping[str, int]) -> bool:
        v = self.diff.evaluate(env)
        return v <= 0 if self.op == "<=" else v == 0 if self.op == "==" else v != 0

    def subs(self, repl: Mapping[str, int | Sym]) -> bool | SymBool:
        return SymBool.make(self.diff.subs(repl), self.op)

    def replace_atoms(self, mapping: Mapping[Atom, Sym]) -> bool | SymBool:
        return SymBool.make(self.diff.replace_atoms(mapping), self.op)

    def __bool__(self) -> bool:
        raise SymbolicError(f"cannot tell statically whether {self} (it depends on the input size)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymBool) and self.op == other.op and self.diff == other.diff

    def __hash__(self) -> int:
        return hash((self.diff, self.op))

    def __str__(self) -> str:
        pos = Sym({m: c for m, c in self.diff.terms.items() if c > 0})
        neg = pos - self.diff
        return f"{pos} {self.op} {neg}"

    def __repr__(self) -> str:
        return f"SymBool({str(self)!r})"


class Select:
    """The atom ``then if cond else other``: a dim that depends on a condition over dims (Swin's
    shift, 0 when the window covers the map); ``min(a, b)`` and ``max(a, b)`` are selects too."""

    __slots__ = ("_hash", "cond", "key", "other", "then")

    def __init__(self, cond: SymBool, then: Sym, other: Sym) -> None:
        self.cond = cond
        self.then = then
        self.other = other
        if cond.op == "<=" and cond.diff == then - other:
            self.key = f"min({then}, {other})"
        elif cond.op == "<=" and cond.diff == other - then:
            self.key = f"max({then}, {other})"
        else:
            self.key = f"({then} if {cond} else {other})"
        self._hash = hash((cond, then, other))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Select):
            return NotImplemented
        return self.cond == other.cond and self.then == other.then and self.other == other.other

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self.key

    def __repr__(self) -> str:
        return f"Select({self.key!r})"

    def parts(self) -> tuple[Sym, Sym, Sym]:
        return self.cond.diff, self.then, self.other


Atom = str | FloorDiv | Select
Mono = tuple[tuple[Atom, int], ...]  # sorted (atom, power > 0) pairs; () is the constant


def _atom_key(atom: Atom) -> tuple[int, str]:
    return (
        (0, atom) if isinstance(atom, str) else (1, atom.key) if isinstance(atom, FloorDiv) else (2, atom.key)
    )


def _rebuilt(atom: Select, part: Callable[[Sym], Sym], cond: bool | SymBool) -> Sym:
    """A select with its parts mapped (its condition already mapped to ``cond``): maybe decided."""
    return Sym.select(cond, part(atom.then), part(atom.other))


def _term_key(mono: Mono) -> tuple[int, tuple[tuple[tuple[int, str], int], ...]]:
    return (-sum(p for _, p in mono), tuple((_atom_key(a), -p) for a, p in mono))


def _mono_mul(a: Mono, b: Mono) -> Mono:
    if not a or not b:
        return a or b
    powers = dict(a)
    for atom, p in b:
        powers[atom] = powers.get(atom, 0) + p
    return tuple(sorted(powers.items(), key=lambda ap: _atom_key(ap[0])))


def _mono_div(a: Mono, b: Mono) -> Mono | None:
    """``a / b`` when ``b`` divides ``a`` as a monomial, else None."""
    powers = dict(a)
    for atom, p in b:
        if powers.get(atom, 0) < p:
            return None
        powers[atom] -= p
    return tuple((atom, powers[atom]) for atom, _ in a if powers[atom])


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class Sym:
    """An immutable, hashable integer-valued polynomial in normal form."""

    __slots__ = ("_atoms", "_free", "_hash", "_terms")
    _terms: dict[Mono, int]
    _free: frozenset[str] | None
    _atoms: frozenset[Atom] | None
    _hash: int | None

    def __init__(self, terms: Mapping[Mono, int] | None = None) -> None:
        """Internal: use :meth:`const`, :meth:`var` or :meth:`of`."""
        clean: dict[Mono, int] = {}
        big = False
        if terms:
            for m, c in terms.items():  # (a loop: most have one or two terms)
                if c:
                    clean[m] = c
                    big = big or c > MAX_COEFF or c < -MAX_COEFF
        if len(clean) > MAX_TERMS:
            raise SymbolicError(f"symbolic expression has more than {MAX_TERMS} terms")
        if big:
            raise SymbolicError("symbolic coefficient exceeds 2**63 in magnitude")
        _set_terms(self, clean)  # (the slots' own setters: __setattr__ refuses every write)
        _set_free(self, None)
        _set_atoms(self, None)
        _set_hash(self, None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Sym is immutable")

    def __reduce__(self) -> tuple[type[Sym], tuple[dict[Mono, int]]]:
        return (Sym, (self._terms,))

    @staticmethod
    def const(n: int) -> Sym:
        if type(n) is int and -_SMALL < n < _SMALL:  # (the usual sizes: one shared Sym each)
            made = _CONSTS.get(n)
            if made is None:
                made = _CONSTS[n] = Sym({(): n})
            return made
        if not _is_int(n):
            raise TypeError(f"Sym.const needs an int, got {type(n).__name__}")
        return Sym({(): n})

    @staticmethod
    def var(name: str) -> Sym:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"symbol name must be an identifier, got {name!r}")
        return Sym({((name, 1),): 1})

    @staticmethod
    def of(x: int | Sym) -> Sym:
        if type(x) is Sym:
            return x
        if isinstance(x, Sym):
            return x
        return Sym.const(x)

    @property
    def terms(self) -> Mapping[Mono, int]:
        """The polynomial's terms, read-only: monomial -> coefficient, a monomial being sorted
        ``(atom, power)`` pairs (``()`` for the constant), an atom a symbol name or a
        :class:`FloorDiv`. What lowering walks to compute a dim at run time."""
        return MappingProxyType(self._terms)

    @property
    def is_const(self) -> bool:
        terms = self._terms
        return not terms or (len(terms) == 1 and () in terms)

    @property
    def value(self) -> int:
        terms = self._terms
        if not terms:
            return 0
        if len(terms) == 1 and () in terms:
            return terms[()]
        raise SymbolicError(f"{self} is not a constant")

    def constant(self) -> int | None:
        """The value when this is a constant, else None (``value`` without the error)."""
        terms = self._terms
        if not terms:
            return 0
        return terms.get(()) if len(terms) == 1 else None

    @property
    def free_symbols(self) -> frozenset[str]:
        if self._free is None:
            atoms = {atom for mono in self._terms for atom, _ in mono}
            names = {a for a in atoms if isinstance(a, str)}
            names.update(*(a.numerator.free_symbols for a in atoms if isinstance(a, FloorDiv)))
            for a in atoms:
                if isinstance(a, Select):
                    names.update(*(x.free_symbols for x in a.parts()))
            _set_free(self, frozenset(names))
        assert self._free is not None
        return self._free

    @property
    def atoms(self) -> frozenset[Atom]:
        """Every atom this is built of, those in the numerators of its floor divisions included:
        :meth:`replace_atoms` by a mapping with none of them as a key gives an equal value."""
        atoms = self._atoms
        if atoms is None:
            found: set[Atom] = {atom for mono in self._terms for atom, _ in mono}
            for a in list(found):
                if isinstance(a, FloorDiv):
                    found.update(a.numerator.atoms)
                elif isinstance(a, Select):
                    for x in a.parts():
                        found.update(x.atoms)
            atoms = frozenset(found)
            _set_atoms(self, atoms)
        return atoms

    def _sorted(self) -> list[tuple[Mono, int]]:
        return sorted(self._terms.items(), key=lambda mc: _term_key(mc[0]))

    def __add__(self, other: int | Sym) -> Sym:
        if (o := _coerce(other)) is None:
            return NotImplemented
        terms = dict(self._terms)
        for m, c in o._terms.items():
            terms[m] = terms.get(m, 0) + c
        return Sym(terms)

    __radd__ = __add__

    def __neg__(self) -> Sym:
        return Sym({m: -c for m, c in self._terms.items()})

    def __pos__(self) -> Sym:
        return self

    def __sub__(self, other: int | Sym) -> Sym:
        return NotImplemented if (o := _coerce(other)) is None else self + -o

    def __rsub__(self, other: int) -> Sym:
        return NotImplemented if (o := _coerce(other)) is None else o + -self

    def __mul__(self, other: int | Sym) -> Sym:
        if type(other) is Sym:
            b = other._terms
        elif (o := _coerce(other)) is not None:
            b = o._terms
        else:
            return NotImplemented
        a = self._terms
        if len(b) == 1 and () in b:  # (times a constant: the same terms, scaled)
            k = b[()]
            if len(a) == 1 and () in a:  # (both constants: the usual product of sizes)
                return Sym.const(a[()] * k)
            if k == 1:
                return self
            return Sym({m: c * k for m, c in a.items()})
        if len(a) == 1 and () in a:
            k = a[()]
            if k == 1 and type(other) is Sym:
                return other
            return Sym({m: k * c for m, c in b.items()})
        if not a or not b:
            return _ZERO
        terms: dict[Mono, int] = {}
        for ma, ca in a.items():
            for mb, cb in b.items():
                m = _mono_mul(ma, mb)
                terms[m] = terms.get(m, 0) + ca * cb
        return Sym(terms)

    __rmul__ = __mul__

    def __pow__(self, n: int) -> Sym:
        if not _is_int(n):
            return NotImplemented
        if n < 0:
            raise SymbolicError(f"negative power of {self}")
        out = Sym.const(1)
        for _ in range(n):
            out = out * self
        return out

    def __floordiv__(self, other: int | Sym) -> Sym:
        if (o := _coerce(other)) is None:
            return NotImplemented
        return _floordiv(self, _divisor(self, o))

    def __rfloordiv__(self, other: int) -> Sym:
        return NotImplemented if (o := _coerce(other)) is None else o // self

    def __mod__(self, other: int | Sym) -> Sym:
        if (o := _coerce(other)) is None:
            return NotImplemented
        k = _divisor(self, o)
        return self - k * _floordiv(self, k)

    def __rmod__(self, other: int) -> Sym:
        return NotImplemented if (o := _coerce(other)) is None else o % self

    def __truediv__(self, other: int | Sym) -> Sym:
        if (o := _coerce(other)) is None:
            return NotImplemented
        q = self.exact_div(o)
        if q is None:
            raise SymbolicError(f"{self} is not provably divisible by {o}")
        return q

    def __rtruediv__(self, other: int) -> Sym:
        return NotImplemented if (o := _coerce(other)) is None else o / self

    def exact_div(self, other: int | Sym) -> Sym | None:
        """The quotient if ``self`` is provably an exact multiple of ``other``, else None."""
        d = Sym.of(other)
        if not d._terms:
            raise SymbolicError(f"division of {self} by zero")
        if len(d._terms) != 1:  # polynomial divisor: only monomial quotients are found
            if len(d._terms) != len(self._terms):
                return None
            lead_m, lead_c = d._sorted()[0]
            for m, c in self._terms.items():
                qm = _mono_div(m, lead_m)
                if qm is not None and c % lead_c == 0:
                    cand = Sym({qm: c // lead_c})
                    if cand * d == self:
                        return cand
            return None
        ((dm, dc),) = d._terms.items()
        out: dict[Mono, int] = {}
        for m, c in self._terms.items():
            qm = _mono_div(m, dm)
            if qm is None or c % dc:
                return None
            out[qm] = c // dc
        return Sym(out)

    def subs(self, mapping: Mapping[str, int | Sym]) -> Sym:
        """Replace symbols and re-normalize (all-constant results fold to ints)."""
        repl = {name: Sym.of(v) for name, v in mapping.items()}
        if self.free_symbols.isdisjoint(repl):
            return self
        total = Sym()
        for mono, c in self._terms.items():
            term = Sym.const(c)
            for atom, p in mono:
                if isinstance(atom, str):
                    base = repl[atom] if atom in repl else Sym.var(atom)
                elif isinstance(atom, FloorDiv):
                    base = atom.numerator.subs(repl) // atom.divisor
                else:
                    base = _rebuilt(atom, lambda x: x.subs(repl), atom.cond.subs(repl))
                term = term * base**p
            total = total + term
        return total

    def replace_atoms(self, mapping: Mapping[Atom, Sym]) -> Sym:
        """Replace atoms (symbol names or floor-division atoms) by expressions, and re-normalize."""
        if not mapping:
            return self
        total = Sym()
        for mono, c in self._terms.items():
            term = Sym.const(c)
            for atom, p in mono:
                if atom in mapping:
                    base = mapping[atom]
                elif isinstance(atom, str):
                    base = Sym.var(atom)
                elif isinstance(atom, FloorDiv):
                    base = atom.numerator.replace_atoms(mapping) // atom.divisor
                else:
                    base = _rebuilt(
                        atom, lambda x: x.replace_atoms(mapping), atom.cond.replace_atoms(mapping)
                    )
                term = term * base**p
            total = total + term
        return total

    def as_atom_plus_const(self) -> tuple[Atom, int] | None:
        """(atom, c) when this is exactly ``atom + c``, else None."""
        const = self._terms.get((), 0)
        rest = [(m, k) for m, k in self._terms.items() if m != ()]
        if len(rest) == 1 and rest[0][1] == 1 and len(rest[0][0]) == 1 and rest[0][0][0][1] == 1:
            return rest[0][0][0][0], const
        return None

    def evaluate(self, env: Mapping[str, int]) -> int:
        """The integer value under ``env``; SymbolicError names a missing symbol."""
        total = 0
        for mono, c in self._terms.items():
            v = c
            for atom, p in mono:
                if isinstance(atom, str):
                    if atom not in env:
                        raise SymbolicError(f"no value for symbol {atom!r} in {self}")
                    base = operator.index(env[atom])
                elif isinstance(atom, FloorDiv):
                    base = atom.numerator.evaluate(env) // atom.divisor
                else:
                    base = (atom.then if atom.cond.holds(env) else atom.other).evaluate(env)
                v *= base**p
            total += v
        return total

    @staticmethod
    def select(cond: bool | SymBool, then: int | Sym, other: int | Sym) -> Sym:
        """``then if cond else other``: a branch when ``cond`` is decided or both are equal, else a
        :class:`Select` atom."""
        a, b = Sym.of(then), Sym.of(other)
        if isinstance(cond, bool):
            return a if cond else b
        if a == b:
            return a
        return Sym({((Select(cond, a, b), 1),): 1})

    @staticmethod
    def minimum(a: int | Sym, b: int | Sym) -> Sym:
        return Sym.select(Sym.of(a) <= b, a, b)

    @staticmethod
    def maximum(a: int | Sym, b: int | Sym) -> Sym:
        return Sym.select(Sym.of(b) <= a, a, b)

    def __le__(self, other: int | Sym) -> bool | SymBool:
        if (o := _coerce(other)) is None:
            return NotImplemented
        return SymBool.make(self - o, "<=")

    def __lt__(self, other: int | Sym) -> bool | SymBool:
        if (o := _coerce(other)) is None:
            return NotImplemented
        return SymBool.make(self - o + 1, "<=")

    def __ge__(self, other: int | Sym) -> bool | SymBool:
        if (o := _coerce(other)) is None:
            return NotImplemented
        return SymBool.make(o - self, "<=")

    def __gt__(self, other: int | Sym) -> bool | SymBool:
        if (o := _coerce(other)) is None:
            return NotImplemented
        return SymBool.make(o - self + 1, "<=")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, Sym):
            return self._terms == other._terms
        if _is_int(other):
            return self.is_const and self.value == other
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            terms = self._terms
            if not terms:
                h = 0  # (hash(0): equal to the int 0, as other constants hash as their value)
            elif len(terms) == 1 and () in terms:
                h = hash(terms[()])
            else:
                h = hash(frozenset(terms.items()))
            _set_hash(self, h)
        return h

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __bool__(self) -> bool:
        return self.value != 0

    def __str__(self) -> str:
        if not self._terms:
            return "0"
        if len(self._terms) == 1:  # (the usual dim: a constant or a single term, nothing to sort)
            ((mono, c),) = self._terms.items()
            return _term_str(mono, c)
        out = ""
        for i, (mono, c) in enumerate(self._sorted()):
            if i == 0:
                out = _term_str(mono, c)
            else:
                out += (" - " if c < 0 else " + ") + _term_str(mono, abs(c))
        return out

    def __repr__(self) -> str:
        return f"Sym({str(self)!r})"


_SMALL = 1 << 16
_CONSTS: dict[int, Sym] = {}  # Sym.const(n) for |n| < _SMALL: immutable, so shared
# the slots' setters (Sym.__setattr__ refuses writes; __init__ and the caches write through these)
_set_terms: Callable[[Sym, dict[Mono, int]], None] = Sym.__dict__["_terms"].__set__
_set_free: Callable[[Sym, frozenset[str] | None], None] = Sym.__dict__["_free"].__set__
_set_hash: Callable[[Sym, int | None], None] = Sym.__dict__["_hash"].__set__
_set_atoms: Callable[[Sym, frozenset[Atom] | None], None] = Sym.__dict__["_atoms"].__set__
_ZERO = Sym()


def _term_str(mono: Mono, c: int) -> str:
    if not mono:
        return str(c)
    alone = len(mono) == 1 and mono[0][1] == 1 and c == 1
    factors: list[str] = []
    for atom, p in mono:
        s = str(atom) if isinstance(atom, str | Select) or alone else f"({atom.key})"  # (selects: own parens)
        factors.append(s if p == 1 else f"{s}**{p}")
    prefix = "" if c == 1 else "-" if c == -1 else f"{c}*"
    return prefix + "*".join(factors)


def _coerce(x: object) -> Sym | None:
    if isinstance(x, Sym):
        return x
    return Sym.const(x) if _is_int(x) else None  # type: ignore[arg-type]


def _divisor(num: Sym, d: Sym) -> int:
    if not d.is_const:
        raise SymbolicError(f"cannot divide {num} by non-constant {d}")
    if d.value <= 0:
        raise SymbolicError(f"cannot floor-divide {num} by non-positive {d}")
    return d.value


def _floordiv(x: Sym, k: int) -> Sym:
    """Normalized ``x // k`` for ``k >= 1``."""
    if k == 1:
        return x
    if x.is_const:
        return Sym.const(x.value // k)
    # x == k*quot + rest; rest keeps coefficients in [0, k) and a constant in (-k, 0].
    quot: dict[Mono, int] = {}
    rest: dict[Mono, int] = {}
    for m, c in x._terms.items():
        r = c % k if m else -(-c % k)
        quot[m], rest[m] = (c - r) // k, r
    q, r_sym = Sym(quot), Sym(rest)
    if r_sym.is_const:
        return q + r_sym.value // k
    for m, c in r_sym._sorted():  # (a//b + s)//k == (a + b*s)//(b*k)
        if c != 1 or len(m) != 1:
            continue
        atom, p = m[0]
        if p == 1 and isinstance(atom, FloorDiv):
            inner = atom.numerator + atom.divisor * (r_sym - Sym({m: 1}))
            return q + _floordiv(inner, atom.divisor * k)
    g = math.gcd(k, *r_sym._terms.values())
    if g > 1:
        r_sym, k = Sym({m: c // g for m, c in r_sym._terms.items()}), k // g
    return q + Sym({((FloorDiv(r_sym, k), 1),): 1})


def is_concrete(shape: Sequence[Sym | int]) -> bool:
    """True when every dimension is a known integer."""
    return all(not isinstance(d, Sym) or d.is_const for d in shape)


def format_shape(shape: Sequence[Sym | int | str]) -> str:
    """``(B, 3, H, W)``; a 1-tuple as ``(64,)``; empty as ``()``."""
    parts = [str(d) for d in shape]
    if len(parts) == 1:
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"

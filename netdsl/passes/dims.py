"""Dims written in a spec (``B``, ``H//4``, ``4*Cg``, ``*S``) read against a symbol table: their
symbolic values, and unification with the dims of actual tensors (binding unknowns, solving linear
entries such as ``4*Cg``). Used by shape inference and for concrete input sizes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from netdsl.core.errors import NetdslError, ShapeError, SourceLoc
from netdsl.core.symbolic import Sym, SymbolicError, format_shape
from netdsl.core.types import TensorType
from netdsl.frontend.expr import evaluate, parse

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dim_value(entry: int | str | Sym, env: Mapping[str, Any], loc: SourceLoc) -> Sym:
    """Evaluate one dim entry (int, symbol name or dim expression such as 'H*W') over ``env``."""
    if isinstance(entry, Sym):
        return entry
    try:
        if isinstance(entry, int):
            return Sym.const(entry)
        value = evaluate(parse(entry), env)
        return Sym.of(value)  # type: ignore[arg-type]
    except NetdslError as e:
        raise ShapeError(
            f"dim {entry!r}: {e.message}", loc, expected=e.expected, hint=e.hint, context=e.context
        ) from None
    except (SymbolicError, TypeError) as e:
        raise ShapeError(f"dim {entry!r} is not an integer dim expression: {e}", loc) from None


Env = dict[str, Any]  # symbol -> Sym, or variadic name -> tuple of Syms
Sizes = Mapping[str, int | list[int]]  # example sizes: a dim -> int, a variadic *S -> list


def star_index(decl: list[int | str]) -> int | None:
    """Index of the variadic entry ``*S`` of a declared shape, if any."""
    for i, d in enumerate(decl):
        if isinstance(d, str) and d.startswith("*"):
            return i
    return None


def dim_list(entries: list[Any], env: Mapping[str, Any], loc: SourceLoc) -> list[Sym]:
    """Evaluate a list of dim entries; ``*S`` splices the dims bound to the variadic name S."""
    out: list[Sym] = []
    for e in entries:
        if isinstance(e, str) and e.startswith("*"):
            value = env.get(e[1:])
            if not isinstance(value, tuple):
                raise ShapeError(
                    f"{e!r}: no variadic dims named {e[1:]!r} (bind them in an input: [B, C, *S])", loc
                )
            out.extend(value)
        else:
            out.append(dim_value(e, env, loc))
    return out


def unify(decl: list[int | str], actual: TensorType, env: Env, loc: SourceLoc, what: str) -> None:
    """Match a declared shape against an actual type, binding new symbol names into ``env``."""
    star = star_index(decl)
    if star is not None:
        fixed = len(decl) - 1
        if actual.rank < fixed:
            raise ShapeError(
                f"{what} expects rank >= {fixed} {format_shape(decl)}, got {actual} (rank {actual.rank})", loc
            )
        name = str(decl[star])[1:]
        cut = actual.rank - (fixed - star)
        rest = tuple(actual.shape[star:cut])
        if name in env and env[name] != rest:
            raise ShapeError(
                f"{what}: *{name} is {format_shape(env[name])} but the input has {format_shape(rest)}", loc
            )
        env[name] = rest
        head = TensorType(actual.shape[:star] + actual.shape[cut:], actual.dtype)
        unify([d for i, d in enumerate(decl) if i != star], head, env, loc, what)
        return
    if len(decl) != actual.rank:
        raise ShapeError(
            f"{what} expects rank {len(decl)} {format_shape(decl)}, got {actual} (rank {actual.rank})", loc
        )
    for i, (d, a) in enumerate(zip(decl, actual.shape, strict=True)):
        if isinstance(d, str) and IDENT.match(d) and d not in env:
            env[d] = a
            continue
        if isinstance(d, str) and _solve(d, a, env, loc, partial(_dim_what, what, decl, actual, i)):
            continue
        want = dim_value(d, env, loc)
        if want != a:
            named = f" ({d} = {want})" if isinstance(d, str) else ""
            raise ShapeError(
                f"{what} expects {format_shape(decl)}, got {actual}: dim {i} is {a}, not {d}{named}", loc
            )


def _dim_what(what: str, decl: list[int | str], actual: TensorType, i: int) -> str:
    return f"{what} expects {format_shape(decl)}, got {actual}: dim {i}"


def unknowns(entry: str, env: Mapping[str, Any]) -> list[str]:
    try:
        names = parse(entry).names
    except NetdslError:
        return []
    return sorted(n for n in names if n not in env and IDENT.match(n))


def _solve(entry: str, actual: Sym, env: Env, loc: SourceLoc, what: Callable[[], str]) -> bool:
    """Bind the one unknown name of a linear dim expression (``4*Cg``) so that it equals ``actual``.
    False when the entry has no unknown name (it is then simply evaluated and compared). ``what``
    makes the start of an error's message (only for an error)."""
    unknown = unknowns(entry, env)
    if not unknown:
        return False
    if len(unknown) > 1:
        raise ShapeError(
            f"{what()}: {entry!r} has several unknown dims ({', '.join(unknown)}); bind all but one", loc
        )
    (u,) = unknown
    probe = "__netdsl_unknown"
    e = dim_value(entry, {**env, u: Sym.var(probe)}, loc)
    e0 = e.subs({probe: 0})
    k = e.subs({probe: 1}) - e0
    if e != e0 + k * Sym.var(probe) or not k.is_const or k.value == 0:
        raise ShapeError(
            f"{what()}: {entry!r} must be linear in its unknown dim {u!r} (like 4*{u} or {u} + 1)", loc
        )
    value = (actual - e0).exact_div(k)
    if value is None:
        raise ShapeError(f"{what()} is {actual}, which is not {entry} for any whole {u}", loc)
    env[u] = value
    return True

"""Wiring: a node's `in:` parsed once into typed references, names looked up in a body's symbol
table, and the refs a node is given matched to the inputs of its op or block."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from netdsl.core.errors import PathT, ResolveError, SourceLoc
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.schema import BlockBody, InputDecl
from netdsl.ir.graph import Ref
from netdsl.passes.resolve.symbols import Absent, Failed, Off, Outputs, Table


class InRef(NamedTuple):
    """One reference of a node's `in:`: ``text`` (``node``, ``node.output``, ``input``, or
    ``node.*``: all of a node's outputs), given for the input ``key`` (None: by position), written
    at ``path`` (its location is made only for an error). (A named tuple: a spec has one or more
    per node, and it is made 3x quicker than a frozen dataclass.)"""

    key: str | None
    text: str
    path: PathT

    @property
    def splat(self) -> bool:
        return self.text.endswith(".*")


@dataclass(frozen=True, slots=True)
class BadIn:
    """An `in:` that is not a name, a list or a mapping (reported when its node is resolved)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Unevaluated:
    """An `in:` whose expressions do not evaluate (reported when its node is resolved)."""


UNEVALUATED = Unevaluated()

Wires = tuple[InRef, ...] | BadIn | Unevaluated


def parse_in(raw: Any, in_path: PathT) -> tuple[InRef, ...] | BadIn:
    """The references of an `in:` value (as evaluated) written at ``in_path``."""
    if isinstance(raw, str):
        return (InRef(None, raw, in_path),)
    if isinstance(raw, list):
        return tuple(InRef(None, str(r), (*in_path, i)) for i, r in enumerate(raw))
    if isinstance(raw, dict):
        return tuple(InRef(str(k), str(v), (*in_path, str(k))) for k, v in raw.items())
    if raw is None:
        return ()
    return BadIn(raw)


def ref_texts(wires: Wires) -> list[str]:
    """The names ``wires`` refer to (none for an `in:` that is wrong)."""
    return [r.text for r in wires] if isinstance(wires, tuple) else []


def dependencies(wires: Wires, nodes: Mapping[str, Any], inputs: set[str] | frozenset[str]) -> set[str]:
    """The nodes (of ``nodes``) that a node with ``wires`` reads: ``a`` for ``a``, ``a.out`` and
    ``a.*``; a name that is one of the body's ``inputs`` reads no node."""
    deps = set()
    if type(wires) is tuple:
        for r in wires:
            text = r.text
            target = text if text in nodes else text.rsplit(".", 1)[0]
            if target in nodes and text not in inputs:
                deps.add(target)
    return deps


_CHOOSE = "choose the input with an expression, e.g. in: \"${'proj' if reconstruct else 'x'}\""


def lookup(text: str, table: Table, named: Mapping[str, Mapping[str, Ref]], loc: SourceLoc) -> Ref | None:
    """The ref that ``text`` names in ``table`` (``node``: its first output; ``node.i`` or
    ``node.name``: one of them); None for a node that failed (its error is reported). ``named``:
    the outputs of block instances by name."""
    entry = table.get(text)
    if entry is None and "." in text:
        base, _, suffix = text.rpartition(".")
        outs = table.get(base)
        if outs is not None:
            match outs:
                case Failed():
                    return None
                case Off():
                    raise ResolveError(outs.why(base), loc, hint=_CHOOSE)
                case Absent():
                    raise _absent(base, loc)
                case Outputs(refs):
                    if suffix.isdigit() and int(suffix) < len(refs):
                        return refs[int(suffix)]
                    by_name = named.get(base, {})
                    if suffix in by_name:
                        return by_name[suffix]
                    choices = list(by_name) or [str(i) for i in range(len(refs))]
                    raise ResolveError(
                        f"{base!r} has no output {suffix!r}",
                        loc,
                        expected=choices,
                        hint=did_you_mean(suffix, choices),
                    )
    match entry:
        case None:
            raise ResolveError(
                f"unknown node or input {text!r}", loc, expected=list(table), hint=did_you_mean(text, table)
            )
        case Failed():
            return None
        case Absent():
            raise _absent(text, loc)
        case Off():
            raise ResolveError(entry.why(text), loc, hint=_CHOOSE)
        case Outputs(refs):
            if not refs:
                raise ResolveError(f"{text!r} has no outputs", loc)
            return refs[0]
    raise AssertionError(entry)  # (every kind of symbol is matched above)


def _absent(name: str, loc: SourceLoc) -> ResolveError:
    return ResolveError(
        f"the optional input {name!r} is not connected here",
        loc,
        hint=f"switch this node off when it is missing: `when: $has_{name}`",
    )


def optional(decl: Any) -> bool:
    return isinstance(decl, InputDecl) and decl.optional


def has_inputs(bdef: BlockBody, present: Mapping[str, Any]) -> dict[str, bool]:
    """`has_<input>` for each optional input: whether it is connected."""
    return {f"has_{n}": n in present for n, d in bdef.inputs.items() if optional(d)}


def block_inputs(
    bdef: BlockBody, refs: Sequence[tuple[str | None, Ref]], what: str, loc: SourceLoc
) -> dict[str, Ref]:
    """Map a block instance's inputs (positional or by name) to its declared inputs."""
    names = list(bdef.inputs)
    if any(k is not None for k, _ in refs):
        out = {}
        for k, r in refs:
            if k not in names:
                raise ResolveError(
                    f"block {what!r} has no input named {k!r}",
                    loc,
                    expected=names,
                    hint=did_you_mean(str(k), names),
                )
            out[str(k)] = r
    else:
        if len(refs) > len(names):
            raise ResolveError(
                f"block {what!r} takes {len(names)} input(s) ({', '.join(names)}), got {len(refs)}", loc
            )
        out = {n: r for n, (_, r) in zip(names, refs, strict=False)}
    missing = [n for n, d in bdef.inputs.items() if n not in out and not optional(d)]
    if missing:
        raise ResolveError(
            f"block {what!r} needs input {missing[0]!r} (its inputs: {', '.join(names)}), got {len(refs)}",
            loc,
        )
    return out


def op_inputs(
    refs: Sequence[tuple[str | None, Ref]], names: tuple[str, ...], variadic: bool, what: str, loc: SourceLoc
) -> list[Ref]:
    """The refs of an op's inputs in the op's order (given by name or by position); errors at ``loc``."""
    if all(k is None for k, _ in refs):
        return [r for _, r in refs]
    if variadic:
        raise ResolveError(f"{what!r} takes a list of inputs, not a mapping", loc)
    by_name = {k: r for k, r in refs}
    for k in by_name:
        if k not in names:
            raise ResolveError(
                f"{what!r} has no input named {k!r}", loc, expected=names, hint=did_you_mean(str(k), names)
            )
    out = []
    for n in names:
        if n not in by_name:
            break
        out.append(by_name[n])
    if len(out) != len(by_name):
        missing = [n for n in names[: len(by_name)] if n not in by_name]
        raise ResolveError(f"{what!r}: input {missing[0]!r} is missing (inputs are {', '.join(names)})", loc)
    return out

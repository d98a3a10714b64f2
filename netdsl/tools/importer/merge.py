"""One block from the bodies of several instances of a module class: what is the same in every
instance is written as is, what differs becomes a parameter (``conv1_out_channels``,
``conv1_stride``), nodes that only some instances have are switched by a bool parameter
(``has_downsample``) and inputs that differ with it are chosen by it
(``${'downsample.1' if has_downsample else 'x'}``). Parameters with the same values in every
instance are one parameter. Runs of identical block instances become one node with ``repeat:``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from netdsl.tools.importer.bodies import same
from netdsl.tools.importer.frames import dim_names
from netdsl.tools.importer.model import Body, CondRef, Entry, Param, ParamRef


class NoMerge(Exception):
    """The bodies differ in a way parameters cannot express (other ops under one name, ...)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

#: the parameter of a block input's dim that is a number differing between instances: in_<word>
_DIM_WORDS = {"C": "channels", "N": "tokens", "D": "depth", "H": "height", "W": "width", "B": "batch"}
_KEYWORDS = {"if", "else", "and", "or", "not", "in", "true", "false", "null", "none", "is", "for", "lambda"}


@dataclass
class Merged:
    body: Body
    params: dict[str, Param]
    #: each instance's arguments (the parameters whose value differs from the default)
    args: list[dict[str, Any]]


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=repr) + type(v).__name__


def _compatible(a: list[Any], b: list[Any]) -> bool:
    overlap = False
    for x, y in zip(a, b, strict=True):
        if x is MISSING or y is MISSING:
            continue
        if not same(x, y):
            return False
        overlap = True
    return overlap


def param_name(base: str, taken: set[str] | Mapping[str, Any]) -> str:
    name = re.sub(r"\W", "_", base).strip("_") or "p"
    if name[0].isdigit():
        name = f"p_{name}"
    if name.lower() in _KEYWORDS:
        name += "_"
    out, k = name, 2
    while out in taken:
        out = f"{name}_{k}"
        k += 1
    return out


class _Params:
    """The parameters of a block being made: one vector of values per parameter (MISSING where an
    instance does not use it); a new parameter whose values agree with an existing one is that one."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.vectors: dict[str, list[Any]] = {}

    def add(self, base: str, values: list[Any]) -> str:
        for name, vec in self.vectors.items():
            if _compatible(vec, values):
                for i, v in enumerate(values):
                    if vec[i] is MISSING:
                        vec[i] = v
                return name
        name = param_name(base, self.vectors)
        self.vectors[name] = list(values)
        return name

    def flag_for(self, present: Sequence[int], values: Sequence[str]) -> tuple[str, str, str] | None:
        """A bool parameter that tells the two ``values`` apart over the instances ``present``:
        (flag, value when true, value when false)."""
        distinct = list(dict.fromkeys(values))
        if len(distinct) != 2:
            return None
        a, b = distinct
        for name, vec in self.vectors.items():
            got = [vec[i] for i in present]
            if not all(isinstance(v, bool) for v in got):
                continue
            if all(g == (v == a) for g, v in zip(got, values, strict=True)):
                return name, a, b
            if all(g == (v == b) for g, v in zip(got, values, strict=True)):
                return name, b, a
        return None


def _union_order(bodies: Sequence[Body]) -> list[str]:
    order: list[str] = []
    for body in bodies:
        at = -1
        for e in body.entries:
            if e.name in order:
                at = order.index(e.name)
            else:
                order.insert(at + 1, e.name)
                at += 1
    return order


def merge(bodies: Sequence[Body], defaults_of: Callable[[Entry], Mapping[str, Any]]) -> Merged:
    """One body for ``bodies`` (the instances' own, all with the same inputs), with parameters."""
    n = len(bodies)
    first = bodies[0]
    params = _Params(n)
    # inputs: the same names and ranks; numbers that differ become parameters
    in_decls: list[tuple[str, list[Any]]] = []
    for k, (name, decl) in enumerate(first.inputs):
        decls = []
        for body in bodies:
            if len(body.inputs) != len(first.inputs) or body.inputs[k][0] != name:
                raise NoMerge("other inputs")
            decls.append(body.inputs[k][1])
        if any(len(d) != len(decl) for d in decls):
            raise NoMerge(f"input {name}: other ranks")
        out: list[Any] = []
        for i in range(len(decl)):
            values = [d[i] for d in decls]
            if all(isinstance(v, str) for v in values):
                if len(set(values)) != 1:
                    raise NoMerge(f"input {name}: other dims")
                out.append(values[0])
            elif all(isinstance(v, int) for v in values):
                if all(v == values[0] for v in values):
                    out.append(values[0])
                else:
                    label = _DIM_WORDS.get(dim_names(len(decl))[i], dim_names(len(decl))[i].lower())
                    out.append(
                        ParamRef(params.add(f"{name}_{label}" if name != "x" else f"in_{label}", values))
                    )
            else:
                raise NoMerge(f"input {name}: a dim is a number in some instances only")
        in_decls.append((name, out))
    for body in bodies:
        if len(body.outputs) != len(first.outputs):
            raise NoMerge("other outputs")
    # which instances have which node
    by_name: list[dict[str, Entry]] = [{e.name: e for e in body.entries} for body in bodies]
    order = _union_order(bodies)
    present = {name: [i for i in range(n) if name in by_name[i]] for name in order}
    flags: dict[tuple[int, ...], str] = {}
    for name in order:
        pattern = tuple(present[name])
        if len(pattern) < n and pattern not in flags:
            root = name.split(".")[0]
            flags[pattern] = params.add(f"has_{root}", [i in pattern for i in range(n)])
    entries: list[Entry] = []
    for name in order:
        where = present[name]
        es = [by_name[i][name] for i in where]
        e0 = es[0]
        what: Any = e0.what
        for e in es[1:]:
            if (e.kind, e.outputs, e.out_names) != (e0.kind, e0.outputs, e0.out_names):
                raise NoMerge(f"{name}: {e0.kind} {e0.what} vs {e.kind} {e.what}")
            if len(e.inputs) != len(e0.inputs):
                raise NoMerge(f"{name}: another number of inputs")
        if any(e.what != e0.what for e in es):
            # other ops without attributes (relu here, hardswish there): `op: $name_op`
            if e0.kind != "op" or any(e.attrs for e in es):
                raise NoMerge(f"{name}: {e0.what} vs {next(e.what for e in es if e.what != e0.what)}")
            base = f"op_{name}" if name.isdigit() else f"{name}_op"
            what = _template(params, base, [e.what for e in es], where, n)
        defaults = defaults_of(e0) if isinstance(what, str) else {}
        attrs: dict[str, Any] = {}
        keys = list(dict.fromkeys(k for e in es for k in e.attrs))
        for key in keys:
            values = [e.attrs.get(key, defaults.get(key, MISSING)) for e in es]
            if any(v is MISSING for v in values):
                raise NoMerge(f"{name}.{key}: not given in every instance")
            value = _template(params, key if name.isdigit() else f"{name}_{key}", values, where, n)
            if not (key in defaults and same(value, defaults[key])):
                attrs[key] = value
        inputs = [
            _choose(
                params,
                f"{name}_in{p}" if len(e0.inputs) > 1 else f"{name}_in",
                [e.inputs[p] for e in es],
                where,
                n,
            )
            for p in range(len(e0.inputs))
        ]
        when = ParamRef(flags[tuple(where)]) if len(where) < n else None
        entries.append(replace(e0, what=what, inputs=inputs, attrs=attrs, when=when))
    outputs = [
        (out, _choose(params, f"out_{out}", [b.outputs[k][1] for b in bodies], list(range(n)), n))
        for k, (out, _) in enumerate(first.outputs)
    ]
    return _finish(params, Body(in_decls, entries, outputs, {}, dict(first.dtypes)), bodies)


def _template(params: _Params, base: str, values: list[Any], where: list[int], n: int) -> Any:
    """A value that is the same everywhere, or a parameter (lists of one length: per item)."""
    if all(same(v, values[0]) for v in values):
        return values[0]
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        return [
            _template(params, f"{base}_{j}", [v[j] for v in values], where, n) for j in range(len(values[0]))
        ]
    vec = [MISSING] * n
    for i, v in zip(where, values, strict=True):
        vec[i] = v
    return ParamRef(params.add(base, vec))


def _choose(params: _Params, base: str, values: list[Any], where: list[int], n: int) -> Any:
    """A reference that is the same everywhere, chosen by a flag, or a str parameter."""
    if all(v == values[0] for v in values):
        return values[0]
    if all(isinstance(v, str) for v in values):
        got = params.flag_for(where, values)
        if got is not None:
            return CondRef(*got)
    vec = [MISSING] * n
    for i, v in zip(where, values, strict=True):
        vec[i] = v
    return ParamRef(params.add(base, vec))


def _type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not MISSING}
    names = {bool: "bool", int: "int", float: "float", str: "str", list: "list"}
    if len(kinds) == 1:
        return names.get(next(iter(kinds)), "any")
    return "any"


def _finish(params: _Params, body: Body, bodies: Sequence[Body]) -> Merged:
    """Defaults: the values of the instance closest to the most common ones (so that the defaults
    are one real instance, and a block file builds alone); each instance's arguments."""
    n = params.n
    modes: dict[str, Any] = {}
    for name, vec in params.vectors.items():
        counts: dict[str, tuple[int, Any]] = {}
        for v in vec:
            if v is not MISSING:
                k = _key(v)
                counts[k] = (counts.get(k, (0, v))[0] + 1, v)
        modes[name] = max(counts.values(), key=lambda c: c[0])[1] if counts else None

    def score(i: int) -> int:
        return sum(
            1 for name, vec in params.vectors.items() if vec[i] is not MISSING and same(vec[i], modes[name])
        )

    ref = max(range(n), key=lambda i: (score(i), -i))
    out: dict[str, Param] = {}
    for name, vec in params.vectors.items():
        default = vec[ref] if vec[ref] is not MISSING else modes[name]
        out[name] = Param(name, _type(vec), default)
    args = [
        {
            name: vec[i]
            for name, vec in params.vectors.items()
            if vec[i] is not MISSING and not same(vec[i], out[name].default)
        }
        for i in range(n)
    ]
    body.example = dict(bodies[ref].example)
    return Merged(body, out, args)


# ----------------------------------------------------------------------------------------------------
# repeats

_NUMBERED = re.compile(r"^(?P<prefix>.+)\.(?P<i>\d+)$")


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, CondRef):
        return [value.then, value.other]
    return []


def compress_repeats(body: Body, single_io: Callable[[str], bool]) -> Body:
    """Runs of two or more block instances with the same block and arguments, each reading the one
    before (and nothing else reading it), at module paths ``prefix.i``, ``prefix.i+1``, ...: one node
    with ``repeat:`` (and ``path:`` when it does not start at 0). ``single_io(block)``: the block has
    one input and one output."""
    uses: dict[str, int] = {}
    loose: set[str] = set()  # names read through a parameter or a condition: left alone
    for e in body.entries:
        for v in e.inputs:
            for r in _refs(v):
                uses[r] = uses.get(r, 0) + 1
            if not isinstance(v, str):
                loose.update(_refs(v))
    for _, v in body.outputs:
        for r in _refs(v):
            uses[r] = uses.get(r, 0) + 1
        if not isinstance(v, str):
            loose.update(_refs(v))
    names = {e.name for e in body.entries}
    entries = list(body.entries)
    renamed: dict[str, str] = {}
    out: list[Entry] = []
    i = 0
    while i < len(entries):
        e = entries[i]
        run = [e]
        m = _NUMBERED.match(e.name)
        if e.kind == "block" and e.when is None and m is not None and single_io(e.what):
            j = i + 1
            while j < len(entries):
                nxt, prev = entries[j], run[-1]
                nm = _NUMBERED.match(nxt.name)
                pm = _NUMBERED.match(prev.name)
                assert pm is not None
                if not (
                    nm is not None
                    and nm["prefix"] == m["prefix"]
                    and int(nm["i"]) == int(pm["i"]) + 1
                    and nxt.kind == "block"
                    and nxt.what == e.what
                    and nxt.when is None
                    and same_value(nxt.attrs, e.attrs)
                    and nxt.inputs == [prev.name]
                    and uses.get(prev.name, 0) == 1
                    and prev.name not in loose
                ):
                    break
                run.append(nxt)
                j += 1
        if len(run) < 2:
            out.append(e)
            i += 1
            continue
        assert m is not None
        prefix, start = m["prefix"], int(m["i"])
        name = prefix if start == 0 and prefix not in names and prefix not in renamed.values() else None
        if name is None:
            name = f"{prefix}_{start}_{start + len(run) - 1}".replace(".", "_")
            while name in names:
                name += "_"
        merged = replace(
            e,
            name=name,
            repeat=len(run),
            repeat_var="i" if name != prefix else None,
            path=(f"{prefix}.${{i + {start}}}" if start else f"{prefix}.${{i}}") if name != prefix else None,
        )
        renamed[run[-1].name] = name
        out.append(merged)
        i += len(run)
    if not renamed:
        return body

    def fix(v: Any) -> Any:
        return renamed.get(v, v) if isinstance(v, str) else v

    for e in out:
        e.inputs = [fix(v) for v in e.inputs]
    outputs = [(n, fix(v)) for n, v in body.outputs]
    return replace(body, entries=out, outputs=outputs)


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, ParamRef | CondRef) or isinstance(b, ParamRef | CondRef):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return same(a, b)


__all__ = ["MISSING", "Merged", "NoMerge", "compress_repeats", "merge", "param_name"]

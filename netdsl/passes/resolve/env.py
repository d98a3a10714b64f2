"""The environment: variables, variants, `--set` overrides, block parameters (given, defaulted or
from `example:`) and `require:` rules.

Every value that is set comes with its :class:`Provenance`: what set it and where. Errors about
a value are reported where it was set (a variant's value at the variant's line, not at the
variable's default), and `require:` failures say where the values they show came from
(``groups=0 (--set)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from netdsl.core.errors import ErrorCollector, NetdslError, PathT, ResolveError, SourceLoc, UsageError
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.expr import referenced_names, resolve_value
from netdsl.frontend.schema import BlockDef, NetworkFile, ParamDecl
from netdsl.frontend.validate import describe
from netdsl.frontend.yaml_loader import Doc
from netdsl.ir.graph import Scope
from netdsl.passes.resolve.symbols import FAILED
from netdsl.passes.resolve.values import names

Kind = Literal["default", "variant", "override", "block argument", "example"]


@dataclass(frozen=True, slots=True)
class Provenance:
    """What set a value, and where (None: no place of its own, e.g. a computed value)."""

    kind: Kind
    loc: SourceLoc | None = None

    @property
    def label(self) -> str:
        """How messages name it: ``(--set)``, ``(example)``, ``(default)``."""
        return "--set" if self.kind == "override" else self.kind


def override_loc(name: str) -> SourceLoc:
    """The location of a ``--set name=...`` value (no file, no line)."""
    return SourceLoc("--set", 0, 0, (name,))


@dataclass(frozen=True, slots=True)
class Given:
    """A value as set, before it is evaluated, and its provenance."""

    value: Any
    prov: Provenance


def network_values(
    spec: NetworkFile, doc: Doc, variant: str | None, overrides: Mapping[str, Any], errors: ErrorCollector
) -> tuple[str | None, dict[str, Given]]:
    """The variant in effect and the network's variables as set: their defaults, then the variant's
    values, then the overrides (each with its provenance)."""
    if variant is not None and variant not in spec.variants:
        raise UsageError(
            f"--variant {variant}: {spec.network!r} has no variant {variant!r}",
            expected=spec.variants or ["(none)"],
            hint=did_you_mean(variant, spec.variants),
        )
    if variant is None and spec.default_variant is not None:
        variant = spec.default_variant
        if variant not in spec.variants:
            raise ResolveError(
                f"unknown default variant {variant!r}",
                doc.loc(("default_variant",)),
                expected=spec.variants or ["(none)"],
                hint=did_you_mean(variant, spec.variants),
            )
    values = {k: Given(v, Provenance("default", doc.loc(("vars", k)))) for k, v in spec.vars.items()}
    if variant is not None:
        for key, value in spec.variants[variant].items():
            if key not in spec.vars:
                errors.add(
                    ResolveError(
                        f"variant {variant!r} sets {key!r}, which is not a variable",
                        doc.key_loc(("variants", variant, key)),
                        expected=spec.vars,
                        hint=did_you_mean(key, spec.vars),
                    )
                )
            values[key] = Given(value, Provenance("variant", doc.loc(("variants", variant, key))))
    for key, value in overrides.items():
        if key not in spec.vars:
            raise UsageError(
                f"--set {key}: {spec.network!r} has no variable {key!r}",
                expected=spec.vars,
                hint=did_you_mean(key, spec.vars),
            )
        values[key] = Given(value, Provenance("override", override_loc(key)))
    return variant, values


def eval_vars(
    values: Mapping[str, Any],
    loc_of: Callable[[str], SourceLoc],
    env: Mapping[str, Any],
    errors: ErrorCollector,
) -> dict[str, Any]:
    """``env`` and the variables ``values``, which may refer to each other (any order, no cycles)
    and to ``env``; ``loc_of(name)``: where a variable's value is written. A variable whose
    evaluation fails (or that uses one that does) is FAILED; its error is reported once."""
    out = dict(env)
    if not values:
        return out
    state: dict[str, str] = {}
    deps: dict[str, list[str]] = {}

    def deps_of(name: str) -> list[str]:
        if name not in deps:
            deps[name] = sorted(names(values[name]))
        return deps[name]

    for start in values:  # depth-first, with an explicit stack: long chains do not recurse
        if start in state:
            continue
        path = [start]
        pending = [iter(deps_of(start))]
        state[start] = "active"
        try:
            while path:
                name = path[-1]
                for dep in pending[-1]:
                    if dep == name and name not in env:
                        raise ResolveError(
                            f"variable {name!r} refers to itself",
                            loc_of(name),
                            hint="a variable cannot be defined in terms of its own value",
                        )
                    if dep not in values or dep == name:
                        continue
                    if state.get(dep) == "active":
                        cycle = " -> ".join((*path[path.index(dep) :], dep))
                        raise ResolveError(f"variables refer to each other in a cycle: {cycle}", loc_of(dep))
                    if dep not in state:
                        state[dep] = "active"
                        path.append(dep)
                        pending.append(iter(deps_of(dep)))
                        break
                else:  # every dependency is evaluated
                    if any(out.get(d) is FAILED for d in deps_of(name)):
                        out[name] = FAILED  # its dependency's error is reported
                    else:
                        out[name] = resolve_value(values[name], out, loc_of(name))
                    state[name] = "done"
                    path.pop()
                    pending.pop()
        except NetdslError as e:
            errors.add(e)
            for k in path:
                state[k] = "done"
                out.setdefault(k, FAILED)
    return out


@dataclass(frozen=True, slots=True)
class BlockCall:
    """One use of a block, as its parameters are bound: the definition (``base``: its path in its
    file ``doc``), its name, where it is used, the values it is given, the values known before its
    parameters (`has_<input>`), and whether it is built on its own (``cli``: from --set/`example:`)."""

    bdef: BlockDef
    name: str
    doc: Doc
    call_loc: SourceLoc
    given: Mapping[str, Given]
    base: PathT = ()
    initial: Mapping[str, Any] = field(default_factory=dict)
    cli: bool = False


def bind_params(call: BlockCall, scope: Scope, errors: ErrorCollector) -> dict[str, Any] | None:
    """The environment of a block instance: its parameters (given, else defaulted; checked against
    their declarations), then its variables; None when something is wrong (reported). Sets
    ``scope.params`` and ``scope.dim_params``; then checks the `require:` rules."""
    bdef, doc, base = call.bdef, call.doc, call.base
    env: dict[str, Any] = dict(call.initial)
    origins: dict[str, Provenance] = {}  # where each parameter's value came from
    ok = True
    for pname, decl in bdef.params.items():
        given = call.given.get(pname)
        if given is not None:
            value, prov = given.value, given.prov
        elif decl.required:
            how = (
                f"pass --set {pname}=... or add `{pname}: ...` to `example:`"
                if call.cli
                else f"add `{pname}: ...` to the node"
            )
            errors.add(
                ResolveError(
                    f"block {call.name!r} needs parameter {pname!r} ({decl.type})", call.call_loc, hint=how
                )
            )
            ok = False
            continue
        else:
            prov = Provenance("default", doc.loc((*base, "params", pname, "default")))
            try:
                value = resolve_value(decl.default, env, prov.loc)
            except NetdslError as e:
                errors.add(e)
                ok = False
                continue
        origins[pname] = prov
        vloc = prov.loc or call.call_loc
        problem = check_param(decl, value)
        if problem:
            errors.add(
                ResolveError(
                    f"parameter {pname!r} of block {call.name!r}: {problem}",
                    vloc,
                    expected=[str(c) for c in decl.choices] if decl.choices else None,
                )
            )
            ok = False
            continue
        if decl.type == "dim":
            scope.dim_params[pname] = (value, vloc)
        else:
            env[pname] = value
    scope.params = {**env, **{k: v for k, (v, _) in scope.dim_params.items()}}
    if not ok:
        return None
    vars_base = (*base, "vars")
    env = eval_vars(bdef.vars, lambda n: doc.loc((*vars_base, n)), env, errors)
    if any(v is FAILED for v in env.values()):
        return None  # reported
    return env if check_require(call, env, origins, errors) else None


def check_require(
    call: BlockCall, env: Mapping[str, Any], origins: Mapping[str, Provenance], errors: ErrorCollector
) -> bool:
    """Check the block's `require:` rules in order (stopping at the first that fails: later rules
    often assume the earlier ones, e.g. a division by a checked divisor)."""
    doc, base = call.doc, call.base
    for i, rule in enumerate(call.bdef.require):
        check, message = (rule, None) if isinstance(rule, str) else (rule.check, rule.message)
        rloc = doc.loc((*base, "require", i) if isinstance(rule, str) else (*base, "require", i, "check"))
        text = check.strip()
        expr = text if text.startswith("${") else "${" + text + "}"
        try:
            result = resolve_value(expr, env, rloc)
        except NetdslError as e:
            if expr is not text and e.loc.col > 2:  # point into the rule as written, without '${'
                e = e.evolve(loc=replace(e.loc, col=e.loc.col - 2, end_col=max(0, e.loc.end_col - 2)))
            errors.add(e)
            return False
        if result is not True:
            used = [n for n in sorted(referenced_names(expr)) if n in env]
            origin = {n: origins[n].label for n in used if n in origins} if call.cli else {}
            shown = ", ".join(f"{n}={env[n]!r}" + (f" ({origin[n]})" if n in origin else "") for n in used)
            msg = f"block {call.name!r} requires {text}" + (f" ({shown})" if shown else "")
            # built on its own: at `example:` when its values take part (that is what to change),
            # else at the rule itself (--set values have no line, defaults are the rule's file)
            labels = set(origin.values())
            where = rloc if call.cli and ("--set" in labels or "example" not in labels) else call.call_loc
            errors.add(ResolveError(msg, where, hint=message))
            return False
    return True


_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "dim": (int, str),
}


def check_param(decl: ParamDecl, value: Any) -> str | None:
    """What is wrong with ``value`` for the parameter ``decl`` (None: nothing)."""
    if value is None and not decl.required and decl.default is None:
        return None  # an optional parameter left unset (`default: null`)
    if decl.type != "any":
        ok = isinstance(value, _PARAM_TYPES[decl.type]) and (
            decl.type == "bool" or not isinstance(value, bool)
        )
        if not ok:
            return f"expected {decl.type}, got {describe(value)}"
    if value is None and not decl.required:
        return None
    if decl.choices is not None and value not in decl.choices:
        return f"{value!r} is not one of {decl.choices}"
    return None

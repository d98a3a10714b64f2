"""Shapes and dims: the declared shapes of inputs evaluated, the graph's inputs, `dims:` checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.core.errors import ErrorCollector, NetdslError, PathT, ResolveError
from netdsl.frontend.expr import resolve_value
from netdsl.frontend.schema import BlockBody, InputDecl
from netdsl.frontend.validate import describe
from netdsl.frontend.yaml_loader import Doc
from netdsl.ir.graph import GraphInput


def shape_path(decl: Any, path: PathT) -> PathT:
    """Where the shape of the input declared as ``decl`` at ``path`` is written."""
    return (*path, "shape") if isinstance(decl, InputDecl) else path


def eval_shape(dims: list[int | str], env: Mapping[str, Any], doc: Doc, path: PathT) -> list[int | str]:
    """Evaluate the expressions of a declared shape; each error is located at its dim."""
    for dim in dims:  # (usually: plain names and sizes, which are their own values)
        if not ((type(dim) is str and "$" not in dim) or (type(dim) is int and 0 <= dim < 2**63)):
            break
    else:
        return list(dims)
    out: list[int | str] = []
    for i, raw in enumerate(dims):
        loc = doc.loc((*path, i))
        try:
            d = resolve_value(raw, env, loc)
        except NetdslError as e:
            if e.message.startswith("unknown name") and isinstance(raw, str) and raw.startswith("$"):
                raise e.evolve(
                    hint=f"if {raw.lstrip('$').strip('{}')} is a symbolic dim, write it without `$` "
                    "(`$name` is for variables and parameters)"
                ) from None
            raise
        if isinstance(d, bool) or not isinstance(d, int | str):
            raise ResolveError(f"a dim is an integer or a name, got {describe(d)}", loc)
        if isinstance(d, int) and d < 0:
            raise ResolveError(f"a dim must be >= 0, got {d}", loc)
        if isinstance(d, int) and d >= 2**63:
            raise ResolveError(f"a dim must be below 2**63, got {d}", loc)
        out.append(d)
    return out


def graph_inputs(
    spec: BlockBody, doc: Doc, env: Mapping[str, Any], errors: ErrorCollector
) -> list[GraphInput]:
    """The graph's inputs: the required inputs of ``spec`` (an optional one is left unconnected)."""
    out = []
    for name, decl in spec.inputs.items():
        d = decl if isinstance(decl, InputDecl) else InputDecl(shape=decl)
        if d.optional:
            continue
        try:
            shape = eval_shape(d.shape, env, doc, shape_path(decl, ("inputs", name)))
        except NetdslError as e:
            errors.add(e)
            shape = []
        out.append(GraphInput(name, shape, d.dtype, doc.key_loc(("inputs", name))))
    return out


def check_dims(dims: Mapping[str, Any], inputs: list[GraphInput], doc: Doc, errors: ErrorCollector) -> None:
    """`dims:` gives one size >= 1 per dim, and a list of them for a variadic dim (``*S``)."""
    variadic = {d[1:] for gi in inputs for d in gi.shape if isinstance(d, str) and d.startswith("*")}
    for name, value in dims.items():
        loc = doc.loc(("dims", name))
        if isinstance(value, list) and name not in variadic:
            errors.add(
                ResolveError(
                    f"`dims: {name}` is one dim: give one size, not a list",
                    loc,
                    hint=f"a list of sizes is for a variadic dim written `*{name}` in an input shape",
                )
            )
        elif not isinstance(value, list) and name in variadic:
            errors.add(
                ResolveError(
                    f"`dims: {name}` is the variadic dim *{name}: give a list of sizes, e.g. [7, 7]", loc
                )
            )
        elif any(v < 1 for v in (value if isinstance(value, list) else [value])):
            errors.add(ResolveError(f"`dims: {name}`: sizes must be >= 1, got {value}", loc))

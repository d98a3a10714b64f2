"""Validation pass: YAML data -> pydantic models, errors mapped to file:line:col."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from netdsl.core.errors import NetdslError, NetdslErrors, PathT, SpecValidationError
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.schema import NODE_RE, BlockAlias, BlockFile, NetworkAlias, NetworkFile
from netdsl.frontend.yaml_loader import Doc

SpecModel = NetworkFile | NetworkAlias | BlockFile | BlockAlias
_TYPE_NAMES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "a boolean (true/false)",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "int_from_float": "an integer",
}


def describe(value: object) -> str:
    """A value as a user wrote it in YAML: "a string 'x'", "a boolean true", "null", "a list"."""
    kind = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, str | int | float):
        return f"{kind} {repr(value)[:40]}"
    return kind


def _data_path(data: object, loc: Iterable[int | str]) -> tuple[PathT, object, bool]:
    """Keep the parts of a pydantic loc that exist in the data (drops union tags)."""
    path: list[str | int] = []
    cur = data
    complete = True
    for part in loc:
        if isinstance(cur, dict) and isinstance(part, str) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
        elif isinstance(part, str) and (
            "[" in part or part in ("str", "int", "dict", "list", "float", "bool") or part[:1].isupper()
        ):
            continue  # a union member tag (a type or model name)
        else:
            complete = False
            path.append(part)
            break
    return tuple(path), cur, complete


def _model_at(model: type[BaseModel], path: PathT) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` (for suggestions)."""
    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            current = field.annotation
            continue
        current = _element_model(current)
        if current is None:
            return None
    current = (
        _element_model(current)
        if not (isinstance(current, type) and issubclass(current, BaseModel))
        else current
    )
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _element_model(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (dict, list):
        return typing.get_args(tp)[-1]
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _element_model(arg) if typing.get_origin(arg) else arg
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
    return tp


def field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _convert(
    doc: Doc, model: type[BaseModel], err: Any, data: object = None, prefix: PathT = ()
) -> tuple[PathT, NetdslError]:
    rel, value, complete = _data_path(doc.data if data is None else data, err["loc"])
    path = prefix + rel
    kind = err["type"]
    last = path[-1] if path else ""
    if kind == "missing":
        parent = path[:-1]
        return path, SpecValidationError(
            f"missing required key '{last}'", doc.loc(parent).with_path(path), hint=f"add `{last}: ...`"
        )
    if kind == "extra_forbidden":
        owner = _model_at(model, rel[:-1])
        allowed = field_names(owner) if owner else []
        hint = did_you_mean(str(last), allowed) if allowed else None
        return path, SpecValidationError(
            f"unknown key '{last}'", doc.key_loc(path), expected=allowed or None, hint=hint
        )
    loc = doc.loc(path) if complete else doc.loc(path[:-1]).with_path(path)
    if kind in _TYPE_NAMES:
        return path, SpecValidationError(f"expected {_TYPE_NAMES[kind]}, got {describe(value)}", loc)
    if kind == "literal_error":
        expected = [
            e.strip(" '") for e in str(err.get("ctx", {}).get("expected", "")).replace(" or ", ",").split(",")
        ]
        hint = did_you_mean(str(value), expected) if isinstance(value, str) else None
        shown = repr(value) if isinstance(value, str) else describe(value)
        return path, SpecValidationError(
            f"invalid value {shown}", loc, expected=[e for e in expected if e], hint=hint
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    return path, SpecValidationError(msg[0].lower() + msg[1:] if msg else "invalid value", loc)


def _merge(errors: list[tuple[PathT, NetdslError]]) -> list[NetdslError]:
    """One error per spec path: union members each report; keep the most specific."""
    by_path: dict[PathT, list[NetdslError]] = {}
    for path, e in errors:
        by_path.setdefault(path, []).append(e)
    out = []
    for path, errs in by_path.items():
        if any(p[: len(path)] == path and p != path for p in by_path):
            continue  # a deeper error explains this one
        if len(errs) == 1:
            out.append(errs[0])
            continue
        messages = list(dict.fromkeys(e.message.removeprefix("expected ").split(", got ")[0] for e in errs))
        if "a number" in messages and "an integer" in messages:
            messages.remove("an integer")
        got = errs[0].message.split(", got ")[-1] if ", got " in errs[0].message else None
        text = "expected " + " or ".join(messages) + (f", got {got}" if got else "")
        out.append(SpecValidationError(text, errs[0].loc, hint=errs[0].hint))
    return out


def model_errors(
    doc: Doc, exc: ValidationError, model: type[BaseModel], data: object, prefix: PathT
) -> list[NetdslError]:
    """Errors of validating ``data`` (which sits at ``prefix`` in ``doc``) against ``model``."""
    return _merge([_convert(doc, model, e, data, prefix) for e in exc.errors()])


def _check_names(doc: Doc) -> list[NetdslError]:
    """Node and input names of the network and its inline blocks, each error at its key."""
    data = doc.data
    assert isinstance(data, dict)
    bodies: list[PathT] = [()]
    blocks = data.get("blocks")
    if isinstance(blocks, dict):
        bodies += [("blocks", name) for name in blocks]
    errors: list[NetdslError] = []
    for base in bodies:
        body: Any = data
        for part in base:
            body = body[part]
        if not isinstance(body, dict):
            continue
        seen: dict[str, PathT] = {}
        for section in ("inputs", "nodes"):
            for path in _names_in((*base, section), body.get(section)):
                name = str(path[-1])
                if not NODE_RE.match(name):
                    errors.append(
                        SpecValidationError(
                            f"invalid name {name!r}",
                            doc.key_loc(path),
                            hint="use letters, digits and '_', with '.' between parts (conv.0, stage_1)",
                        )
                    )
                elif name in seen and section == "nodes":
                    first = doc.key_loc(seen[name])
                    errors.append(
                        SpecValidationError(
                            f"node name {name!r} is used twice in this body (first at line {first.line})",
                            doc.key_loc(path),
                            hint="the nodes of a group share the names of the body around it: rename one",
                        )
                    )
                seen.setdefault(name, path)
    return errors


def _names_in(base: PathT, names: object) -> list[PathT]:
    """The paths of the names of a section (inputs or nodes), the members of groups (nodes with a
    `nodes:` mapping) included, in the order written."""
    out: list[PathT] = []
    for name, value in names.items() if isinstance(names, dict) else ():
        out.append((*base, name))
        if base[-1] != "inputs" and isinstance(value, dict) and isinstance(value.get("nodes"), dict):
            out += _names_in((*base, name, "nodes"), value["nodes"])
    return out


def _drop_echoes(errs: list[NetdslError]) -> list[NetdslError]:
    """A misspelt key reports itself; the 'missing' error of the key it was meant to be is its echo."""
    meant = {
        (e.loc.path[:-1], e.hint.split("'")[1])
        for e in errs
        if e.message.startswith("unknown key") and e.hint and e.hint.count("'") >= 2
    }
    return [
        e
        for e in errs
        if not (e.message.startswith("missing required key") and (e.loc.path[:-1], e.loc.path[-1]) in meant)
    ]


def _without(data: Any, path: PathT) -> Any:
    """A copy of ``data`` without the entry at ``path``."""
    if not path:
        return data
    head, rest = path[0], path[1:]
    if isinstance(data, dict) and head in data:
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {**data, head: _without(data[head], rest)}
    return data


def validate_spec(doc: Doc) -> tuple[SpecModel | None, list[NetdslError]]:
    """Validate the document's structure. Returns the model (None when it cannot be made) and every
    error. Unknown keys are reported and left out, so the rest of the file is still checked."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            SpecValidationError(
                f"a spec must be a mapping with `network:` or `block:` at the top, got {describe(data)}",
                doc.loc(()),
            )
        ]
    if ("network" in data) == ("block" in data):
        which = "both" if "network" in data else "neither"
        return None, [
            SpecValidationError(
                "a spec has exactly one of `network: <name>` (a network) or `block: <name>` (a block); "
                f"found {which}",
                doc.loc(()),
                hint="start the file with `network: <name>` or `block: <name>`"
                if which == "neither"
                else None,
            )
        ]
    aliased = "extends" in data
    model: type[SpecModel] = (
        (NetworkAlias if aliased else NetworkFile)
        if "network" in data
        else (BlockAlias if aliased else BlockFile)
    )
    errors = [] if aliased else _check_names(doc)
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raw = [_convert(doc, model, e) for e in exc.errors()]
        errors += _drop_echoes(_merge(raw))
        errors.sort(key=lambda e: (e.loc.line, e.loc.col))
        unknown = [
            path for (path, e), err in zip(raw, exc.errors(), strict=True) if err["type"] == "extra_forbidden"
        ]
        if len(unknown) != len(raw):
            return None, errors
        cleaned: Any = data
        for path in unknown:
            cleaned = _without(cleaned, path)
        try:
            return model.model_validate(cleaned), errors
        except ValidationError:
            return None, errors
    return (None if errors else spec), errors


def parse_spec(doc: Doc) -> SpecModel:
    """Validate the document's structure; raise every error at once."""
    spec, errors = validate_spec(doc)
    if errors:
        raise errors[0] if len(errors) == 1 else NetdslErrors(errors)
    assert spec is not None
    return spec

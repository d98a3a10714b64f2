"""The spec format as pydantic models: structure only (values may still be expressions).

Every field is strict and closed (``extra="forbid"``) except node attributes, which
are checked against the op registry or the block's parameters by the resolver.
"""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NODE_RE = re.compile(r"^[A-Za-z_0-9][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
DimEntry = int | str
ParamType = Literal["int", "float", "bool", "str", "list", "dim", "any"]


def _empty_list() -> list[Any]:
    # Not `default_factory=list`: pydantic inspects the factory's signature, and for the builtin
    # `list` that parses its text signature with `tokenize` (~2 ms of regex compiling at import).
    return []


RESERVED_NODE_KEYS = (
    "op",
    "block",
    "in",
    "repeat",
    "parallel",
    "repeat_var",
    "when",
    "init",
    "expect",
    "doc",
    "path",
    "nodes",
)
#: the keys a group of nodes (a node with `nodes:`) may have
GROUP_KEYS = ("nodes", "when", "doc")


# `Strict` and `BlockBody` are bases only, never validated on their own: `defer_build` spares building
# their validators at import (a third of this module's import time); every model that validates
# (`_BUILT`) is built when its class is made, as before.
_BUILT = ConfigDict(defer_build=False)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, defer_build=True)


class InputDecl(Strict):
    """A named input: its shape (ints, symbolic dims, expressions) and dtype."""

    model_config = _BUILT

    shape: list[DimEntry] = Field(description="dims: ints, symbolic names (B, H) or ${expr}")
    dtype: Literal["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"] = "float32"
    optional: bool = Field(
        default=False, description="a block input that may be left unconnected (see has_<name>)"
    )
    doc: str | None = None


class ParamDecl(Strict):
    """A block parameter: type, default (no default = required), allowed values."""

    model_config = _BUILT

    type: ParamType = "any"
    default: Any = None
    required: bool = False
    choices: list[Any] | None = None
    doc: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_when_no_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "default" not in data and "required" not in data:
            data = {**data, "required": True}
        return data


class RequireRule(Strict):
    model_config = _BUILT

    check: str = Field(description="an expression over the parameters that must be true")
    message: str | None = None


class NodeSpec(BaseModel):
    """One node: an op or a block instance; other keys are the op's attributes or the block's parameters."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    op: str | None = None
    block: str | None = None
    in_: str | list[str] | dict[str, str] | None = Field(None, alias="in")
    repeat: int | str | None = Field(
        None, description="stack this node N times (module paths name.0 .. name.N-1)"
    )
    parallel: int | str | None = Field(
        None, description="N copies side by side on the same inputs (name.0 ...)"
    )
    repeat_var: str | None = Field(
        None, description="name of the copy index, visible in this node's attributes"
    )
    when: bool | str | None = Field(None, description="keep this node only if the expression is true")
    init: str | dict[str, Any] | None = Field(
        None,
        description="initialiser per parameter name ({weight: zeros}); for `op: parameter` the initialiser",
    )
    expect: list[DimEntry] | None = Field(None, description="assert the output shape; new names bind dims")
    path: str | int | None = Field(
        None,
        description="module path of the node (of each copy: it may use `repeat_var`) in its block, instead "
        "of its name; '' for a block instance whose nodes join the enclosing block's namespace",
    )
    nodes: "dict[str, NodeSpec] | None" = Field(
        None,
        description="a group: these nodes, kept or left out together by the group's `when:`; their names "
        "are the enclosing body's",
    )
    doc: str | None = None

    @model_validator(mode="after")
    def _op_or_block(self) -> "NodeSpec":
        if self.nodes is not None:
            if self.op is not None or self.block is not None:
                raise ValueError("a group (`nodes:`) has no `op` or `block`")
            given = {*self.model_fields_set, *(self.model_extra or {})}
            other = sorted("in" if k == "in_" else k for k in given if k not in GROUP_KEYS)
            if other:
                raise ValueError(
                    "a group (`nodes:`) takes only `nodes`, `when` and `doc`; "
                    f"found {', '.join(repr(k) for k in other)}"
                )
            if not self.nodes:
                raise ValueError("a group needs at least one node")
        elif (self.op is None) == (self.block is None):
            raise ValueError("a node needs exactly one of `op` or `block` (or `nodes:`, a group)")
        return self

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BlockBody(Strict):
    """What blocks and networks share: inputs, variables, nodes, outputs."""

    model_config = ConfigDict(defer_build=True)

    description: str | None = None
    doc: str | None = None
    inputs: dict[str, list[DimEntry] | InputDecl]
    vars: dict[str, Any] = Field(default_factory=dict)
    dims: dict[str, int | list[int]] = Field(
        default_factory=dict, description="example sizes of symbolic dims for `build` (a list for *S)"
    )
    nodes: dict[str, NodeSpec]
    outputs: dict[str, str] | list[str] | str

    @field_validator("outputs")
    @classmethod
    def _some_output(cls, v: dict[str, str] | list[str] | str) -> dict[str, str] | list[str] | str:
        if not v:
            raise ValueError("a spec needs at least one output")
        return v

    @field_validator("nodes")
    @classmethod
    def _non_empty(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("a spec needs at least one node")
        return v


class BlockDef(BlockBody):
    """A reusable block: a graph with typed parameters and constraints."""

    model_config = _BUILT

    params: dict[str, ParamDecl] = Field(default_factory=dict)
    require: list[str | RequireRule] = Field(default_factory=_empty_list)


class BlockFile(BlockDef):
    """A file in blocks/: `block: <name>` plus the block definition."""

    block: str
    blocks: dict[str, BlockDef] = Field(default_factory=dict)
    example: dict[str, Any] = Field(
        default_factory=dict,
        description="values of the parameters without a default, used when the block is validated or "
        "built on its own (the others take their defaults)",
    )


class BlockAlias(Strict):
    """A block file that is another block with some parameters fixed (`non_local_2d` = `non_local`
    with `dimension: 2`): same graph, same state_dict keys, fewer parameters."""

    model_config = _BUILT

    block: str
    extends: str = Field(description="the block this one specialises")
    fixed: dict[str, Any] = Field(default_factory=dict, description="parameters fixed to these values")
    description: str | None = None
    doc: str | None = None
    example: dict[str, Any] = Field(default_factory=dict)
    dims: dict[str, int | list[int]] = Field(default_factory=dict)


class NetworkAlias(Strict):
    """A thin network file: another network file with one of its variants (`shunted_t` = `shunted.yaml`
    with variant `t`); same graph, same state_dict keys."""

    model_config = _BUILT

    network: str
    extends: str = Field(description="the network file this one specialises, relative to this file")
    variant: str | None = Field(default=None, description="the variant of that network")
    description: str | None = None
    doc: str | None = None
    dims: dict[str, int | list[int]] = Field(default_factory=dict)


class NetworkFile(BlockBody):
    """A network spec: `network: <name>`, variables, variants and inline blocks."""

    model_config = _BUILT

    network: str
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    blocks: dict[str, BlockDef] = Field(default_factory=dict)
    default_variant: str | None = None


EXPR_SCHEMA = {"type": "string", "pattern": "\\$", "description": "an expression: $name or ${...}"}


def _allow_expr(schema: Any) -> Any:
    """A JSON Schema in which every number, boolean or integer may also be an expression string."""
    if isinstance(schema, list):
        return [_allow_expr(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _allow_expr(v) for k, v in schema.items()}
    if out.get("type") in ("integer", "number", "boolean"):
        return {"anyOf": [out, EXPR_SCHEMA]}
    return out


def _node_schema() -> dict[str, Any]:
    """NodeSpec as JSON Schema: common keys, then per op (if op == X) its attributes, closed."""
    from netdsl.ops import REGISTRY

    base = NodeSpec.model_json_schema()
    base = base.get("$defs", {}).get("NodeSpec", base)  # (recursive through `nodes:`)
    common = {k: v for k, v in base["properties"].items() if k not in ("op", "block", "nodes")}
    group = {k: v for k, v in base["properties"].items() if k in GROUP_KEYS}
    rules: list[dict[str, Any]] = []
    for name, op in sorted(REGISTRY.items()):
        attrs = op.attrs.model_json_schema()
        props = {
            k: {
                "anyOf": [_allow_expr(v), EXPR_SCHEMA],
                "description": v.get("description", f"{name} attribute"),
            }
            for k, v in attrs.get("properties", {}).items()
        }
        then: dict[str, Any] = {
            "properties": {**common, "op": {"const": name}, **props},
            "additionalProperties": False,
            "required": ["op", *attrs.get("required", [])],
        }
        if "$defs" in attrs:
            then["$defs"] = attrs["$defs"]
        rules.append({"if": {"properties": {"op": {"const": name}}, "required": ["op"]}, "then": then})
    return {
        "type": "object",
        "description": "a node: `op:` (a primitive op) or `block:` (a block instance), with its attributes",
        "properties": {
            **common,
            "op": {
                "anyOf": [{"enum": sorted(REGISTRY)}, EXPR_SCHEMA],
                "description": "a primitive op (see `netdsl ops`), or an expression naming one",
            },
            "block": {
                "type": "string",
                "description": "a block of the library, a user folder or `blocks:` (or an expression)",
            },
            "nodes": group["nodes"],
        },
        "oneOf": [{"required": ["op"]}, {"required": ["block"]}, {"required": ["nodes"]}],
        "allOf": [
            *rules,
            {
                "if": {"required": ["nodes"]},
                "then": {"properties": group, "additionalProperties": False},
            },
        ],
    }


def _file_kind(full: str, alias: str) -> dict[str, Any]:
    """``alias`` when the file has `extends:`, else ``full`` (as ``parse_spec`` chooses)."""
    return {
        "if": {"required": ["extends"]},
        "then": {"$ref": f"#/$defs/{alias}"},
        "else": {"$ref": f"#/$defs/{full}"},
    }


def schema_json() -> dict[str, Any]:
    """The JSON Schema of a spec file (network or block), for editors and ``check-jsonschema``.

    The model is chosen as :func:`netdsl.frontend.validate.parse_spec` chooses it: `network:` or
    `block:`, an alias when it has `extends:`; an editor then reports that model's errors only (a
    typo in a node, not "valid under none of four schemas")."""
    net = NetworkFile.model_json_schema()
    blk = BlockFile.model_json_schema()
    aliases = {m.__name__: m.model_json_schema() for m in (NetworkAlias, BlockAlias)}
    defs = {**blk.get("$defs", {}), **net["$defs"], "NodeSpec": _node_schema()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "netdsl spec",
        "description": "A netdsl network (`network:`) or block (`block:`) spec.",
        "type": "object",
        "if": {"required": ["network"]},
        "then": _file_kind("NetworkFile", "NetworkAlias"),
        "else": {
            "if": {"required": ["block"]},
            "then": _file_kind("BlockFile", "BlockAlias"),
            "else": {
                "description": "a spec starts with `network: <name>` or `block: <name>`",
                "anyOf": [{"required": ["network"]}, {"required": ["block"]}],
            },
        },
        "$defs": {
            **defs,
            "NetworkFile": {k: v for k, v in net.items() if k != "$defs"},
            "BlockFile": {k: v for k, v in blk.items() if k != "$defs"},
            **aliases,
        },
    }

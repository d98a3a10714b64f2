"""Reference text of the op registry (``netdsl ops``, docs/ops.md)."""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from netdsl.ops import REGISTRY
from netdsl.ops.base import FAMILIES, OpDef


def _attr_text(op: OpDef) -> str:
    parts = []
    for name, field in op.attrs.model_fields.items():
        if field.default is PydanticUndefined and field.default_factory is None:
            parts.append(f"`{name}`")
        else:
            parts.append(f"`{name}={field.default!r}`".replace("'", '"'))
    return ", ".join(parts) or "-"


def _inputs_text(op: OpDef) -> str:
    if op.variadic:
        return "x1, x2, ..."
    if not op.inputs:
        return "-"
    req = len(op.inputs) - op.optional_inputs
    return ", ".join(n if i < req else f"[{n}]" for i, n in enumerate(op.inputs))


def ops_markdown() -> str:
    lines = [
        "# Primitive ops",
        "",
        "Generated from the op registry by `netdsl ops --format markdown`; a test keeps it in sync.",
        "Attributes without a default are required. Weighted ops own the parameters listed by",
        "`netdsl shapes`; their state_dict keys are `<node path>.<name>`. The dtypes column lists the",
        "input dtypes each op accepts (torch's CPU kernels; weights are float32); shape inference",
        "refuses others.",
        "",
    ]
    for family in FAMILIES:
        ops = sorted((o for o in REGISTRY.values() if o.family == family), key=lambda o: o.name)
        if not ops:
            continue
        lines += [
            f"## {family}",
            "",
            "| op | inputs | attributes | dtypes | description |",
            "|---|---|---|---|---|",
        ]
        for o in ops:
            lines.append(f"| `{o.name}` | {_inputs_text(o)} | {_attr_text(o)} | {o.dtype_text()} | {o.doc} |")
        lines.append("")
    return "\n".join(lines)


def ops_text() -> str:
    width = max(len(n) for n in REGISTRY)
    out = []
    for family in FAMILIES:
        for o in sorted((o for o in REGISTRY.values() if o.family == family), key=lambda o: o.name):
            out.append(f"{o.name.ljust(width)}  {family.ljust(14)}  {o.doc}")
    return "\n".join(out)

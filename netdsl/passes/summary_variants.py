"""``netdsl summary --variant all``, torch-free: every variant of a network side by side (its
parameters, MACs, parameter memory) with the variables whose values differ from the base's.

The base is what ``netdsl build SPEC`` builds without ``--variant``: the network's own ``vars:``,
or its ``default_variant:`` when it has one (that variant is then the base row). The variables
compared are the evaluated ones, computed variables included (``grid: ${image_size //
patch_size}``), after ``--set``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netdsl.core.errors import ErrorCollector, SourceLoc
from netdsl.frontend.schema import NetworkFile
from netdsl.frontend.yaml_loader import Doc
from netdsl.passes.resolve.env import eval_vars, network_values
from netdsl.passes.resolve.symbols import Failed
from netdsl.passes.shapes import ShapeResult
from netdsl.passes.summary_format import count, human, md_escape, outputs_text, sizes_note, text_table
from netdsl.passes.summary_table import SizesFrom, Totals, totals

#: the version of the JSON layout of ``--variant all``
SCHEMA = "netdsl.summary.variants/1"
#: longest value shown in the text and Markdown tables (JSON has them whole)
VALUE_CHARS = 40


@dataclass(frozen=True)
class VariantRow:
    """One variant: its name (None: the network without a variant), whether it is the base, its
    totals and the variables that differ from the base's, by name."""

    variant: str | None
    is_base: bool
    shapes: ShapeResult
    totals: Totals
    differs: dict[str, Any]

    @property
    def label(self) -> str:
        name = self.variant if self.variant is not None else "(base)"
        return f"{name} (base)" if self.is_base and self.variant is not None else name


@dataclass(frozen=True)
class VariantTable:
    name: str
    spec: str
    sizes_from: SizesFrom
    rows: list[VariantRow]


def variable_values(
    model: NetworkFile, doc: Doc, variant: str | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The network's variables as the resolver evaluates them for ``variant`` and ``overrides``
    (those whose evaluation fails are left out: the resolver reports them)."""
    errors = ErrorCollector()
    _, given = network_values(model, doc, variant, overrides, errors)

    def loc_of(name: str) -> SourceLoc:
        return given[name].prov.loc or doc.loc(("vars", name))

    values = eval_vars({k: g.value for k, g in given.items()}, loc_of, {}, errors)
    return {k: v for k, v in values.items() if not isinstance(v, Failed)}


def differences(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of ``other`` whose value is not the base's, in ``other``'s order."""
    return {k: v for k, v in other.items() if k not in base or not _same(base[k], v)}


def _same(a: Any, b: Any) -> bool:
    """Equal values (``4`` and ``4.0`` alike; ``true`` is not ``1``)."""
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def make_row(
    variant: str | None, is_base: bool, shapes: ShapeResult, differs: Mapping[str, Any]
) -> VariantRow:
    return VariantRow(variant, is_base, shapes, totals(shapes), dict(differs))


def _plain(v: Any) -> Any:
    """A value as JSON data (tuples as lists, other objects as their text)."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def value_text(v: Any, limit: int = VALUE_CHARS) -> str:
    """A value as it would be written in YAML's flow style, shortened to ``limit`` characters."""
    text = json.dumps(_plain(v), ensure_ascii=False, separators=(", ", ": "))
    if isinstance(v, str) and text[1:-1] == v and v.isidentifier():
        text = v  # names unquoted
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differs_text(row: VariantRow) -> str:
    if row.is_base:
        return "--"
    if not row.differs:
        return "(same as the base)"
    return ", ".join(f"{k}={value_text(v)}" for k, v in row.differs.items())


def _macs(t: Totals) -> str:
    m = t.macs.constant()
    return human(m) if m is not None else str(t.macs)


def _params(t: Totals) -> str:
    p = t.params.constant()
    if p is None:
        return str(t.params)
    return f"{p:,} ({human(p)})" if p >= 1000 else str(p)


COLUMNS = ("variant", "params", "MACs", "param memory", "output", "differs from the base")
_RIGHT = (False, True, True, True, False, False)


def _cells(table: VariantTable) -> list[list[str]]:
    return [
        [
            r.label,
            _params(r.totals),
            _macs(r.totals),
            human(r.totals.param_bytes, "B"),
            ", ".join(outputs_text([t]) for _, t in r.shapes.outputs),
            _differs_text(r),
        ]
        for r in table.rows
    ]


def _title(table: VariantTable) -> str:
    n = len(table.rows)
    sizes = sizes_note(table.sizes_from)
    return f"network {table.name}: {n} variant{'s' if n != 1 else ''}  [{table.spec}]  ({sizes})"


def render_text(table: VariantTable) -> str:
    lines, rule = text_table([list(COLUMNS), *_cells(table)], _RIGHT)
    return "\n".join([_title(table), rule, *lines, rule])


def render_markdown(table: VariantTable) -> str:
    out = [f"**{md_escape(_title(table))}**", ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "|".join("---:" if right else "---" for right in _RIGHT) + "|")
    for cells in _cells(table):
        out.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
    return "\n".join(out)


def to_json(table: VariantTable) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "spec": table.spec,
        "name": table.name,
        "sizes": table.sizes_from,
        "variants": [
            {
                "variant": r.variant,
                "base": r.is_base,
                "params": count(r.totals.params),
                "trainable_params": count(r.totals.params),
                "buffers": count(r.totals.buffers),
                "macs": count(r.totals.macs),
                "param_bytes": r.totals.param_bytes,
                "outputs": [
                    {"name": name, "shape": [count(d) for d in t.shape], "dtype": t.dtype}
                    for name, t in r.shapes.outputs
                ],
                "differs": {k: _plain(v) for k, v in r.differs.items()},
            }
            for r in table.rows
        ],
    }


__all__ = [
    "SCHEMA",
    "VariantRow",
    "VariantTable",
    "differences",
    "make_row",
    "render_markdown",
    "render_text",
    "to_json",
    "variable_values",
]

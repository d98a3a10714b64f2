"""``netdsl summary``'s layer table (:class:`~netdsl.passes.summary_table.Summary`) rendered,
torch-free: as text (a torchinfo-like layout), GitHub Markdown, or JSON (schema ``netdsl.summary/1``,
keys in docs/toolbox.md).
"""

from __future__ import annotations

from typing import Any

from netdsl.core.symbolic import Sym
from netdsl.core.types import TensorType
from netdsl.passes.summary_format import (
    count,
    human,
    md_escape,
    outputs_text,
    shape_text,
    share,
    sizes_note,
    text_table,
)
from netdsl.passes.summary_table import Summary, TableRow

#: the version of the JSON layout (bumped when a key changes meaning or goes away)
SCHEMA = "netdsl.summary/1"


def _exact(n: Sym, zero: str = "--", limit: int = 48) -> str:
    c = n.constant()
    if c is None:
        s = str(n)
        return s if len(s) <= limit else s[: limit - 3] + "..."
    return f"{c:,}" if c else zero


def _percent(v: float | None) -> str:
    return "--" if v is None else f"{v:.1f}%" if v else "--"


def _header(s: Summary) -> list[str]:
    g = s.graph
    title = f"{g.kind} {g.name}" + (f" (variant {g.variant})" if g.variant else "")
    ins = ", ".join(
        f"{gi.name} {outputs_text(s.shapes.types[gi.name])}" for gi in g.inputs if gi.name in s.shapes.types
    )
    return [f"{title}  [{s.spec}]", f"inputs: {ins}  ({sizes_note(s.sizes_from, bool(g.dims))})"]


def _cells(s: Summary) -> list[tuple[TableRow, list[str]]]:
    total = s.totals.macs
    return [
        (
            r,
            [
                r.name,
                r.label,
                outputs_text(r.outputs),
                _exact(r.params),
                _exact(r.macs),
                _percent(share(r.macs, total)),
            ],
        )
        for r in s.rows
    ]


COLUMNS = ("layer (spec path)", "kind", "output shape", "params", "MACs", "MACs %")
_RIGHT = (False, False, False, True, True, True)


def _footer(s: Summary) -> list[str]:
    t = s.totals
    outs = ", ".join(f"{name} {shape_text(ty)}" for name, ty in s.shapes.outputs)
    lines = [f"outputs: {outs}"]
    p = t.params.constant()
    lines.append(f"total params: {_exact(t.params, '0')}" + (f" ({human(p)})" if p and p >= 1000 else ""))
    lines.append(f"trainable params: {_exact(t.params, '0')}")
    lines.append(f"buffers: {_exact(t.buffers, '0')} (not trained: running statistics, frozen tensors)")
    m = t.macs.constant()
    if m is not None:
        lines.append(f"total MACs: {human(m)} ({m:,})")
    else:
        lines.append(f"total MACs: {t.macs}")
    lines.append(f"parameter memory: {human(t.param_bytes, 'B')} (parameters and buffers, float32)")
    return lines


def render_text(s: Summary) -> str:
    """The table as text: a torchinfo-like layout, nested rows indented two spaces per level."""
    table = [list(COLUMNS)] + [["  " * (r.level - 1) + cells[0], *cells[1:]] for r, cells in _cells(s)]
    lines, rule = text_table(table, _RIGHT)
    out = [*_header(s), rule, *lines]
    if not s.rows:
        out.append("(no rows at depth 0)")
    out.append(rule)
    out += _footer(s)
    return "\n".join(out)


def render_markdown(s: Summary) -> str:
    """The table as GitHub Markdown; nested rows indented with non-breaking spaces."""
    out = [f"**{md_escape(_header(s)[0])}**", "", md_escape(_header(s)[1]), ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "|".join("---:" if right else "---" for right in _RIGHT) + "|")
    for r, cells in _cells(s):
        name = "&nbsp;" * (4 * (r.level - 1)) + f"`{md_escape(cells[0])}`" if cells[0] else ""
        out.append("| " + " | ".join([name, *(md_escape(c) for c in cells[1:])]) + " |")
    out.append("")
    out += [f"- {md_escape(line)}" for line in _footer(s)]
    return "\n".join(out)


def _type_json(t: TensorType) -> dict[str, Any]:
    return {"shape": [count(d) for d in t.shape], "dtype": t.dtype}


def to_json(s: Summary) -> dict[str, Any]:
    """The summary as plain data (``netdsl summary --format json``; keys in docs/toolbox.md)."""
    g = s.graph
    total = s.totals.macs
    return {
        "schema": SCHEMA,
        "spec": s.spec,
        "kind": g.kind,
        "name": g.name,
        "variant": g.variant,
        "depth": s.depth,
        "sizes": s.sizes_from,
        "inputs": [
            {"name": gi.name, **_type_json(s.shapes.types[gi.name][0])}
            for gi in g.inputs
            if gi.name in s.shapes.types
        ],
        "outputs": [{"name": name, **_type_json(t)} for name, t in s.shapes.outputs],
        "rows": [
            {
                "name": r.name,
                "path": r.path,
                "entry": r.entry,
                "level": r.level,
                "kind": r.kind,
                "block": r.is_block,
                "repeat": r.repeat,
                "outputs": [_type_json(t) for t in r.outputs],
                "params": count(r.params),
                "buffers": count(r.buffers),
                "macs": count(r.macs),
                "mac_share": share(r.macs, total),
            }
            for r in s.rows
        ],
        "totals": {
            "params": count(s.totals.params),
            "trainable_params": count(s.totals.params),
            "buffers": count(s.totals.buffers),
            "macs": count(total),
            "param_bytes": s.totals.param_bytes,
            "param_dtype": "float32",
        },
    }


__all__ = ["COLUMNS", "SCHEMA", "render_markdown", "render_text", "to_json"]

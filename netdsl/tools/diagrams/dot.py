"""Graphviz DOT for a :class:`~netdsl.tools.diagrams.model.Diagram`.

Nodes and clusters get SVG ids (``node:<id>``, ``cluster:<id>``, kept by ``dot -Tsvg``) and
classes (``family-conv``, ``expandable``) so that the HTML page can find them. The text is
deterministic: elements in the diagram's order, no timestamps.
"""

from __future__ import annotations

from netdsl.tools.diagrams import style
from netdsl.tools.diagrams.model import BLOCK, INPUT, OUTPUT, DCluster, Diagram, DNode, params_text

FONT = "Helvetica,Arial,sans-serif"


def quote(text: str) -> str:
    """A DOT double-quoted string (escapes backslash, quote and newlines)."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{body}"'


def html(text: str) -> str:
    """Text for a Graphviz HTML-like label."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def node_label(n: DNode, show_params: bool) -> str:
    lines = [f"<b>{html(n.name)}</b>"]
    if n.family in (INPUT, OUTPUT):
        lines.append(f'<font point-size="8">{html(n.shapes[0] if n.shapes else n.kind)}</font>')
    elif n.kind != n.name or n.count:
        lines.append(f'<font point-size="9">{html(n.label_kind)}</font>')
    if show_params and n.params != 0 and n.family not in (INPUT, OUTPUT):
        lines.append(f'<font point-size="8" color="#444444">{html(params_text(n.params))}</font>')
    return "<" + "<br/>".join(lines) + ">"


def cluster_label(c: DCluster, show_params: bool) -> str:
    text = f"<b>{html(c.label)}</b>"
    if show_params and c.params != 0:  # a line of its own: SVG viewers measure text unlike Graphviz
        small = f'<font point-size="8">{html(params_text(c.params))}</font>'
        text += f'<br align="left"/>{small}<br align="left"/>'
    return "<" + text + ">"


def tooltip(n: DNode) -> str:
    if n.family in (INPUT, OUTPUT):
        return f"{n.kind} {n.name}\n{', '.join(n.shapes)}"
    parts = [n.path, n.label_kind.strip() + (" (block)" if n.family == BLOCK else f" ({n.family})")]
    shapes = [s for s in n.shapes if s]
    if shapes:
        parts.append(("outputs: " if len(shapes) > 1 else "output: ") + ", ".join(shapes))
    parts.append(params_text(n.params) + (" (all copies)" if n.count and n.count > 1 else ""))
    return "\n".join(parts)


def cluster_tooltip(c: DCluster) -> str:
    if c.kind == "stage":
        return f"{c.label}\n{params_text(c.params)}"
    return f"{c.label}\n{c.path}\n{params_text(c.params)}" + (" (all copies)" if c.count else "")


def _attrs(pairs: list[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{k}={v}" for k, v in pairs) + "]"


def _node_line(n: DNode, show_params: bool) -> str:
    pairs = [
        ("id", quote("node:" + n.id)),
        ("label", node_label(n, show_params)),
        ("tooltip", quote(tooltip(n))),
        ("fillcolor", quote(style.fill(n.family))),
    ]
    classes = [f"family-{n.family}"]
    if n.family in (INPUT, OUTPUT):
        pairs += [("shape", "ellipse"), ("style", quote("filled,bold"))]
    elif n.family == BLOCK:
        pairs += [("color", quote(style.BLOCK_STROKE)), ("penwidth", "1.6")]
        if n.count and n.count > 1:
            pairs.append(("peripheries", "2"))
    if n.expandable:
        classes.append("expandable")
    pairs.append(("class", quote(" ".join(classes))))
    return f"{quote(n.id)} {_attrs(pairs)};"


def to_dot(d: Diagram, *, legend: bool = True) -> str:
    """The diagram as a Graphviz ``digraph``."""
    out = [f"digraph {quote(d.title)} {{"]
    title = f"<b>{html(d.title)}</b>"
    if d.show_params:
        title += f'<br/><font point-size="10">{html(params_text(d.total_params))}</font>'

    out.append(
        "  graph "
        + _attrs(
            [
                ("rankdir", d.direction),
                ("label", "<" + title + ">"),
                ("labelloc", "t"),
                ("fontname", quote(FONT)),
                ("fontsize", "14"),
                ("newrank", "true"),
                ("nodesep", "0.25"),
                ("ranksep", "0.3"),
                ("bgcolor", quote("white")),
                ("tooltip", quote(d.title)),
            ]
        )
        + ";"
    )
    out.append(
        "  node "
        + _attrs(
            [
                ("shape", "box"),
                ("style", quote("rounded,filled")),
                ("fontname", quote(FONT)),
                ("fontsize", "10"),
                ("margin", quote("0.1,0.03")),
                ("height", "0.3"),
                ("color", quote(style.STROKE)),
            ]
        )
        + ";"
    )
    out.append(
        "  edge "
        + _attrs(
            [
                ("fontname", quote(FONT)),
                ("fontsize", "8"),
                ("color", quote("#666666")),
                ("fontcolor", quote("#333333")),
                ("arrowsize", "0.6"),
            ]
        )
        + ";"
    )
    contents = d.contents()

    def emit(cid: str | None, indent: str) -> None:
        for c in contents.get(cid, []):
            if isinstance(c, DNode):
                out.append(indent + _node_line(c, d.show_params))
                continue
            stage = c.kind == "stage"
            pairs = [
                ("id", quote("cluster:" + c.id)),
                ("label", cluster_label(c, d.show_params)),
                ("style", quote("rounded,filled" + (",bold" if stage else ""))),
                ("fillcolor", quote(style.STAGE_FILL if stage else style.cluster_fill(c.level))),
                ("color", quote(style.STAGE_STROKE if stage else style.CLUSTER_STROKE)),
                ("fontname", quote(FONT)),
                ("fontsize", "11" if stage else "10"),
                ("labeljust", "l"),
                ("class", quote("stage" if stage else "block-cluster")),
                ("tooltip", quote(cluster_tooltip(c))),
            ]
            out.append(f"{indent}subgraph {quote('cluster:' + c.id)} {{")
            out.append(f"{indent}  graph {_attrs(pairs)};")
            emit(c.id, indent + "  ")
            out.append(f"{indent}}}")

    emit(None, "  ")
    for e in d.edges:
        pairs = [("label", quote(e.label))] if e.label else []
        pairs.append(
            ("tooltip", quote(f"{_short(e.src)} → {_short(e.dst)}" + (f"\n{e.label}" if e.label else "")))
        )
        out.append(f"  {quote(e.src)} -> {quote(e.dst)} {_attrs(pairs)};")
    if legend and d.families:
        out += _legend(d)
    out.append("}")
    return "\n".join(out) + "\n"


def _short(node_id: str) -> str:
    return node_id.partition(":")[2] if node_id.startswith("@") else node_id


def _legend(d: Diagram, columns: int = 4) -> list[str]:
    """The legend: one node holding a table of family swatches, ``columns`` to a row."""
    cells = []
    for f in d.families:
        border = style.BLOCK_STROKE if f == BLOCK else style.STROKE
        cells.append(
            f'<td bgcolor="{style.fill(f)}" color="{border}" border="1" style="rounded" '
            f'cellpadding="3">{html(f)}</td>'
        )
    rows = ["<tr>" + "".join(cells[i : i + columns]) + "</tr>" for i in range(0, len(cells), columns)]
    table = (
        '<<table border="0" cellspacing="4" cellpadding="0">'
        f'<tr><td colspan="{min(columns, len(cells))}"><b>legend</b></td></tr>' + "".join(rows) + "</table>>"
    )
    pairs = [
        ("id", quote("legend")),
        ("label", table),
        ("shape", "box"),
        ("style", quote("rounded")),
        ("color", quote("#bbbbbb")),
        ("margin", quote("0.04,0.02")),
        ("fontsize", "9"),
        ("class", quote("legend")),
        ("tooltip", quote("op families (a double frame: a repeated block)")),
    ]
    return [f'  "@legend" {_attrs(pairs)};']

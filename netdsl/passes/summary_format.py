"""Cells of the ``netdsl summary`` tables, torch-free: shapes (``B x 64 x H x W``), counts (exact,
or ``4.51 G``), shares, the note on where the sizes came from, aligned text tables and Markdown
escaping (shared by :mod:`netdsl.passes.summary_render` and :mod:`netdsl.passes.summary_variants`).
"""

from __future__ import annotations

from collections.abc import Sequence

from netdsl.core.symbolic import Sym
from netdsl.core.types import TensorType
from netdsl.passes.summary_table import SizesFrom

#: a count: an int, or a symbolic expression (its text) when the sizes are not known
Count = int | str


def dim_text(d: Sym) -> str:
    """A dim in a shape: ``64``, ``H``, ``H4*W4``; compound ones in parentheses."""
    s = str(d)
    return f"({s})" if " " in s else s


def shape_text(t: TensorType) -> str:
    """``B x 64 x H x W`` (``x`` between dims; ``()`` for a scalar); a dtype other than float32
    after it: ``B x 10 int64``."""
    text = " x ".join(dim_text(d) for d in t.shape) if t.shape else "()"
    return text if t.dtype == "float32" else f"{text} {t.dtype}"


def outputs_text(types: Sequence[TensorType]) -> str:
    return ", ".join(shape_text(t) for t in types)


def count(n: Sym) -> Count:
    """An int when constant, else the expression's text."""
    c = n.constant()
    return c if c is not None else str(n)


_PREFIXES = ("", "K", "M", "G", "T", "P", "E")


def human(n: float, unit: str = "") -> str:
    """``4.51 G``, ``11.6 M``, ``864 K``, ``12``: three significant digits and a decimal prefix
    (``unit`` after it: ``46.2 MB``)."""
    i = 0
    while i < len(_PREFIXES) - 1 and abs(n) >= 1000**i * 999.5:
        i += 1
    v = n / 1000**i
    if i == 0:
        text = f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"
    else:
        text = f"{v:.0f}" if abs(v) >= 99.95 else f"{v:.1f}" if abs(v) >= 9.995 else f"{v:.2f}"
    return f"{text} {_PREFIXES[i]}{unit}".rstrip()


def share(part: Sym, whole: Sym) -> float | None:
    """``part`` as a percentage of ``whole``; None when either is symbolic or ``whole`` is 0."""
    p, w = part.constant(), whole.constant()
    if p is None or w is None or w == 0:
        return None
    return 100.0 * p / w


def sizes_note(sizes_from: SizesFrom, spec_dims: bool = False) -> str:
    """Where the sizes of the shapes came from, for the header."""
    if sizes_from == "command-line":
        others = ", the others from the spec's dims:" if spec_dims else ""
        return "sizes from --input-shape / --dim" + others
    if sizes_from == "spec-dims":
        return "sizes from the spec's dims:"
    return "symbolic; --input-shape / --dim give sizes"


def text_table(table: Sequence[Sequence[str]], right: Sequence[bool]) -> tuple[list[str], str]:
    """Aligned lines of ``table`` (its first row the heading, a rule under it; the columns marked
    in ``right`` right-aligned) and the rule."""
    widths = [max(len(row[i]) for row in table) for i in range(len(right))]
    rule = "=" * (sum(widths) + 2 * (len(right) - 1))
    out = []
    for i, row in enumerate(table):
        cells = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True))
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append(rule)
    return out, rule


def md_escape(text: str) -> str:
    """``text`` in a Markdown table cell: backslashes, pipes and backticks escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")

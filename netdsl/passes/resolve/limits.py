"""The resolver's limits on what a spec may expand to."""

from __future__ import annotations

from netdsl.core.errors import PathT, ResolveError
from netdsl.frontend.yaml_loader import Doc

MAX_NODES = 200_000
MAX_REPEAT = 10_000
MAX_BLOCK_DEPTH = 32


def check_expansion(per_copy: int, count: int, scale: int, mode: str | None, doc: Doc, path: PathT) -> None:
    """Refuse a repeat that will exceed MAX_NODES before expanding it (nested repeats multiply)."""
    total = per_copy * count * scale
    if total <= MAX_NODES:
        return
    outer = f" in each of {scale:,} enclosing copies" if scale > 1 else ""
    raise ResolveError(
        f"`{mode}: {count}` expands to about {total:,} nodes ({per_copy:,} per copy{outer}); "
        f"a network may have at most {MAX_NODES:,}",
        doc.loc((*path, str(mode))),
        hint="use fewer copies, or fewer nodes per copy",
    )

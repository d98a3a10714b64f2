"""Finding the block a node names: inline blocks (of the file, of a block file) and the library."""

from __future__ import annotations

from collections.abc import Mapping

from netdsl.core.errors import ErrorCollector, PathT, ResolveError
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.library import BlockLibrary, BlockSource
from netdsl.frontend.schema import BlockDef
from netdsl.frontend.yaml_loader import Doc
from netdsl.ops import REGISTRY


def inline_blocks(
    blocks: Mapping[str, BlockDef], doc: Doc, library: BlockLibrary, errors: ErrorCollector
) -> dict[str, BlockSource]:
    """The blocks a file defines under `blocks:` (one with a library block's name is an error)."""
    out = {}
    for name, bdef in blocks.items():
        if name in library:
            errors.add(
                ResolveError(
                    f"inline block {name!r} has the name of a library block",
                    doc.key_loc(("blocks", name)),
                    hint="rename it",
                )
            )
        out[name] = BlockSource(name, bdef, doc, ("blocks", name), "inline")
    return out


def find_block(
    name: str, inline: Mapping[str, BlockSource], library: BlockLibrary, doc: Doc, path: PathT
) -> BlockSource:
    """The block ``name`` that the node at ``path`` of ``doc`` uses: inline, else from the library."""
    if name in inline:
        return inline[name]
    if name in library:
        return library.get(name, at=doc.loc((*path, "block")))
    known = [*inline, *library.names()]
    raise ResolveError(
        f"unknown block {name!r}",
        doc.loc((*path, "block")),
        expected=known,
        hint=did_you_mean(name, known)
        or (f"{name!r} is an op: use `op: {name}`" if name in REGISTRY else None),
    )

"""The block library: `blocks/*.yaml` of netdsl plus the user's own folders.

Search order: folders given with ``--blocks-path`` / ``blocks_path=``, folders in
the ``NETDSL_BLOCKS_PATH`` environment variable (``os.pathsep``-separated), then
the library shipped with netdsl.  A block name found twice is an error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ResolveError, SourceLoc, display_path
from .schema import BlockAlias, BlockDef, BlockFile
from .suggest import did_you_mean
from .yaml_loader import Doc, load_file

ENV_VAR = "NETDSL_BLOCKS_PATH"


def builtin_blocks_dir() -> Path | None:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "blocks", here / "_blocks"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class BlockSource:
    """A block definition and the document it came from (for error locations)."""

    name: str
    definition: BlockDef
    doc: Doc
    path: tuple[str | int, ...]  # where the definition sits in its document
    origin: str  # "library", "user" or "inline"


class BlockLibrary:
    def __init__(self, extra_dirs: Sequence[str | os.PathLike[str]] = (), *, use_env: bool = True) -> None:
        dirs: list[tuple[Path, str]] = [(Path(d), "user") for d in extra_dirs]
        if use_env and os.environ.get(ENV_VAR):
            dirs += [(Path(d), "user") for d in os.environ[ENV_VAR].split(os.pathsep) if d]
        builtin = builtin_blocks_dir()
        if builtin is not None:
            dirs.append((builtin, "library"))
        self.index: dict[str, tuple[Path, str]] = {}
        seen_dirs: set[Path] = set()
        for d, origin in dirs:
            if not d.is_dir():
                raise ResolveError(f"blocks folder {str(d)!r} does not exist or is not a folder")
            key = d.resolve()
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            for f in sorted(d.glob("*.yaml")):
                name = f.stem
                if name in self.index:
                    other = self.index[name][0]
                    raise ResolveError(
                        f"block {name!r} is defined twice: {display_path(other)} and {display_path(f)}",
                        SourceLoc(display_path(f), 1, 1),
                        hint="rename your block; netdsl does not let one block silently replace another",
                    )
                self.index[name] = (f, origin)
        self._cache: dict[str, BlockSource] = {}

    def expand_alias(self, alias: BlockAlias, doc: Doc, chain: tuple[str, ...] = ()) -> tuple[BlockFile, Doc]:
        """The block an alias stands for: its base with the fixed parameters turned into variables."""
        if alias.extends == alias.block or alias.extends in chain:
            raise ResolveError(f"block {alias.block!r} extends itself", doc.loc(("extends",)))
        if alias.extends not in self:
            raise ResolveError(
                f"unknown block {alias.extends!r}",
                doc.loc(("extends",)),
                expected=self.names(),
                hint=did_you_mean(alias.extends, self.index),
            )
        base = self.get(alias.extends)
        bdef = base.definition
        for key in alias.fixed:
            if key not in bdef.params:
                raise ResolveError(
                    f"`fixed` sets {key!r}, which is not a parameter of {alias.extends!r}",
                    doc.key_loc(("fixed", key)),
                    expected=bdef.params,
                    hint=did_you_mean(key, bdef.params),
                )
        merged = BlockFile(
            block=alias.block,
            description=alias.description or bdef.description,
            doc=alias.doc or bdef.doc,
            params={k: v for k, v in bdef.params.items() if k not in alias.fixed},
            require=bdef.require,
            inputs=bdef.inputs,
            vars={**alias.fixed, **bdef.vars},
            dims=alias.dims or bdef.dims,
            nodes=bdef.nodes,
            outputs=bdef.outputs,
            blocks=getattr(bdef, "blocks", {}),
            example={k: v for k, v in alias.example.items()},
        )
        return merged, base.doc

    def names(self) -> list[str]:
        return sorted(self.index)

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def get(self, name: str) -> BlockSource:
        if name not in self._cache:
            from .validate import parse_spec

            path, origin = self.index[name]
            doc = load_file(path, display=display_path(path))
            spec = parse_spec(doc)
            if isinstance(spec, BlockAlias):
                if spec.block != name:
                    raise ResolveError(
                        f"the block in {name}.yaml is named {spec.block!r}; name the file after the block",
                        doc.loc(("block",)),
                    )
                merged, base_doc = self.expand_alias(spec, doc)
                self._cache[name] = BlockSource(name, merged, base_doc, (), origin)
                return self._cache[name]
            if not isinstance(spec, BlockFile):
                raise ResolveError(
                    f"{display_path(path)} is not a block file (it has no `block:` key)", doc.loc(())
                )
            if spec.block != name:
                raise ResolveError(
                    f"the block in {name}.yaml is named {spec.block!r}; name the file after the block",
                    doc.loc(("block",)),
                )
            self._cache[name] = BlockSource(name, spec, doc, (), origin)
        return self._cache[name]

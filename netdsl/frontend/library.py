"""The block library: `blocks/*.yaml` of netdsl plus the user's own folders.

Search order: folders given with ``--blocks-path`` / ``blocks_path=``, folders in
the ``NETDSL_BLOCKS_PATH`` environment variable (``os.pathsep``-separated), the
library shipped with netdsl, then the block folders of installed plugins (entry point
group ``netdsl.blocks``, docs/plugins.md).  A block name found twice in the first three
is an error.  Plugin folders are listed only when a name is not found in the others, or
when every name is asked for (``names()``, listings): a plugin block never replaces an
earlier one; its clash is a problem ``netdsl blocks`` reports.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netdsl.core import plugins
from netdsl.core.errors import NetdslError, NetdslErrors, ResolveError, SourceLoc, display_path
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.files import (
    FilePolicy,
    builtin_blocks_dir,
    check_reference,
    load_reference,
    read_regular,
)
from netdsl.frontend.schema import BlockAlias, BlockDef, BlockFile
from netdsl.frontend.yaml_loader import Doc

if TYPE_CHECKING:
    from netdsl.frontend.validate import SpecModel

ENV_VAR = "NETDSL_BLOCKS_PATH"
#: block files kept parsed by the process, at most this many and this many bytes of YAML (the least
#: recently used go first)
PARSED_CACHE_FILES, PARSED_CACHE_BYTES = 128, 8_000_000
#: what identifies a parsed block file: its real path, the name errors show (relative to the working
#: directory), a digest of its bytes and their number
FileKey = tuple[str, str, bytes, int]
_PARSED: OrderedDict[FileKey, tuple[Doc, SpecModel]] = OrderedDict()


def _file_key(path: Path) -> FileKey | None:
    """The key of a block file's current contents; None when it cannot be read as a spec file (the
    loader then reports why, located where the block is used)."""
    name = display_path(path)
    try:
        raw = read_regular(path, loc=SourceLoc(name), name=name)
    except NetdslError:
        return None
    return os.path.realpath(path), name, hashlib.blake2b(raw, digest_size=20).digest(), len(raw)


def parse_block_file(path: Path, policy: FilePolicy, *, at: SourceLoc) -> tuple[Doc, SpecModel]:
    """A block file's document and model, read through the file policy.

    The policy decides on every use (``at`` is where the block is used: errors about the file are
    located there), and the file is read on every use (a regular file, without blocking); its
    parse is shared by every library of the process while the bytes stay the same, so a block used
    by many specs is parsed and validated once. Files that fail to load are not kept (each use
    reports them).
    """
    from netdsl.frontend.validate import parse_spec

    written = display_path(path)
    check_reference(path, policy, at=at, what="block file", written=written)
    key = _file_key(path)
    if key is not None and key in _PARSED:
        _PARSED.move_to_end(key)
        return _PARSED[key]
    doc = load_reference(path, policy, at=at, what="block file", written=written, check_policy=False)
    spec = parse_spec(doc)
    if key is not None and _file_key(path) == key:  # the same bytes before and after the parse
        _PARSED[key] = (doc, spec)
        while len(_PARSED) > PARSED_CACHE_FILES or sum(k[3] for k in _PARSED) > PARSED_CACHE_BYTES:
            _PARSED.popitem(last=False)
    return doc, spec


def clear_parsed_cache() -> None:
    """Forget the block files parsed so far (the next use of each reads it again)."""
    _PARSED.clear()


@dataclass(frozen=True)
class BlockSource:
    """A block definition and the document it came from (for error locations)."""

    name: str
    definition: BlockDef
    doc: Doc
    path: tuple[str | int, ...]  # where the definition sits in its document
    origin: str  # "library", "user", "plugin" or "inline"


class BlockLibrary:
    """The blocks found by name in the search folders.

    A block file is opened only when it is used, through the file policy (``netdsl/frontend/files.py``):
    it must be a regular file whose real path stays inside its folder, the project or another
    trusted folder. Errors about a file that is not a block spec are located where the block is
    used and never quote the file.

    ``use_env``: also the folders the environment adds, ``$NETDSL_BLOCKS_PATH`` and the installed
    plugins' block folders. A plugin whose folder cannot be found is a problem: ``names()`` (asked
    when a name is not found, or to list them) raises it, as the names are incomplete without it,
    unless ``plugin_problems`` is given, where the plugins' problems go instead (listings).
    """

    def __init__(
        self,
        extra_dirs: Sequence[str | os.PathLike[str]] = (),
        *,
        use_env: bool = True,
        policy: FilePolicy | None = None,
        plugin_problems: list[NetdslError] | None = None,
    ) -> None:
        dirs: list[tuple[Path, str]] = [(Path(d), "user") for d in extra_dirs]
        if use_env and os.environ.get(ENV_VAR):
            dirs += [(Path(d), "user") for d in os.environ[ENV_VAR].split(os.pathsep) if d]
        builtin = builtin_blocks_dir()
        if builtin is not None:
            dirs.append((builtin, "library"))
        self.policy = (policy or FilePolicy.for_spec(None)).widened(d for d, _ in dirs if d.is_dir())
        self.index: dict[str, tuple[Path, str]] = {}
        #: the plugin blocks listed so far: name -> the distribution of their plugin
        self.distributions: dict[str, str] = {}
        self._plugins_listed = not use_env
        self._plugin_problems = plugin_problems
        self._plugin_failures: list[NetdslError] = []
        self._seen_dirs: set[Path] = set()
        seen_dirs = self._seen_dirs
        for d, origin in dirs:
            if not d.is_dir():
                raise ResolveError(f"blocks folder {str(d)!r} does not exist or is not a folder")
            key = d.resolve()
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            try:
                entries = sorted(e.name for e in os.scandir(d) if e.name.endswith(".yaml"))
            except OSError as e:
                raise ResolveError(f"cannot list blocks folder {str(d)!r}: {e.strerror or e}") from None
            for fname in entries:
                f = d / fname
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
        self._loading: list[str] = []

    def _list_plugins(self) -> None:
        """Add the blocks of the installed plugins' folders to the index (once): a name already taken
        keeps its block, and the clash is a problem for listings."""
        if self._plugins_listed:
            return
        self._plugins_listed = True
        folders = plugins.block_folders()
        failures: list[NetdslError] = list(folders.failed)
        clashes: list[NetdslError] = []
        added: list[Path] = []
        for entry, d in folders.found:
            key = d.resolve()
            if key in self._seen_dirs:
                continue
            self._seen_dirs.add(key)
            try:
                entries = sorted(e.name for e in os.scandir(d) if e.name.endswith(".yaml"))
            except OSError as e:
                failures.append(entry.error(f"cannot list its block folder {str(d)!r}: {e.strerror or e}"))
                continue
            added.append(d)
            for fname in entries:
                f = d / fname
                name = f.stem
                if name in self.index:
                    other, origin = self.index[name]
                    taken = f"plugin {self.distributions[name]}" if origin == "plugin" else f"{origin} block"
                    clashes.append(
                        entry.error(
                            f"block {name!r} ({display_path(f)}) is also defined by {display_path(other)}; "
                            f"the {taken} is used",
                            hint="a plugin block never replaces another: rename one of them",
                        )
                    )
                    continue
                self.index[name] = (f, "plugin")
                self.distributions[name] = entry.distribution
        if added:
            self.policy = self.policy.widened(added)
        self._plugin_failures = failures
        if self._plugin_problems is not None:
            self._plugin_problems.extend([*failures, *clashes])

    def expand_alias(self, alias: BlockAlias, doc: Doc, chain: tuple[str, ...] = ()) -> tuple[BlockFile, Doc]:
        """The block an alias stands for: its base with the fixed parameters turned into variables."""
        if alias.extends == alias.block or alias.extends in chain:
            raise ResolveError(f"block {alias.block!r} extends itself", doc.loc(("extends",)))
        if alias.extends in self._loading:
            cycle = [*self._loading[self._loading.index(alias.extends) :], alias.extends]
            raise ResolveError(
                "block aliases extend each other in a cycle: " + " -> ".join(cycle),
                doc.loc(("extends",)),
                hint="a block alias must extend a block with a graph (`nodes:`), directly or through others",
            )
        if alias.extends not in self:
            raise ResolveError(
                f"unknown block {alias.extends!r}",
                doc.loc(("extends",)),
                expected=self.names(),
                hint=did_you_mean(alias.extends, self.index),
            )
        base = self.get(alias.extends, at=doc.loc(("extends",)))
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
        """Every block's name, the plugins' too (a plugin whose folder cannot be found raises its
        PluginError unless the library was given ``plugin_problems``)."""
        self._list_plugins()
        if self._plugin_failures and self._plugin_problems is None:
            raise NetdslErrors(self._plugin_failures)
        return sorted(self.index)

    def __contains__(self, name: str) -> bool:
        if name not in self.index:
            self._list_plugins()
        return name in self.index

    def get(self, name: str, at: SourceLoc | None = None) -> BlockSource:
        """The block ``name``; ``at`` is where it is used (errors about its file are located there)."""
        if name not in self.index:
            self._list_plugins()
        if name not in self._cache:
            path, origin = self.index[name]
            where = at or SourceLoc(display_path(path))
            self._loading.append(name)
            try:
                self._cache[name] = self._load(name, path, origin, where)
            finally:
                self._loading.pop()
        return self._cache[name]

    def _load(self, name: str, path: Path, origin: str, at: SourceLoc) -> BlockSource:
        doc, spec = parse_block_file(path, self.policy, at=at)
        if isinstance(spec, BlockAlias):
            if spec.block != name:
                raise ResolveError(
                    f"the block in {name}.yaml is named {spec.block!r}; name the file after the block",
                    doc.loc(("block",)),
                )
            merged, base_doc = self.expand_alias(spec, doc)
            return BlockSource(name, merged, base_doc, (), origin)
        if not isinstance(spec, BlockFile):
            raise ResolveError(f"{display_path(path)} is not a block file (it has no `block:` key)", at)
        if spec.block != name:
            raise ResolveError(
                f"the block in {name}.yaml is named {spec.block!r}; name the file after the block",
                doc.loc(("block",)),
            )
        return BlockSource(name, spec, doc, (), origin)


class LibraryCache:
    """The block libraries of one run (``netdsl validate`` of many files), shared by its specs.

    Specs whose search folders, ``$NETDSL_BLOCKS_PATH``, working directory and file policy are the
    same (the specs of one folder) use one library: its folders are listed once and each block
    loaded, validated and expanded once. Specs of another project get their own library, as the
    policy differs.
    """

    def __init__(self) -> None:
        self._libraries: dict[tuple[object, ...], BlockLibrary] = {}

    def get(self, extra_dirs: Sequence[str | os.PathLike[str]], policy: FilePolicy) -> BlockLibrary:
        key = (tuple(os.fspath(d) for d in extra_dirs), os.environ.get(ENV_VAR, ""), os.getcwd(), policy)
        library = self._libraries.get(key)
        if library is None:
            library = self._libraries[key] = BlockLibrary(extra_dirs, policy=policy)
        return library

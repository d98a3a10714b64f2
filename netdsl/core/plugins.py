"""Entry points of installed distributions: where plugins' op definitions and block folders come from.

The one module of netdsl that imports ``importlib`` (tests/test_hostile.py bans it everywhere
else): plugins are named by the entry points of *installed* distributions, read with
``importlib.metadata``, never by a spec. Nothing here knows about ops or blocks; the op registry
(:mod:`netdsl.ops.plugins`) and the block library (:mod:`netdsl.frontend.library`) use it, each
once per process and only when a name is not found among netdsl's own or when listing.

Loading an entry point runs the plugin's code: every failure (an ``ImportError``, a missing attribute,
an exception the plugin raises) becomes a :class:`PluginError` that names the distribution and the
entry point, never a traceback. docs/plugins.md describes how to write a plugin.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from netdsl.core.errors import NetdslError

if TYPE_CHECKING:
    from importlib import metadata

# importlib.metadata (tens of ms to import) is imported when the entry points are first read

#: entry point group: ``<op name> = <module>:<OpDef>`` (or a function of no arguments returning it)
OPS_GROUP = "netdsl.ops"
#: entry point group: ``<label> = <package>`` (its folder holds block specs), or
#: ``<label> = <module>:<attribute>`` (a folder path, or a function of no arguments returning one)
BLOCKS_GROUP = "netdsl.blocks"

#: ``package.module:attribute.path``: how a plugin op names its lowering
IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


#: what an entry point's distribution is called when importlib.metadata does not say
UNKNOWN = "an unknown distribution"


class PluginError(NetdslError):
    """A plugin cannot be loaded, or what it defines is not a valid op or block folder."""


@dataclass(frozen=True)
class PluginEntry:
    """One entry point of an installed distribution, as plain data."""

    group: str
    name: str
    value: str
    #: the distribution that declares it: ``"<name> <version>"``
    distribution: str

    def describe(self) -> str:
        """``entry point `netdsl.ops`: squared_relu = pkg.ops:OP of netdsl-example-plugin 0.1.0``."""
        return f"entry point `{self.group}`: {self.name} = {self.value} of {self.distribution}"

    def error(self, what: str, hint: str | None = None) -> PluginError:
        return PluginError(f"plugin {self.describe()}: {what}", hint=hint)

    def _entry_point(self) -> metadata.EntryPoint:
        from importlib.metadata import EntryPoint

        return EntryPoint(name=self.name, value=self.value, group=self.group)

    @property
    def module(self) -> str:
        """The module part of the value (``pkg.ops`` of ``pkg.ops:OP``)."""
        return self._entry_point().module

    @property
    def attr(self) -> str | None:
        """The attribute part of the value (``OP`` of ``pkg.ops:OP``), None when it names a module."""
        return self._entry_point().attr

    def load(self) -> object:
        """The object the entry point names (its module imported); any failure is a PluginError."""
        try:
            return self._entry_point().load()
        except (Exception, SystemExit) as e:
            raise self.error(f"failed to load: {_reason(e)}", hint=_fix(self)) from None


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _fix(entry: PluginEntry) -> str:
    if entry.distribution == UNKNOWN:
        return "fix or uninstall the package that declares it"
    dist = entry.distribution.split(" ")[0]
    return f"fix or reinstall {dist}, or uninstall it (pip uninstall {dist})"


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return UNKNOWN
    name = dist.metadata["Name"] or dist.name
    return f"{name} {dist.version}"


@cache
def entries(group: str) -> tuple[PluginEntry, ...]:
    """The entry points of ``group`` in the distributions installed on ``sys.path``, by distribution
    and name; read once per process. Metadata so broken that it cannot be listed counts as none."""
    from importlib.metadata import entry_points

    try:
        found = entry_points(group=group)
        out = {}
        for ep in found:
            dist = _distribution(ep)
            out[dist, ep.name] = PluginEntry(group, ep.name, ep.value, dist)
    except Exception:
        return ()
    return tuple(out[k] for k in sorted(out))


def import_path(path: str, what: str) -> object:
    """The object at ``path`` (``package.module:attribute``), its module imported: how a plugin op's
    lowering is found when the op is lowered. ``what`` names it in errors (a PluginError)."""
    if not IMPORT_PATH.fullmatch(path):
        raise PluginError(f"{what}: {path!r} is not an import path `package.module:function`")
    module, _, attribute = path.partition(":")
    try:
        obj: object = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (Exception, SystemExit) as e:
        raise PluginError(f"{what}: cannot import {path!r}: {_reason(e)}") from None
    return obj


def folder_of(entry: PluginEntry) -> Path:
    """The folder of block specs a ``netdsl.blocks`` entry point names: a package's folder (the package
    is found, its parent packages imported), or a path an attribute holds or a function returns."""
    try:
        module, attr = entry.module, entry.attr
    except Exception as e:
        raise entry.error(f"failed to load: {_reason(e)}", hint=_fix(entry)) from None
    if attr:
        target = entry.load()
        if callable(target):
            try:
                target = target()
            except (Exception, SystemExit) as e:
                raise entry.error(f"failed to load: {_reason(e)}", hint=_fix(entry)) from None
        if not isinstance(target, str | os.PathLike):
            raise entry.error(f"names a {type(target).__name__}, not a folder path (a str or a Path)")
        folder = Path(os.fspath(target))
    else:
        try:
            spec = importlib.util.find_spec(module)
        except (Exception, SystemExit) as e:
            raise entry.error(f"failed to load: {_reason(e)}", hint=_fix(entry)) from None
        if spec is None:
            raise entry.error(f"there is no package {module!r}", hint=_fix(entry))
        locations = list(spec.submodule_search_locations or [])
        if not locations:
            raise entry.error(f"{module!r} is a module, not a package (a folder of block specs)")
        folder = Path(locations[0])
    if not folder.is_dir():
        raise entry.error(f"its block folder {str(folder)!r} does not exist", hint=_fix(entry))
    return folder


@dataclass(frozen=True)
class BlockFolders:
    """The block folders of the installed plugins, and the plugins whose folder cannot be found."""

    found: tuple[tuple[PluginEntry, Path], ...]
    failed: tuple[PluginError, ...]


@cache
def block_folders() -> BlockFolders:
    """The folders of the ``netdsl.blocks`` entry points, found once per process."""
    found: list[tuple[PluginEntry, Path]] = []
    failed: list[PluginError] = []
    for entry in entries(BLOCKS_GROUP):
        try:
            found.append((entry, folder_of(entry)))
        except PluginError as e:
            failed.append(e)
    return BlockFolders(tuple(found), tuple(failed))


def forget() -> None:
    """Read the entry points again on next use (tests that install or fake plugins)."""
    entries.cache_clear()
    block_folders.cache_clear()


__all__ = [
    "BLOCKS_GROUP",
    "OPS_GROUP",
    "BlockFolders",
    "PluginEntry",
    "PluginError",
    "block_folders",
    "entries",
    "folder_of",
    "forget",
    "import_path",
]

"""The file policy: which files netdsl may open, and how it opens them.

Every file netdsl reads goes through this module.

* **Trusted** are the files and folders the user names: command-line paths, Python API
  arguments, ``--blocks-path`` / ``NETDSL_BLOCKS_PATH`` folders, ``--root`` / ``NETDSL_ROOT``.
* The **project root** is the nearest folder above the named spec that holds
  ``pyproject.toml`` or ``.git``, else the current directory. The folder of the named spec
  counts too (a spec outside any project may use its siblings).
* A **reference from inside a spec** (``extends:``, a block file found by name, a file found by
  walking a named folder) resolves relative to the referring spec and must stay inside the
  project root or a trusted folder once every symlink is followed: absolute paths outside them,
  ``..`` escapes and symlinks whose target leaves them are refused before anything is opened.
* Every file must be a **regular file**: checked before opening, opened non-blocking (a FIFO
  never blocks) and checked again on the open descriptor.
* An error about a referenced file is located at the referring line. The referenced file's text
  is shown only when it parsed as YAML with a ``network:`` or ``block:`` key: a file that is not
  a netdsl spec is never quoted, so a hostile spec cannot print other files into a CI log.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from netdsl.core.errors import (
    NetdslError,
    ResolveError,
    SourceLoc,
    SpecSyntaxError,
    UsageError,
    display_path,
    show_value,
)
from netdsl.frontend.yaml_loader import Doc, load_text, too_large

ROOT_ENV = "NETDSL_ROOT"
MAX_BYTES = 512_000
_MARKERS = ("pyproject.toml", ".git")
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def builtin_blocks_dir() -> Path | None:
    """The block library shipped with netdsl (the repo's blocks/, or the wheel's _blocks/)."""
    package = Path(__file__).resolve().parent.parent  # netdsl/
    for candidate in (package.parent / "blocks", package / "_blocks"):
        if candidate.is_dir():
            return candidate
    return None


def _real(path: str | os.PathLike[str]) -> Path:
    """The path with every symlink followed (``strict=False``: a missing tail is kept as is)."""
    return Path(os.path.realpath(os.fspath(path)))


def project_root(spec: str | os.PathLike[str] | None) -> Path:
    """The nearest folder above ``spec`` holding pyproject.toml or .git, else the working directory."""
    if spec is not None:
        start = Path(os.path.abspath(os.fspath(spec))).parent
        for folder in (start, *start.parents):
            try:
                if any((folder / m).exists() for m in _MARKERS):
                    return _real(folder)
            except OSError:
                continue
    return _real(Path.cwd())


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class FilePolicy:
    """The folders a spec's references may reach (all with symlinks followed)."""

    roots: tuple[Path, ...]

    @classmethod
    def for_spec(
        cls,
        spec: str | os.PathLike[str] | None = None,
        *,
        trusted: Iterable[str | os.PathLike[str]] = (),
        root: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    ) -> FilePolicy:
        """The policy for references made from ``spec`` (a path the user named, or None)."""
        folders: list[Path] = [project_root(spec)]
        if spec is not None:
            folders.append(_real(Path(os.path.abspath(os.fspath(spec))).parent))
        extra: list[str | os.PathLike[str]] = []
        if isinstance(root, str | os.PathLike):
            extra.append(root)
        elif root is not None:
            extra += list(root)
        env = os.environ.get(ROOT_ENV)
        if env:
            extra += [p for p in env.split(os.pathsep) if p]
        folders += [_real(p) for p in (*extra, *trusted)]
        builtin = builtin_blocks_dir()
        if builtin is not None:
            folders.append(_real(builtin))
        unique = tuple(dict.fromkeys(folders))
        return cls(unique)

    def widened(self, folders: Iterable[str | os.PathLike[str]]) -> FilePolicy:
        return FilePolicy(tuple(dict.fromkeys((*self.roots, *(_real(f) for f in folders)))))

    def allows(self, path: str | os.PathLike[str]) -> bool:
        real = _real(path)
        return any(_inside(real, r) for r in self.roots)

    def describe(self) -> str:
        builtin = builtin_blocks_dir()
        shown = [display_path(r) for r in self.roots if builtin is None or r != _real(builtin)]
        return ", ".join(shown[:4]) + (" ..." if len(shown) > 4 else "")


# ----------------------------------------------------------------------------- reading
def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(
    path: str | os.PathLike[str], *, loc: SourceLoc, name: str, max_bytes: int = MAX_BYTES
) -> bytes:
    """The bytes of a regular file, or a located error; never blocks on a FIFO or device."""
    if "\0" in os.fspath(path):
        raise SpecSyntaxError(f"cannot read {name}: a file name cannot contain a NUL character", loc)
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:
        raise SpecSyntaxError(f"cannot read {name}: {getattr(e, 'strerror', None) or e}", loc) from None
    if not stat.S_ISREG(st.st_mode):
        raise SpecSyntaxError(f"cannot read {name}: it is {_kind(st.st_mode)}, not a spec file", loc)
    if st.st_size > max_bytes:
        raise too_large(st.st_size, max_bytes, loc, name)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        raise SpecSyntaxError(f"cannot read {name}: {e.strerror or e}", loc) from None
    try:
        st = os.fstat(fd)  # the file opened may not be the one checked (a swapped path)
        if not stat.S_ISREG(st.st_mode):
            raise SpecSyntaxError(f"cannot read {name}: it is {_kind(st.st_mode)}, not a spec file", loc)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise SpecSyntaxError(f"cannot read {name}: {e.strerror or e}", loc) from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > max_bytes:
        raise too_large(len(raw), max_bytes, loc, name)
    return raw


def read_named(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> bytes:
    """A file the user named: trusted, but still a regular file read without blocking."""
    name = display_path(os.fspath(path))
    return read_regular(path, loc=SourceLoc(file=name), name=name, max_bytes=max_bytes)


def check_reference(target: Path, policy: FilePolicy, *, at: SourceLoc, what: str, written: str) -> None:
    """Refuse a referenced path that leaves the policy's folders (symlinks followed)."""
    if "\0" in written:
        raise ResolveError(f"{what} {show_value(written)}: a file name cannot contain a NUL character", at)
    if policy.allows(target):
        return
    link = ""
    try:
        if os.path.abspath(target) != str(_real(target)):
            link = " (through a symlink)"
    except OSError:
        pass
    raise ResolveError(
        f"{what} {show_value(written)} points outside the project{link}; netdsl only opens files inside "
        "the project root and the folders you name",
        at,
        hint=f"allowed folders: {policy.describe()}; widen them with --root DIR or {ROOT_ENV}",
    )


def load_reference(
    target: Path,
    policy: FilePolicy,
    *,
    at: SourceLoc,
    what: str,
    written: str,
    check_policy: bool = True,
) -> Doc:
    """Load a file referenced from a spec, as a ``Doc``; every failure is located at ``at``.

    The file's own text appears in later errors only when it is a netdsl spec (YAML with a
    ``network:`` or ``block:`` key); otherwise nothing of it is shown.
    """
    if check_policy:
        check_reference(target, policy, at=at, what=what, written=written)
    name = display_path(target)
    try:
        raw = read_regular(target, loc=at, name=f"{what} {show_value(written)}")
    except NetdslError as e:
        raise ResolveError(e.message, at, hint=e.hint) from None
    try:
        doc = load_text(raw, name)
    except NetdslError as e:
        where = f" (at line {e.loc.line}, column {e.loc.col})" if e.loc.line else ""
        raise ResolveError(
            f"{what} {show_value(written)} is not a valid netdsl spec: it does not parse as YAML{where}",
            at,
            hint=f"run `netdsl validate {name}` to see the problem",
        ) from None
    data = doc.data
    if not isinstance(data, dict) or not ({"network", "block"} & set(data)):
        raise ResolveError(
            f"{what} {show_value(written)} is not a netdsl spec (it has no `network:` or `block:` key)", at
        )
    return doc


def walk_specs(folder: Path, policy: FilePolicy) -> tuple[list[Path], list[NetdslError]]:
    """The *.yaml / *.yml files below a named folder; entries that leave it or are not regular
    files are errors (never opened); symlinked folders are not followed."""
    files: list[Path] = []
    problems: list[NetdslError] = []
    inner = policy.widened([folder])
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            problems.append(UsageError(f"cannot list {display_path(d)}: {e.strerror or e}"))
            continue
        subdirs = []
        for entry in entries:
            p = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(p)
                    continue
            except OSError:
                continue
            if p.suffix not in (".yaml", ".yml"):
                continue
            loc = SourceLoc(file=display_path(p))
            if entry.is_symlink() and not inner.allows(p):
                problems.append(
                    ResolveError(
                        "this file is a symlink that points outside the folder; netdsl does not open it",
                        loc,
                        hint=f"allowed folders: {inner.describe()}; widen them with --root DIR",
                    )
                )
                continue
            files.append(p)
        stack += sorted(subdirs, reverse=True)
    files.sort()
    return files, problems


__all__ = [
    "ROOT_ENV",
    "FilePolicy",
    "builtin_blocks_dir",
    "check_reference",
    "load_reference",
    "project_root",
    "read_named",
    "read_regular",
    "walk_specs",
]

"""Running Graphviz ``dot`` and writing output files atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import BuildError, UsageError

#: the formats :func:`netdsl.diagram.render` knows, and the file suffixes that pick them
FORMATS = ("dot", "svg", "png", "mermaid", "html", "graphml", "json")
SUFFIXES = {
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".html": "html",
    ".htm": "html",
    ".graphml": "graphml",
    ".json": "json",
}
DOT_TIMEOUT = 300.0


def format_for(path: str | os.PathLike[str] | None, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file suffix (``.svg`` -> svg)."""
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise UsageError(f"unknown diagram format {fmt!r}", expected=list(FORMATS))
        return fmt
    if path is None:
        raise UsageError("no diagram format given and no output file to take it from")
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            f"cannot tell the diagram format from {os.fspath(path)!r}: give a format",
            expected=sorted(SUFFIXES),
        )
    return SUFFIXES[suffix]


def dot_executable() -> str:
    """Graphviz ``dot``: $NETDSL_DOT, else ``dot`` on the PATH; BuildError if there is none."""
    exe = os.environ.get("NETDSL_DOT") or shutil.which("dot")
    if not exe:
        raise BuildError(
            "Graphviz `dot` is not installed (needed for svg, png and html diagrams)",
            hint="install Graphviz (apt-get install graphviz, brew install graphviz, conda install graphviz) "
            "or export dot / mermaid / graphml / json, which need no Graphviz",
        )
    return exe


def run_dot(source: str, fmt: str, *, timeout: float = DOT_TIMEOUT, extra: Sequence[str] = ()) -> bytes:
    """Render DOT text with Graphviz (``fmt``: svg, png, ...); BuildError if it fails or hangs."""
    exe = dot_executable()
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}", *extra],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"Graphviz `dot` did not finish within {timeout:g} s",
            hint="draw fewer nodes: a smaller --depth, or without --expand-repeats",
        ) from None
    except OSError as e:
        raise BuildError(f"cannot run Graphviz `dot` ({exe}): {e}") from None
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise BuildError(f"Graphviz `dot -T{fmt}` failed (exit {proc.returncode}): {err or 'no output'}")
    return proc.stdout


def run_dot_many(sources: Sequence[str], fmt: str, *, timeout: float = DOT_TIMEOUT) -> list[bytes]:
    """Render several graphs with one ``dot`` process each, side by side on the CPU cores."""
    if len(sources) <= 1:
        return [run_dot(s, fmt, timeout=timeout) for s in sources]
    dot_executable()  # one clear error, not one per thread
    workers = max(1, min(len(sources), os.cpu_count() or 1, 16))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda s: run_dot(s, fmt, timeout=timeout), sources))


def file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process umask."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it back at once
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``:
    readers see the old file or the whole new one, never a part. The file gets the mode a plain
    ``open`` would give it (``0o666 & ~umask``), not mkstemp's 0600."""
    shown = repr(os.fspath(path))
    if "\0" in os.fspath(path):
        raise UsageError(f"cannot write {shown}: a file name cannot contain a NUL character")
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{shown} is a folder, not a file to write")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"cannot write {shown}: no folder {os.fspath(folder)!r}")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=folder)
    except OSError as e:
        raise UsageError(f"cannot write {shown}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {shown}: {e.strerror or e}") from None
        raise
    return target

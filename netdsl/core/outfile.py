"""Writing an output file atomically (``build --out``, ``diagram -o``): never half a file, and the
mode a plain ``open`` would give it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from netdsl.core.errors import UsageError

#: what to write: the bytes (text is written as UTF-8), or a function that writes the file at the
#: path it is given (``torch.save``, ``torch.export.save``)
Payload = bytes | str | Callable[[str], object]


def file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process umask."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it back at once
    os.umask(mask)
    return 0o666 & ~mask


def _refused(flag: str | None, shown: str, problem: str, stage: str = "there") -> UsageError:
    """``--out 'm.pt': cannot write there (...)`` for a command-line option (``flag``), else
    ``cannot write 'd.svg': ...``."""
    if flag is not None:
        return UsageError(f"{flag} {shown}: cannot write {stage} ({problem})")
    return UsageError(f"cannot write {shown}: {problem}")


def atomic_write(path: str | os.PathLike[str], data: Payload, *, flag: str | None = None) -> Path:
    """Write ``path`` through a temporary file in the same folder and ``os.replace``: readers see
    the old file or the whole new one, never a part, and a failed write leaves no temporary file.

    The temporary file ends in ``.tmp`` plus the target's suffix (``torch.export.save`` wants
    ``.pt2`` and warns about any other) and gets the mode a plain ``open`` would give the file
    (``0o666 & ~umask``), not mkstemp's 0600. ``flag`` (``--out``) names the command-line option
    the path came from in messages. Refusals are :class:`UsageError`.
    """
    name = os.fspath(path)
    shown = repr(name)
    if "\0" in name:
        raise UsageError(
            f"{flag} {shown}: a file name cannot contain a NUL character"
            if flag is not None
            else f"cannot write {shown}: a file name cannot contain a NUL character"
        )
    target = Path(name)
    if target.is_dir():
        raise UsageError(f"{flag + ' ' if flag is not None else ''}{shown} is a folder, not a file to write")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(
            f"{flag} {shown}: folder {os.fspath(folder)!r} does not exist"
            if flag is not None
            else f"cannot write {shown}: no folder {os.fspath(folder)!r}"
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=folder)
    except OSError as e:
        raise _refused(flag, shown, str(e.strerror or e)) from None
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _refused(flag, shown, str(e.strerror or e), stage="it") from None
        raise
    return target


__all__ = ["Payload", "atomic_write", "file_mode"]

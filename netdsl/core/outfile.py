"""Output files: refusing a file name before any work is done (:func:`check_target`), and writing
one atomically (``build --out``, ``export``, ``diagram -o``): never half a file, and the mode a plain
``open`` would give it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from netdsl.core.errors import UsageError, show_value

#: what to write: the bytes (text is written as UTF-8), or a function that writes the file at the
#: path it is given (``torch.save``, ``torch.export.save``)
Payload = bytes | str | Callable[[str], object]


def file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process umask."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it back at once
    os.umask(mask)
    return 0o666 & ~mask


def check_target(
    out: str | os.PathLike[str], suffixes: Sequence[str], writes: str, *, flag: str | None = None
) -> Path:
    """The output file ``out``, refused with a :class:`UsageError` before anything is computed when
    it cannot be written: a NUL in the name, a name the OS refuses, a folder, a suffix not in
    ``suffixes``, a missing or read-only folder, something that exists and is not a regular file.
    ``writes`` says what the command writes (``"a .pt2 (torch.export program) or .onnx file"``);
    ``flag`` (``--out``) names the command-line option the name came from."""
    name = os.fspath(out)
    shown = f"{flag} {show_value(name)}" if flag else show_value(name)
    if "\0" in name:
        raise UsageError(f"{shown}: a file name cannot contain a NUL character")
    target = Path(name)
    try:
        is_dir, folder = target.is_dir(), target.parent
        folder_ok = folder.is_dir()
        writable = folder_ok and os.access(folder, os.W_OK | os.X_OK)
        odd = target.exists() and not target.is_file()
    except (OSError, ValueError) as e:  # names the OS refuses (too long, undecodable, ...)
        raise UsageError(f"{shown}: cannot use this file name ({e})") from None
    endings = ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1]
    if is_dir:
        raise UsageError(
            f"{shown} is a folder: give a file name ending in {endings}", expected=list(suffixes)
        )
    if target.suffix not in suffixes:
        raise UsageError(f"{shown}: expected {writes}", expected=list(suffixes))
    if not folder_ok:
        raise UsageError(f"{shown}: folder {show_value(os.fspath(folder))} does not exist")
    if not writable:
        raise UsageError(f"{shown}: folder {show_value(os.fspath(folder))} is not writable")
    if odd:
        raise UsageError(f"{shown} exists and is not a regular file")
    return target


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


__all__ = ["Payload", "atomic_write", "check_target", "file_mode"]

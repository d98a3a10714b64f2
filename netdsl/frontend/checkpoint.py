"""Checkpoint files, torch-free: what kind of file a checkpoint is, and the header of a safetensors
file (the names, dtypes, shapes and byte ranges of its tensors) read without torch and without
reading the tensors.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__":
{...}}``, offsets relative to the data that follows the header), then the data. Every field is
checked before it is used: a header longer than 100 MB or than the file, JSON that does not
parse (or nests beyond Python's limits), duplicate names, unknown dtypes, shapes that are not
lists of sizes, byte ranges outside the data, of the wrong length or overlapping are each a
:class:`CheckpointError` naming the file, never a traceback or a large allocation.

Torch files (``torch.save``: a zip archive, or torch's older format) are read by
:mod:`netdsl.backend.checkpoint_io`; both readers give the same tree of :class:`TensorInfo`
(nested dicts of tensors, other values as :class:`Opaque`).
"""

from __future__ import annotations

import itertools
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from netdsl.core.errors import NetdslError, SourceLoc, display_path, show_value
from netdsl.core.suggest import did_you_mean

#: the largest safetensors header read (the safetensors library's own limit)
MAX_HEADER = 100_000_000
MAX_RANK = 64
MAX_DIM = 2**63 - 1
#: safetensors dtype -> (torch's name of the dtype, bytes per element)
SAFETENSORS_DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 1),
    "U8": ("uint8", 1),
    "I8": ("int8", 1),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "F8_E8M0": ("float8_e8m0fnu", 1),
    "I16": ("int16", 2),
    "U16": ("uint16", 2),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I32": ("int32", 4),
    "U32": ("uint32", 4),
    "F32": ("float32", 4),
    "F64": ("float64", 8),
    "I64": ("int64", 8),
    "U64": ("uint64", 8),
    "C64": ("complex64", 8),
}
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_ZIP = b"PK\x03\x04"
_LEGACY = b"\x80"  # torch's older format starts with its protocol byte


class CheckpointError(NetdslError):
    """A checkpoint file that cannot be read: missing, not a regular file, neither safetensors nor a
    torch file, corrupt or truncated (located at the file)."""


@dataclass(frozen=True)
class TensorInfo:
    """A tensor of a checkpoint, as far as loading it needs: its shape and dtype (torch's name:
    ``float32``, ``bfloat16``, ``int64``, ...)."""

    shape: tuple[int, ...]
    dtype: str

    def __str__(self) -> str:
        return f"{self.dtype} {shape_text(self.shape)}"


@dataclass(frozen=True)
class Opaque:
    """A value in a checkpoint that is neither a tensor nor a dict (an epoch number, a list, ...):
    the name of its type."""

    kind: str


Tree: TypeAlias = "dict[str, Tree] | TensorInfo | Opaque"


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass(frozen=True)
class SafetensorsEntry:
    info: TensorInfo
    #: the byte range of the tensor's data in the file (absolute offsets)
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    entries: dict[str, SafetensorsEntry]
    metadata: dict[str, str]

    def tree(self) -> dict[str, Tree]:
        return {name: e.info for name, e in self.entries.items()}


# ----------------------------------------------------------------------------- opening


def checkpoint_name(path: str | os.PathLike[str]) -> str:
    return display_path(os.fspath(path))


def _fail(name: str, message: str, hint: str | None = None) -> CheckpointError:
    return CheckpointError(message, SourceLoc(file=name), hint=hint)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


@contextmanager
def open_checkpoint(path: str | os.PathLike[str]) -> Iterator[tuple[int, int]]:
    """The checkpoint opened for reading: (file descriptor, size). Only regular files are opened
    (non-blocking: a FIFO never blocks); the descriptor is closed on exit."""
    name = checkpoint_name(path)
    raw = os.fspath(path)
    if "\0" in raw:
        raise _fail(
            name, f"cannot read checkpoint {show_value(raw)}: a file name cannot contain a NUL character"
        )
    try:
        st = os.stat(raw)
    except (OSError, ValueError) as e:
        raise _fail(name, f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _fail(name, f"cannot read {name}: it is {_kind(st.st_mode)}, not a checkpoint file")
    try:
        fd = os.open(raw, _FLAGS)
    except OSError as e:
        raise _fail(name, f"cannot read {name}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)  # the file opened may not be the one checked (a swapped path)
        if not stat.S_ISREG(st.st_mode):
            raise _fail(name, f"cannot read {name}: it is {_kind(st.st_mode)}, not a checkpoint file")
        yield fd, st.st_size
    finally:
        os.close(fd)


def read_exact(fd: int, offset: int, n: int, name: str) -> bytes:
    """``n`` bytes at ``offset`` (CheckpointError when the file ends before)."""
    chunks: list[bytes] = []
    got = 0
    try:
        while got < n:
            chunk = os.pread(fd, min(n - got, 1 << 24), offset + got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as e:
        raise _fail(name, f"cannot read {name}: {e.strerror or e}") from None
    if got < n:
        raise _fail(name, f"{name} is truncated: it ends {n - got:,} bytes before the data it declares")
    return b"".join(chunks)


def checkpoint_format(path: str | os.PathLike[str]) -> str:
    """``"safetensors"`` or ``"torch"``, from the file's first bytes (a ``.safetensors`` file is
    always read as one, so that its errors say what is wrong with it); CheckpointError for a
    file that is neither."""
    name = checkpoint_name(path)
    with open_checkpoint(path) as (fd, size):
        head = read_exact(fd, 0, min(size, 9), name)
    suffix = Path(os.fspath(path)).suffix.lower()
    if size == 0:
        raise _fail(name, f"{name} is empty: not a checkpoint")
    if suffix == ".safetensors":
        return "safetensors"
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    if head.startswith(_ZIP) or head.startswith(_LEGACY):
        return "torch"
    raise _fail(
        name,
        f"{name} is neither a safetensors file nor a torch.save file (a zip archive or torch's older format)",
        hint="netdsl reads .safetensors files and torch.save files (.pt, .pth, .bin)",
    )


# ----------------------------------------------------------------------------- safetensors


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the name {show_value(k)} appears twice")
        out[k] = v
    return out


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_safetensors_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """The validated header of a safetensors file (the tensors' data is not read)."""
    name = checkpoint_name(path)
    with open_checkpoint(path) as (fd, size):
        if size < 8:
            raise _fail(name, f"{name} is truncated: {size} bytes, a safetensors file starts with 8")
        n = int.from_bytes(read_exact(fd, 0, 8, name), "little")
        if n > MAX_HEADER:
            raise _fail(
                name,
                f"{name}: the safetensors header would be {n:,} bytes; netdsl reads headers of at most "
                f"{MAX_HEADER:,}",
                hint="the file is corrupt or not a safetensors file",
            )
        if n > size - 8:
            raise _fail(
                name,
                f"{name} is truncated: its safetensors header needs {n:,} bytes, the file has {size - 8:,}",
            )
        raw = read_exact(fd, 8, n, name)
    return parse_safetensors_header(raw, size - 8 - n, name)


def parse_safetensors_header(raw: bytes, data_size: int, name: str = "<safetensors>") -> SafetensorsHeader:
    """The header ``raw`` (the JSON text) of a file with ``data_size`` bytes of data after it."""
    base = 8 + len(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(name, f"{name}: the safetensors header is not UTF-8 text (byte {e.start})") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise _fail(name, f"{name}: the safetensors header nests too deeply") from None
    except ValueError as e:
        raise _fail(name, f"{name}: the safetensors header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise _fail(name, f"{name}: the safetensors header is a JSON {type(header).__name__}, not an object")
    entries: dict[str, SafetensorsEntry] = {}
    metadata: dict[str, str] = {}
    for key, value in header.items():
        if key == "__metadata__":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise _fail(name, f"{name}: the safetensors __metadata__ is not an object of strings")
            metadata = dict(value)
            continue
        entries[key] = _entry(key, value, data_size, base, name)
    spans = sorted((e.begin, e.end, k) for k, e in entries.items() if e.end > e.begin)
    for (_, end_a, a), (begin_b, _, b) in itertools.pairwise(spans):
        if begin_b < end_a:
            raise _fail(name, f"{name}: the data of tensors {show_value(a)} and {show_value(b)} overlap")
    return SafetensorsHeader(entries, metadata)


def _entry(key: str, value: object, data_size: int, base: int, name: str) -> SafetensorsEntry:
    what = f"{name}: tensor {show_value(key)}"
    if not isinstance(value, dict):
        raise _fail(name, f"{what}: expected an object with dtype, shape and data_offsets")
    missing = [f for f in ("dtype", "shape", "data_offsets") if f not in value]
    if missing:
        raise _fail(name, f"{what}: no {', '.join(missing)}")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
        shown = show_value(dtype) if isinstance(dtype, str) else f"a JSON {type(dtype).__name__}"
        raise CheckpointError(
            f"{what}: unknown dtype {shown}",
            SourceLoc(file=name),
            expected=SAFETENSORS_DTYPES,
            hint=did_you_mean(dtype, SAFETENSORS_DTYPES) if isinstance(dtype, str) else None,
        )
    if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
        raise _fail(name, f"{what}: the shape is not a list of integers")
    if len(shape) > MAX_RANK:
        raise _fail(name, f"{what}: the shape has {len(shape)} dims; at most {MAX_RANK}")
    if any(not 0 <= d <= MAX_DIM for d in shape):
        bad = next(d for d in shape if not 0 <= d <= MAX_DIM)
        raise _fail(name, f"{what}: the shape has a size {bad} outside 0 .. 2**63 - 1")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
        raise _fail(name, f"{what}: data_offsets is not a list of two integers")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise _fail(
            name,
            f"{what}: data_offsets [{begin}, {end}] lie outside the file's {data_size:,} bytes of data",
            hint="the file is truncated or corrupt",
        )
    torch_dtype, itemsize = SAFETENSORS_DTYPES[dtype]
    numel = 1
    for d in shape:
        numel *= d
        if numel > data_size:  # (stop multiplying: it cannot fit anyway)
            numel = 0 if 0 in shape else numel
            break
    if numel > data_size:
        raise _fail(
            name, f"{what}: {dtype} {shape_text(shape)} is larger than the file's {data_size:,} bytes of data"
        )
    if numel * itemsize != end - begin:
        raise _fail(
            name,
            f"{what}: {dtype} {shape_text(shape)} needs {numel * itemsize:,} bytes, data_offsets give "
            f"{end - begin:,}",
        )
    return SafetensorsEntry(TensorInfo(tuple(shape), torch_dtype), base + begin, base + end)

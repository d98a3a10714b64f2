"""The values of the command line's flags, read and refused (UsageError, exit 2) before any spec
is: NAME=VALUE pairs, sizes, shapes, seeds, depths, folders."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdsl.cli.output import _name, show
from netdsl.core.errors import NetdslError, UsageError

MAX_SIZE = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,30}", re.ASCII)


def _kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what} expects NAME=VALUE, got {show(item)}")
        if key in out:
            raise UsageError(f"{what} {_name(key)}: given twice ({show(out[key])} and {show(value.strip())})")
        out[key] = value.strip()
    return out


def _overrides(items: Sequence[str] | None) -> dict[str, Any]:
    from netdsl.frontend.yaml_loader import parse_scalar

    out = {}
    for k, v in _kv(items, "--set").items():
        try:
            out[k] = parse_scalar(v)
        except NetdslError as e:
            raise UsageError(f"--set {_name(k)}: cannot read value {show(v)}: {e.message}") from None
    return out


def _size(text: str, what: str) -> int:
    """A size of a dim: ASCII digits, 1 .. 2**63 - 1 (``str.isdigit`` would take '²' and '٣')."""
    if not _DIGITS.fullmatch(text):
        raise UsageError(f"{what}: expected a positive integer (digits 0-9), got {show(text)}")
    n = int(text)
    if not 1 <= n <= MAX_SIZE:
        raise UsageError(f"{what}: a size must be from 1 to 2**63 - 1, got {show(text)}")
    return n


def _ints(items: Sequence[str] | None, what: str) -> dict[str, int]:
    return {k: _size(v, f"{what} {_name(k)}") for k, v in _kv(items, what).items()}


def _shapes(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    out = {}
    for k, v in _kv(items, "--input-shape").items():
        parts = v.lower().replace(",", "x").split("x")
        if not v or not all(_DIGITS.fullmatch(p.strip()) for p in parts):
            raise UsageError(f"--input-shape {_name(k)}: expected sizes like 1x3x224x224, got {show(v)}")
        out[k] = tuple(_size(p.strip(), f"--input-shape {_name(k)}={show(v)}") for p in parts)
    return out


def _seed(text: str) -> int:
    """The argparse type of --seed: what torch.manual_seed accepts (-2**63 .. 2**64 - 1)."""
    from netdsl.api import SEED_MAX, SEED_MIN

    s = text.strip()
    if not _DIGITS.fullmatch(s[1:] if s[:1] in ("-", "+") else s):
        raise argparse.ArgumentTypeError(f"expected an integer (digits 0-9), got {show(text)}")
    n = int(s)
    if not SEED_MIN <= n <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"{show(text)} is outside the seeds torch takes, {SEED_MIN} .. {SEED_MAX}"
        )
    return n


def _depth(text: str) -> int | str:
    if text in ("auto", "all"):
        return text
    if not _DIGITS.fullmatch(text) or int(text) > 10_000:
        raise UsageError(f"--depth expects a number from 0 to 10000, 'auto' or 'all', got {show(text)}")
    return int(text)


def _check_folders(args: argparse.Namespace) -> None:
    """--blocks-path / --root (and $NETDSL_BLOCKS_PATH / $NETDSL_ROOT) must name folders."""
    if not hasattr(args, "blocks_path"):
        return
    named: list[tuple[str, str]] = []
    for flag, attr, env in (
        ("--blocks-path", "blocks_path", "NETDSL_BLOCKS_PATH"),
        ("--root", "root", "NETDSL_ROOT"),
    ):
        named += [(flag, d) for d in getattr(args, attr, None) or []]
        if hasattr(args, attr):
            named += [(f"${env}", d) for d in os.environ.get(env, "").split(os.pathsep) if d]
    for what, folder in named:
        try:
            ok, exists = Path(folder).is_dir(), Path(folder).exists()
        except (OSError, ValueError):
            ok = exists = False
        if not ok:
            problem = "is not a folder" if exists else "does not exist"
            raise UsageError(f"{what} {show(folder)} {problem}", hint=f"{what} must name an existing folder")

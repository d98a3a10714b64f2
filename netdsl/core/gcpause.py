"""Pausing Python's cyclic garbage collector around passes that make many objects and no cycles."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """No cyclic garbage collection meanwhile (restored afterwards, also on errors): loading and
    the passes make many objects and no cycles that matter, and the collections they would trigger,
    each over all of them, took up to two thirds of a large file's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

"""A heartbeat on stderr while a long step runs (a cold torch.compile takes a minute or more): what
is happening and for how long, every few seconds; one line rewritten in place on a terminal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def heartbeat(stream: TextIO | None, what: str, every: float = 10.0) -> Iterator[None]:
    """Print ``what: N s`` to ``stream`` every ``every`` seconds until the block ends (nothing when
    ``stream`` is None), then the total time."""
    if stream is None:
        yield
        return
    tty = stream.isatty()
    done = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not done.wait(every):
            line = f"netdsl: {what}: {time.perf_counter() - start:.0f} s"
            stream.write(f"\r{line}" if tty else f"{line}\n")
            stream.flush()

    thread = threading.Thread(target=beat, name="netdsl-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        elapsed = time.perf_counter() - start
        if elapsed >= every:
            stream.write(f"{chr(13) if tty else ''}netdsl: {what}: done in {elapsed:.0f} s\n")
            stream.flush()

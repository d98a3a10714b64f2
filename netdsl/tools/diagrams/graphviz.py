"""Running Graphviz ``dot`` (svg, png and the pages of the html diagram)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from netdsl.core.errors import BuildError
from netdsl.tools.diagrams.formats import DOT_TIMEOUT


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

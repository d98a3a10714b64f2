"""Colour on the terminal: diagnostics painted like a compiler's (``error:`` red, ``warning:``
yellow, the caret under the offending text, ``hint:`` cyan), only where a person reads them.

Colour is on when the stream is a terminal (and ``TERM`` is not ``dumb``), or when ``FORCE_COLOR``
or ``CLICOLOR_FORCE`` is set to anything but ``0``; ``NO_COLOR`` (https://no-color.org) set to
anything non-empty turns it off, whatever else is set. Text written to a file, a pipe or CI logs
stays plain. The text is made safe (:func:`netdsl.cli.output.safe_text`) before it is painted, so
escapes in a spec never reach the terminal: only the ones added here do.
"""

from __future__ import annotations

import os
import re
from typing import Any

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[1;31m"
YELLOW = "\x1b[1;33m"
CYAN = "\x1b[36m"
GREEN = "\x1b[32m"

_HEADER = re.compile(r"^(?P<where>.*?)(?P<sev>error|warning|note)(?P<rest>: .*)$")
_GUTTER = re.compile(r"^(?P<pad>\s*)(?P<num>\d*\s*\|)(?P<rest>.*)$")
_CARETS = re.compile(r"\^+")
_LABEL = re.compile(r"^(?P<pad>\s+)(?P<label>hint:|expected one of:|note:)(?P<rest>.*)$")
_CONTEXT = re.compile(r"^\s+in (block instance|variant) ")
_USAGE = re.compile(r"^(?P<lead>netdsl: )(?P<label>usage error:)(?P<rest>.*)$")


def _set(name: str) -> bool:
    value = os.environ.get(name)
    return value is not None and value not in ("", "0")


def color_enabled(stream: Any) -> bool:
    """Whether text written to ``stream`` is painted (see the module docstring)."""
    if os.environ.get("NO_COLOR"):
        return False
    if _set("FORCE_COLOR") or _set("CLICOLOR_FORCE"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed stream
        return False
    return tty and os.environ.get("TERM") != "dumb"


def _line(line: str, color: str) -> str:
    if m := _USAGE.match(line):
        return f"{m['lead']}{RED}{m['label']}{RESET}{BOLD}{m['rest']}{RESET}"
    if m := _HEADER.match(line):
        sev = {"error": RED, "warning": YELLOW, "note": CYAN}[m["sev"]]
        return f"{BOLD}{m['where']}{RESET}{sev}{m['sev']}{RESET}{BOLD}{m['rest']}{RESET}"
    if m := _LABEL.match(line):
        return f"{m['pad']}{CYAN}{m['label']}{RESET}{m['rest']}"
    if _CONTEXT.match(line):
        return f"{DIM}{line}{RESET}"
    if m := _GUTTER.match(line):
        rest = m["rest"]
        if rest.strip() and set(rest.strip()) <= {"^"}:
            rest = _CARETS.sub(lambda c: f"{color}{c[0]}{RESET}", rest)
        return f"{m['pad']}{DIM}{m['num']}{RESET}{rest}"
    return line


def paint(text: str) -> str:
    """A rendered diagnostic (or usage error), painted; the colour of its carets follows its
    severity."""
    first = text.split("\n", 1)[0]
    color = YELLOW if ": warning: " in first else RED
    return "\n".join(_line(line, color) for line in text.split("\n"))


def styled(text: str, stream: Any) -> str:
    """``text`` painted when ``stream`` takes colour, else as it is."""
    return paint(text) if color_enabled(stream) else text

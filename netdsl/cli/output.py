"""What the command line prints: safe text, values quoted, usage errors, diagnostics as text or
GitHub annotations."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from netdsl.cli.style import styled
from netdsl.core.errors import NetdslError, SourceLoc, show_value

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


#: characters never printed raw: C0/C1 controls but tab and newline, DEL, bidi and zero-width marks
#: (compiled on first use: a clean `netdsl validate` prints no diagnostics)
_UNSAFE = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"


def safe_text(text: str) -> str:
    """``text`` with terminal escapes and invisible marks written as ``\\x1b`` / ``\\u202e``."""
    return re.sub(
        _UNSAFE, lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text
    )


show = show_value  # a command-line value in a message


def _name(key: str) -> str:
    return key if key.isascii() and key.isidentifier() else show(key)


def usage_text(e: NetdslError) -> str:
    """``netdsl: usage error: MESSAGE`` (after the place in a spec when there is one), then the
    excerpt, ``expected one of`` and the hint: the message once, never ``usage error: error:``."""
    out = []
    for err in e.errors:
        loc = err.loc
        where = ""
        if loc.file != SourceLoc.file:
            where = loc.file + (f":{loc.line}:{loc.col}" if loc.line else "") + ": "
        path = f" [{loc.dotted}]" if loc.path else ""
        out.append(err.render(header=f"netdsl: usage error: {where}{err.message}{path}"))
    return "\n".join(out)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def print_diagnostics(errors: Sequence[NetdslError], fmt: str, stream: Any = None) -> None:
    """Errors and warnings as text (``render``) or GitHub annotations (``github``), to stderr."""
    stream = stream or sys.stderr
    for e in errors:
        if fmt == "github":
            loc = e.loc
            context = "".join(f"; {frame.render()}" for frame in e.context)  # the block-instance chain
            msg = _escape_data(e.message + context + (f" ({e.hint})" if e.hint else ""))
            level = "warning" if e.severity == "warning" else "error"
            where = f"file={_escape_property(loc.file)},line={loc.line},col={loc.col}"
            print(safe_text(f"::{level} {where},title=netdsl::{msg}"), file=stream)
        else:
            print(styled(safe_text(e.render()), stream), file=stream)

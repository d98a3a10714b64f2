"""'Did you mean ...?' suggestions."""

from __future__ import annotations

from collections.abc import Iterable


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    import difflib  # (only on an error: not imported by a run that finds none)

    options = [str(c) for c in choices]
    found = difflib.get_close_matches(word, options, n=n, cutoff=0.6)
    if not found:
        low = {o.lower(): o for o in options}
        found = [low[m] for m in difflib.get_close_matches(word.lower(), list(low), n=n, cutoff=0.6)]
    return found


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    found = close_matches(word, choices)
    if not found:
        return None
    return "did you mean " + " or ".join(repr(f) for f in found) + "?"

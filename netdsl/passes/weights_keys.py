"""Renaming a checkpoint's keys by prefix rules (``key_map``, ``--map OLD=NEW``: a key starting with
OLD starts with NEW instead; the longest OLD that fits wins), and suggesting the rules that make
more keys name the spec's parameters (``module.`` of DataParallel, ``_orig_mod.`` of torch.compile,
``model.``, a renamed block). Torch-free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netdsl.core.errors import UsageError, show_value
from netdsl.frontend.checkpoint import TensorInfo
from netdsl.passes.weights_spec import Expected


@dataclass(frozen=True)
class KeyRule:
    """Rename the keys that start with ``old``: ``new`` replaces that prefix."""

    old: str
    new: str

    @property
    def flag(self) -> str:
        return f"{self.old}={self.new}"

    def to_dict(self) -> dict[str, str]:
        return {"from": self.old, "to": self.new}


def apply_rules(key: str, rules: Sequence[KeyRule]) -> str:
    """``key`` renamed by the rule with the longest ``old`` it starts with (unchanged: none)."""
    best: KeyRule | None = None
    for r in rules:
        if key.startswith(r.old) and (best is None or len(r.old) > len(best.old)):
            best = r
    return key if best is None else best.new + key[len(best.old) :]


def key_rules(key_map: Mapping[str, str] | Iterable[KeyRule] | None) -> tuple[KeyRule, ...]:
    """The rules of ``key_map`` ({old prefix: new prefix}, or rules), checked (UsageError)."""
    if key_map is None:
        return ()
    items = list(key_map.items()) if isinstance(key_map, Mapping) else [(r.old, r.new) for r in key_map]
    seen: set[str] = set()
    out: list[KeyRule] = []
    for old, new in items:
        if not isinstance(old, str) or not isinstance(new, str):
            raise UsageError(f"key_map: expected prefixes as strings, got {old!r}: {new!r}")
        if old in seen:
            raise UsageError(f"key_map: the prefix {show_value(old)} is mapped twice")
        seen.add(old)
        out.append(KeyRule(old, new))
    return tuple(out)


def rename_keys(keys: Iterable[str], rules: Sequence[KeyRule]) -> dict[str, str] | tuple[str, str, str]:
    """{new key: old key}, or (old a, old b, new) when two keys would get one name."""
    out: dict[str, str] = {}
    for k in keys:
        nk = apply_rules(k, rules)
        if nk in out:
            return out[nk], k, nk
        out[nk] = k
    return out


def _fits(e: Expected, info: TensorInfo) -> bool:
    """The shapes agree (a symbolic dim fits any size)."""
    return len(e.shape) == len(info.shape) and all(
        not d.is_const or d.value == n for d, n in zip(e.shape, info.shape, strict=True)
    )


def _matches(
    tensors: Mapping[str, TensorInfo], rules: Sequence[KeyRule], expected: Mapping[str, Expected]
) -> int:
    """How many keys name an expected entry of their shape once renamed (-1: two keys collide)."""
    renamed = rename_keys(tensors, rules)
    if isinstance(renamed, tuple):
        return -1
    return sum(1 for k, orig in renamed.items() if k in expected and _fits(expected[k], tensors[orig]))


def suggest_rules(
    tensors: Mapping[str, TensorInfo],
    expected: Mapping[str, Expected],
    base: Sequence[KeyRule] = (),
    limit: int = 8,
) -> tuple[KeyRule, ...]:
    """Prefix rules that, added to ``base`` (the user's), make more of the checkpoint's keys name
    the spec's entries of their shapes, each one at least two more keys: ``module.`` -> ``''``
    (DataParallel), ``''`` -> ``net.``, ``backbone.`` -> ``features.``. Candidates pair each
    unmatched key with the missing keys of its shape that share its longest dotted suffix; the best
    candidate is taken while one helps."""
    chosen: list[KeyRule] = []
    for _ in range(limit):
        rules = [*base, *chosen]
        renamed = rename_keys(tensors, rules)
        if isinstance(renamed, tuple):
            break
        unexpected = [orig for k, orig in renamed.items() if k not in expected]
        missing = [k for k in expected if k not in renamed]
        if not unexpected or not missing:
            break
        index: dict[str, list[str]] = {}
        for m in missing:
            parts = m.split(".")
            for i in range(len(parts)):
                index.setdefault(".".join(parts[i:]), []).append(m)
        votes: Counter[tuple[str, str]] = Counter()
        fitting: dict[tuple[str, tuple[int, ...]], list[str]] = {}  # (suffix, shape) -> missing keys
        for orig in unexpected:
            parts = orig.split(".")
            for i in range(len(parts)):
                suffix = ".".join(parts[i:])
                if suffix in index:
                    old = orig[: len(orig) - len(suffix)]
                    shape = tensors[orig].shape
                    fit = fitting.get((suffix, shape))
                    if fit is None:
                        fit = [m for m in index[suffix][:256] if _fits(expected[m], tensors[orig])][:16]
                        fitting[(suffix, shape)] = fit
                    for m in fit:
                        votes[old, m[: len(m) - len(suffix)]] += 1
                    break
        now = _matches(tensors, rules, expected)
        best, gain = None, 1
        for (old, new), _n in votes.most_common(24):
            rule = KeyRule(old, new)
            if old == new or any(r.old == old for r in rules):
                continue
            got = _matches(tensors, [*rules, rule], expected) - now
            if got > gain:
                best, gain = rule, got
        if best is None:
            break
        chosen.append(best)
    return tuple(sorted(chosen, key=lambda r: (r.old, r.new)))

"""Finding the state_dict inside a checkpoint, torch-free: the file itself when it is a dict of
tensors, else the entry chosen with ``key``, else the first dict of tensors under the usual wrapper
keys (``{"state_dict": ...}``, ``{"model": ...}``, ``{"ema": ...}``), with a note saying which
entry was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netdsl.core.errors import SourceLoc, UsageError, show_value
from netdsl.core.suggest import did_you_mean
from netdsl.frontend.checkpoint import CheckpointError, Opaque, TensorInfo, Tree

#: entries of a dict that hold the state_dict, in the order they are preferred (the weights before
#: their moving averages: choose those with ``key``)
WRAPPER_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
    "weights",
    "params",
    "ema",
    "model_ema",
    "state_dict_ema",
    "ema_state_dict",
    "ema_model",
)
MAX_DEPTH = 4  # wrappers looked into


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read for checking: its name as shown, format (``safetensors`` / ``torch``) and
    tree of tensors."""

    name: str
    format: str
    tree: Tree


@dataclass(frozen=True)
class Unwrapped:
    """The state_dict found in a checkpoint: the keys followed to it (``()``: the file is one),
    its tensors and what was noted on the way."""

    path: tuple[str, ...]
    tensors: dict[str, TensorInfo]
    notes: tuple[str, ...] = ()


def _is_state(tree: Tree) -> bool:
    return isinstance(tree, dict) and bool(tree) and all(isinstance(v, TensorInfo) for v in tree.values())


def _kind(tree: Tree) -> str:
    if isinstance(tree, TensorInfo):
        return f"a tensor {tree}"
    if isinstance(tree, Opaque):
        return f"a {tree.kind}"
    return "a dict"


def dotted(path: Sequence[str]) -> str:
    return ".".join(path)


def _states(tree: Tree, path: tuple[str, ...], depth: int) -> list[tuple[str, ...]]:
    """The paths of the dicts of tensors below ``tree`` (wrappers first, in the order preferred)."""
    if not isinstance(tree, dict) or depth > MAX_DEPTH:
        return []
    if _is_state(tree):
        return [path]
    ordered = [k for k in WRAPPER_KEYS if k in tree] + [k for k in tree if k not in WRAPPER_KEYS]
    out: list[tuple[str, ...]] = []
    for k in ordered:
        out += _states(tree[k], (*path, k), depth + 1)
    return out


def _candidates(tree: Tree, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The paths of the dicts of tensors below ``tree``, the one to use first: those reached
    through wrapper keys only (``state_dict``, ``model``, ``ema.module``) in the order preferred,
    then the others, the most tensors first (a model's weights before an optimizer's moments)."""

    def size(p: tuple[str, ...]) -> int:
        node = tree
        for k in p[len(path) :]:
            assert isinstance(node, dict)
            node = node[k]
        return len(node) if isinstance(node, dict) else 0

    found = _states(tree, path, 0)
    wrapped = [p for p in found if all(k in WRAPPER_KEYS for k in p[len(path) :])]
    return wrapped + sorted((p for p in found if p not in wrapped), key=lambda p: -size(p))


def _follow(tree: Tree, key: str, name: str) -> tuple[tuple[str, ...], Tree]:
    """The entry ``key`` of the checkpoint: a key of the top dict, or keys of nested dicts joined
    by dots (``ema.module``)."""
    path: list[str] = []
    node, rest = tree, key
    while rest:
        if not isinstance(node, dict):
            raise UsageError(
                f"weights key {show_value(key)}: {dotted(path) or name} is {_kind(node)}, not a dict"
            )
        if rest in node:
            path.append(rest)
            node, rest = node[rest], ""
            break
        head = next((p for p in _prefixes(rest) if p in node), None)
        if head is None:
            keys = [str(k) for k in node]
            raise UsageError(
                f"weights key {show_value(key)}: {name} has no entry {show_value(rest)}"
                + (f" in {dotted(path)}" if path else ""),
                expected=keys[:200],
                hint=did_you_mean(rest, keys),
            )
        path.append(head)
        node, rest = node[head], rest[len(head) + 1 :]
    return tuple(path), node


def _prefixes(text: str) -> list[str]:
    """``a.b.c`` -> ``a.b``, ``a`` (the longest first)."""
    parts = text.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def unwrap(tree: Tree, name: str, key: str | None = None) -> Unwrapped:
    """The state_dict of a checkpoint: the file itself when it is a dict of tensors, else the entry
    ``key``, else the first dict of tensors under the usual wrapper keys (``state_dict``,
    ``model``, ``ema``, ...: :data:`WRAPPER_KEYS`), else the file's own tensors when it mixes them
    with other values. CheckpointError when there is none; UsageError for a ``key`` it lacks."""
    notes: list[str] = []
    path: tuple[str, ...] = ()
    if key:
        path, tree = _follow(tree, key, name)
        if not _is_state(tree):
            found = _candidates(tree, path)
            if not found:
                raise CheckpointError(
                    f"{name}: entry {show_value(key)} is {_kind(tree)}, not a dict of tensors",
                    SourceLoc(file=name),
                )
            for k in found[0][len(path) :]:
                assert isinstance(tree, dict)
                tree = tree[k]
            path = found[0]
        notes.append(f"the weights are in entry {dotted(path)!r} (as chosen)")
    elif not _is_state(tree):
        found = _candidates(tree, ())
        if found:
            path = found[0]
            for k in path:
                assert isinstance(tree, dict)
                tree = tree[k]
            others = ", ".join(repr(dotted(p)) for p in found[1:4]) + (" ..." if len(found) > 4 else "")
            notes.append(
                f"the checkpoint is a dict: the weights were taken from its entry {dotted(path)!r}"
                + (
                    f"; it also holds tensors in {others} (choose with --key; netdsl build: --weights-key)"
                    if others
                    else ""
                )
            )
        elif isinstance(tree, dict) and any(isinstance(v, TensorInfo) for v in tree.values()):
            left = [k for k, v in tree.items() if not isinstance(v, TensorInfo)]
            shown = ", ".join(show_value(k) for k in left[:5]) + (" ..." if len(left) > 5 else "")
            notes.append(f"entries that are not tensors were left out: {shown}")
            tree = {k: v for k, v in tree.items() if isinstance(v, TensorInfo)}
        else:
            what = _kind(tree) if not isinstance(tree, dict) else "a dict without tensors"
            if isinstance(tree, dict) and not tree:
                what = "an empty dict"
            keys = [str(k) for k in tree] if isinstance(tree, dict) else []
            raise CheckpointError(
                f"{name} holds no state_dict: it is {what}",
                SourceLoc(file=name),
                expected=keys[:50] or None,
                hint="netdsl reads a dict of tensors, maybe inside a dict (state_dict, model, ema, ...)",
            )
    assert isinstance(tree, dict)
    tensors = {k: v for k, v in tree.items() if isinstance(v, TensorInfo)}
    return Unwrapped(path, tensors, tuple(notes))

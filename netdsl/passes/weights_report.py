"""The result of a checkpoint comparison (:func:`netdsl.passes.weights.compare_weights`), torch-free:
the missing and unexpected keys, the shape mismatches and dtype casts, the report as text and as
JSON (schema ``netdsl.check-weights/1``), and :class:`WeightsError` for a checkpoint that does not
load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from netdsl.core.errors import NetdslError, NetdslErrors
from netdsl.frontend.checkpoint import TensorInfo
from netdsl.passes.weights_keys import KeyRule
from netdsl.passes.weights_spec import Expected
from netdsl.passes.weights_unwrap import dotted

MAX_SHOWN = 10  # of each kind of problem, in the text report


@dataclass(frozen=True)
class Missing:
    expected: Expected

    def to_dict(self) -> dict[str, object]:
        return {"key": self.expected.key, **_spec_side(self.expected)}


@dataclass(frozen=True)
class Unexpected:
    key: str
    #: the key as the file has it (before --map / the suggested rules)
    original: str
    info: TensorInfo
    closest: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "original_key": self.original,
            "shape": list(self.info.shape),
            "dtype": self.info.dtype,
            "did_you_mean": self.closest,
        }


@dataclass(frozen=True)
class Mismatch:
    """A matched key whose shape (a shape mismatch) or dtype (a cast) differs."""

    expected: Expected
    original: str
    info: TensorInfo
    #: the spec's shape for the sizes the checkpoint implies (symbolic dims bound)
    wanted: str

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.expected.key,
            "original_key": self.original,
            "checkpoint_shape": list(self.info.shape),
            "checkpoint_dtype": self.info.dtype,
            "spec_shape": self.wanted,
            **_spec_side(self.expected),
        }


def _spec_side(e: Expected) -> dict[str, object]:
    return {
        "shape": e.shape_text,
        "dtype": e.dtype,
        "kind": e.kind,
        "node": e.node.id,
        "op": e.node.op,
        "file": e.node.loc.file,
        "line": e.node.loc.line,
        "column": e.node.loc.col,
    }


@dataclass
class WeightsReport:
    """What :func:`compare_weights` found. ``ok``: the checkpoint loads into the spec's module with
    ``load_state_dict(strict=True)`` as it is (after ``key`` and ``key_map``); warnings allowed."""

    spec: str
    checkpoint: str
    format: str
    #: the keys followed to the state_dict inside the file (``()``: the file is one)
    wrapper: tuple[str, ...]
    expected: int
    found: int
    #: keys of the checkpoint that name a parameter or buffer of the spec (after the rules)
    matched: int
    key_map: tuple[KeyRule, ...]
    suggested_map: tuple[KeyRule, ...]
    #: (key in the file, key it matches) for each key the suggested rules rename
    renamed: list[tuple[str, str]]
    missing: list[Missing]
    unexpected: list[Unexpected]
    shape_mismatches: list[Mismatch]
    dtype_casts: list[Mismatch]
    #: missing buffers that load_state_dict fills in (BatchNorm's num_batches_tracked)
    filled: list[Missing]
    notes: list[str]
    errors: list[NetdslError]
    warnings: list[NetdslError]
    #: the spec's own warnings (unused nodes, ...)
    spec_warnings: list[NetdslError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def loads_with_suggested_map(self) -> bool:
        """With the suggested rules applied too, nothing else is wrong."""
        return bool(self.suggested_map) and not (self.missing or self.unexpected or self.shape_mismatches)

    def summary(self) -> str:
        verdict = "loads with strict=True" if self.ok else "does not load with strict=True"
        problems = [
            (len(self.renamed), "to rename"),
            (len(self.missing), "missing"),
            (len(self.unexpected), "unexpected"),
            (
                len(self.shape_mismatches),
                "shape mismatch" + ("es" if len(self.shape_mismatches) != 1 else ""),
            ),
        ]
        found = ", ".join(f"{n} {what}" for n, what in problems if n)
        n_warn = len(self.warnings)
        warned = f"; {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else ""
        mapped = ""
        if self.suggested_map:
            rest = "" if self.loads_with_suggested_map else ", other problems left"
            mapped = f"; with the suggested --map, {self.matched + len(self.renamed)} would{rest}"
        return (
            f"{self.checkpoint}: {self.matched} of the spec's {self.expected} parameter and buffer keys "
            f"found ({self.found} tensors in the {self.format} file{mapped}); {verdict}"
            + (f" ({found})" if found and not self.ok else "")
            + warned
        )

    def render(self, *, warnings: bool = True, limit: int = MAX_SHOWN) -> str:
        """The text report: notes, the suggested mapping, each kind of problem (at most ``limit``
        of each: ``--format json`` lists them all), the warnings, then the summary line."""
        out = [f"{self.checkpoint}: note: {n}" for n in self.notes]
        groups: dict[str, list[NetdslError]] = {}
        for e in self.errors + (self.warnings if warnings else []):
            groups.setdefault(_group(e), []).append(e)
        for what, errs in groups.items():
            out += [e.render() for e in errs[:limit]]
            if len(errs) > limit:
                out.append(f"... and {len(errs) - limit} more {what} (--format json lists them all)")
        out.append(self.summary())
        return "\n".join(out)

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": "netdsl.check-weights/1",
            "spec": self.spec,
            "checkpoint": self.checkpoint,
            "format": self.format,
            "loads": self.ok,
            "wrapper": dotted(self.wrapper) if self.wrapper else None,
            "expected": self.expected,
            "found": self.found,
            "matched": self.matched,
            "key_map": [r.to_dict() for r in self.key_map],
            "suggested_map": [r.to_dict() for r in self.suggested_map],
            "loads_with_suggested_map": self.loads_with_suggested_map,
            "renamed": [{"from": a, "to": b} for a, b in self.renamed],
            "missing": [m.to_dict() for m in self.missing],
            "unexpected": [u.to_dict() for u in self.unexpected],
            "shape_mismatches": [m.to_dict() for m in self.shape_mismatches],
            "dtype_casts": [m.to_dict() for m in self.dtype_casts],
            "filled": [m.to_dict() for m in self.filled],
            "notes": list(self.notes),
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [e.to_dict() for e in self.warnings],
            "summary": self.summary(),
        }

    def raise_if_not_loadable(self) -> None:
        """Raise :class:`WeightsError` (the report as its text) unless ``ok``."""
        if not self.ok:
            raise WeightsError(self.errors, self.render(warnings=False))


class WeightsError(NetdslErrors):
    """A checkpoint that does not load into a spec: its errors, rendered as the report does."""

    _text: str

    def __init__(self, errors: Sequence[NetdslError], text: str) -> None:
        object.__setattr__(self, "_text", text)
        super().__init__(errors)

    def render(self, excerpt: bool = True, header: str | None = None) -> str:
        return self._text


_GROUPS = {
    "rename": "keys to rename",
    "shape": "shape mismatches",
    "missing": "missing keys",
    "unexpected": "unexpected keys",
    "dtype": "dtype casts",
    "filled": "filled buffers",
}


def _group(e: NetdslError) -> str:
    for word, what in _GROUPS.items():
        if e.message.startswith(word):
            return what
    return "other problems"

"""Comparing a checkpoint with a spec's parameters and buffers, torch-free, without building the
module (``netdsl check-weights``, :func:`netdsl.check_weights`, ``netdsl build --weights``).

The spec's side is the static list of shape inference (:attr:`ShapeResult.params`): every
parameter and persistent buffer, keyed by its module path as ``state_dict()`` names it. The
checkpoint's side is a tree of :class:`~netdsl.frontend.checkpoint.TensorInfo` (read by
:mod:`netdsl.frontend.checkpoint` or :mod:`netdsl.backend.checkpoint_io`). The comparison
follows ``load_state_dict(strict=True)``:

* a checkpoint wrapped in a dict (``{"state_dict": ...}``, ``{"model": ...}``, ``{"ema": ...}``)
  is unwrapped, with a note saying which entry was used (``key`` chooses another);
* keys may be renamed by prefix rules (``key_map``, ``--map OLD=NEW``: a key starting with OLD
  starts with NEW instead; the longest OLD that fits wins); when renaming would make keys match
  (``module.`` of DataParallel, ``_orig_mod.`` of torch.compile, ``model.``, a renamed block),
  the rules are suggested;
* missing keys, unexpected keys (each with the closest expected key) and shapes that differ are
  errors, located at the spec node owning the parameter; a missing ``num_batches_tracked`` is a
  warning (BatchNorm fills it in when the state_dict carries no version metadata, as plain dicts
  and safetensors files do not); a dtype that ``load_state_dict`` casts (float16 into float32) is
  a warning, as ``copy_`` converts it.

The parts: :mod:`~netdsl.passes.weights_spec` (the spec's side), :mod:`~netdsl.passes.weights_unwrap`
(the checkpoint's side), :mod:`~netdsl.passes.weights_keys` (key rules and their suggestion),
:mod:`~netdsl.passes.weights_checks` (shapes and dtype casts), :mod:`~netdsl.passes.weights_report`
(the report); this module compares, and its names (``__all__``) are the public ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netdsl.core.errors import NetdslError, SourceLoc, UsageError, show_value
from netdsl.core.suggest import close_matches
from netdsl.frontend.checkpoint import shape_text
from netdsl.passes.shapes import ShapeResult
from netdsl.passes.weights_checks import ShapeCheck, cast_warnings, wanted_text
from netdsl.passes.weights_keys import KeyRule, apply_rules, key_rules, rename_keys, suggest_rules
from netdsl.passes.weights_report import Mismatch, Missing, Unexpected, WeightsError, WeightsReport
from netdsl.passes.weights_spec import FILLED_BUFFER, Expected, at_node, expected_state
from netdsl.passes.weights_unwrap import Checkpoint, Unwrapped, unwrap

MAX_SUGGESTED = 32  # unexpected keys that get a `did you mean`


def compare_weights(
    shapes: ShapeResult,
    checkpoint: Checkpoint,
    *,
    key: str | None = None,
    key_map: Mapping[str, str] | Iterable[KeyRule] | None = None,
) -> WeightsReport:
    """Compare ``checkpoint`` with the parameters and persistent buffers of ``shapes`` (the spec's
    static shapes: symbolic dims are bound from the checkpoint's sizes)."""
    name = checkpoint.name
    at_file = SourceLoc(file=name)
    expected = expected_state(shapes)
    found = unwrap(checkpoint.tree, name, key)
    rules = key_rules(key_map)
    keys = list(found.tensors)
    renamed = rename_keys(keys, rules)
    if isinstance(renamed, tuple):
        a, b, new = renamed
        raise UsageError(
            f"key map: keys {show_value(a)} and {show_value(b)} of {name} would both become {show_value(new)}"
        )
    suggested = suggest_rules(found.tensors, expected, rules) if set(renamed) != set(expected) else ()
    final = rename_keys(keys, [*rules, *suggested])  # key after all rules -> key in the file
    if isinstance(final, tuple):  # (suggestions never merge keys: suggest_rules checks it)
        final, suggested = renamed, ()
    moved = [(k, nk) for nk, k in final.items() if nk != apply_rules(k, rules)]
    errors: list[NetdslError] = []
    warnings: list[NetdslError] = []
    if moved:
        flags = " ".join(f"--map {show_value(r.flag)}" for r in suggested)
        python = "{" + ", ".join(f"{r.old!r}: {r.new!r}" for r in suggested) + "}"
        rules_text = ", ".join(f"{show_value(r.old)} -> {show_value(r.new)}" for r in suggested)
        errors.append(
            NetdslError(
                f"rename {len(moved)} keys: they match the spec's parameters once renamed by prefix "
                f"({rules_text}); e.g. {show_value(moved[0][0])} is the spec's {show_value(moved[0][1])}",
                at_file,
                hint=f"apply the mapping: {flags} (netdsl build --weights: --weights-map; Python: "
                f"key_map={python})",
            )
        )
    shape_check = ShapeCheck()
    for nk, k in final.items():
        if nk in expected:
            shape_check.bind(expected[nk], found.tensors[k])
    missing: list[Missing] = []
    filled: list[Missing] = []
    mismatches: list[Mismatch] = []
    casts: list[Mismatch] = []
    for ek, e in expected.items():
        if ek not in final:
            if ek.rsplit(".", 1)[-1] == FILLED_BUFFER and e.kind == "buffer":
                filled.append(Missing(e))
                warnings.append(
                    at_node(
                        NetdslError(
                            f"filled in: buffer {show_value(ek)} is not in the checkpoint; BatchNorm sets "
                            "it to 0 when the state_dict carries no version metadata (safetensors, dicts "
                            "built by hand)",
                            e.node.loc,
                            severity="warning",
                        ),
                        e.node,
                    )
                )
                continue
            missing.append(Missing(e))
            errors.append(
                at_node(
                    NetdslError(
                        f"missing key {show_value(ek)}: {e.kind} {e.dtype} {e.shape_text} of "
                        f"{e.node.op} {e.node.id} is not in the checkpoint",
                        e.node.loc,
                    ),
                    e.node,
                )
            )
            continue
        k = final[ek]
        info = found.tensors[k]
        wanted = wanted_text(shape_check.wanted(e))
        item = Mismatch(e, k, info, wanted)
        via = "" if k == ek else f" (the file's {show_value(k)})"
        if not shape_check.fits(e, info):
            mismatches.append(item)
            errors.append(
                at_node(
                    NetdslError(
                        f"shape mismatch for {show_value(ek)}{via}: the checkpoint has "
                        f"{shape_text(info.shape)}, the spec's {e.node.op} {e.node.id} needs {wanted}",
                        e.node.loc,
                    ),
                    e.node,
                )
            )
        if info.dtype != e.dtype:
            casts.append(item)
    warnings += cast_warnings(casts, at_file)
    unexpected: list[Unexpected] = []
    missing_keys = [m.expected.key for m in missing]
    candidates = missing_keys or list(expected)
    for nk, k in final.items():
        if nk in expected:
            continue
        closest = None
        if len(unexpected) < MAX_SUGGESTED and candidates:
            found_close = close_matches(nk, candidates, n=1)
            closest = found_close[0] if found_close else None
        info = found.tensors[k]
        unexpected.append(Unexpected(nk, k, info, closest))
        via = "" if k == nk else f" ({show_value(k)} in the file)"
        errors.append(
            NetdslError(
                f"unexpected key {show_value(nk)}{via}: {info.dtype} {shape_text(info.shape)}; the spec "
                "has no such parameter or buffer",
                at_file,
                hint=f"did you mean {closest!r}?" if closest else None,
            )
        )
    return WeightsReport(
        spec=shapes.graph.file,
        checkpoint=name,
        format=checkpoint.format,
        wrapper=found.path,
        expected=len(expected),
        found=len(keys),
        matched=sum(1 for nk in renamed if nk in expected),
        key_map=rules,
        suggested_map=suggested if moved else (),
        renamed=moved,
        missing=missing,
        unexpected=unexpected,
        shape_mismatches=mismatches,
        dtype_casts=casts,
        filled=filled,
        notes=list(found.notes),
        errors=errors,
        warnings=warnings,
    )


__all__ = [
    "Checkpoint",
    "Expected",
    "KeyRule",
    "Mismatch",
    "Missing",
    "Unexpected",
    "Unwrapped",
    "WeightsError",
    "WeightsReport",
    "apply_rules",
    "compare_weights",
    "expected_state",
    "key_rules",
    "suggest_rules",
    "unwrap",
]

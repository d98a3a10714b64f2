"""Checking an imported spec against the module (:func:`compare_outputs`), and what ``netdsl import``
needs to call the module: :func:`as_module` (a module, or what a factory makes) and
:func:`random_input` (an example input of a shape)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from netdsl.backend.inputs import output_tensors
from netdsl.core.errors import BuildError, UsageError


@torch.no_grad()
def compare_outputs(
    original: nn.Module,
    built: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> float:
    """Load ``original``'s state_dict into ``built`` (strict), run both on ``example_inputs`` and
    compare the outputs (flattened; ``atol`` relative to the outputs' scale). Returns the largest
    difference; BuildError when the keys or the outputs differ."""
    want_keys, got_keys = list(original.state_dict()), list(built.state_dict())
    if set(want_keys) != set(got_keys):
        missing = sorted(set(want_keys) - set(got_keys))[:5]
        extra = sorted(set(got_keys) - set(want_keys))[:5]
        raise BuildError(f"import: the spec's state_dict keys differ: missing {missing}, unexpected {extra}")
    try:
        built.load_state_dict(original.state_dict(), strict=True)
    except RuntimeError as e:
        raise BuildError(f"import: the module's state_dict does not load into the spec's: {e}") from None
    want = output_tensors(original(*[t.clone() for t in example_inputs]))
    got = output_tensors(built(*[t.clone() for t in example_inputs]))
    if len(want) != len(got):
        raise BuildError(f"import: the module returns {len(want)} tensor(s), the spec {len(got)}")
    worst = 0.0
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if tuple(w.shape) != tuple(g.shape):
            raise BuildError(f"import: output {i} has shape {tuple(g.shape)}, the module's {tuple(w.shape)}")
        if not w.is_floating_point():
            if not torch.equal(w, g.to(w.dtype)):
                raise BuildError(f"import: output {i} differs from the module's")
            continue
        scale = max(1.0, float(w.abs().max())) if w.numel() else 1.0
        diff = float((w - g.to(w.dtype)).abs().max()) if w.numel() else 0.0
        worst = max(worst, diff)
        if not torch.allclose(g.to(w.dtype), w, atol=atol * scale, rtol=rtol):
            raise BuildError(
                f"import: output {i} differs from the module's (largest difference {diff:.3g} at scale "
                f"{scale:.3g})",
                hint="netdsl import does not follow in-place ops through views (x[0].relu_() changes x); "
                "otherwise a bug of netdsl import: please report it with the module",
            )
    return worst


def as_module(obj: object, what: str) -> nn.Module:
    """``obj`` when it is an ``nn.Module``, else what calling it (a factory, a class) gives."""
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise UsageError(
            f"{what} is a {type(obj).__name__}, not a torch.nn.Module or a function that makes one"
        )
    try:
        made = obj()
    except Exception as e:  # the user's factory failed
        raise UsageError(f"calling {what}() failed: {type(e).__name__}: {e}") from None
    if not isinstance(made, nn.Module):
        raise UsageError(f"{what}() returned a {type(made).__name__}, not a torch.nn.Module")
    return made


def random_input(shape: Sequence[int], dtype: str = "float32", seed: int = 0) -> torch.Tensor:
    """An example input of ``shape``: N(0, 1) floats, or integers in [0, 2)."""
    gen = torch.Generator().manual_seed(seed)
    dt = getattr(torch, dtype, None)
    if not isinstance(dt, torch.dtype):
        raise UsageError(f"import: unknown dtype {dtype!r}")
    if dt.is_floating_point:
        return torch.randn(list(shape), generator=gen, dtype=dt)
    if dt == torch.bool:
        return torch.rand(list(shape), generator=gen) > 0.5
    return torch.randint(0, 2, list(shape), generator=gen, dtype=dt)

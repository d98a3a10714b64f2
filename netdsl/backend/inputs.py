"""Random example inputs for a forward pass (torch): one tensor per spec input, in order; and the
tensors of a forward's outputs, flattened, to compare two modules' outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from netdsl.core.types import TensorType


def random_inputs(names: Sequence[str], types: Mapping[str, TensorType], seed: int) -> list[torch.Tensor]:
    """Tensors of the given concrete types: floats from N(0, 1), bools and integers from {0, 1};
    drawn from a generator seeded with ``seed`` (the same inputs for the same seed)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for name in names:
        t = types[name]
        size = [d.value for d in t.shape]
        dtype = getattr(torch, t.dtype)
        if dtype.is_floating_point:
            out.append(torch.randn(size, generator=gen, dtype=dtype))
        elif dtype == torch.bool:
            out.append(torch.rand(size, generator=gen) > 0.5)
        else:
            out.append(torch.randint(0, 2, size, generator=gen, dtype=dtype))
    return out


def output_tensors(outputs: Any) -> list[torch.Tensor]:
    """The tensors in ``outputs`` (a tensor, or tuples, lists and mappings of them, nested), in order;
    anything else is left out."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, list | tuple):
        return [t for o in outputs for t in output_tensors(o)]
    if isinstance(outputs, Mapping):
        return [t for o in outputs.values() for t in output_tensors(o)]
    return []

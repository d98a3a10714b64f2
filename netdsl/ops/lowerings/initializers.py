"""Named parameter initialisers at build time: the ``torch.nn.init`` function of an `init:` spec.

The lowering half of netdsl/ops/initializers.py (whose schemas and
:func:`~netdsl.ops.initializers.parse_init` are torch-free). Used by the lowering of `op: parameter`
and by ``netdsl.backend.lower`` for the `init:` of a node's parameters.
"""

from __future__ import annotations

import torch

from netdsl.core.errors import SpecValidationError
from netdsl.ops.initializers import INITIALIZERS, parse_init


def apply_init(tensor: torch.Tensor, spec: object) -> None:
    """Fill ``tensor`` in place as ``spec`` says."""
    name, kwargs = parse_init(spec)
    fn = getattr(torch.nn.init, INITIALIZERS[name][1])
    with torch.no_grad():
        if tensor.dim() < 2 and name.startswith(("kaiming", "xavier")):
            raise SpecValidationError(
                f"initialiser {name!r} needs a tensor with >= 2 dims, got {tuple(tensor.shape)}"
            )
        if name == "constant":
            kwargs = {"val": kwargs["value"]}
        fn(tensor, **kwargs)

"""The lowering half of the op registry: op name -> its lowering to ``torch.fx`` (imports torch).

One module per family of op definitions (``netdsl/ops/nn.py`` -> ``lowerings/nn.py``); each
registers its lowerings with :func:`~netdsl.ops.lowerings.base.lowering`. Importing this package
imports the definitions too (``netdsl.ops``); importing the definitions imports none of this.
"""

from collections.abc import Mapping

from netdsl.ops.lowerings import (  # noqa: F401  (registration)
    attention,
    constants,
    elementwise,
    nn,
    params,
    reduce,
    shape_ops,
)
from netdsl.ops.lowerings.base import REGISTERED, LowerCtx, LowerFn, LowerOut, lowering

#: every op's lowering, by op name (tests/test_op_lowerings.py: exactly the ops of REGISTRY)
LOWERINGS: Mapping[str, LowerFn] = REGISTERED

__all__ = ["LOWERINGS", "LowerCtx", "LowerFn", "LowerOut", "lowering"]

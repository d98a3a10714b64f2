"""The lowering half of the op registry: op name -> its lowering to ``torch.fx`` (imports torch).

One module per family of op definitions (``netdsl/ops/nn.py`` -> ``lowerings/nn.py``); each
registers its lowerings with :func:`~netdsl.ops.lowerings.base.lowering`. Importing this package
imports the definitions too (``netdsl.ops``); importing the definitions imports none of this.

A plugin op's lowering is not registered here: its definition names it (``OpDef.lowering``, an
import path or the function), and :data:`LOWERINGS` imports it the first time the op is lowered, so
checking a spec that uses the op never imports its lowering (docs/plugins.md).
"""

from collections.abc import Iterator, MutableMapping

from netdsl.core.plugins import PluginError, import_path
from netdsl.ops.base import REGISTRY, OpDef
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


class Lowerings(MutableMapping[str, LowerFn]):
    """Op name -> lowering: netdsl's own (:data:`~netdsl.ops.lowerings.base.REGISTERED`, which this
    reads and writes), then, by ``[name]`` alone, a plugin op's, imported from the import path its
    definition names when the op is first lowered. Iterating gives netdsl's own."""

    def __init__(self) -> None:
        self._plugins: dict[str, tuple[OpDef, LowerFn]] = {}

    def __getitem__(self, name: str) -> LowerFn:
        fn = REGISTERED.get(name)
        return fn if fn is not None else self._plugin(name)

    def _plugin(self, name: str) -> LowerFn:
        op = REGISTRY.get(name)
        if op is None or op.lowering is None:
            raise KeyError(name)
        cached = self._plugins.get(name)
        if cached is not None and cached[0] is op:
            return cached[1]
        what = f"the lowering of op {name!r} (from {op.plugin})"
        fn = import_path(op.lowering, what) if isinstance(op.lowering, str) else op.lowering
        if not callable(fn):
            raise PluginError(f"{what}: {op.lowering!r} is a {type(fn).__name__}, not a function")
        self._plugins[name] = (op, fn)
        return fn

    def __contains__(self, name: object) -> bool:
        """Whether the op has a lowering (a plugin op's is not imported to say so)."""
        if name in REGISTERED:
            return True
        op = REGISTRY.get(name) if isinstance(name, str) else None
        return op is not None and op.lowering is not None

    def __setitem__(self, name: str, fn: LowerFn) -> None:
        REGISTERED[name] = fn

    def __delitem__(self, name: str) -> None:
        del REGISTERED[name]

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTERED)

    def __len__(self) -> int:
        return len(REGISTERED)


#: every op's lowering, by op name (tests/test_op_lowerings.py: exactly the ops of REGISTRY); a plugin
#: op's is imported when it is first looked up (``LOWERINGS[name]``)
LOWERINGS: MutableMapping[str, LowerFn] = Lowerings()

__all__ = ["LOWERINGS", "LowerCtx", "LowerFn", "LowerOut", "Lowerings", "lowering"]

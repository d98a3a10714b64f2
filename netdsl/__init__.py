"""netdsl: declarative YAML network specs -> shape-checked ``torch.fx`` modules.

Importing netdsl does not import torch; ``build``, ``compile``, ``export`` and ``capture`` do.
"""

from netdsl.api import (
    CheckResult,
    Spec,
    build,
    capture,
    capturing,
    check,
    check_weights,
    compile,
    diagram,
    export,
    import_module,
    load,
)
from netdsl.core.errors import NetdslError, NetdslErrors
from netdsl.core.plugins import PluginError
from netdsl.ops.plugins import register_op

__version__ = "0.1.0"
__all__ = [
    "CheckResult",
    "NetdslError",
    "NetdslErrors",
    "PluginError",
    "Spec",
    "build",
    "capture",
    "capturing",
    "check",
    "check_weights",
    "compile",
    "diagram",
    "export",
    "import_module",
    "load",
    "register_op",
]

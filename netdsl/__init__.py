"""netdsl: declarative YAML network specs -> shape-checked ``torch.fx`` modules.

Importing netdsl does not import torch; ``build`` and ``compile`` do.
"""

from netdsl.api import CheckResult, Spec, build, check, compile, diagram, load
from netdsl.core.errors import NetdslError, NetdslErrors

__version__ = "0.1.0"
__all__ = [
    "CheckResult",
    "NetdslError",
    "NetdslErrors",
    "Spec",
    "build",
    "check",
    "compile",
    "diagram",
    "load",
]

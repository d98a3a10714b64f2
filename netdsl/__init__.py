"""netdsl: declarative YAML network specs -> shape-checked ``torch.fx`` modules.

Importing netdsl does not import torch; ``build`` and ``compile`` do.
"""

from .api import CheckResult, Spec, build, check, compile, diagram, load
from .errors import NetdslError, NetdslErrors

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

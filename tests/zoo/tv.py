"""Import torchvision next to the CPU torch of this project (tests only).

The torchvision wheel on PyPI is a CUDA build: its C ops cannot load next to the CPU torch, and
``import torchvision`` then fails while registering fake kernels for those ops
(``torch.library.register_fake``). The Python models do not need the C ops, so the import runs with
``register_fake`` replaced by a no-op decorator factory, restored afterwards.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import torch


def _noop_register_fake(*args: Any, **kwargs: Any) -> Any:
    # used as @register_fake("op") (returns a decorator) or register_fake("op", fn) / (fn) directly
    if args and callable(args[0]) and not isinstance(args[0], str):
        return args[0]
    return lambda fn: fn


@functools.cache
def _import() -> tuple[ModuleType | None, str]:
    original = torch.library.register_fake
    torch.library.register_fake = _noop_register_fake  # type: ignore[assignment]
    try:
        import torchvision
        import torchvision.models
    except Exception as e:  # ImportError, or a failure inside torchvision's own import
        return None, f"torchvision cannot be imported: {type(e).__name__}: {e}"
    finally:
        torch.library.register_fake = original
    return torchvision, ""


def import_torchvision() -> ModuleType:
    """The torchvision module (imported once); ImportError with the reason when it cannot be imported."""
    module, reason = _import()
    if module is None:
        raise ImportError(reason)
    return module


def torchvision_reason() -> str | None:
    """Why torchvision cannot be imported, or None when it can (for ``pytest.mark.skipif``)."""
    module, reason = _import()
    return None if module is not None else reason

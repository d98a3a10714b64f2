"""``torch.compile`` of a built module."""

from __future__ import annotations

from typing import Any

import torch


def compile_module(module: Any, **kwargs: Any) -> Any:
    """The module wrapped by ``torch.compile`` (``kwargs`` pass through: ``mode``, ``dynamic``, ...)."""
    return torch.compile(module, **kwargs)

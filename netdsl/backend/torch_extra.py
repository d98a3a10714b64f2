"""PyTorch is an extra (``pip install 'netdsl[torch]'``): the base install checks, shapes, summarises
and draws specs without it. Every entry point that needs torch (building, compiling, exporting,
example inputs, reading a torch.save checkpoint) calls :func:`require_torch` first, so a missing
torch is a usage error (exit 2) that names the extra, never an internal ImportError.

This module imports torch only inside :func:`require_torch`: importing it costs nothing.
"""

from __future__ import annotations

from netdsl.core.errors import UsageError

#: the commands and calls that work without torch
TORCH_FREE = (
    "validate, shapes, summary, where, diagram, schema, blocks, ops and check-weights of a "
    ".safetensors file work without it"
)


def extra_command(extra: str = "torch") -> str:
    """The pip command that installs netdsl's ``extra`` (``"torch"``, ``"torch,onnx"``)."""
    return f"pip install 'netdsl[{extra}]'"


def require_torch(what: str, extra: str = "torch") -> None:
    """Refuse (UsageError) ``what`` (e.g. "building a module") when torch cannot be imported: not
    installed (install ``netdsl[extra]``), or installed but broken (torch's own error, shown)."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == "torch":
            raise UsageError(
                f"{what} needs PyTorch, which is not installed: it comes with netdsl's [{extra}] "
                + ("extras" if "," in extra else "extra"),
                hint=f"{extra_command(extra)} ({TORCH_FREE})",
            ) from None
        raise UsageError(  # installed, but one of its own imports fails
            f"{what} needs PyTorch, which is installed but cannot be imported: {e}",
            hint="`python -c 'import torch'` shows torch's own error; reinstall torch if it persists",
        ) from None

"""``netdsl.compile``: torch.compile of a built module, for inference or for training.

The module returned is a copy of the GraphModule, rewritten for the purpose by
:mod:`netdsl.backend.rewrites`, sharing its parameters, compiled by regions (each kind of repeated
block once: :mod:`netdsl.backend.regions`) or whole (``nn.Module.compile``): its ``state_dict()``
keys are the spec's (no ``_orig_mod.`` prefix), so checkpoints keep loading strictly. For inference
it runs in eval mode under ``torch.no_grad``; with ``freeze=True``, inductor's freezing folds the
weights into one compiled graph as constants (constant folding, convolution and batch-norm folding,
layout choice), and loading weights into it afterwards is refused, since the compiled code would
keep the old ones."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import fx, nn

from netdsl.backend import regions
from netdsl.backend.provenance import track
from netdsl.backend.rewrites import rewrite
from netdsl.core.errors import UsageError
from netdsl.core.suggest import did_you_mean

PURPOSES = ("inference", "training")


def compile_module(
    module: Any,
    *,
    purpose: str = "inference",
    dynamic: bool | None = True,
    freeze: bool = False,
    regional: bool | None = None,
    rewrites: bool = True,
    **torch_compile_kwargs: Any,
) -> Any:
    """``module`` compiled for ``purpose`` (see the module docstring).

    ``dynamic``: sizes that change (batch, image size) do not recompile (torch's ``dynamic``; None
    lets torch decide). ``freeze`` (inference only; default off): inductor freezing, weights folded
    into one compiled graph of the whole network. ``regional``: each kind of repeated block compiled once
    (:mod:`netdsl.backend.regions`), so that compile time does not grow with depth; by default on,
    unless freezing or unless convolutions carry most of the network's MACs
    (:func:`~netdsl.backend.regions.prefer_regional`). ``rewrites``: the graph rewrites of
    :mod:`netdsl.backend.rewrites` (GraphModules built by netdsl). The other keywords go to
    ``torch.compile`` (``mode``, ``backend``, ``fullgraph``, ``options``)."""
    if purpose not in PURPOSES:
        raise UsageError(
            f"purpose {purpose!r} is not one of netdsl.compile's purposes",
            expected=PURPOSES,
            hint=did_you_mean(str(purpose), PURPOSES),
        )
    if not isinstance(module, nn.Module):
        raise UsageError(f"compile: expected a torch.nn.Module, got a {type(module).__name__}")
    if getattr(module, "_compiled_call_impl", None) is not None:
        raise UsageError("compile: this module is compiled already; compile the module netdsl.build returned")
    inference = purpose == "inference"
    if freeze and not inference:
        raise UsageError("compile: freeze=True bakes the weights in: for purpose='inference' only")
    if regional is None:  # (by regions, unless convolutions dominate: regions.prefer_regional)
        regional = not freeze and (not isinstance(module, fx.GraphModule) or regions.prefer_regional(module))
    if regional and freeze:
        raise UsageError(
            "compile: regional=True compiles each kind of block once with its weights as inputs; "
            "freeze=True bakes each instance's weights in: choose one"
        )
    if isinstance(module, fx.GraphModule) and rewrites:
        module, _ = rewrite(module, purpose, dynamic=dynamic is not False)
    module.train(not inference)
    kwargs = dict(torch_compile_kwargs)
    if freeze:
        kwargs = _with_freezing(kwargs, dynamic)
    if regional and isinstance(module, fx.GraphModule):
        module, pieces = regions.regional(module, lambda fn: torch.compile(fn, dynamic=dynamic, **kwargs))
        module.meta["netdsl"] = {**module.meta.get("netdsl", {}), "regions": [p.path for p in pieces]}
        module._compiled_call_impl = module._call_impl  # (compiled piece by piece; marks it compiled)
    else:
        if isinstance(module, fx.GraphModule):
            track(module)  # (errors of torch.compile quote its code)
        module.compile(dynamic=dynamic, **kwargs)
        module._compiled_call_impl = _within(regions.sizes_apart, module._compiled_call_impl)
    if inference:
        module._compiled_call_impl = _within(torch.no_grad, module._compiled_call_impl)
        module.train = _eval_only(module)
    if freeze:
        module.register_load_state_dict_pre_hook(_refuse_load)
    return module


def _with_freezing(kwargs: dict[str, Any], dynamic: bool | None) -> dict[str, Any]:
    """torch.compile's keywords with inductor's ``freezing`` option on. torch.compile takes ``mode`` or
    ``options``, not both: a mode is spelled out as its options."""
    from torch._inductor import list_mode_options

    if kwargs.get("backend", "inductor") != "inductor":
        return kwargs
    mode = kwargs.pop("mode", None)
    options = {**(list_mode_options(mode, dynamic) if mode else {}), **(kwargs.pop("options", None) or {})}
    return {**kwargs, "options": {**options, "freezing": True}}


def _within(
    context: Callable[[], AbstractContextManager[Any]], call: Callable[..., Any]
) -> Callable[..., Any]:
    """``call`` run inside a fresh ``context()`` each time (torch.no_grad, the size settings)."""

    @functools.wraps(call)
    def run(*args: Any, **kwargs: Any) -> Any:
        with context():
            return call(*args, **kwargs)

    return run


def _eval_only(module: nn.Module) -> Callable[[bool], nn.Module]:
    """``train`` of a module compiled for inference: eval mode only (its dropout is compiled out)."""
    eval_mode = module.train

    def train(mode: bool = True) -> nn.Module:
        if mode:
            raise UsageError(
                "this module is compiled for inference (dropout removed, no gradients): it cannot train",
                hint="compile the built module with netdsl.compile(..., purpose='training')",
            )
        return eval_mode(False)

    return train


def _refuse_load(module: nn.Module, state_dict: Any, prefix: str, *args: Any) -> None:
    raise UsageError(
        "this module is compiled for inference with its weights frozen into the compiled code: weights "
        "loaded now would not be used",
        hint="load the weights into the module before netdsl.compile, or compile with freeze=False",
    )

"""The entries of ``torch.nn.functional`` calls with more to them than one op of their input:
dropout, attention, interpolate, and ``F.layer_norm`` / ``F.linear`` / ``F.conv*d`` on a module's own
``weight`` and ``bias`` (the op then lives at that module's path)."""

from __future__ import annotations

from typing import Any

from netdsl.backend.import_graph import TRef
from netdsl.backend.trace_import.calls import (
    Alias,
    AttrRef,
    Call,
    Emit,
    Handler,
    Result,
    _dims_list,
    _dropped,
    _plain,
    _Unsupported,
)


def _dropout_fn(c: Call) -> Result:
    x = c.tensor(0)
    if not c.get(2, "training", True):
        return Alias(x)
    return Emit("dropout", [x], {"p": float(c.get(1, "p", 0.5))}, inplace=bool(c.get(3, "inplace", False)))


def _sdpa(c: Call) -> Result:
    q, k, v = c.tensor(0, "query"), c.tensor(1, "key"), c.tensor(2, "value")
    mask = c.get(3, "attn_mask", None)
    if c.get(7, "enable_gqa", False):
        raise _Unsupported("enable_gqa is not supported")
    attrs = _dropped(
        {
            "dropout_p": c.get(4, "dropout_p", None),
            "is_causal": c.get(5, "is_causal", None),
            "scale": c.get(6, "scale", None),
        }
    )
    inputs = [q, k, v] + ([mask] if isinstance(mask, TRef) else [])
    if mask is not None and not isinstance(mask, TRef):
        raise _Unsupported("attn_mask is not a tensor")
    return Emit("scaled_dot_product_attention", inputs, attrs)


def _interpolate(c: Call) -> Result:
    x = c.tensor(0)
    if c.get(5, "recompute_scale_factor", None) or c.get(6, "antialias", False):
        raise _Unsupported("recompute_scale_factor and antialias are not supported")
    size = c.get(1, "size", None)
    attrs = {
        "size": None if size is None else _plain(size),
        "scale_factor": _plain(c.get(2, "scale_factor", None)),
        "mode": c.get(3, "mode", None),
        "align_corners": c.get(4, "align_corners", None),
    }
    return Emit("interpolate", [x], _dropped(attrs))


def _owned(c: Call, weight: Any, bias: Any) -> str | None:
    """The module whose ``weight`` (and ``bias``) a functional call takes, when they are its whole
    state: the op then lives at its path (its state_dict keys are the module's). None: no weight."""
    if weight is None and bias is None:
        return None
    if not isinstance(weight, AttrRef) or not (bias is None or isinstance(bias, AttrRef)):
        raise _Unsupported("weight and bias must be parameters of one module")
    owner = weight.owner
    names = {weight.leaf} | ({bias.leaf} if bias is not None else set())
    if weight.leaf != "weight" or (bias is not None and (bias.owner != owner or bias.leaf != "bias")):
        raise _Unsupported("weight and bias must be the 'weight' and 'bias' of one module")
    state = c.owner_state(owner) if c.owner_state is not None else names
    if state != names:
        raise _Unsupported(f"module {owner} has other state besides {', '.join(sorted(names))}")
    return owner


def _layer_norm_fn(c: Call) -> Result:
    x = c.tensor(0)
    weight, bias = c.get(2, "weight", None), c.get(3, "bias", None)
    owner = _owned(c, weight, bias)
    dims = _dims_list(c.get(1, "normalized_shape"))  # ((7, 7): the last two dims, not 7)
    shape = dims[0] if len(dims) == 1 else dims
    attrs = {
        "normalized_shape": shape,
        "eps": c.get(4, "eps", 1e-5),
        "elementwise_affine": weight is not None,
        "bias": bias is not None or weight is None,
    }
    return Emit("layer_norm", [x], attrs, module=owner)


def _linear_fn(c: Call) -> Result:
    x = c.tensor(0)
    weight, bias = c.get(1, "weight"), c.get(2, "bias", None)
    owner = _owned(c, weight, bias)
    assert isinstance(weight, AttrRef)
    return Emit("linear", [x], {"out_features": weight.shape[0], "bias": bias is not None}, module=owner)


def _conv_fn(op: str) -> Handler:
    def handle(c: Call) -> Result:
        x = c.tensor(0)
        weight, bias = c.get(1, "weight"), c.get(2, "bias", None)
        owner = _owned(c, weight, bias)
        assert isinstance(weight, AttrRef)
        attrs = {
            "out_channels": weight.shape[0],
            "kernel_size": _plain(tuple(weight.shape[2:])),
            "stride": _plain(c.get(3, "stride", 1)),
            "padding": _plain(c.get(4, "padding", 0)),
            "dilation": _plain(c.get(5, "dilation", 1)),
            "groups": c.get(6, "groups", 1),
            "bias": bias is not None,
        }
        return Emit(op, [x], attrs, module=owner)

    return handle

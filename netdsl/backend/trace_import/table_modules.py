"""The table's entries for modules: the ``torch.nn`` modules that are leaves of the trace, by class
(by name for a class of an optional package), each one op with attributes read off the module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from netdsl.backend.trace_import.calls import Call, Emit, Handler, Result, _dropped, _plain, _Unsupported
from netdsl.ops.lowerings.nn import LayerNormOverDim, StochasticDepth


def _module(op: str, attrs: Callable[[Any], dict[str, Any]]) -> Handler:
    """A leaf module that is op ``op`` with the attributes ``attrs(module)``."""

    def handle(c: Call) -> Result:
        assert c.module is not None
        return Emit(
            op,
            [c.tensor(0)],
            {k: _plain(v) for k, v in attrs(c.module).items()},
            inplace=bool(getattr(c.module, "inplace", False)),
        )

    return handle


def _conv_attrs(m: Any) -> dict[str, Any]:
    return {
        "out_channels": m.out_channels,
        "kernel_size": m.kernel_size,
        "stride": m.stride,
        "padding": m.padding,
        "dilation": m.dilation,
        "groups": m.groups,
        "bias": m.bias is not None,
        "padding_mode": m.padding_mode,
    }


def _bn_attrs(m: Any) -> dict[str, Any]:
    if m.momentum is None:
        raise _Unsupported("BatchNorm with momentum=None (a cumulative average)")
    return {
        "eps": m.eps,
        "momentum": m.momentum,
        "affine": m.affine,
        "track_running_stats": m.track_running_stats,
    }


def _ln_attrs(m: Any) -> dict[str, Any]:
    shape = list(m.normalized_shape)
    return {
        "normalized_shape": shape[0] if len(shape) == 1 else shape,
        "eps": m.eps,
        "elementwise_affine": m.elementwise_affine,
        "bias": getattr(m, "bias", None) is not None or not m.elementwise_affine,
    }


def _ln_dim_attrs(m: Any) -> dict[str, Any]:
    return {**_ln_attrs(m), "dim": m.dim}


def _pool_attrs(m: Any, *names: str) -> dict[str, Any]:
    if getattr(m, "return_indices", False) or getattr(m, "divisor_override", None) is not None:
        raise _Unsupported("return_indices and divisor_override are not supported")
    return {n: getattr(m, n) for n in names}


def _max_pool_attrs(m: Any) -> dict[str, Any]:
    return _pool_attrs(m, "kernel_size", "stride", "padding", "dilation", "ceil_mode")


def _avg_pool_attrs(m: Any) -> dict[str, Any]:
    return _pool_attrs(m, "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")


def _adaptive_attrs(m: Any) -> dict[str, Any]:
    if getattr(m, "return_indices", False):
        raise _Unsupported("return_indices is not supported")
    return {"output_size": m.output_size}


def _upsample_attrs(m: Any) -> dict[str, Any]:
    return _dropped(
        {"size": m.size, "scale_factor": m.scale_factor, "mode": m.mode, "align_corners": m.align_corners}
    )


def _embedding_attrs(m: Any) -> dict[str, Any]:
    if m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
        raise _Unsupported("Embedding with max_norm, scale_grad_by_freq or sparse")
    return {
        "num_embeddings": m.num_embeddings,
        "embedding_dim": m.embedding_dim,
        "padding_idx": m.padding_idx,
    }


def _no_attrs(m: Any) -> dict[str, Any]:
    return {}


def _hardtanh_module(c: Call) -> Result:
    assert c.module is not None
    m: Any = c.module
    return Emit("clamp", [c.tensor(0)], {"min": m.min_val, "max": m.max_val}, inplace=bool(m.inplace))


def _dropout_module(c: Call) -> Result:
    m: Any = c.module
    return Emit("dropout", [c.tensor(0)], {"p": float(m.p)}, inplace=bool(getattr(m, "inplace", False)))


#: leaf modules (call_module), by class
MODULES: dict[object, Handler] = {
    nn.Conv1d: _module("conv1d", _conv_attrs),
    nn.Conv2d: _module("conv2d", _conv_attrs),
    nn.Conv3d: _module("conv3d", _conv_attrs),
    nn.Linear: _module("linear", lambda m: {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.BatchNorm1d: _module("batch_norm1d", _bn_attrs),
    nn.BatchNorm2d: _module("batch_norm2d", _bn_attrs),
    nn.BatchNorm3d: _module("batch_norm3d", _bn_attrs),
    nn.LayerNorm: _module("layer_norm", _ln_attrs),
    LayerNormOverDim: _module("layer_norm", _ln_dim_attrs),
    nn.GroupNorm: _module(
        "group_norm", lambda m: {"num_groups": m.num_groups, "eps": m.eps, "affine": m.affine}
    ),
    nn.Embedding: _module("embedding", _embedding_attrs),
    nn.ReLU: _module("relu", _no_attrs),
    nn.ReLU6: _module("relu6", _no_attrs),
    nn.GELU: _module("gelu", lambda m: {"approximate": m.approximate}),
    nn.SiLU: _module("silu", _no_attrs),
    nn.Sigmoid: _module("sigmoid", _no_attrs),
    nn.Tanh: _module("tanh", _no_attrs),
    nn.Hardswish: _module("hardswish", _no_attrs),
    nn.Hardsigmoid: _module("hardsigmoid", _no_attrs),
    nn.Mish: _module("mish", _no_attrs),
    nn.LeakyReLU: _module("leaky_relu", lambda m: {"negative_slope": m.negative_slope}),
    nn.Softplus: _module("softplus", lambda m: {"beta": m.beta, "threshold": m.threshold}),
    nn.Hardtanh: _hardtanh_module,
    nn.Softmax: _module("softmax", lambda m: {"dim": m.dim}),
    nn.LogSoftmax: _module("log_softmax", lambda m: {"dim": m.dim}),
    nn.Identity: _module("identity", _no_attrs),
    nn.Flatten: _module("flatten", lambda m: {"start_dim": m.start_dim, "end_dim": m.end_dim}),
    nn.Unflatten: _module("unflatten", lambda m: {"dim": m.dim, "sizes": list(m.unflattened_size)}),
    nn.Dropout: _dropout_module,
    StochasticDepth: _module("drop_path", lambda m: {"p": float(m.p), "mode": m.mode}),
    "torchvision.ops.stochastic_depth.StochasticDepth": _module(
        "drop_path", lambda m: {"p": float(m.p), "mode": m.mode}
    ),
    nn.AdaptiveAvgPool1d: _module("adaptive_avg_pool1d", _adaptive_attrs),
    nn.AdaptiveAvgPool2d: _module("adaptive_avg_pool2d", _adaptive_attrs),
    nn.AdaptiveAvgPool3d: _module("adaptive_avg_pool3d", _adaptive_attrs),
    nn.AdaptiveMaxPool1d: _module("adaptive_max_pool1d", _adaptive_attrs),
    nn.AdaptiveMaxPool2d: _module("adaptive_max_pool2d", _adaptive_attrs),
    nn.AdaptiveMaxPool3d: _module("adaptive_max_pool3d", _adaptive_attrs),
    nn.MaxPool1d: _module("max_pool1d", _max_pool_attrs),
    nn.MaxPool2d: _module("max_pool2d", _max_pool_attrs),
    nn.MaxPool3d: _module("max_pool3d", _max_pool_attrs),
    nn.AvgPool1d: _module("avg_pool1d", _avg_pool_attrs),
    nn.AvgPool2d: _module("avg_pool2d", _avg_pool_attrs),
    nn.AvgPool3d: _module("avg_pool3d", _avg_pool_attrs),
    nn.Upsample: _module("interpolate", _upsample_attrs),
}

"""The table's entries for functions (``call_function``): Python operators, ``getattr``, ``torch.*``
and ``torch.nn.functional.*``, by the function object."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F

from netdsl.backend.trace_import.arithmetic import (
    _binary,
    _clamp,
    _compare,
    _hardtanh,
    _masked_fill,
    _matmul,
    _neg,
    _rdiv,
    _rsub,
    _softmax,
    _std,
    _where,
)
from netdsl.backend.trace_import.calls import Alias, Handler, _op
from netdsl.backend.trace_import.creation import _arange, _copy, _creation, _like
from netdsl.backend.trace_import.nn_functional import (
    _conv_fn,
    _dropout_fn,
    _interpolate,
    _layer_norm_fn,
    _linear_fn,
    _sdpa,
)
from netdsl.backend.trace_import.shape_ops import (
    _cat,
    _flatten,
    _getitem,
    _indexed,
    _pad,
    _permute,
    _reshape,
    _roll,
    _split,
    _squeeze,
    _unflatten,
)
from netdsl.backend.trace_import.sizes import _getattr, _sym_ite

#: functions (call_function), by the function
_DIMS = (1, 2, 3)
#: the pools' parameters after the input, in order
_MAX_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
_AVG_POOL = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")

FUNCTIONS: dict[object, Handler] = {
    operator.getitem: _getitem,
    getattr: _getattr,
    operator.add: _binary("add", "add", None),
    operator.iadd: _binary("add", "add", None),
    torch.add: _binary("add", "add", None),
    operator.sub: _binary("sub", "sub", _rsub),
    operator.isub: _binary("sub", "sub", _rsub),
    torch.sub: _binary("sub", "sub", _rsub),
    torch.subtract: _binary("sub", "sub", _rsub),
    operator.mul: _binary("mul", "mul", None),
    operator.imul: _binary("mul", "mul", None),
    torch.mul: _binary("mul", "mul", None),
    torch.multiply: _binary("mul", "mul", None),
    operator.truediv: _binary("div", "truediv", _rdiv),
    operator.itruediv: _binary("div", "truediv", _rdiv),
    torch.div: _binary("div", "truediv", _rdiv),
    torch.true_divide: _binary("div", "truediv", _rdiv),
    operator.floordiv: _binary(None, "floordiv", None),
    operator.mod: _binary(None, "mod", None),
    operator.pow: _binary("pow", "pow", None),
    torch.pow: _binary("pow", "pow", None),
    operator.neg: _neg,
    torch.neg: _neg,
    operator.matmul: _matmul,
    torch.matmul: _matmul,
    torch.bmm: _matmul,
    operator.eq: _compare("eq", "eq"),
    operator.ne: _compare("ne", "ne"),
    operator.lt: _compare("lt", "gt"),
    operator.le: _compare("le", "ge"),
    operator.gt: _compare("gt", "lt"),
    operator.ge: _compare("ge", "le"),
    torch.flatten: _flatten,
    torch.reshape: _reshape,
    torch.permute: _permute,
    torch.transpose: _op("transpose", "dim0", "dim1"),
    torch.squeeze: _squeeze,
    torch.unsqueeze: _op("unsqueeze", "dim"),
    torch.unflatten: _unflatten,
    torch.cat: _cat("cat"),
    torch.concat: _cat("cat"),
    torch.concatenate: _cat("cat"),
    torch.stack: _cat("stack"),
    torch.split: _split,
    torch.chunk: _split,
    torch.roll: _roll,
    torch.index_select: _indexed("index_select"),
    torch.gather: _indexed("gather"),
    torch.where: _where,
    torch.masked_fill: _masked_fill,
    torch.clamp: _clamp,
    torch.clip: _clamp,
    torch.mean: _op("mean", "dim", "keepdim", require={"dtype": None}),
    torch.sum: _op("sum", "dim", "keepdim", require={"dtype": None}),
    torch.amax: _op("amax", "dim", "keepdim"),
    torch.amin: _op("amin", "dim", "keepdim"),
    torch.logsumexp: _op("logsumexp", "dim", "keepdim"),
    torch.std: _std("std"),
    torch.var: _std("var"),
    torch.softmax: _softmax("softmax"),
    torch.log_softmax: _softmax("log_softmax"),
    torch.clone: _copy,
    torch.zeros: _creation("zeros"),
    torch.ones: _creation("ones"),
    torch.full: _creation("full", value_at=1),
    torch.zeros_like: _like("zeros"),
    torch.ones_like: _like("ones"),
    torch.full_like: _like("full", with_value=True),
    torch.arange: _arange,
    F.relu: _op("relu", "inplace"),
    F.relu6: _op("relu6", "inplace"),
    F.gelu: _op("gelu", "approximate"),
    F.silu: _op("silu", "inplace"),
    F.hardswish: _op("hardswish", "inplace"),
    F.hardsigmoid: _op("hardsigmoid", "inplace"),
    F.mish: _op("mish", "inplace"),
    F.leaky_relu: _op("leaky_relu", "negative_slope", "inplace"),
    F.softplus: _op("softplus", "beta", "threshold"),
    F.hardtanh: _hardtanh,
    F.sigmoid: _op("sigmoid"),
    F.tanh: _op("tanh"),
    F.softmax: _softmax("softmax"),
    F.log_softmax: _softmax("log_softmax"),
    F.dropout: _dropout_fn,
    **{getattr(F, f"adaptive_avg_pool{d}d"): _op(f"adaptive_avg_pool{d}d", "output_size") for d in _DIMS},
    **{
        getattr(F, f"adaptive_max_pool{d}d"): _op(
            f"adaptive_max_pool{d}d", "output_size", require={"return_indices": False}
        )
        for d in _DIMS
    },
    **{
        getattr(F, f"max_pool{d}d"): _op(f"max_pool{d}d", *_MAX_POOL, require={"return_indices": False})
        for d in _DIMS
    },
    F.avg_pool1d: _op("avg_pool1d", *_AVG_POOL),  # (no divisor_override in 1-d)
    **{
        getattr(F, f"avg_pool{d}d"): _op(f"avg_pool{d}d", *_AVG_POOL, require={"divisor_override": None})
        for d in (2, 3)
    },
    F.interpolate: _interpolate,
    F.pad: _pad,
    F.layer_norm: _layer_norm_fn,
    F.linear: _linear_fn,
    F.conv1d: _conv_fn("conv1d"),
    F.conv2d: _conv_fn("conv2d"),
    F.conv3d: _conv_fn("conv3d"),
    torch._assert: lambda c: Alias(None),
    torch.sym_ite: _sym_ite,
    torch.fx._symbolic_trace._assert_is_none: lambda c: Alias(None),
    F.scaled_dot_product_attention: _sdpa,
}

#: functional calls that take a module's parameters (not made nodes of their own)
_TAKE_PARAMETERS: set[object] = {F.layer_norm, F.linear, F.conv1d, F.conv2d, F.conv3d}
#: functions that work in place on their first argument (methods: a name ending in ``_``)
_IN_PLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv}

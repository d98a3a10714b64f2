"""The table's entries for tensor methods (``call_method``), by the method's name."""

from __future__ import annotations

from netdsl.backend.trace_import.arithmetic import _clamp, _masked_fill, _matmul, _neg, _softmax, _std
from netdsl.backend.trace_import.calls import Handler, _op
from netdsl.backend.trace_import.creation import _cast_to, _copy, _identity, _to, _type_as
from netdsl.backend.trace_import.shape_ops import (
    _expand,
    _expand_as,
    _flatten,
    _indexed,
    _permute,
    _reshape,
    _reshape_as,
    _roll,
    _split,
    _squeeze,
    _unflatten,
)
from netdsl.backend.trace_import.sizes import _ndim, _numel, _size

#: tensor methods (call_method), by name
METHODS: dict[object, Handler] = {
    "size": _size,
    "dim": _ndim,
    "numel": _numel,
    "view": _reshape,
    "reshape": _reshape,
    "view_as": _reshape_as,
    "reshape_as": _reshape_as,
    "expand": _expand,
    "expand_as": _expand_as,
    "permute": _permute,
    "transpose": _op("transpose", "dim0", "dim1"),
    "flatten": _flatten,
    "unflatten": _unflatten,
    "squeeze": _squeeze,
    "unsqueeze": _op("unsqueeze", "dim"),
    "split": _split,
    "chunk": _split,
    "contiguous": _identity,
    "clone": _copy,
    "detach": _identity,
    "float": _cast_to("float32"),
    "double": _cast_to("float64"),
    "half": _cast_to("float16"),
    "bfloat16": _cast_to("bfloat16"),
    "long": _cast_to("int64"),
    "int": _cast_to("int32"),
    "bool": _cast_to("bool"),
    "to": _to,
    "type": _to,
    "type_as": _type_as,
    "matmul": _matmul,
    "masked_fill": _masked_fill,
    "masked_fill_": _masked_fill,
    "clamp": _clamp,
    "clamp_": _clamp,
    "clip": _clamp,
    "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"),
    "mean": _op("mean", "dim", "keepdim", require={"dtype": None}),
    "sum": _op("sum", "dim", "keepdim", require={"dtype": None}),
    "amax": _op("amax", "dim", "keepdim"),
    "amin": _op("amin", "dim", "keepdim"),
    "logsumexp": _op("logsumexp", "dim", "keepdim"),
    "std": _std("std"),
    "var": _std("var"),
    "roll": _roll,
    "index_select": _indexed("index_select"),
    "gather": _indexed("gather"),
    "neg": _neg,
}

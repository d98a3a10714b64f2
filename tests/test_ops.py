"""Every op of the registry, held to its own definition.

For each op, the table :data:`CASES` lists valid examples (attrs + input shapes).
Every case is shape-inferred statically (directly through ``op.infer`` and
through the IR pass), lowered to a one-node ``torch.fx`` module, run, and
compared against the static types, the parameter specs, the MAC count and a
reference computation written here.  Named dims in a case ("B", "H") are also
inferred symbolically and must substitute to the concrete result.

A new op in the registry fails :func:`test_every_op_has_cases` until it has cases
here, a reference computation (:data:`REFERENCE`) and a reference MAC rule (:data:`REF_MACS`).
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from netdsl.backend.lower import lower
from netdsl.core.errors import ShapeError, SourceLoc
from netdsl.core.symbolic import Sym
from netdsl.core.types import DTYPES, TensorType
from netdsl.ir.graph import Graph, GraphInput, Node, Ref, Scope
from netdsl.ops import REGISTRY, Attrs, OpDef
from netdsl.passes.dims import dim_value
from netdsl.passes.shapes import ShapeResult, infer_shapes
from netdsl.passes.sizes import concrete_inputs

NODE_ID = "stage.op"  # dotted on purpose: weights live below a container module
LOC = SourceLoc("<test_ops>")

# sizes of the named dims of the cases, and a second set the symbolic modules also run at
DIMS: dict[str, int] = {"B": 2, "T": 4, "L": 7, "H": 6, "W": 5, "D": 3}
ALT: dict[str, int] = {"B": 3, "T": 5, "L": 9, "H": 8, "W": 7, "D": 4}

Shape = tuple[int | str, ...]


@dataclass(frozen=True)
class Case:
    op: str
    attrs: dict[str, Any]
    shapes: tuple[Shape, ...]
    dtypes: tuple[str, ...] = ()
    positive: bool = False  # float inputs drawn from [0.5, 1.5) (log, sqrt, div, pow)
    alt: bool = True  # the symbolic module also runs at ALT sizes
    index: int = 0
    int_range: tuple[int, int] = (-3, 4)  # integer inputs drawn from [lo, hi) (indices: from 0)
    # the inputs are constants (`op: buffer` stores one): nodes computing ramps of the shapes and
    # dtypes (const_values), not inputs of the graph, which then has none
    const: bool = False

    @property
    def id(self) -> str:
        return f"{self.op}-{self.index}"

    @property
    def in_dtypes(self) -> tuple[str, ...]:
        return self.dtypes or ("float32",) * len(self.shapes)

    @property
    def symbolic(self) -> bool:
        return any(isinstance(d, str) for s in self.shapes for d in s)

    def feed(self, xs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """What the module is called with: the inputs, none when they are constants."""
        return [] if self.const else list(xs)


def c(attrs: dict[str, Any], *shapes: Shape, **kw: Any) -> tuple[dict[str, Any], tuple[Shape, ...], dict]:
    return attrs, shapes, kw


# ---------------------------------------------------------------- the table

_SPEC: dict[str, list[tuple[dict[str, Any], tuple[Shape, ...], dict]]] = {
    # activations and unary elementwise
    "relu": [c({}, ("B", "L")), c({}, ())],
    "gelu": [c({}, ("B", "L")), c({"approximate": "tanh"}, ("B", 3, "L"))],
    "sigmoid": [c({}, ("B", "L"))],
    "tanh": [c({}, ("B", "L"))],
    "silu": [c({}, ("B", "T", 3))],
    "relu6": [c({}, ("B", "L")), c({}, ())],
    "hardsigmoid": [c({}, ("B", "L"))],
    "hardswish": [c({}, ("B", 3, "L"))],
    "leaky_relu": [c({}, ("B", "L")), c({"negative_slope": 0.2}, (4, 3))],
    "softplus": [c({}, ("B", "L")), c({"beta": 2, "threshold": 0.5}, ("B", 3, "L"))],
    "mish": [c({}, ("B", "L"))],
    "erf": [c({}, ("B", "L")), c({}, ("B", "L"), dtypes=("int64",))],
    "clamp": [
        c({"min": -0.5}, ("B", "L")),
        c({"min": -1, "max": 1.5}, ("B", 3, "L")),
        c({"max": 0.5}, ("B", "L"), dtypes=("int64",)),
        c({"min": 0, "max": 2}, (4, 3), dtypes=("int32",)),
        c({"min": -6.0, "max": 6.0}, ()),
    ],
    "exp": [c({}, ("B", "L"))],
    "log": [c({}, ("B", "L"), positive=True)],
    "sqrt": [c({}, ("B", "L"), positive=True)],
    "abs": [c({}, ("B", "L"))],
    "neg": [c({}, ("B", "L"))],
    "identity": [c({}, ("B", "L"))],
    "softmax": [c({"dim": -1}, ("B", "T", 5)), c({"dim": 1}, ("B", "T", 5))],
    "log_softmax": [c({"dim": 0}, ("B", "L")), c({"dim": -1}, ("B", "T", "T"))],
    # arithmetic, broadcasting
    "add": [
        c({}, ("B", 1, "L"), (3, 1)),
        c({}, ("B", "L"), ("B", "L"), ("L",)),
        c({"other": 1.5}, ("B", "L")),
        c({"other": 2}, ("B", "L"), (1, "L")),
    ],
    "mul": [c({}, ("B", "T", 1), ("T", 3)), c({"other": 2}, ("B", "L")), c({}, (2, 3), (2, 3), (1, 3))],
    "sub": [c({}, ("B", "L"), ("L",)), c({"other": 0.5}, ("B", "L"))],
    "div": [c({}, ("B", "L"), ("B", 1), positive=True), c({"other": 4}, ("B", "L"))],
    "pow": [c({"other": 2.5}, ("B", "L"), positive=True), c({}, ("B", "L"), ("L",), positive=True)],
    # comparisons
    **{
        name: [
            c({}, ("B", "L"), ("L",)),
            c({"other": 0.0}, ("B", 3, "L")),
            c({}, (4, 3), (4, 1), dtypes=("int64", "int64")),
        ]
        for name in ("eq", "ne", "lt", "le", "gt", "ge")
    },
    "where": [
        c({}, ("B", "L"), ("L",), ("B", 1), dtypes=("bool", "float32", "float32")),
        c({"other": 0.0}, ("B", "T", "T"), ("B", "T", "T"), dtypes=("bool", "float32")),
        c({"other": -1}, ("T", "T"), ("B", 1, "T"), dtypes=("bool", "float32")),
        c({}, (4, 3), (4, 3), (1, 3), dtypes=("bool", "int64", "float32")),
    ],
    "scaled_dot_product_attention": [
        c({}, ("B", 2, "T", 4), ("B", 2, "L", 4), ("B", 2, "L", 3)),
        c({"scale": 0.5}, ("T", 4), ("L", 4), ("L", 5)),
        c({"is_causal": True}, ("B", "T", 4), ("B", "L", 4), ("B", "L", 4)),
        c({}, ("B", 2, "T", 4), (1, 2, "L", 4), (1, 2, "L", 4)),
        c({}, (1, "T", 4), ("B", "L", 4), (1, "L", 5)),
        c({}, ("T", 4), ("B", 2, "L", 4), ("B", 2, "L", 4)),
        c({}, ("B", 2, "T", 4), ("B", 2, "L", 4), ("B", 2, "L", 3), ("B", 1, "T", "L")),
        c({"dropout_p": 0.5}, ("B", "T", 4), ("B", "L", 4), ("B", "L", 4)),
        c({"dropout_p": 1.0, "scale": -2.0}, ("B", "T", 4), ("B", "L", 4), ("B", "L", 4)),
    ],
    "masked_fill": [
        c({"value": -1e9}, ("B", "T", "T"), ("T", "T"), dtypes=("float32", "bool")),
        c({"value": 0}, ("B", 3, "L"), (1, 3, 1), dtypes=("float32", "bool")),
    ],
    # weights
    "linear": [
        c({"out_features": 4}, ("B", 3)),
        c({"out_features": 5, "in_features": 3, "bias": False}, ("B", "T", 3)),
        c({"out_features": 2}, (3,)),
    ],
    "conv1d": [
        c({"out_channels": 4, "kernel_size": 3}, ("B", 2, "L")),
        c({"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}, ("B", 2, "L")),
        c({"out_channels": 6, "kernel_size": 1, "groups": 2, "in_channels": 4}, ("B", 4, "L")),
        c({"out_channels": 2, "kernel_size": 5, "padding": "same"}, ("B", 2, "L")),
        c({"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, ("B", 2, "L")),
    ],
    "conv2d": [
        c({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}, ("B", 3, "H", "W")),
        c(
            {"out_channels": 2, "kernel_size": [3, 1], "stride": [1, 2], "padding": [1, 0]},
            ("B", 3, "H", "W"),
        ),
        c({"out_channels": 3, "kernel_size": 3, "groups": 3, "bias": False}, ("B", 3, "H", "W")),
        c({"out_channels": 2, "kernel_size": 2, "padding": "valid"}, ("B", 3, "H", "W")),
        c({"out_channels": 2, "kernel_size": 3, "dilation": 2, "padding": "same"}, ("B", 3, "H", "W")),
        c(
            {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "circular"},
            ("B", 1, "H", "W"),
        ),
    ],
    "conv3d": [
        c({"out_channels": 2, "kernel_size": 2}, ("B", 2, "D", "H", "W")),
        c({"out_channels": 2, "kernel_size": [1, 3, 3], "stride": [1, 2, 2], "padding": 1}, (1, 2, 3, 5, 4)),
    ],
    "batch_norm1d": [
        c({}, (4, 3)),
        c({"num_features": 3}, ("B", 3, "L")),
        c({"affine": False}, ("B", 3, "L")),
        c({"track_running_stats": False, "eps": 1e-3}, ("B", 3, "L")),
    ],
    "batch_norm2d": [c({}, ("B", 3, "H", "W")), c({"momentum": 0.5, "affine": False}, ("B", 2, "H", "W"))],
    "batch_norm3d": [c({}, ("B", 2, "D", "H", "W"))],
    "layer_norm": [
        c({}, ("B", "T", 4)),
        c({"normalized_shape": [3, 4]}, ("B", 3, 4)),
        c({"normalized_shape": 4, "elementwise_affine": False}, ("B", "T", 4)),
        c({"bias": False, "eps": 1e-3}, ("B", 5)),
        c({"dim": 1}, ("B", 3, "H", "W")),
        c({"dim": -3, "normalized_shape": 4, "bias": False}, ("B", 4, "T", 2)),
        c({"dim": 0, "elementwise_affine": False}, (5, "B", "L")),
        c({"dim": 2, "normalized_shape": [3, 4]}, ("B", 3, 4)),
    ],
    "group_norm": [
        c({"num_groups": 2}, ("B", 4, "L")),
        c({"num_groups": 3, "affine": False, "num_channels": 6}, ("B", 6, "H", "W")),
        c({"num_groups": 4}, ("B", 4, "L")),
    ],
    "dropout": [c({"p": 0.0}, ("B", "L")), c({"p": 1.0}, ("B", "L")), c({"p": 0.5}, ("B", "L"))],
    "drop_path": [
        c({"p": 0.0}, ("B", "L")),
        c({"p": 0.5}, (8, 3, "L")),
        c({"p": 0.2, "mode": "batch"}, ("B", 3, "H", "W")),
        c({"p": 1.0}, ("B", "L")),
        c({"p": 1.0, "mode": "batch"}, ()),
    ],
    "embedding": [
        c({"num_embeddings": 10, "embedding_dim": 4}, ("B", "T"), dtypes=("int64",), int_range=(0, 10)),
        c(
            {"num_embeddings": 5, "embedding_dim": 3, "padding_idx": 0},
            ("L",),
            dtypes=("int32",),
            int_range=(0, 5),
        ),
        c(
            {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": -1},
            (),
            dtypes=("int64",),
            int_range=(0, 4),
        ),
    ],
    # data movement
    "reshape": [
        c({"shape": ["B", -1]}, ("B", 3, "H", "W")),
        c({"shape": ["B", 3, "H*W"]}, ("B", 3, "H", "W")),
        c({"shape": [-1]}, ("B", "L")),
        c({"shape": [6, 5]}, (5, 6)),
        c({"shape": ["B", "T", 2, 2]}, ("B", "T", 4)),
        c({"shape": []}, (1, 1)),
    ],
    "flatten": [
        c({}, ("B", 3, "L")),
        c({"start_dim": 1}, ("B", 3, "H", "W")),
        c({"start_dim": 1, "end_dim": 2}, ("B", 3, "H", "W")),
        c({}, ()),
    ],
    "unflatten": [
        c({"dim": 1, "sizes": [2, -1]}, ("B", 6)),
        c({"dim": 2, "sizes": ["L", 1]}, ("B", 3, "L")),
        c({"dim": -1, "sizes": [-1, 2, 2]}, ("B", 8)),
    ],
    "permute": [c({"dims": [0, 2, 1]}, ("B", 3, "L")), c({"dims": [-1, 0, 1]}, ("B", "T", 3))],
    "transpose": [c({"dim0": 1, "dim1": -1}, ("B", 3, "L")), c({"dim0": 0, "dim1": 0}, ("B", "L"))],
    "unsqueeze": [c({"dim": 0}, ("B", "L")), c({"dim": -1}, ("B", "L")), c({"dim": 1}, ("B", "L"))],
    "squeeze": [c({"dim": 1}, ("B", 1, "L")), c({"dim": -1}, ("B", "L", 1))],
    "cat": [
        c({"dim": 1}, ("B", 2, "L"), ("B", 3, "L")),
        c({"dim": -1}, ("B", "T"), ("B", 2), ("B", "T")),
        c({"dim": 0}, ("B", "L")),
    ],
    "stack": [c({"dim": 0}, ("B", "L"), ("B", "L")), c({"dim": -1}, ("B", "L"), ("B", "L"), ("B", "L"))],
    "split": [
        c({"dim": 1, "chunks": 2}, ("B", 4, "L")),
        c({"dim": -1, "sizes": [1, "L-1"]}, ("B", "L")),
        c({"dim": 0, "sizes": [1, 2, 3]}, (6, 2)),
    ],
    "slice": [
        c({"dim": 1, "start": 1, "end": 4}, ("B", "L")),
        c({"dim": -1, "step": 2}, ("B", "L")),
        c({"dim": 0, "start": -3}, (5, 2)),
        c({"dim": 1, "end": 100}, (2, 5)),
        c({"dim": 1, "start": 1, "end": -1, "step": 2}, (2, 7)),
    ],
    "index_select": [
        c({"dim": 1}, ("B", 6, "L"), (4,), dtypes=("float32", "int64"), int_range=(0, 6)),
        c({"dim": -1}, ("B", "L"), ("T",), dtypes=("float32", "int32"), int_range=(0, 7)),
        c({"dim": 0}, (5, "L"), (), dtypes=("float32", "int64"), int_range=(0, 5)),
    ],
    "gather": [
        c({"dim": 1}, ("B", 6, "L"), ("B", 4, "L"), dtypes=("float32", "int64"), int_range=(0, 6)),
        c({"dim": -1}, ("B", 5), ("B", 9), dtypes=("float32", "int64"), int_range=(0, 5)),
        c({"dim": 0}, (6, 3), (2, 2), dtypes=("float32", "int32"), int_range=(0, 6)),
    ],
    "roll": [
        c({"shifts": 2, "dims": 1}, ("B", "L")),
        c({"shifts": ["-(H//2)", "W//2"], "dims": [1, 2]}, ("B", "H", "W", 3)),
        c({"shifts": "H//2", "dims": -1}, ("B", 3, "H")),
        c({"shifts": [1, -1], "dims": [0, 0]}, ("B", "L")),
        c({"shifts": -3}, ("B", "L")),
    ],
    "pad": [
        c({"pad": [1, 2]}, ("B", 3, "L")),
        c({"pad": [0, "(7 - W % 7) % 7", 0, "(7 - H % 7) % 7"]}, ("B", 3, "H", "W")),
        c({"pad": [1, 1, 2, 0], "value": -1.5}, ("B", 3, "H", "W")),
        c({"pad": [-1, 2, 0, -2]}, (2, 4, 5)),
        c({"pad": [2, 1], "mode": "reflect"}, ("B", 3, "L")),
        c({"pad": [1, 1, 1, 1], "mode": "replicate"}, ("B", 3, "H", "W")),
        c({"pad": [1, 2, 0, 1], "mode": "circular"}, ("B", 3, "H", "W")),
        c({"pad": [1, 1, 1, 1, 1, 1], "mode": "reflect"}, (2, "D", "H", "W")),
        c({"pad": ["L", 1]}, ("B", 2, "L")),
        c({"pad": [1, 1], "value": 7}, (3, 4), dtypes=("int64",)),
    ],
    "expand": [
        c({"shape": ["B", 3, -1]}, ("B", 1, "L")),
        c({"shape": [2, "B", 3, "L"]}, ("B", 1, "L")),
        c({"shape": [2, 3]}, (3,)),
    ],
    "parameter": [
        c({"shape": [3, 4]}),
        c({"shape": [5], "init": "ones", "trainable": False}),
        c({"shape": [2, 3], "init": {"fn": "constant", "value": 0.5}}),
        c({"shape": [4, 4], "init": {"fn": "normal", "std": 0.02}}),
        c({"shape": []}),
    ],
    # constants (no inputs: computed when the module is built) and casts
    "arange": [
        c({"end": 5}),
        c({"end": 8, "start": 1, "step": 3}),
        c({"end": -3, "start": 4, "step": -3}),
        c({"end": 3, "start": 3}),
        c({"end": 4, "start": -2, "dtype": "int32"}),
        c({"end": 6, "dtype": "float32"}),
        c({"end": 5, "step": 2, "dtype": "float16"}),
        c({"end": 3, "dtype": "bfloat16"}),
        c({"end": 4, "start": -1, "dtype": "float64"}),
    ],
    "full": [
        c({"shape": [2, 3], "value": 1.5}),
        c({"shape": [4], "value": 7}),
        c({"shape": [2, 2], "value": True}),
        c({"shape": [3], "value": -1, "dtype": "float16"}),
        c({"shape": [], "value": 2.5, "dtype": "float64"}),
        c({"shape": [2, 0, 3], "value": 1}),
        c({"shape": [2], "value": -math.inf}),
        c({"shape": [1, 2], "value": 0.5, "dtype": "bool"}),
        c({"shape": [2], "value": False, "dtype": "int32"}),
    ],
    "zeros": [
        c({"shape": [2, 3]}),
        c({"shape": [4], "dtype": "int64"}),
        c({"shape": [3, 1], "dtype": "bool"}),
        c({"shape": [], "dtype": "bfloat16"}),
    ],
    "ones": [
        c({"shape": [2, 3]}),
        c({"shape": [], "dtype": "int32"}),
        c({"shape": [2], "dtype": "bool"}),
        c({"shape": [1, 2, 1], "dtype": "float16"}),
    ],
    "cast": [
        c({"dtype": "int64"}, ("B", "L")),
        c({"dtype": "float16"}, ("B", 3), dtypes=("int64",)),
        c({"dtype": "bool"}, ("B", "L")),
        c({"dtype": "float32"}, (2, 3), dtypes=("bool",)),
        c({"dtype": "int32"}, ("B",), dtypes=("bfloat16",)),
        c({"dtype": "float64"}, (4, 3), const=True),
        c({"dtype": "float16"}, (2, 2), dtypes=("int64",), const=True),
    ],
    "buffer": [
        c({}, (3, 4), dtypes=("int64",), const=True),
        c({"persistent": False}, (2, 3), const=True),
        c({}, (), dtypes=("float16",), const=True),
        c({}, (2, 1, 2), dtypes=("bool",), const=True),
    ],
    # reductions and products
    "mean": [
        c({}, ("B", "L")),
        c({"dim": 1}, ("B", 3, "L")),
        c({"dim": [0, -1], "keepdim": True}, ("B", 3, "L")),
    ],
    "sum": [c({"dim": -1}, ("B", "L")), c({"keepdim": True}, ("B", "L"))],
    "amax": [c({"dim": 1, "keepdim": True}, ("B", "L")), c({"dim": [0, 2]}, ("B", 3, "L"))],
    "amin": [c({"dim": 1}, ("B", "L")), c({}, ("B", "L"))],
    "logsumexp": [c({"dim": -1}, ("B", "L")), c({"dim": [1, 2], "keepdim": True}, ("B", 3, "L"))],
    "std": [
        c({"dim": 1}, ("B", "L")),
        c({"dim": [1, 2], "unbiased": False}, ("B", 3, "L")),
        c({}, ("B", "L")),
    ],
    "var": [c({"dim": -1, "keepdim": True}, ("B", "L")), c({"unbiased": False}, ("B", "L"))],
    "matmul": [
        c({}, ("T", 4), (4, 5)),
        c({}, ("B", "T", 4), (4, 5)),
        c({}, (2, 1, 3, 4), (5, 4, 2)),
        c({}, (4,), ("B", 4, 3)),
        c({}, ("B", "T", 4), (4,)),
        c({}, (4,), (4,)),
    ],
}

for _kind in ("max", "avg"):
    for _n, _sp in ((1, ("L",)), (2, ("H", "W")), (3, ("D", "H", "W"))):
        extra: dict[str, Any] = {"dilation": 2} if _kind == "max" else {"count_include_pad": False}
        _SPEC[f"{_kind}_pool{_n}d"] = [
            c({"kernel_size": 2}, ("B", 2, *_sp)),
            c({"kernel_size": 3, "stride": 2, "padding": 1}, ("B", 2, *_sp)),
            c({"kernel_size": 2, "stride": 2, "ceil_mode": True}, (1, 2, *(7,) * _n)),
            c({"kernel_size": 3, "stride": 1, "padding": 1, **extra}, (2, *_sp)),
        ]
        _SPEC[f"adaptive_{_kind}_pool{_n}d"] = [
            c({"output_size": 1}, ("B", 2, *_sp)),
            c({"output_size": [2, 3, 1][:_n]}, (2, *(6,) * _n)),
        ]

_SPEC["interpolate"] = [
    c({"scale_factor": 2}, ("B", 3, "L")),
    c({"size": [4, 9], "mode": "bilinear"}, ("B", 2, "H", "W")),
    c({"scale_factor": 2.0, "mode": "bilinear", "align_corners": True}, ("B", 2, "H", "W")),
    c({"scale_factor": [0.5, 3], "mode": "nearest-exact"}, ("B", 2, "H", "W")),
    c({"scale_factor": 1.5, "mode": "bicubic", "align_corners": False}, (2, 2, 5, 7)),
    c({"size": 3, "mode": "area"}, ("B", 2, "H", "W")),
    c({"scale_factor": 0.7, "mode": "linear"}, (2, 3, 11)),
    c({"size": [2, 3, 4], "mode": "trilinear"}, ("B", 1, "D", "H", "W")),
    c({"scale_factor": [1, 2, 1], "mode": "nearest"}, ("B", 1, "D", "H", "W")),
]

CASES: dict[str, list[Case]] = {
    op: [Case(op, a, shapes, index=i, **kw) for i, (a, shapes, kw) in enumerate(entries)]
    for op, entries in _SPEC.items()
}
ALL_CASES = [case for cases in CASES.values() for case in cases]

# Known bugs of netdsl, keyed by (test, case id): these cases are strict xfails (none at present).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def params(test: str, cases: Sequence[Case] = ALL_CASES) -> list[Any]:
    out = []
    for case in cases:
        reason = KNOWN_BUGS.get((test, case.id))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


# ---------------------------------------------------------------- helpers


def concrete_shape(shape: Shape, sizes: Mapping[str, int] = DIMS) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else sizes[d] for d in shape)


def in_types(case: Case, sizes: Mapping[str, int] | None = DIMS) -> list[TensorType]:
    """Input types: concrete at ``sizes``, symbolic (names as Sym.var) when ``sizes`` is None."""
    out = []
    for shape, dtype in zip(case.shapes, case.in_dtypes, strict=True):
        if sizes is None:
            out.append(TensorType.of([Sym.var(d) if isinstance(d, str) else d for d in shape], dtype))
        else:
            out.append(TensorType.of(concrete_shape(shape, sizes), dtype))
    return out


def eval_attrs(op: OpDef, raw: dict[str, Any], sizes: Mapping[str, int] | None = DIMS) -> Attrs:
    """Validate attrs and evaluate their dim fields ("H*W") as shape inference does."""
    attrs = op.attrs.model_validate(raw)
    if sizes is None:
        env = {n: Sym.var(n) for n in DIMS}
    else:
        env = {n: Sym.const(v) for n, v in sizes.items()}
    update = {}
    for f in getattr(attrs, "dim_fields", ()):
        value = getattr(attrs, f)
        if value is not None:
            update[f] = [dim_value(v, env, LOC) for v in value]
    return attrs.model_copy(update=update)


def make_graph(
    op_name: str, raw: dict[str, Any], shapes: Sequence[Shape], dtypes: Sequence[str], const: bool = False
) -> Graph:
    """The one-node graph of ``op_name`` on inputs of ``shapes`` and ``dtypes``: inputs of the graph,
    or (``const``) constants computed by nodes `k<i>` (the ramps of :func:`const_values`)."""
    op = REGISTRY[op_name]
    attrs = op.attrs.model_validate(raw)
    root = Scope(path="", block=None, parent=None, loc=LOC)
    pairs = list(zip(shapes, dtypes, strict=True))
    inputs = [] if const else [GraphInput(f"x{i}", list(s), dt, LOC) for i, (s, dt) in enumerate(pairs)]
    nodes = []
    for i, (s, dt) in enumerate(pairs if const else []):
        n = math.prod(concrete_shape(s))
        for id_, op_, raw_, src in (
            (f"k{i}_ramp", "arange", {"start": -(n // 2), "end": n - n // 2}, []),
            # (reshape to [] is KNOWN_BUGS' reshape-5: a 0-d constant squeezes its ramp of 1 element)
            (
                f"k{i}_shaped",
                *(("reshape", {"shape": list(s)}) if s else ("squeeze", {"dim": 0})),
                [Ref(f"k{i}_ramp")],
            ),
            (f"k{i}", "cast", {"dtype": dt}, [Ref(f"k{i}_shaped")]),
        ):
            a = REGISTRY[op_].attrs.model_validate(raw_)
            nodes.append(Node(id=id_, op=op_, attrs=a, inputs=src, loc=LOC, scope=root, num_outputs=1))
    n_out = op.outputs(attrs)
    node = Node(
        id=NODE_ID,
        op=op_name,
        attrs=attrs,
        inputs=[Ref(f"k{i}") for i in range(len(pairs))] if const else [Ref(gi.name) for gi in inputs],
        loc=LOC,
        scope=root,
        num_outputs=n_out,
    )
    outputs = [(f"y{j}", Ref(NODE_ID, j), LOC) for j in range(n_out)]
    graph = Graph("op_test", "network", "<test_ops>", inputs, [*nodes, node], outputs, root)
    graph.lint()
    return graph


def case_graph(case: Case) -> Graph:
    return make_graph(case.op, case.attrs, case.shapes, case.in_dtypes, case.const)


def shapes_at(graph: Graph, sizes: Mapping[str, int] | None = DIMS) -> ShapeResult:
    return infer_shapes(graph, None if sizes is None else concrete_inputs(graph, sizes))


TORCH_DTYPE = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}


def const_values(case: Case, dtypes: Sequence[str], float_dtype: str | None = None) -> list[torch.Tensor]:
    """The constant inputs of a ``const`` case: ramps centred on 0, of each shape, cast to each dtype
    (then floats to ``float_dtype``)."""
    out = []
    for shape, dtype in zip(case.shapes, dtypes, strict=True):
        size = concrete_shape(shape)
        n = math.prod(size)
        t = torch.arange(-(n // 2), n - n // 2).reshape(size).to(TORCH_DTYPE[dtype])
        out.append(t.to(TORCH_DTYPE[float_dtype]) if float_dtype and t.is_floating_point() else t)
    return out


def random_inputs(
    case: Case, sizes: Mapping[str, int] = DIMS, float_dtype: str | None = None
) -> list[torch.Tensor]:
    """The inputs of a case (the values of its constants for a ``const`` case)."""
    if case.const:
        return const_values(case, case.in_dtypes, float_dtype)
    gen = torch.Generator().manual_seed(1234)
    out = []
    for shape, dtype in zip(case.shapes, case.in_dtypes, strict=True):
        size = concrete_shape(shape, sizes)
        dt = TORCH_DTYPE[dtype]
        if dt.is_floating_point:
            dt = TORCH_DTYPE[float_dtype] if float_dtype else dt
            if case.positive:
                t = torch.rand(size, generator=gen, dtype=torch.float64) + 0.5
            else:
                t = torch.randn(size, generator=gen, dtype=torch.float64)
            out.append(t.to(dt))
        elif dt == torch.bool:
            out.append(torch.rand(size, generator=gen) > 0.5)
        else:
            out.append(torch.randint(*case.int_range, size, generator=gen, dtype=dt))
    return out


def run(gm: torch.nn.Module, xs: Sequence[torch.Tensor], n_out: int) -> list[torch.Tensor]:
    with torch.no_grad():
        y = gm(*xs)
    ys = list(y) if isinstance(y, tuple) else [y]
    assert len(ys) == n_out
    return ys


def ints(shape: Sequence[Sym]) -> tuple[int, ...]:
    assert all(d.is_const for d in shape), f"shape {shape} is not concrete"
    return tuple(d.value for d in shape)


# ---------------------------------------------------------------- coverage of the registry


def test_every_op_has_cases() -> None:
    missing = sorted(set(REGISTRY) - set(CASES))
    assert not missing, f"ops without cases in tests/test_ops.py CASES: {missing}"
    unknown = sorted(set(CASES) - set(REGISTRY))
    assert not unknown, f"CASES names ops that are not registered: {unknown}"
    assert all(CASES[name] for name in REGISTRY)


def test_every_op_has_a_reference() -> None:
    missing = sorted(set(REGISTRY) - set(REFERENCE))
    assert not missing, f"ops without a reference computation in tests/test_ops.py: {missing}"


def test_every_op_has_a_mac_rule() -> None:
    missing = sorted(set(REGISTRY) - set(REF_MACS))
    assert not missing, f"ops without a reference MAC rule in tests/test_ops.py: {missing}"


def test_opdefs_are_consistent() -> None:
    for name, op in REGISTRY.items():
        assert op.name == name
        assert op.doc.strip()
        assert 0 <= op.optional_inputs <= len(op.inputs)
        assert not (op.variadic and op.optional_inputs)
        # a node's `init:` fills an `init` attribute exactly when the op says so
        assert op.takes_init_as_attribute == ("init" in op.attrs.model_fields)


# ---------------------------------------------------------------- no op names outside the registry


def _op_name_switches(source: str) -> list[str]:
    """Where code switches on an op's name: an op-ish value (``op``, ``spec.op``, ``node.op``,
    ``op_name``, ``*_op``) compared with (or matched against) a registered op's name, or the registry
    indexed by a literal name. torch.fx's node ops (``n.op == "placeholder"``) are no op names."""

    def opish(e: ast.expr) -> bool:
        name = e.attr if isinstance(e, ast.Attribute) else e.id if isinstance(e, ast.Name) else ""
        return name in ("op", "op_name") or name.endswith("_op")

    def op_names(e: ast.AST) -> list[str]:
        elts = e.elts if isinstance(e, ast.Tuple | ast.List | ast.Set) else [e]
        return [x.value for x in elts if isinstance(x, ast.Constant) and x.value in REGISTRY]

    def is_registry(e: ast.expr) -> bool:
        return (isinstance(e, ast.Name) and e.id == "REGISTRY") or (
            isinstance(e, ast.Attribute) and e.attr == "REGISTRY"
        )

    found = []
    for node in ast.walk(ast.parse(source)):
        hit = False
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            hit = any(opish(e) for e in sides) and any(op_names(e) for e in sides)
        elif isinstance(node, ast.Match) and opish(node.subject):
            hit = any(
                isinstance(p, ast.MatchValue) and op_names(p.value)
                for case in node.cases
                for p in ast.walk(case.pattern)
            )
        elif isinstance(node, ast.Subscript):
            hit = is_registry(node.value) and bool(op_names(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            hit = is_registry(node.func.value) and bool(op_names(node.args[0]))
        if hit:
            found.append(f"{getattr(node, 'lineno', '?')}: {ast.unparse(node)[:120]}")
    return found


def test_the_switch_finder_finds_switches() -> None:
    switches = """
if spec.op != "parameter": pass
if node.op in ("add", "mul"): pass
ok = op_name == "relu"
init = REGISTRY["parameter"].takes_init_as_attribute or REGISTRY.get("dropout")
match n.op:
    case "split" | "cat": pass
"""
    assert len(_op_name_switches(switches)) == 6
    fine = """
if n.op != "placeholder": pass
if p.kind != "parameter": pass
if node.kind in ("binop", "slice"): pass
opdef = REGISTRY[node.op]
"""
    assert _op_name_switches(fine) == []


def test_no_code_outside_the_registry_switches_on_op_names() -> None:
    """What an op means to the passes lives in its OpDef (``installs``, ``takes_init_as_attribute``,
    ``warn_if_unused``, ``family`` ...), defined once in netdsl/ops."""
    root = Path(__file__).resolve().parents[1] / "netdsl"
    found = [
        f"{path.relative_to(root.parent)}:{where}"
        for path in sorted(root.rglob("*.py"))
        if root / "ops" not in path.parents
        for where in _op_name_switches(path.read_text())
    ]
    assert not found, "switches on op names outside netdsl/ops (give the OpDef a field):\n" + "\n".join(found)


def test_an_unused_parameter_node_is_no_warning() -> None:
    """`warn_if_unused=False` (op parameter): declared for its state_dict entry; a relu is warned."""
    import netdsl

    text = (
        "network: t\ninputs: {x: [B, 4]}\ndims: {B: 2}\nnodes:\n"
        "  p: {op: parameter, shape: [4], init: ones}\n  dead: {op: relu, in: x}\n"
        "  out: {op: relu, in: x}\noutputs: {y: out}\n"
    )
    res = netdsl.check(netdsl.load("t.yaml", text=text))
    assert res.ok, [e.render() for e in res.errors]
    assert [w.message for w in res.warnings] == ["node 'dead' is not used by any output"]
    gm = netdsl.build(netdsl.load("t.yaml", text=text), seed=0)
    assert torch.equal(gm.state_dict()["p"], torch.ones(4))  # `init:` is the parameter's own


# ---------------------------------------------------------------- the contract of every case


@pytest.mark.parametrize("case", params("contract"))
def test_contract(case: Case) -> None:
    op = REGISTRY[case.op]
    validated = op.attrs.model_validate(case.attrs)
    assert op.attrs.model_validate(validated.model_dump()) == validated  # round trip
    assert op.arity_ok(len(case.shapes))
    ins = in_types(case)
    attrs = eval_attrs(op, case.attrs)
    outs = op.infer(attrs, ins)

    graph = case_graph(case)
    res = shapes_at(graph)
    assert res.types[NODE_ID] == outs, "the IR pass and op.infer disagree"
    assert len(outs) == op.outputs(validated) >= 1
    for t in outs:
        ints(t.shape)

    gm = lower(graph, res, seed=0)
    ys = run(gm, case.feed(random_inputs(case)), len(outs))
    for y, t in zip(ys, outs, strict=True):
        assert tuple(y.shape) == ints(t.shape), f"runtime {tuple(y.shape)} vs static {t}"
        assert y.dtype == TORCH_DTYPE[t.dtype], f"runtime {y.dtype} vs static {t.dtype}"

    specs = op.param_specs(attrs, ins)
    assert res.params[NODE_ID] == specs
    want = {(f"{NODE_ID}.{k}" if k else NODE_ID): s for k, s in specs.items()}
    sd = gm.state_dict()
    kept = getattr(validated, "persistent", True)  # `persistent: false`: a buffer not in the state_dict
    assert set(sd) == (set(want) if kept else set())
    for key in set(dict(gm.named_buffers())) - set(want):  # constants the forward reads
        assert res.types.get(key) is not None and key not in sd, f"buffer {key} is no constant of the graph"
    named_params = dict(gm.named_parameters())
    named_buffers = dict(gm.named_buffers())
    for key, spec in want.items():
        got = named_params.get(key, named_buffers.get(key))
        assert got is not None and tuple(got.shape) == ints(spec.shape), key
        assert spec.numel == got.numel()
        assert key in (named_params if spec.kind == "parameter" else named_buffers), (
            f"{key} is not a {spec.kind}"
        )

    macs = op.mac_count(attrs, ins, outs)
    assert macs.is_const and macs.value >= 0


@pytest.mark.parametrize("case", params("macs"))
def test_macs(case: Case) -> None:
    op = REGISTRY[case.op]
    ins = in_types(case)
    attrs = eval_attrs(op, case.attrs)
    outs = op.infer(attrs, ins)
    assert op.mac_count(attrs, ins, outs) == REF_MACS[case.op](attrs, ins, outs)


@pytest.mark.parametrize("case", params("symbolic", [c for c in ALL_CASES if c.symbolic]))
def test_symbolic(case: Case) -> None:
    """Symbolic inference substitutes to the concrete one; the symbolic module runs at any size."""
    op = REGISTRY[case.op]
    sym_outs = op.infer(eval_attrs(op, case.attrs, None), in_types(case, None))
    graph = case_graph(case)
    res = shapes_at(graph, None)
    assert res.types[NODE_ID] == sym_outs
    gm = lower(graph, res, seed=0)
    for sizes in (DIMS, ALT) if case.alt else (DIMS,):
        conc = op.infer(eval_attrs(op, case.attrs, sizes), in_types(case, sizes))
        subs = [[d.subs(sizes) for d in t.shape] for t in sym_outs]
        assert subs == [list(t.shape) for t in conc], f"at {sizes}"
        ys = run(gm, case.feed(random_inputs(case, sizes)), len(conc))
        assert [tuple(y.shape) for y in ys] == [ints(t.shape) for t in conc], f"at {sizes}"


# ---------------------------------------------------------------- numerics


def _sd(gm: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in gm.state_dict().items():
        out["" if k == NODE_ID else k.removeprefix(NODE_ID + ".")] = v.clone()
    return out


@pytest.mark.parametrize("case", params("numerics"))
def test_numerics(case: Case) -> None:
    """float64 run against a reference written here, in eval and then in training mode."""
    op = REGISTRY[case.op]
    graph = case_graph(case)
    gm = lower(graph, shapes_at(graph), seed=0).to(torch.float64)
    p = _sd(gm)  # before any training-mode forward updates running stats
    xs = random_inputs(case, float_dtype="float64")
    attrs = eval_attrs(op, case.attrs)
    n_out = op.outputs(op.attrs.model_validate(case.attrs))
    for training in (False, True):
        gm.train(training)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            ys = run(gm, case.feed(xs), n_out)
        want = REFERENCE[case.op](attrs, [x.clone() for x in xs], p, training)
        if not case.feed(xs) and isinstance(want, torch.Tensor) and want.is_floating_point():
            want = want.double()  # a module without inputs returns its own tensor, moved to float64
        if want is None:  # not deterministic: dropout in training mode with 0 < p < 1
            RANDOM_CHECKS[case.op](attrs, xs, ys[0], REFERENCE[case.op](attrs, xs, p, False))
            continue
        wants = list(want) if isinstance(want, tuple | list) else [want]
        assert len(ys) == len(wants)
        for y, w in zip(ys, wants, strict=True):
            assert y.shape == w.shape, f"{tuple(y.shape)} vs reference {tuple(w.shape)} (training={training})"
            if y.dtype.is_floating_point:
                assert w.dtype == y.dtype
            torch.testing.assert_close(
                y, w, atol=1e-12, rtol=0, msg=lambda m, tr=training: f"training={tr}: {m}"
            )


# ---------------------------------------------------------------- reference computations

Ref_ = Callable[[Any, list[torch.Tensor], dict[str, torch.Tensor], bool], Any]
REFERENCE: dict[str, Ref_] = {}


def _dropped(a: Any, xs: list[torch.Tensor], y: torch.Tensor, eval_y: torch.Tensor) -> None:
    """Dropout in training mode: each entry zero or scaled by 1 / (1 - p), both seen."""
    scale = 1 / (1 - a.p)
    assert torch.all((y == 0) | torch.isclose(y, xs[0] * scale, rtol=0, atol=1e-12))
    assert (y == 0).any() and (y != 0).any()


def _weights_dropped(a: Any, xs: list[torch.Tensor], y: torch.Tensor, eval_y: torch.Tensor) -> None:
    """Attention dropout in training mode: weights dropped, so the result differs from eval's."""
    assert y.shape == eval_y.shape and torch.isfinite(y).all()
    assert not torch.allclose(y, eval_y)


#: for the references that return None (random in training mode): how to check the module's output
RANDOM_CHECKS: dict[str, Callable[[Any, list[torch.Tensor], torch.Tensor, torch.Tensor], None]] = {
    "dropout": _dropped,
    "scaled_dot_product_attention": _weights_dropped,
}


def _ref(*names: str) -> Callable[[Ref_], Ref_]:
    def deco(fn: Ref_) -> Ref_:
        for n in names:
            REFERENCE[n] = fn
        return fn

    return deco


def _unary(name: str, f: Callable[[Any, torch.Tensor], torch.Tensor]) -> None:
    REFERENCE[name] = lambda a, xs, p, tr: f(a, xs[0])


_unary("relu", lambda a, x: torch.where(x > 0, x, torch.zeros_like(x)))
_unary(
    "gelu",
    lambda a, x: (
        0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        if a.approximate == "none"
        else 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    ),
)
_unary("sigmoid", lambda a, x: 1 / (1 + torch.exp(-x)))
_unary("tanh", lambda a, x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)))
_unary("silu", lambda a, x: x / (1 + torch.exp(-x)))
_unary("relu6", lambda a, x: torch.minimum(torch.maximum(x, torch.zeros_like(x)), torch.full_like(x, 6)))
_unary("hardsigmoid", lambda a, x: torch.where(x <= -3, 0.0, torch.where(x >= 3, 1.0, x / 6 + 0.5)))
_unary("hardswish", lambda a, x: torch.where(x <= -3, 0.0, torch.where(x >= 3, x, x * (x + 3) / 6)))
_unary("leaky_relu", lambda a, x: torch.where(x > 0, x, a.negative_slope * x))
_unary("exp", lambda a, x: torch.exp(x))
_unary(
    "softplus",
    lambda a, x: torch.where(a.beta * x > a.threshold, x, torch.log1p(torch.exp(a.beta * x)) / a.beta),
)
_unary("mish", lambda a, x: x * torch.tanh(torch.log1p(torch.exp(x))))
_unary(
    "erf",
    lambda a, x: torch.special.erf(x.to(torch.float64)).to(
        x.dtype if x.is_floating_point() else torch.float32
    ),
)
_unary("log", lambda a, x: torch.log(x))
_unary("sqrt", lambda a, x: x**0.5)
_unary("abs", lambda a, x: torch.where(x < 0, -x, x))
_unary("neg", lambda a, x: 0 - x)
_unary("identity", lambda a, x: x)


def _softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    e = torch.exp(x - x.amax(dim, keepdim=True))
    return e / e.sum(dim, keepdim=True)


_unary("softmax", lambda a, x: _softmax(x, a.dim))
_unary("log_softmax", lambda a, x: torch.log(_softmax(x, a.dim)))

for _name, _fn in {
    "add": operator.add,
    "mul": operator.mul,
    "sub": operator.sub,
    "div": operator.truediv,
    "pow": operator.pow,
}.items():

    def _arith(a: Any, xs: list[torch.Tensor], p: Any, tr: bool, f: Callable[..., Any] = _fn) -> Any:
        operands: list[Any] = [*xs] + ([a.other] if a.other is not None else [])
        return reduce(f, operands)

    REFERENCE[_name] = _arith

for _name, _fn in {
    "eq": torch.eq,
    "ne": torch.ne,
    "lt": torch.lt,
    "le": torch.le,
    "gt": torch.gt,
    "ge": torch.ge,
}.items():
    REFERENCE[_name] = lambda a, xs, p, tr, f=_fn: f(xs[0], xs[1] if len(xs) > 1 else a.other)


@_ref("clamp")
def _clamp(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x = xs[0]
    bounds = [b for b in (a.min, a.max) if b is not None]
    if not x.is_floating_point() and any(isinstance(b, float) for b in bounds):
        x = x.to(torch.float32)
    if a.min is not None:
        x = torch.where(x < a.min, torch.full_like(x, a.min), x)
    if a.max is not None:
        x = torch.where(x > a.max, torch.full_like(x, a.max), x)
    return x


@_ref("where")
def _where(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    cond, x = xs[0], xs[1]
    y = xs[2] if len(xs) > 2 else torch.tensor(a.other)
    dtype = torch.result_type(x, y) if len(xs) > 2 else torch.result_type(x, a.other)
    shape = torch.broadcast_shapes(cond.shape, x.shape, y.shape)
    x, y, cond = x.to(dtype).expand(shape), y.to(dtype).expand(shape), cond.expand(shape)
    out = y.clone()
    out[cond] = x[cond]
    return out


@_ref("masked_fill")
def _masked_fill(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x, mask = xs
    return torch.where(mask, torch.full_like(x, a.value), x)


@_ref("scaled_dot_product_attention")
def _attention(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor | None:
    """softmax(q kᵀ · scale + mask) v written out: a bool mask keeps the scores where it is True."""
    q, k, v = xs[:3]
    if tr and a.dropout_p == 1:
        return torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)
    if tr and a.dropout_p > 0:
        return None  # random
    scale = q.shape[-1] ** -0.5 if a.scale is None else a.scale
    scores = (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1) * scale
    mask = xs[3] if len(xs) > 3 else None
    if a.is_causal:
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    if mask is not None and mask.dtype == torch.bool:
        scores = torch.where(mask, scores, torch.full_like(scores, -math.inf))
    elif mask is not None:
        scores = scores + mask
    weights = _softmax(scores, -1)
    return (weights.unsqueeze(-1) * v.unsqueeze(-3)).sum(-2)


@_ref("linear")
def _linear(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
    x = xs[0]
    y = (x.unsqueeze(-2) * p["weight"]).sum(-1)
    return y + p["bias"] if a.bias else y


def _geom(v: int | list[int], n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def _conv(n: int) -> Ref_:
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]

    def ref(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
        x = xs[0]
        k, s, d = _geom(a.kernel_size, n), _geom(a.stride, n), _geom(a.dilation, n)
        pad: Any = a.padding if isinstance(a.padding, str) else _geom(a.padding, n)
        if a.padding_mode != "zeros":
            flat = [q for pi in reversed(pad) for q in (pi, pi)]
            x, pad = F.pad(x, flat, mode=a.padding_mode), 0
        assert p["weight"].shape[2:] == k
        return conv(x, p["weight"], p.get("bias"), stride=s, padding=pad, dilation=d, groups=a.groups)

    return ref


for _n in (1, 2, 3):
    REFERENCE[f"conv{_n}d"] = _conv(_n)


def _bn(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
    x = xs[0]
    view = (1, -1) + (1,) * (x.dim() - 2)
    if tr or not a.track_running_stats:
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dims, keepdim=True)
    else:
        mean, var = p["running_mean"].view(view), p["running_var"].view(view)
    y = (x - mean) / torch.sqrt(var + a.eps)
    if a.affine:
        y = y * p["weight"].view(view) + p["bias"].view(view)
    return y


for _n in (1, 2, 3):
    REFERENCE[f"batch_norm{_n}d"] = _bn


@_ref("layer_norm")
def _ln(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
    x = xs[0]
    ns = a.normalized_shape
    d = a.dim % x.dim()
    k = 1 if ns is None or isinstance(ns, int) or d != x.dim() - 1 else len(ns)
    dims = list(range(-k, 0)) if d == x.dim() - 1 else [d]
    view = [-1 if i == d else 1 for i in range(x.dim())] if d != x.dim() - 1 else None
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    y = (x - mean) / torch.sqrt(var + a.eps)
    if a.elementwise_affine:
        y = y * (p["weight"] if view is None else p["weight"].view(view))
        if a.bias:
            y = y + (p["bias"] if view is None else p["bias"].view(view))
    return y


@_ref("group_norm")
def _gn(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
    x = xs[0]
    g = x.reshape(x.shape[0], a.num_groups, -1)
    mean = g.mean(-1, keepdim=True)
    var = ((g - mean) ** 2).mean(-1, keepdim=True)
    y = ((g - mean) / torch.sqrt(var + a.eps)).reshape(x.shape)
    if a.affine:
        view = (1, -1) + (1,) * (x.dim() - 2)
        y = y * p["weight"].view(view) + p["bias"].view(view)
    return y


@_ref("dropout")
def _dropout(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor | None:
    x = xs[0]
    if not tr or a.p == 0:
        return x
    return torch.zeros_like(x) if a.p == 1 else None


@_ref("drop_path")
def _drop_path(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    """torchvision.ops.stochastic_depth, with the draws test_numerics makes (seed 0)."""
    x = xs[0]
    if not tr or a.p == 0:
        return x
    size = [x.shape[0]] + [1] * (x.dim() - 1) if a.mode == "row" else [1] * x.dim()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        keep = torch.empty(size, dtype=x.dtype).bernoulli_(1 - a.p)
    return x * (keep / (1 - a.p) if a.p < 1 else keep)


@_ref("embedding")
def _embedding(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
    w = p["weight"]
    if a.padding_idx is not None:
        assert torch.all(w[a.padding_idx] == 0)
    return w[xs[0].long()]


def _i(dims: Sequence[Any]) -> list[int]:
    return [int(d) for d in dims]


REFERENCE["reshape"] = lambda a, xs, p, tr: xs[0].reshape(_i(a.shape))
REFERENCE["permute"] = lambda a, xs, p, tr: xs[0].permute(a.dims)
REFERENCE["transpose"] = lambda a, xs, p, tr: xs[0].transpose(a.dim0, a.dim1)
REFERENCE["unsqueeze"] = lambda a, xs, p, tr: xs[0].unsqueeze(a.dim)
REFERENCE["squeeze"] = lambda a, xs, p, tr: xs[0].squeeze(a.dim)
REFERENCE["cat"] = lambda a, xs, p, tr: torch.cat(xs, a.dim)
REFERENCE["stack"] = lambda a, xs, p, tr: torch.stack(xs, a.dim)
REFERENCE["expand"] = lambda a, xs, p, tr: xs[0].expand(_i(a.shape))


@_ref("gather")
def _gather(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x, index = xs
    d = a.dim % max(x.dim(), 1)
    out = torch.empty(index.shape, dtype=x.dtype)
    for pos in itertools.product(*map(range, index.shape)):
        src = list(pos)
        if src:
            src[d] = int(index[pos])
        out[pos] = x[tuple(src)]
    return out


@_ref("index_select")
def _index_select(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x, index = xs
    d = a.dim % x.dim()
    return x[(slice(None),) * d + (index.long().reshape(-1),)]


@_ref("roll")
def _roll(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x = xs[0]
    if a.dims is None:
        return _roll(type("A", (), {"shifts": a.shifts, "dims": [0]})(), [x.reshape(-1)], p, tr).reshape(
            x.shape
        )
    for shift, d in zip(_i(a.shifts), a.dims, strict=True):
        n = x.shape[d]
        idx = torch.tensor([(i - shift) % n for i in range(n)], dtype=torch.long)
        x = x.index_select(d, idx)
    return x


@_ref("pad")
def _pad(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    """Index arithmetic per padded dim: which input entry each output entry copies (or the fill)."""
    x = xs[0]
    amounts = _i(a.pad)
    for i in range(len(amounts) // 2):
        d = x.dim() - 1 - i
        lo, hi, n = amounts[2 * i], amounts[2 * i + 1], x.shape[d]
        src = [j - lo for j in range(lo + n + hi)]  # the input position of each output position
        if a.mode == "reflect":
            src = [-j if j < 0 else 2 * (n - 1) - j if j >= n else j for j in src]
        elif a.mode == "replicate":
            src = [min(max(j, 0), n - 1) for j in src]
        elif a.mode == "circular":
            src = [j % n for j in src]
        inside = torch.tensor([0 <= j < n for j in src])
        idx = torch.tensor([j if 0 <= j < n else 0 for j in src], dtype=torch.long)
        y = x.index_select(d, idx)
        view = [-1 if k == d else 1 for k in range(x.dim())]
        fill = torch.full_like(y, 0 if a.value is None else a.value)
        x = torch.where(inside.view(view), y, fill)
    return x


@_ref("interpolate")
def _interpolate(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    """Nearest modes by index arithmetic; the others are torch's own (the sizes are checked here)."""
    x = xs[0]
    n = x.dim() - 2
    if a.size is not None:
        out = list(_geom(a.size, n))
    else:
        scales = a.scale_factor if isinstance(a.scale_factor, list) else [a.scale_factor] * n
        out = [math.floor(float(x.shape[2 + i]) * s) for i, s in enumerate(scales)]
    if a.mode not in ("nearest", "nearest-exact"):
        scale = a.scale_factor if a.size is None else None
        kw = {"align_corners": a.align_corners} if a.align_corners is not None else {}
        y = F.interpolate(x, scale_factor=scale, size=a.size, mode=a.mode, **kw)
        assert list(y.shape[2:]) == out
        return y
    for i in range(n):
        size, o = x.shape[2 + i], out[i]
        if a.size is None:
            ratio = 1 / (a.scale_factor[i] if isinstance(a.scale_factor, list) else a.scale_factor)
        else:
            ratio = size / o
        offset = 0.5 if a.mode == "nearest-exact" else 0.0
        idx = [min(math.floor((j + offset) * ratio), size - 1) for j in range(o)]
        x = x.index_select(2 + i, torch.tensor(idx, dtype=torch.long))
    return x


@_ref("flatten")
def _flatten(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x = xs[0]
    if x.dim() == 0:
        return x.reshape(1)
    s, e = a.start_dim % x.dim(), a.end_dim % x.dim()
    return x.reshape(*x.shape[:s], -1, *x.shape[e + 1 :])


@_ref("unflatten")
def _unflatten(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x = xs[0]
    d = a.dim % x.dim()
    return x.reshape(*x.shape[:d], *_i(a.sizes), *x.shape[d + 1 :])


@_ref("split")
def _split(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> list[torch.Tensor]:
    x = xs[0]
    n = x.shape[a.dim]
    sizes = [n // a.chunks] * a.chunks if a.chunks is not None else _i(a.sizes)
    out, start = [], 0
    for s in sizes:
        out.append(x.narrow(a.dim, start, s))
        start += s
    assert start == n
    return out


@_ref("slice")
def _slice(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x = xs[0]
    idx = list(range(*slice(a.start, a.end, a.step).indices(x.shape[a.dim])))
    return x.index_select(a.dim, torch.tensor(idx, dtype=torch.long))


@_ref("parameter")
def _parameter(a: Any, xs: list[torch.Tensor], p: dict[str, torch.Tensor], tr: bool) -> torch.Tensor:
    init = a.init if isinstance(a.init, dict) else {"fn": a.init}
    fill = {"zeros": 0.0, "ones": 1.0, "constant": init.get("value")}.get(init["fn"])
    if fill is None:  # random init: the module's own tensor, checked for its spread
        t = p[""]
        assert t.std() > 0
        return t
    return torch.full(a.shape, float(fill), dtype=torch.float64)


@_ref("arange")
def _arange(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    (end,) = _i(a.end)
    return torch.tensor(list(range(a.start, end, a.step)), dtype=TORCH_DTYPE[a.dtype])


def _filled(fill: float | None) -> Ref_:
    def ref(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
        value = a.value if fill is None else fill
        dtype = TORCH_DTYPE[a.dtype] if a.dtype else torch.tensor(value).dtype  # a Python scalar's
        shape = _i(a.shape)
        return torch.tensor([value] * math.prod(shape), dtype=dtype).reshape(shape)

    return ref


REFERENCE["full"] = _filled(None)
REFERENCE["zeros"] = _filled(0.0)
REFERENCE["ones"] = _filled(1.0)


@_ref("cast")
def _cast(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x, dtype = xs[0], TORCH_DTYPE[a.dtype]
    if dtype == torch.bool:
        return x != 0
    if x.is_floating_point() and not dtype.is_floating_point:
        x = x.trunc()  # towards 0
    return torch.tensor(x.tolist(), dtype=dtype).reshape(x.shape)


REFERENCE["buffer"] = lambda a, xs, p, tr: xs[0]


def _reduce(fn: Callable[[torch.Tensor, tuple[int, ...]], torch.Tensor]) -> Ref_:
    def ref(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
        x = xs[0]
        given = range(x.dim()) if a.dim is None else [a.dim] if isinstance(a.dim, int) else a.dim
        dims = tuple(d % x.dim() for d in given)
        y = fn(x, dims)  # keepdim=True
        return y if a.keepdim else y.squeeze(dims) if dims else y

    return ref


def _std_var(a: Any, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    n = math.prod(x.shape[d] for d in dims)
    mean = x.mean(dims, keepdim=True)
    return ((x - mean) ** 2).sum(dims, keepdim=True) / (n - (1 if a.unbiased else 0))


REFERENCE["mean"] = _reduce(lambda x, d: x.sum(d, keepdim=True) / math.prod(x.shape[i] for i in d))
REFERENCE["sum"] = _reduce(lambda x, d: x.sum(d, keepdim=True))
REFERENCE["amax"] = _reduce(lambda x, d: x.amax(d, keepdim=True))
REFERENCE["amin"] = _reduce(lambda x, d: -((-x).amax(d, keepdim=True)))
REFERENCE["logsumexp"] = _reduce(
    lambda x, d: (
        x.amax(d, keepdim=True) + torch.log(torch.exp(x - x.amax(d, keepdim=True)).sum(d, keepdim=True))
    )
)
REFERENCE["var"] = lambda a, xs, p, tr: _reduce(lambda x, d: _std_var(a, x, d))(a, xs, p, tr)
REFERENCE["std"] = lambda a, xs, p, tr: torch.sqrt(REFERENCE["var"](a, xs, p, tr))


@_ref("matmul")
def _matmul(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
    x, y = xs
    xv = x.unsqueeze(0) if x.dim() == 1 else x
    yv = y.unsqueeze(-1) if y.dim() == 1 else y
    out = (xv.unsqueeze(-1) * yv.unsqueeze(-3)).sum(-2)
    if x.dim() == 1:
        out = out.squeeze(-2)
    if y.dim() == 1:
        out = out.squeeze(-1)
    return out


def _pool(kind: str, n: int) -> Ref_:
    fn = getattr(F, f"{kind}_pool{n}d")

    def ref(a: Any, xs: list[torch.Tensor], p: Any, tr: bool) -> torch.Tensor:
        k = _geom(a.kernel_size, n)
        s = k if a.stride is None else _geom(a.stride, n)
        kw: dict[str, Any] = {"stride": s, "padding": _geom(a.padding, n), "ceil_mode": a.ceil_mode}
        if kind == "max":
            kw["dilation"] = _geom(a.dilation, n)
        else:
            kw["count_include_pad"] = a.count_include_pad
        return fn(xs[0], k, **kw)

    return ref


def _adaptive(kind: str, n: int) -> Ref_:
    fn = getattr(F, f"adaptive_{kind}_pool{n}d")
    return lambda a, xs, p, tr: fn(xs[0], _geom(a.output_size, n))


for _n in (1, 2, 3):
    for _kind in ("max", "avg"):
        REFERENCE[f"{_kind}_pool{_n}d"] = _pool(_kind, _n)
        REFERENCE[f"adaptive_{_kind}_pool{_n}d"] = _adaptive(_kind, _n)


# ---------------------------------------------------------------- reference MAC counts

MacRule = Callable[[Any, list[TensorType], list[TensorType]], int]


def _numel(t: TensorType) -> int:
    return math.prod(ints(t.shape))


def _conv_macs(a: Any, ins: list[TensorType], outs: list[TensorType]) -> int:
    n = ins[0].rank - 2
    return _numel(outs[0]) * ins[0].shape[1].value // a.groups * math.prod(_geom(a.kernel_size, n))


def _interpolate_macs(a: Any, ins: list[TensorType], outs: list[TensorType]) -> int:
    """Weighted sums of 2 (linear) or 4 (cubic) inputs per spatial dim; area averages every input."""
    n = ins[0].rank - 2
    if a.mode == "area":
        return _numel(ins[0])
    taps = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}.get(a.mode, 0)
    return _numel(outs[0]) * taps**n


FREE_OPS = (
    *("relu", "gelu", "sigmoid", "tanh", "silu", "leaky_relu", "exp", "log", "sqrt", "abs", "neg"),
    *("relu6", "hardsigmoid", "hardswish", "softplus", "mish", "erf", "clamp", "where"),
    *("drop_path", "embedding", "index_select", "gather", "roll", "pad"),
    *("eq", "ne", "lt", "le", "gt", "ge", "masked_fill", "dropout", "identity", "parameter"),
    *("reshape", "flatten", "unflatten", "permute", "transpose", "unsqueeze", "squeeze"),
    *("cat", "stack", "split", "slice", "expand"),
    *("arange", "full", "zeros", "ones", "cast", "buffer"),  # computed once, when the module is built
)
REDUCE_OPS = ("mean", "sum", "amax", "amin", "logsumexp", "std", "var")
POOL_OPS = tuple(
    f"{pre}{kind}_pool{n}d" for pre in ("", "adaptive_") for kind in ("max", "avg") for n in (1, 2, 3)
)

REF_MACS: dict[str, MacRule] = {name: (lambda a, ins, outs: 0) for name in FREE_OPS}
REF_MACS.update(
    {
        "linear": lambda a, ins, outs: _numel(outs[0]) * ins[0].shape[-1].value,
        "matmul": lambda a, ins, outs: _numel(outs[0]) * ins[0].shape[-1].value,
        "softmax": lambda a, ins, outs: _numel(outs[0]),
        # q kᵀ (leading dims x L x S x E), the softmax (x L x S), the weights times v (x L x S x Ev)
        "scaled_dot_product_attention": lambda a, ins, outs: (
            _numel(ins[0]) // ins[0].shape[-1].value * ins[1].shape[-2].value * (1 + ins[0].shape[-1].value)
            + _numel(outs[0]) * ins[1].shape[-2].value
        ),
        "log_softmax": lambda a, ins, outs: _numel(outs[0]),
        **{f"conv{n}d": _conv_macs for n in (1, 2, 3)},
        **{
            name: (lambda a, ins, outs: 2 * _numel(outs[0]))
            for name in ("batch_norm1d", "batch_norm2d", "batch_norm3d", "layer_norm", "group_norm")
        },
        # one multiply/add per output element and binary operation (inputs - 1, plus `other`)
        **{
            name: (lambda a, ins, outs: _numel(outs[0]) * (len(ins) - 1 + (a.other is not None)))
            for name in ("add", "mul", "sub", "div", "pow")
        },
        "interpolate": _interpolate_macs,
        # reductions and pooling read every input element once
        **{name: (lambda a, ins, outs: _numel(ins[0])) for name in REDUCE_OPS + POOL_OPS},
    }
)


# ---------------------------------------------------------------- shape rules against torch (hypothesis)


def _sym_check(
    op: OpDef, attrs: Attrs, names: Sequence[str], lead: Sequence[int], sizes: Sequence[int]
) -> None:
    """Symbolic inference over ``names`` substitutes to the concrete inference at ``sizes``."""
    conc = op.infer(attrs, [TensorType.of((*lead, *sizes))])[0]
    sym = op.infer(attrs, [TensorType.of((*lead, *map(Sym.var, names)))])[0]
    env = dict(zip(names, sizes, strict=True))
    assert [d.subs(env) for d in sym.shape] == list(conc.shape)


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(1, 2),
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=2),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
    groups=st.sampled_from([1, 2]),
    same=st.booleans(),
)
def test_conv_shape_rule_matches_torch(
    n: int, sizes: list[int], k: int, s: int, p: int, d: int, groups: int, same: bool
) -> None:
    sizes = sizes[:n]
    op = REGISTRY[f"conv{n}d"]
    pad: int | str = p
    if same:  # an odd extent d*(k-1) pads asymmetrically, as torch does
        pad, s = "same", 1
    attrs = op.attrs.model_validate(
        {"out_channels": 2, "kernel_size": k, "stride": s, "padding": pad, "dilation": d, "groups": groups}
    )
    x = torch.zeros(1, 2, *sizes)
    w = torch.zeros(2, 2 // groups, *(k,) * n)
    conv = (F.conv1d, F.conv2d)[n - 1]
    try:
        static = op.infer(attrs, [TensorType.of(x.shape)])[0]
    except ShapeError as e:
        assert f"kernel {k}" in e.message
        assert "too small" in e.message and str(tuple(x.shape)) in e.message
        with pytest.raises(RuntimeError):
            conv(x, w, stride=s, padding=pad, dilation=d, groups=groups)
        return
    assert ints(static.shape) == tuple(conv(x, w, stride=s, padding=pad, dilation=d, groups=groups).shape)
    _sym_check(op, attrs, ["H", "W"][:n], (1, 2), sizes)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["max", "avg"]),
    n=st.integers(1, 2),
    sizes=st.lists(st.integers(1, 10), min_size=2, max_size=2),
    k=st.integers(1, 4),
    s=st.one_of(st.none(), st.integers(1, 3)),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    ceil_mode=st.booleans(),
    batched=st.booleans(),
)
def test_pool_shape_rule_matches_torch(
    kind: str, n: int, sizes: list[int], k: int, s: int | None, p: int, d: int, ceil_mode: bool, batched: bool
) -> None:
    sizes = sizes[:n]
    if kind == "avg":
        d = 1
    stride = k if s is None else s
    op = REGISTRY[f"{kind}_pool{n}d"]
    raw: dict[str, Any] = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil_mode}
    if kind == "max":
        raw["dilation"] = d
    attrs = op.attrs.model_validate(raw)
    lead = (1, 2) if batched else (2,)
    x = torch.zeros(*lead, *sizes)
    fn = getattr(F, f"{kind}_pool{n}d")
    kw = {
        "stride": stride,
        "padding": p,
        "ceil_mode": ceil_mode,
        **({"dilation": d} if kind == "max" else {}),
    }
    try:
        static = op.infer(attrs, [TensorType.of(x.shape)])[0]
    except ShapeError:
        with pytest.raises(RuntimeError):
            fn(x, k, **kw)
        return
    assert ints(static.shape) == tuple(fn(x, k, **kw).shape)
    if ceil_mode and not (p == 0 and stride <= d * (k - 1) + 1):
        # whether torch drops the last window depends on the size: symbolic sizes are refused
        with pytest.raises(ShapeError, match="needs a concrete size"):
            op.infer(attrs, [TensorType.of((*lead, *[Sym.var(v) for v in ["H", "W"][:n]]))])
        return
    _sym_check(op, attrs, ["H", "W"][:n], lead, sizes)


_small_shape = st.lists(st.integers(1, 3), min_size=0, max_size=3)


@settings(max_examples=100, deadline=None)
@given(a=_small_shape, b=_small_shape)
def test_broadcast_rule_matches_torch(a: list[int], b: list[int]) -> None:
    op = REGISTRY["add"]
    attrs = op.attrs.model_validate({})
    try:
        want: tuple[int, ...] | None = tuple(torch.broadcast_shapes(tuple(a), tuple(b)))
    except RuntimeError:
        want = None
    if want is None:
        with pytest.raises(ShapeError, match="do not broadcast"):
            op.infer(attrs, [TensorType.of(a), TensorType.of(b)])
    else:
        assert ints(op.infer(attrs, [TensorType.of(a), TensorType.of(b)])[0].shape) == want


@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    b=st.lists(st.integers(1, 3), min_size=1, max_size=4),
)
def test_matmul_rule_matches_torch(a: list[int], b: list[int]) -> None:
    op = REGISTRY["matmul"]
    attrs = op.attrs.model_validate({})
    try:
        want: tuple[int, ...] | None = tuple(torch.matmul(torch.zeros(a), torch.zeros(b)).shape)
    except RuntimeError:
        want = None
    if want is None:
        with pytest.raises(ShapeError):
            op.infer(attrs, [TensorType.of(a), TensorType.of(b)])
    else:
        assert ints(op.infer(attrs, [TensorType.of(a), TensorType.of(b)])[0].shape) == want


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 8),
    start=st.integers(-10, 10),
    end=st.one_of(st.none(), st.integers(-10, 10)),
    step=st.integers(1, 3),
)
def test_slice_rule_matches_python(size: int, start: int, end: int | None, step: int) -> None:
    op = REGISTRY["slice"]
    attrs = op.attrs.model_validate({"dim": 0, "start": start, "end": end, "step": step})
    want = len(range(*slice(start, end, step).indices(size)))
    if want == 0:
        with pytest.raises(ShapeError, match="is empty"):
            op.infer(attrs, [TensorType.of((size,))])
    else:
        assert op.infer(attrs, [TensorType.of((size,))])[0].shape == (want,)


# ---------------------------------------------------------------- failures


def T(*dims: int | str, dtype: str = "float32") -> TensorType:
    return TensorType.of([Sym.var(d) if isinstance(d, str) else d for d in dims], dtype)


# (id, op, attrs, inputs, substrings the message must contain)
FAILURES: list[tuple[str, str, dict[str, Any], list[TensorType], list[str]]] = [
    (
        "conv-channels",
        "conv2d",
        {"out_channels": 4, "kernel_size": 3, "in_channels": 4},
        [T(2, 3, 8, 8)],
        ["(2, 3, 8, 8)", "in_channels = 4"],
    ),
    (
        "conv-symbolic-channels",
        "conv2d",
        {"out_channels": 4, "kernel_size": 3},
        [T("B", "C", 8, 8)],
        ["(B, C, 8, 8)", "in_channels"],
    ),
    (
        "conv-groups-in",
        "conv2d",
        {"out_channels": 4, "kernel_size": 3, "groups": 2},
        [T(2, 3, 8, 8)],
        ["in_channels 3", "groups 2"],
    ),
    (
        "conv-groups-out",
        "conv1d",
        {"out_channels": 4, "kernel_size": 3, "groups": 3},
        [T(2, 6, 8)],
        ["out_channels 4", "groups 3"],
    ),
    ("conv-rank", "conv2d", {"out_channels": 4, "kernel_size": 3}, [T(2, 3, 8)], ["(2, 3, 8)", "rank 4"]),
    (
        "conv-kernel-too-large",
        "conv2d",
        {"out_channels": 4, "kernel_size": 5},
        [T(1, 3, 3, 8)],
        ["(1, 3, 3, 8)", "kernel 5"],
    ),
    (
        "conv-kernel-list",
        "conv1d",
        {"out_channels": 4, "kernel_size": [3, 3]},
        [T(1, 3, 8)],
        ["kernel_size", "[3, 3]"],
    ),
    (
        "conv-same-stride",
        "conv1d",
        {"out_channels": 4, "kernel_size": 3, "padding": "same", "stride": 2},
        [T(1, 3, 8)],
        ["same", "stride 1"],
    ),
    (
        "conv-stride-0",
        "conv2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 0},
        [T(1, 3, 8, 8)],
        ["stride", "[0, 0]"],
    ),
    (
        "linear-in-features",
        "linear",
        {"out_features": 2, "in_features": 4},
        [T(2, 3)],
        ["(2, 3)", "in_features = 4"],
    ),
    ("linear-symbolic-in", "linear", {"out_features": 2}, [T("B", "H")], ["(B, H)", "symbolic dim H"]),
    ("linear-out-0", "linear", {"out_features": 0}, [T(2, 3)], ["out_features", "0"]),
    ("batch-norm-rank", "batch_norm2d", {}, [T(2, 3, 4)], ["(2, 3, 4)", "rank 4"]),
    (
        "batch-norm-features",
        "batch_norm2d",
        {"num_features": 4},
        [T(2, 3, 4, 4)],
        ["(2, 3, 4, 4)", "num_features = 4"],
    ),
    ("layer-norm-shape", "layer_norm", {"normalized_shape": [4, 3]}, [T(2, 3, 4)], ["[4, 3]", "(2, 3, 4)"]),
    (
        "layer-norm-too-long",
        "layer_norm",
        {"normalized_shape": [1, 2, 3, 4]},
        [T(2, 3, 4)],
        ["[1, 2, 3, 4]", "(2, 3, 4)"],
    ),
    ("group-norm-groups", "group_norm", {"num_groups": 4}, [T(2, 6, 5)], ["6", "num_groups 4"]),
    ("dropout-int", "dropout", {"p": 0.5}, [T(2, 3, dtype="int64")], ["p = 0.5", "int64", "float32"]),
    ("linear-float16", "linear", {"out_features": 2}, [T(2, 3, dtype="float16")], ["float16", "float32"]),
    (
        "linear-float64",
        "linear",
        {"out_features": 2},
        [T(2, 3, dtype="float64")],
        ["accepted dtypes: float32"],
    ),
    (
        "conv-bfloat16",
        "conv1d",
        {"out_channels": 2, "kernel_size": 1},
        [T(1, 2, 3, dtype="bfloat16")],
        ["bfloat16", "accepted dtypes: float32"],
    ),
    (
        "layer-norm-float64",
        "layer_norm",
        {},
        [T(2, 3, dtype="float64")],
        ["float64", "float32, float16, bfloat16"],
    ),
    ("batch-norm-int", "batch_norm1d", {}, [T(2, 3, dtype="int64")], ["int64", "float32, float64"]),
    ("relu-bool", "relu", {}, [T(2, dtype="bool")], ["bool", "int64, int32"]),
    ("sub-bool", "sub", {}, [T(2), T(2, dtype="bool")], ["bool", "'x2'"]),
    ("sub-bool-other", "sub", {"other": 1}, [T(2, dtype="bool")], ["bool"]),
    ("neg-bool", "neg", {}, [T(2, dtype="bool")], ["bool"]),
    ("pow-bools", "pow", {}, [T(2, dtype="bool"), T(2, dtype="bool")], ["two bool"]),
    ("pow-int-negative", "pow", {"other": -1}, [T(2, dtype="int64")], ["negative integer power -1"]),
    ("pow-bool-negative", "pow", {"other": -2}, [T(2, dtype="bool")], ["negative integer power -2"]),
    ("pow-half-overflow", "pow", {"other": 70000}, [T(2, dtype="float16")], ["70000", "float16"]),
    ("pow-int32-overflow", "pow", {"other": 2**31}, [T(2, dtype="int32")], ["2147483648", "int32"]),
    ("max-pool1d-int", "max_pool1d", {"kernel_size": 2}, [T(1, 4, dtype="int64")], ["int64"]),
    ("softplus-int", "softplus", {}, [T(2, dtype="int64")], ["softplus", "int64", "float32"]),
    ("mish-bool", "mish", {}, [T(2, dtype="bool")], ["bool"]),
    ("clamp-int32-overflow", "clamp", {"min": 2**31}, [T(2, dtype="int32")], ["2147483648", "int32"]),
    ("clamp-half-overflow", "clamp", {"max": 1e10}, [T(2, dtype="float16")], ["10000000000.0", "float16"]),
    ("where-cond-float", "where", {"other": 0}, [T(2), T(2)], ["condition must be a bool tensor"]),
    ("where-both-y", "where", {"other": 0}, [T(2, dtype="bool"), T(2), T(2)], ["exactly one"]),
    ("where-no-y", "where", {}, [T(2, dtype="bool"), T(2)], ["exactly one"]),
    ("where-broadcast", "where", {}, [T(2, dtype="bool"), T(3), T(2)], ["do not broadcast"]),
    ("where-int32-overflow", "where", {"other": 2**31}, [T(2, dtype="bool"), T(2, dtype="int32")], ["int32"]),
    ("drop-path-int", "drop_path", {"p": 0.5}, [T(2, 3, dtype="int64")], ["p = 0.5", "int64", "float32"]),
    ("drop-path-row-0d", "drop_path", {"p": 0.5}, [T()], ["rank >= 1"]),
    ("embedding-float", "embedding", {"num_embeddings": 4, "embedding_dim": 2}, [T(3)], ["int64, int32"]),
    ("index-select-matrix", "index_select", {"dim": 0}, [T(3, 4), T(2, 2, dtype="int64")], ["vector"]),
    ("index-select-float-index", "index_select", {"dim": 0}, [T(3, 4), T(2)], ["'index'", "int64, int32"]),
    ("index-select-dim", "index_select", {"dim": 2}, [T(3, 4), T(2, dtype="int64")], ["dim 2", "rank 2"]),
    ("gather-rank", "gather", {"dim": 1}, [T(3, 4), T(2, dtype="int64")], ["rank", "(2,)", "(3, 4)"]),
    ("gather-larger", "gather", {"dim": 1}, [T(3, 4), T(4, 2, dtype="int64")], ["larger", "dim 0"]),
    (
        "gather-larger-symbolic",
        "gather",
        {"dim": 0},
        [T("B", "L"), TensorType.of([2, Sym.var("L") + 1], "int64")],
        ["larger", "dim 1"],
    ),
    ("roll-dim", "roll", {"shifts": [1, 1], "dims": [0, 2]}, [T(3, 4)], ["dim 2", "rank 2"]),
    ("pad-too-many-pairs", "pad", {"pad": [1, 1, 1, 1]}, [T(4)], ["2 pairs", "(4,)"]),
    ("pad-crop-too-much", "pad", {"pad": [-3, -3]}, [T(2, 5)], ["negative size"]),
    ("pad-crop-beyond", "pad", {"pad": [-6, 2]}, [T(2, 5)], ["crops more"]),
    (
        "pad-reflect-too-far",
        "pad",
        {"pad": [3, 0], "mode": "reflect"},
        [T(1, 1, 3)],
        ["reflect", "less than"],
    ),
    (
        "pad-circular-too-far",
        "pad",
        {"pad": [4, 0], "mode": "circular"},
        [T(1, 1, 3)],
        ["circular", "at most"],
    ),
    ("pad-reflect-rank", "pad", {"pad": [1, 1], "mode": "reflect"}, [T(3)], ["1 or 2 more dims", "(3,)"]),
    ("pad-reflect-4d", "pad", {"pad": [1, 1, 1, 1], "mode": "reflect"}, [T(3, 3)], ["rank 2"]),
    (
        "pad-reflect-negative",
        "pad",
        {"pad": [-1, 1], "mode": "reflect"},
        [T(1, 1, 5)],
        ["only mode 'constant'"],
    ),
    ("pad-replicate-bool", "pad", {"pad": [1, 1], "mode": "replicate"}, [T(1, 3, dtype="bool")], ["bool"]),
    ("pad-value-overflow", "pad", {"pad": [1, 1], "value": 2**31}, [T(3, dtype="int32")], ["int32"]),
    (
        "interpolate-rank",
        "interpolate",
        {"size": 4, "mode": "bilinear"},
        [T(1, 2, 3)],
        ["bilinear", "rank 4"],
    ),
    ("interpolate-size-list", "interpolate", {"size": [4, 4]}, [T(1, 2, 3)], ["size", "[4, 4]"]),
    (
        "interpolate-symbolic-scale",
        "interpolate",
        {"scale_factor": 1.5},
        [T("B", 2, "L")],
        ["scale_factor 1.5", "symbolic dim 2", "integer factors"],
    ),
    ("interpolate-too-small", "interpolate", {"scale_factor": 0.1}, [T(1, 2, 5)], ["would be 0"]),
    ("interpolate-int", "interpolate", {"size": 4}, [T(1, 2, 3, dtype="int64")], ["int64"]),
    (
        "layer-norm-dim-two-sizes",
        "layer_norm",
        {"dim": 1, "normalized_shape": [3, 4]},
        [T(2, 3, 4, 5)],
        ["dim 1", "one size"],
    ),
    ("layer-norm-dim-size", "layer_norm", {"dim": 1, "normalized_shape": 4}, [T(2, 3, 5)], ["dim 1", "= 4"]),
    ("layer-norm-dim-range", "layer_norm", {"dim": 3}, [T(2, 3, 5)], ["dim 3", "rank 3"]),
    ("layer-norm-dim-symbolic", "layer_norm", {"dim": 1}, [T("B", "C", 5)], ["symbolic dim C"]),
    ("avg-pool3d-half", "avg_pool3d", {"kernel_size": 1}, [T(1, 1, 1, 1, dtype="float16")], ["float16"]),
    ("matmul-bool", "matmul", {}, [T(2, 2, dtype="bool"), T(2, 2, dtype="bool")], ["bool"]),
    ("softmax-int", "softmax", {"dim": 0}, [T(2, dtype="int32")], ["int32"]),
    ("mean-bool", "mean", {}, [T(2, dtype="bool")], ["bool"]),
    ("leaky-relu-slope", "leaky_relu", {"negative_slope": 1e39}, [T(2)], ["1e+39", "float32"]),
    (
        "masked-fill-half",
        "masked_fill",
        {"value": -1e9},
        [T(2, dtype="float16"), T(2, dtype="bool")],
        ["float16"],
    ),
    (
        "masked-fill-int-nan",
        "masked_fill",
        {"value": math.nan},
        [T(2, dtype="int64"), T(2, dtype="bool")],
        ["nan"],
    ),
    ("matmul-inner", "matmul", {}, [T(2, 3), T(4, 5)], ["(2, 3)", "(4, 5)", "3 vs 4"]),
    ("matmul-inner-1d", "matmul", {}, [T(3), T(4)], ["(3,)", "(4,)"]),
    ("matmul-batch", "matmul", {}, [T(2, 3, 4), T(5, 4, 2)], ["(2,)", "(5,)"]),
    ("add-broadcast", "add", {}, [T(2, 3), T(4)], ["(2, 3)", "(4,)"]),
    ("add-symbolic-broadcast", "add", {}, [T("B", "H"), T("B", "W")], ["(B, H)", "(B, W)"]),
    ("add-one-operand", "add", {}, [T(2, 3)], ["two or more operands"]),
    ("sub-three-operands", "sub", {}, [T(2), T(2), T(2)], ["exactly two operands", "3"]),
    ("div-by-zero", "div", {"other": 0}, [T(2)], ["division by a constant 0"]),
    ("pow-inf", "pow", {"other": math.inf}, [T(2)], ["finite"]),
    ("eq-one-operand", "eq", {}, [T(2, 3)], ["exactly two operands"]),
    ("lt-broadcast", "lt", {}, [T(2, 3), T(2, 2)], ["(2, 3)", "(2, 2)"]),
    ("masked-fill-non-bool", "masked_fill", {"value": 0}, [T(2, 3), T(2, 3)], ["bool", "float32"]),
    ("masked-fill-int-mask", "masked_fill", {"value": 0}, [T(2, 3), T(2, 3, dtype="int64")], ["int64"]),
    (
        "masked-fill-broadcast",
        "masked_fill",
        {"value": 0},
        [T(2, 3), T(2, 1, 3, dtype="bool")],
        ["(2, 1, 3)", "(2, 3)"],
    ),
    ("reshape-not-dividing", "reshape", {"shape": [4, -1]}, [T(2, 3, 5)], ["(2, 3, 5)", "30", "(4, -1)"]),
    ("reshape-count", "reshape", {"shape": [4, 4]}, [T(2, 3)], ["(2, 3)", "(4, 4)", "6", "16"]),
    ("reshape-symbolic", "reshape", {"shape": [3, -1]}, [T("B", "H")], ["(B, H)", "B*H", "3"]),
    ("reshape-two-unknown", "reshape", {"shape": [-1, -1]}, [T(2, 3)], ["(-1, -1)", "at most one"]),
    ("reshape-negative", "reshape", {"shape": [-2, -3]}, [T(6)], ["(-2, -3)", "negative"]),
    ("flatten-order", "flatten", {"start_dim": 2, "end_dim": 1}, [T(2, 3, 4)], ["(2, 3, 4)"]),
    ("flatten-range", "flatten", {"start_dim": 3}, [T(2, 3, 4)], ["start_dim 3", "rank 3"]),
    ("unflatten-sizes", "unflatten", {"dim": 1, "sizes": [4, -1]}, [T(2, 6)], ["(6,)", "(4, -1)"]),
    ("unflatten-range", "unflatten", {"dim": 2, "sizes": [2, 3]}, [T(2, 6)], ["dim 2", "rank 2"]),
    ("softmax-dim-range", "softmax", {"dim": 2}, [T(2, 3)], ["dim 2", "rank 2"]),
    ("log-softmax-dim-range", "log_softmax", {"dim": -3}, [T(2, 3)], ["dim -3", "rank 2"]),
    ("permute-duplicate", "permute", {"dims": [0, 0, 1]}, [T(2, 3, 4)], ["[0, 0, 1]", "(2, 3, 4)"]),
    ("permute-rank", "permute", {"dims": [1, 0]}, [T(2, 3, 4)], ["[1, 0]", "(2, 3, 4)"]),
    ("transpose-range", "transpose", {"dim0": 0, "dim1": 3}, [T(2, 3, 4)], ["dim1 3", "rank 3"]),
    ("unsqueeze-range", "unsqueeze", {"dim": 4}, [T(2, 3, 4)], ["dim 4"]),
    ("squeeze-not-one", "squeeze", {"dim": 1}, [T(2, 3)], ["(2, 3)", "size is 3"]),
    ("squeeze-symbolic", "squeeze", {"dim": 0}, [T("B", 3)], ["(B, 3)", "size is B"]),
    ("cat-mismatch", "cat", {"dim": 0}, [T(2, 3), T(2, 4)], ["(2, 3)", "(2, 4)"]),
    ("cat-rank", "cat", {"dim": 0}, [T(2, 3), T(2, 3, 4)], ["(2, 3)", "(2, 3, 4)"]),
    ("cat-dim-range", "cat", {"dim": 2}, [T(2, 3), T(2, 3)], ["dim 2", "rank 2"]),
    ("stack-unequal", "stack", {"dim": 0}, [T(2, 3), T(3, 2)], ["(2, 3)", "(3, 2)"]),
    ("split-sizes", "split", {"dim": 1, "sizes": [2, 2]}, [T(2, 5)], ["(2, 2)", "(2, 5)", "4"]),
    ("split-chunks", "split", {"dim": 1, "chunks": 2}, [T(2, 5)], ["(2, 5)", "2 equal chunks"]),
    ("split-symbolic-chunks", "split", {"dim": 1, "chunks": 2}, [T(2, "L")], ["(2, L)", "2 equal chunks"]),
    ("split-dim-range", "split", {"dim": 2, "chunks": 1}, [T(2, 4)], ["dim 2", "rank 2"]),
    ("slice-empty", "slice", {"dim": 0, "start": 5}, [T(5, 2)], ["size 5", "empty"]),
    ("slice-step-0", "slice", {"dim": 0, "step": 0}, [T("H", 2)], ["step must be >= 1"]),
    ("slice-step", "slice", {"dim": 0, "step": 0}, [T(5)], ["step", "0"]),
    ("expand-fewer-dims", "expand", {"shape": [3]}, [T(2, 3)], ["(2, 3)", "(3,)"]),
    ("expand-mismatch", "expand", {"shape": [2, 4]}, [T(2, 3)], ["(2, 3)", "(2, 4)"]),
    ("parameter-negative", "parameter", {"shape": [-1, 2]}, [], ["(-1, 2)", "negative"]),
    ("std-one-element", "std", {"dim": 1}, [T(2, 1)], ["(2, 1)", "1 element"]),
    ("var-all-one", "var", {}, [T(1, 1)], ["(1, 1)", "1 element"]),
    ("mean-dim-twice", "mean", {"dim": [1, -1]}, [T(2, 3)], ["twice"]),
    ("sum-dim-range", "sum", {"dim": 2}, [T(2, 3)], ["dim 2", "rank 2"]),
    (
        "max-pool-kernel-too-large",
        "max_pool2d",
        {"kernel_size": 5},
        [T(1, 1, 3, 8)],
        ["(1, 1, 3, 8)", "kernel 5"],
    ),
    ("avg-pool-padding", "avg_pool2d", {"kernel_size": 2, "padding": 2}, [T(1, 1, 8, 8)], ["half", "[2, 2]"]),
    ("max-pool-rank", "max_pool2d", {"kernel_size": 2}, [T(3, 4)], ["(3, 4)", "rank 3 or 4"]),
    ("avg-pool-list", "avg_pool1d", {"kernel_size": [2, 2]}, [T(1, 1, 8)], ["kernel_size", "list of 1"]),
    ("adaptive-zero", "adaptive_avg_pool2d", {"output_size": 0}, [T(1, 1, 8, 8)], ["output_size", "[0, 0]"]),
    (
        "avg-pool-stride-int32",
        "avg_pool1d",
        {"kernel_size": 1, "stride": 2**31},
        [T(1, 1, 5)],
        ["stride", "32-bit"],
    ),
    (
        "max-pool-kernel-int32",
        "max_pool2d",
        {"kernel_size": 2**31, "padding": 2**30},
        [T(1, 1, 5, 5)],
        ["kernel_size", "2147483648"],
    ),
    (
        "conv-stride-int64",
        "conv1d",
        {"out_channels": 1, "kernel_size": 1, "stride": 2**63},
        [T(1, 1, 5)],
        ["stride", "32-bit"],
    ),
    ("adaptive-rank", "adaptive_max_pool1d", {"output_size": 2}, [T(4)], ["(4,)", "rank 2 or 3"]),
    # constants: what torch refuses, and (deliberately stricter) ramps whose values overflow the dtype
    ("arange-step-sign", "arange", {"end": 5, "step": -1}, [], ["from 0 to 5", "step -1"]),
    ("arange-step-sign-down", "arange", {"start": 3, "end": -2, "step": 2}, [], ["from 3 to -2"]),
    (
        "arange-int32",
        "arange",
        {"start": 2**31 - 2, "end": 2**31 + 1, "dtype": "int32"},
        [],
        ["2147483648", "int32"],
    ),
    ("arange-float16", "arange", {"end": 70000, "dtype": "float16"}, [], ["69999", "float16"]),
    ("arange-too-large", "arange", {"end": 2**40}, [], ["(1099511627776,)", "too large"]),
    ("full-float32-overflow", "full", {"shape": [2], "value": 1e39}, [], ["1e+39", "float32"]),
    ("full-int-nan", "full", {"shape": [2], "value": math.nan, "dtype": "int64"}, [], ["nan", "int64"]),
    ("full-rank", "full", {"shape": [1] * 9, "value": 0}, [], ["more than 8 dims"]),
    ("zeros-negative", "zeros", {"shape": [2, -1]}, [], ["(2, -1)", "negative"]),
    ("ones-too-large", "ones", {"shape": [65536, 65536]}, [], ["(65536, 65536)", "too large"]),
    ("buffer-symbolic", "buffer", {}, [T("B", 3)], ["(B, 3)", "fixed shape"]),
]


@pytest.mark.parametrize(
    ("op_name", "raw", "ins", "needles"), [pytest.param(*f[1:], id=f[0]) for f in FAILURES]
)
def test_infer_rejects(op_name: str, raw: dict[str, Any], ins: list[TensorType], needles: list[str]) -> None:
    op = REGISTRY[op_name]
    attrs = op.attrs.model_validate(raw)
    with pytest.raises(ShapeError) as info:
        op.infer_types(attrs, ins)
    for needle in needles:
        assert needle in info.value.message, f"{needle!r} not in {info.value.message!r}"


def test_failures_cover_every_family() -> None:
    families = {REGISTRY[f[1]].family for f in FAILURES}
    # activations, identity and parameter-free unary ops accept every input
    assert families >= {
        *("linear", "conv", "norm", "attention", "elementwise", "reduce", "pool", "reshape", "constant")
    }


BAD_ATTRS: list[tuple[str, str, dict[str, Any]]] = [
    ("conv-string-int", "conv2d", {"out_channels": "8", "kernel_size": 3}),
    ("conv-float-kernel", "conv2d", {"out_channels": 8, "kernel_size": 2.5}),
    ("conv-missing-kernel", "conv2d", {"out_channels": 8}),
    ("split-neither", "split", {"dim": 0}),
    ("split-both", "split", {"dim": 0, "sizes": [2, 2], "chunks": 2}),
    ("conv-padding-word", "conv2d", {"out_channels": 8, "kernel_size": 3, "padding": "full"}),
    ("conv-padding-mode", "conv1d", {"out_channels": 8, "kernel_size": 3, "padding_mode": "mirror"}),
    ("conv-typo", "conv2d", {"out_channels": 8, "kernel_size": 3, "strides": 2}),
    ("linear-bool-int", "linear", {"out_features": True}),
    ("linear-bias-string", "linear", {"out_features": 4, "bias": "yes"}),
    ("softmax-float-dim", "softmax", {"dim": 1.0}),
    ("softmax-no-dim", "softmax", {}),
    ("gelu-approximate", "gelu", {"approximate": "fast"}),
    ("relu-extra", "relu", {"inplace": True}),
    ("add-string-other", "add", {"other": "1"}),
    ("reshape-float", "reshape", {"shape": [1.5, 2]}),
    ("reshape-not-list", "reshape", {"shape": 4}),
    ("permute-string", "permute", {"dims": "0,1"}),
    ("parameter-init", "parameter", {"shape": [2], "init": "bogus"}),
    ("parameter-init-args", "parameter", {"shape": [2], "init": {"fn": "normal", "sigma": 1}}),
    ("pool-float-kernel", "max_pool2d", {"kernel_size": 2.0}),
    ("mean-dim-string", "mean", {"dim": "1"}),
    ("masked-fill-no-value", "masked_fill", {}),
    ("dropout-p", "dropout", {"p": 1.5}),
    ("dropout-p-negative", "dropout", {"p": -0.1}),
    ("dropout-p-nan", "dropout", {"p": math.nan}),
    ("layer-norm-eps-negative", "layer_norm", {"eps": -1e-5}),
    ("layer-norm-eps-zero", "layer_norm", {"eps": 0}),
    ("layer-norm-eps-minus-zero", "layer_norm", {"eps": -0.0}),
    ("group-norm-eps-nan", "group_norm", {"num_groups": 1, "eps": math.nan}),
    ("batch-norm-eps-inf", "batch_norm2d", {"eps": math.inf}),
    ("batch-norm-momentum-negative", "batch_norm1d", {"momentum": -0.5}),
    ("batch-norm-momentum-large", "batch_norm3d", {"momentum": 1.5}),
    ("batch-norm-momentum-nan", "batch_norm1d", {"momentum": math.nan}),
    ("leaky-relu-slope-nan", "leaky_relu", {"negative_slope": math.nan}),
    ("leaky-relu-slope-inf", "leaky_relu", {"negative_slope": -math.inf}),
    ("add-other-below-int64", "add", {"other": -(2**63) - 1}),
    ("eq-other-above-int64", "eq", {"other": 2**63}),
    ("masked-fill-value-above-int64", "masked_fill", {"value": 2**64 - 1}),
    ("softplus-beta-zero", "softplus", {"beta": 0}),
    ("softplus-threshold-inf", "softplus", {"threshold": math.inf}),
    ("clamp-no-bound", "clamp", {}),
    ("clamp-min-above-max", "clamp", {"min": 2, "max": 1}),
    ("clamp-nan", "clamp", {"min": math.nan}),
    ("clamp-bool-bound", "clamp", {"min": True}),
    ("where-string-other", "where", {"other": "0"}),
    ("drop-path-no-p", "drop_path", {}),
    ("drop-path-p", "drop_path", {"p": 1.5}),
    ("drop-path-mode", "drop_path", {"p": 0.1, "mode": "column"}),
    ("embedding-no-dim", "embedding", {"num_embeddings": 4}),
    ("embedding-zero", "embedding", {"num_embeddings": 0, "embedding_dim": 2}),
    ("embedding-padding-idx", "embedding", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": 4}),
    ("embedding-padding-idx-low", "embedding", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": -5}),
    ("roll-no-shifts", "roll", {"dims": [0]}),
    ("roll-misaligned", "roll", {"shifts": [1, 2], "dims": [0]}),
    ("roll-flat-two-shifts", "roll", {"shifts": [1, 2]}),
    ("roll-float-shift", "roll", {"shifts": 1.5, "dims": 0}),
    ("pad-odd", "pad", {"pad": [1, 2, 3]}),
    ("pad-empty", "pad", {"pad": []}),
    ("pad-mode", "pad", {"pad": [1, 1], "mode": "symmetric"}),
    ("pad-reflect-value", "pad", {"pad": [1, 1], "mode": "reflect", "value": 1.0}),
    ("interpolate-neither", "interpolate", {"mode": "nearest"}),
    ("interpolate-both", "interpolate", {"size": 4, "scale_factor": 2}),
    ("interpolate-mode", "interpolate", {"size": 4, "mode": "cubic"}),
    ("interpolate-align-nearest", "interpolate", {"size": 4, "align_corners": True}),
    ("interpolate-scale-zero", "interpolate", {"scale_factor": 0}),
    ("interpolate-scale-nan", "interpolate", {"scale_factor": [2, math.nan]}),
    ("interpolate-size-zero", "interpolate", {"size": [0, 2]}),
    ("layer-norm-dim-float", "layer_norm", {"dim": 1.0}),
    ("arange-no-end", "arange", {}),
    ("arange-step-zero", "arange", {"end": 4, "step": 0}),
    ("arange-bool", "arange", {"end": 4, "dtype": "bool"}),
    ("arange-two-ends", "arange", {"end": [2, 3]}),
    ("arange-float-end", "arange", {"end": 2.5}),
    ("arange-float-step", "arange", {"end": 4, "step": 0.5}),
    ("arange-start-below-int64", "arange", {"end": 4, "start": -(2**63) - 1}),
    ("full-no-value", "full", {"shape": [2]}),
    ("full-string-value", "full", {"shape": [2], "value": "1"}),
    ("full-value-above-int64", "full", {"shape": [2], "value": 2**63}),
    ("full-dtype", "full", {"shape": [2], "value": 1, "dtype": "int8"}),
    ("full-shape-not-list", "full", {"shape": 2, "value": 1}),
    ("zeros-value", "zeros", {"shape": [2], "value": 1}),
    ("ones-no-shape", "ones", {}),
    ("cast-no-dtype", "cast", {}),
    ("cast-dtype", "cast", {"dtype": "float"}),
    ("buffer-persistent-string", "buffer", {"persistent": "no"}),
]


@pytest.mark.parametrize(("op_name", "raw"), [pytest.param(*b[1:], id=b[0]) for b in BAD_ATTRS])
def test_attrs_reject(op_name: str, raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        REGISTRY[op_name].attrs.model_validate(raw)


@pytest.mark.parametrize("op_name", sorted(REGISTRY))
def test_attrs_are_closed_and_frozen(op_name: str) -> None:
    op = REGISTRY[op_name]
    valid = CASES[op_name][0].attrs
    with pytest.raises(ValidationError):
        op.attrs.model_validate({**valid, "no_such_attr": 1})
    attrs = op.attrs.model_validate(valid)
    if op.attrs.model_fields:
        name = next(iter(op.attrs.model_fields))
        with pytest.raises(ValidationError):
            setattr(attrs, name, getattr(attrs, name))


# ---------------------------------------------------------------- regressions (bugs found by these tests)


def static_vs_runtime(
    op_name: str, raw: dict[str, Any], shapes: Sequence[Shape], dtypes: Sequence[str]
) -> None:
    """Static types of a one-node graph must be what its module produces."""
    case = Case(op_name, raw, tuple(shapes), tuple(dtypes))
    graph = case_graph(case)
    res = shapes_at(graph)
    gm = lower(graph, res, seed=0)
    ys = run(gm, case.feed(random_inputs(case)), len(res.types[NODE_ID]))
    got = [(tuple(y.shape), y.dtype) for y in ys]
    want = [(ints(t.shape), TORCH_DTYPE[t.dtype]) for t in res.types[NODE_ID]]
    assert got == want, f"runtime {got} vs static {want}"


@pytest.mark.parametrize(("k", "d"), [(2, 1), (4, 1), (2, 3)])
def test_conv_same_even_kernel(k: int, d: int) -> None:
    static_vs_runtime(
        "conv1d",
        {"out_channels": 2, "kernel_size": k, "dilation": d, "padding": "same"},
        [(1, 2, 9)],
        ["float32"],
    )


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_ceil_mode_last_window(kind: str) -> None:
    raw = {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}
    static_vs_runtime(f"{kind}_pool1d", raw, [(1, 1, 5)], ["float32"])


def test_slice_start_before_the_beginning() -> None:
    static_vs_runtime("slice", {"dim": 1, "start": -7}, [(2, 5)], ["float32"])


@pytest.mark.parametrize("op_name", ["sum", "mean", "amax", "var"])
def test_reduce_empty_dim_list(op_name: str) -> None:
    """torch reduces over every dim for `dim=[]`; netdsl refuses the ambiguous spelling."""
    raw: dict[str, Any] = {"dim": [], **({"unbiased": False} if op_name == "var" else {})}
    op = REGISTRY[op_name]
    with pytest.raises(ShapeError, match="ambiguous"):
        op.infer(op.attrs.model_validate(raw), [T(2, 3)])


@pytest.mark.parametrize(
    ("op_name", "raw", "shapes", "dtypes"),
    [
        pytest.param("add", {"other": 0.5}, [(2, 3)], ["int64"], id="int-plus-float-other"),
        pytest.param("div", {}, [(2, 3), (2, 3)], ["int64", "int64"], id="int-true-division"),
        pytest.param("mul", {}, [(2, 3), (2, 3)], ["float32", "float64"], id="float32-times-float64"),
        pytest.param("cat", {"dim": 0}, [(2, 3), (2, 3)], ["float32", "float64"], id="cat-mixed"),
        pytest.param("stack", {"dim": 0}, [(2, 3), (2, 3)], ["int64", "float32"], id="stack-mixed"),
        pytest.param("sum", {}, [(2, 3)], ["int32"], id="sum-int32"),
        pytest.param("sum", {"dim": 1}, [(2, 3)], ["bool"], id="sum-bool"),
    ],
)
def test_dtype_promotion(op_name: str, raw: dict[str, Any], shapes: list[Shape], dtypes: list[str]) -> None:
    static_vs_runtime(op_name, raw, shapes, dtypes)


@pytest.mark.parametrize(
    ("op_name", "raw", "shapes", "dtypes"),
    [
        pytest.param("mean", {}, [(2, 3)], ["int64"], id="mean-int"),
        pytest.param("softmax", {"dim": 0}, [(2, 3)], ["int64"], id="softmax-int"),
        pytest.param("linear", {"out_features": 2}, [(2, 3)], ["int64"], id="linear-int"),
        pytest.param("matmul", {}, [(2, 3), (3, 2)], ["float32", "float64"], id="matmul-mixed"),
    ],
)
def test_dtype_checked_statically(
    op_name: str, raw: dict[str, Any], shapes: list[Shape], dtypes: list[str]
) -> None:
    """Dtypes torch would reject at run time are a static error."""
    op = REGISTRY[op_name]
    ins = [TensorType.of(sh, dt) for sh, dt in zip(shapes, dtypes, strict=True)]
    with pytest.raises(ShapeError, match=r"accepted dtypes|same dtype"):
        op.infer_types(op.attrs.model_validate(raw), ins)


@pytest.mark.parametrize(
    ("op_name", "raw", "ins"),
    [
        pytest.param("expand", {"shape": [-1, 3]}, [T(3)], id="expand-minus-one-in-new-dim"),
        pytest.param("expand", {"shape": [-2]}, [T(1)], id="expand-negative-size"),
        pytest.param("split", {"dim": 0, "sizes": [-1, 6]}, [T(5)], id="split-negative-size"),
        pytest.param("flatten", {"start_dim": 1}, [T()], id="flatten-scalar-start-dim"),
    ],
)
def test_rejects_what_torch_rejects(op_name: str, raw: dict[str, Any], ins: list[TensorType]) -> None:
    op = REGISTRY[op_name]
    with pytest.raises(ShapeError):
        op.infer(op.attrs.model_validate(raw), ins)


# ---------------------------------------------------------------- dtypes: the registry against torch


def dtype_inputs(case: Case, dtypes: Sequence[str]) -> list[torch.Tensor]:
    """Inputs of ``dtypes``: floats from [0.5, 1.5), integers from 1 to 3, random bools (positive
    data: what fails only for some values, such as integers to negative powers, is not a dtype rule)."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for shape, dtype in zip(case.shapes, dtypes, strict=True):
        size = concrete_shape(shape)
        dt = TORCH_DTYPE[dtype]
        if dt == torch.bool:
            out.append(torch.rand(size, generator=gen) > 0.5)
        elif dt.is_floating_point:
            out.append((torch.rand(size, generator=gen, dtype=torch.float64) + 0.5).to(dt))
        else:
            out.append(torch.randint(1, 4, size, generator=gen, dtype=dt))
    return out


def runtime_dtypes(gm: torch.nn.Module, xs: Sequence[torch.Tensor]) -> list[str] | str:
    """The output dtypes of a run in training and in eval mode, or the error of the first that fails."""
    got: list[str] = []
    for training in (True, False):
        gm.train(training)
        try:
            with torch.no_grad():
                y = gm(*xs)
        except Exception as e:  # what torch raises for an unsupported dtype varies
            return f"{type(e).__name__}: {str(e).splitlines()[0]}"
        got = [str(t.dtype).removeprefix("torch.") for t in (y if isinstance(y, tuple) else [y])]
    return got


SYNC_CASES = [c for c in ALL_CASES if len(c.shapes) <= 2]  # 7**3 combinations of 3 inputs teach nothing new


@pytest.mark.parametrize("case", params("dtypes", SYNC_CASES))
def test_dtypes_match_torch(case: Case) -> None:
    """The sync test of the registry's dtype rules (``OpDef.dtypes`` and the rules in ``infer``): for
    every combination of input dtypes netdsl allows, static acceptance equals the success of the
    built module on CPU (training and eval mode), and the static output dtypes are the runtime's.
    It fails both when a rule is too strict and when it is too loose."""
    base = case_graph(case)
    gm = lower(base, shapes_at(base), seed=0)  # modules do not depend on the input dtypes
    wrong = []
    for dtypes in itertools.product(DTYPES, repeat=len(case.shapes)):
        graph = make_graph(case.op, case.attrs, case.shapes, dtypes, case.const)
        try:
            res = shapes_at(graph)
            static: list[str] | str = [t.dtype for t in res.types[NODE_ID]]
        except ShapeError as e:
            static = e.message
        if case.const:  # the constants are made in the graph: one module per dtype (static ones only)
            assert isinstance(static, list), f"{dtypes}: constant inputs refused statically ({static})"
            runtime = runtime_dtypes(lower(graph, res, seed=0), [])
        else:
            runtime = runtime_dtypes(gm, dtype_inputs(case, dtypes))
        if isinstance(static, str) and isinstance(runtime, list):
            wrong.append(f"{dtypes}: refused statically ({static}), but torch runs it -> {runtime}")
        elif isinstance(static, list) and isinstance(runtime, str):
            wrong.append(f"{dtypes}: accepted statically -> {static}, but torch fails: {runtime}")
        elif static != runtime and isinstance(static, list):
            wrong.append(f"{dtypes}: static output dtypes {static}, runtime {runtime}")
    assert not wrong, f"{case.id} with attrs {case.attrs}:\n" + "\n".join(wrong)


def test_dtype_error_lists_the_accepted_dtypes() -> None:
    graph = make_graph("linear", {"out_features": 2}, [(2, 3)], ["float16"])
    with pytest.raises(ShapeError) as info:
        shapes_at(graph)
    assert "linear does not accept float16 tensors" in info.value.message
    assert "accepted dtypes: float32" in info.value.message
    assert info.value.loc == LOC


def test_dtype_fields_are_valid() -> None:
    for op in REGISTRY.values():
        assert op.dtypes and set(op.dtypes) <= set(DTYPES), op.name
        for name, dtypes in op.input_dtypes.items():
            assert name in op.inputs and dtypes and set(dtypes) <= set(DTYPES), (op.name, name)
        assert op.dtype_text()


# ---------------------------------------------------------------- constants given to torch as Scalars

# what torch does with x OP other, as netdsl lowers it
SCALAR_OPS: dict[str, Callable[[torch.Tensor, Any], torch.Tensor]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
    "eq": operator.eq,
    "lt": operator.lt,
    "ge": operator.ge,
}
EDGES: list[float | int] = [
    *(0, 1, -1, 2, -2, 3, 0.5, -0.5, -0.0, 1e-300),
    *(math.inf, -math.inf, math.nan),
    *(65504, 65505, 65504.0, 65519.0, 65520.0, 70000, -70000.0),
    *(3.3895313892515355e38, 3.39e38, 3.4028234663852886e38, 3.4028235e38, 1e39, 1e300, 1.7e308),
    *(2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2147483647.5, 2147483648.0, -2147483648.5),
    *(2**53 + 1, 2**63 - 1, -(2**63), 9.223372036854775807e18, 1e19, -1e19),
]
SCALARS = (
    st.sampled_from(EDGES)
    | st.integers(-(2**63), 2**63 - 1)
    | st.integers(-100, 100)
    | st.floats(allow_nan=True, allow_infinity=True)
)


def static_result(op_name: str, raw: dict[str, Any], ins: list[TensorType]) -> str | None:
    """The static output dtype, or None when netdsl refuses (attribute schema or shape rule)."""
    op = REGISTRY[op_name]
    try:
        return op.infer_types(op.attrs.model_validate(raw), ins)[0].dtype
    except (ValidationError, ShapeError):
        return None


def torch_result(fn: Callable[[], torch.Tensor]) -> str | None:
    try:
        return str(fn().dtype).removeprefix("torch.")
    except (RuntimeError, OverflowError, TypeError, NotImplementedError):
        return None


def _int_sample(dtype: str) -> torch.Tensor:
    return torch.tensor([1, 2, 3]).to(TORCH_DTYPE[dtype])


@settings(max_examples=1500, deadline=None)
@given(op_name=st.sampled_from(sorted(SCALAR_OPS)), dtype=st.sampled_from(DTYPES), value=SCALARS)
def test_scalar_other_matches_torch(op_name: str, dtype: str, value: float | int) -> None:
    """x OP other for every dtype and extreme constants: netdsl refuses exactly what torch refuses
    (integers to negative integer powers, exponents that overflow the base's dtype, bool
    subtraction) and gets the result dtype right. Deliberately stricter: div and pow by a non-finite
    constant, division by a constant 0."""
    static = static_result(op_name, {"other": value}, [TensorType.of((3,), dtype)])
    runtime = torch_result(lambda: SCALAR_OPS[op_name](_int_sample(dtype), value))
    if op_name in ("div", "pow") and (not math.isfinite(value) or (op_name == "div" and value == 0)):
        assert static is None
        return
    assert static == runtime, f"{dtype} {op_name} {value!r}: static {static}, torch {runtime}"


@settings(max_examples=700, deadline=None)
@given(dtype=st.sampled_from(DTYPES), value=SCALARS)
def test_masked_fill_value_matches_torch(dtype: str, value: float | int) -> None:
    """masked_fill refuses a value that overflows the dtype of x, exactly as torch does."""
    ins = [TensorType.of((3,), dtype), TensorType.of((3,), "bool")]
    static = static_result("masked_fill", {"value": value}, ins)
    mask = torch.tensor([True, False, True])
    runtime = torch_result(lambda: _int_sample(dtype).masked_fill(mask, value))
    assert static == runtime, f"{dtype} masked_fill {value!r}: static {static}, torch {runtime}"


@settings(max_examples=400, deadline=None)
@given(dtype=st.sampled_from(DTYPES), value=SCALARS)
def test_leaky_relu_slope_matches_torch(dtype: str, value: float | int) -> None:
    """A finite slope works unless it overflows float32 (for inputs other than float64); a
    non-finite one is refused on purpose (NaN or infinite outputs)."""
    static = static_result("leaky_relu", {"negative_slope": value}, [TensorType.of((3,), dtype)])
    runtime = torch_result(lambda: F.leaky_relu(_int_sample(dtype), value))
    if not math.isfinite(value):
        assert static is None
        return
    assert static == runtime, f"{dtype} leaky_relu {value!r}: static {static}, torch {runtime}"


# ---------------------------------------------------------------- constants against torch's defaults


def _dtype_kw(dtype: str | None) -> dict[str, torch.dtype]:
    return {} if dtype is None else {"dtype": TORCH_DTYPE[dtype]}


@pytest.mark.parametrize("dtype", [None, *DTYPES])
def test_constant_dtypes_match_torch(dtype: str | None) -> None:
    """arange (int64 by default, no bool), zeros and ones (float32 by default) accept the dtypes
    torch accepts and make what torch makes."""
    raw: dict[str, Any] = {} if dtype is None else {"dtype": dtype}
    for op_name, fn in (
        ("arange", lambda: torch.arange(0, 5, 1, **_dtype_kw(dtype))),
        ("zeros", lambda: torch.zeros(2, 3, **_dtype_kw(dtype))),
        ("ones", lambda: torch.ones(2, 3, **_dtype_kw(dtype))),
    ):
        size = {"end": 5} if op_name == "arange" else {"shape": [2, 3]}
        static = static_result(op_name, {**size, **raw}, [])
        assert static == torch_result(fn), f"{op_name} dtype={dtype}"


@settings(max_examples=700, deadline=None)
@given(dtype=st.sampled_from([None, *DTYPES]), value=SCALARS | st.booleans())
def test_full_value_matches_torch(dtype: str | None, value: float | int | bool) -> None:
    """full: the dtype follows the value as torch.full's (bool, int64, float32), and a value that
    does not fit the dtype is refused exactly when torch refuses it."""
    raw = {"shape": [3], "value": value, **({} if dtype is None else {"dtype": dtype})}
    static = static_result("full", raw, [])
    runtime = torch_result(lambda: torch.full((3,), value, **_dtype_kw(dtype)))
    assert static == runtime, f"full {value!r} dtype={dtype}: static {static}, torch {runtime}"


@settings(max_examples=400, deadline=None)
@given(start=st.integers(-20, 20), end=st.integers(-20, 20), step=st.integers(-7, 7).filter(bool))
def test_arange_matches_torch(start: int, end: int, step: int) -> None:
    """arange's length, and its refusal of a step that never reaches the end, are torch.arange's."""
    op = REGISTRY["arange"]
    try:
        attrs = eval_attrs(op, {"start": start, "end": end, "step": step})
        static: tuple[int, ...] | None = ints(op.infer_types(attrs, [])[0].shape)
    except ShapeError:
        static = None
    try:
        runtime: tuple[int, ...] | None = tuple(torch.arange(start, end, step).shape)
    except RuntimeError:
        runtime = None
    assert static == runtime, f"arange({start}, {end}, {step}): static {static}, torch {runtime}"


# ---------------------------------------------------------------- numeric attributes at their extremes

EXTREMES = st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 0, 0.0, -1, -1e-5, 1e-300, 1e-5, 0.5, 1, 1.0, 1.5, 2, 1e300]
) | st.floats(allow_nan=True, allow_infinity=True)
# (op, attribute, other attrs, input shape, finite inputs must give finite outputs)
NUMERIC_ATTRS: list[tuple[str, str, dict[str, Any], Shape, bool]] = [
    ("batch_norm1d", "eps", {}, (4, 3), True),
    ("batch_norm2d", "momentum", {}, (2, 2, 3, 3), True),
    ("layer_norm", "eps", {}, (2, 5), True),
    ("group_norm", "eps", {"num_groups": 1}, (2, 3, 4), True),
    ("dropout", "p", {}, (2, 5), True),
    ("leaky_relu", "negative_slope", {}, (2, 5), False),  # a huge slope overflows, as `mul` does
]


@settings(max_examples=150, deadline=None)
@given(target=st.sampled_from(NUMERIC_ATTRS), value=EXTREMES)
def test_numeric_attrs_accepted_run_healthily(
    target: tuple[str, str, dict[str, Any], Shape, bool], value: float | int
) -> None:
    """An accepted eps / momentum / p / slope builds, runs in training and eval mode (twice, so running
    statistics are used), and keeps finite inputs finite."""
    op_name, attr, base, shape, finite = target
    raw = {**base, attr: value}
    try:
        graph = make_graph(op_name, raw, [shape], ["float32"])
        res = shapes_at(graph)
    except (ValidationError, ShapeError):
        return
    gm = lower(graph, res, seed=0)
    x = torch.randn(concrete_shape(shape), generator=torch.Generator().manual_seed(0))
    for training in (True, True, False):
        gm.train(training)
        with torch.no_grad():
            y = gm(x)
        assert not finite or torch.isfinite(y).all(), f"{op_name} {attr}={value!r} (training={training}): {y}"
    for key, t in gm.state_dict().items():
        assert torch.isfinite(t.float()).all(), f"{op_name} {attr}={value!r}: {key} = {t}"


@pytest.mark.parametrize(
    ("op_name", "attr", "value"),
    [
        ("batch_norm1d", "eps", 0.0),
        ("batch_norm1d", "eps", -1e-5),
        ("layer_norm", "eps", math.nan),
        ("group_norm", "eps", math.inf),
        ("batch_norm2d", "momentum", -0.1),
        ("batch_norm2d", "momentum", math.nan),
        ("dropout", "p", 1.0000001),
        ("leaky_relu", "negative_slope", math.nan),
    ],
)
def test_numeric_attrs_refused_name_the_attribute(op_name: str, attr: str, value: float) -> None:
    raw = {"num_groups": 1} if op_name == "group_norm" else {}
    with pytest.raises(ValidationError) as info:
        REGISTRY[op_name].attrs.model_validate({**raw, attr: value})
    (err,) = info.value.errors()
    assert err["loc"] == (attr,)
    assert attr in err["msg"]

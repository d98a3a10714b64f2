"""The mapping table, :data:`TABLE`: one entry per target (the module's class for ``call_module``,
the function for ``call_function``, the method's name for ``call_method``), each a handler that maps
a :class:`~netdsl.backend.trace_import.calls.Call` to netdsl ops. Assembled here from the entries of
:mod:`.table_modules`, :mod:`.table_functions` and :mod:`.table_methods`, and the families of ops
that are a function, a method and an in-place method of the same name."""

from __future__ import annotations

import torch
from torch import nn

from netdsl.backend.trace_import.arithmetic import _binary, _compare, _rdiv, _rsub
from netdsl.backend.trace_import.calls import Handler, _op
from netdsl.backend.trace_import.fx_nodes import _qualname
from netdsl.backend.trace_import.table_functions import FUNCTIONS
from netdsl.backend.trace_import.table_methods import METHODS
from netdsl.backend.trace_import.table_modules import MODULES

#: one entry per target (module class, function, method name)
TABLE: dict[object, Handler] = {**MODULES, **FUNCTIONS, **METHODS}

# the elementwise ops that are a torch function, a method and an in-place method of the same name
for _name in ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "erf"):
    TABLE.setdefault(getattr(torch, _name), _op(_name))
    TABLE.setdefault(_name, _op(_name))
    TABLE.setdefault(f"{_name}_", _op(_name))
    if hasattr(torch, f"{_name}_"):
        TABLE.setdefault(getattr(torch, f"{_name}_"), _op(_name))
for _name, _size_name, _rev in (
    ("add", "add", None),
    ("sub", "sub", _rsub),
    ("mul", "mul", None),
    ("div", "truediv", _rdiv),
    ("pow", "pow", None),
):
    TABLE.setdefault(_name, _binary(_name, _size_name, _rev))
    TABLE.setdefault(f"{_name}_", _binary(_name, _size_name, _rev))
for _name, _flip in (("eq", "eq"), ("ne", "ne"), ("lt", "gt"), ("le", "ge"), ("gt", "lt"), ("ge", "le")):
    TABLE.setdefault(_name, _compare(_name, _flip))
    TABLE.setdefault(getattr(torch, _name), _compare(_name, _flip))


def supported_targets() -> dict[str, list[str]]:
    """The targets of :data:`TABLE` by kind, for docs and tests: module classes, functions, methods."""
    out: dict[str, list[str]] = {"module": [], "function": [], "method": []}
    for key in TABLE:
        if isinstance(key, type):
            out["module"].append(f"{key.__module__}.{key.__qualname__}")
        elif isinstance(key, str):
            out["module" if "." in key else "method"].append(key)
        else:
            out["function"].append(_qualname(key))
    return {k: sorted(set(v)) for k, v in out.items()}


def _module_handler(m: nn.Module) -> Handler | None:
    cls = type(m)
    return TABLE.get(cls) or TABLE.get(f"{cls.__module__}.{cls.__qualname__}")

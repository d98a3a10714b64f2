"""`netdsl import`, the torch half: trace an ``nn.Module`` with ``torch.fx`` and map every call to a
netdsl op, giving an :class:`~netdsl.backend.import_graph.ImportedGraph` (plain data) that
:mod:`netdsl.tools.importer` writes as a spec.

The leaf modules are the ``torch.nn`` modules that map to an op (conv, linear, norms, activations,
pooling, dropout ...); other modules are traced through, and each call of one is recorded as a scope
of the nodes it makes (the importer turns repeated classes into blocks). Every call is looked up in
one table, :data:`TABLE`, by target: the module's class for ``call_module``, the function for
``call_function``, the method's name for ``call_method``. A call that is not in the table, or whose
arguments netdsl cannot express, is an :class:`UnsupportedCall` naming it and its source line; all
of them are reported together.

Sizes read from tensors (``x.size(0)``, ``B, C, H, W = x.shape``) and arithmetic on them are kept
symbolic (:class:`~netdsl.backend.import_graph.DimOf`), so that a reshape follows the input's size.
In-place ops (``relu_``, ``out += identity``, ``nn.ReLU(inplace=True)``) become their functional
form: later readers of the tensor read the op's result.

The modules: :mod:`.trace` (the tracer, :func:`trace_module`), :mod:`.convert` (the walk over the fx
nodes), :mod:`.fx_nodes` (an fx node's example value, source line and scopes), :mod:`.module_state`
(the state_dict against the imported nodes), :mod:`.table` (TABLE,
assembled from :mod:`.table_modules`, :mod:`.table_functions` and :mod:`.table_methods`), the entries'
code by family (:mod:`.calls`, :mod:`.sizes`, :mod:`.arithmetic`, :mod:`.shape_ops`,
:mod:`.creation`, :mod:`.nn_functional`) and :mod:`.check` (compare_outputs, as_module,
random_input).
"""

from __future__ import annotations

from netdsl.backend.import_graph import UnsupportedCall
from netdsl.backend.trace_import.check import as_module, compare_outputs, random_input
from netdsl.backend.trace_import.table import TABLE, supported_targets
from netdsl.backend.trace_import.trace import trace_module

__all__ = [
    "TABLE",
    "UnsupportedCall",
    "as_module",
    "compare_outputs",
    "random_input",
    "supported_targets",
    "trace_module",
]

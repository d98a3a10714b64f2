"""The walk over the traced graph's nodes: each call is looked up in :data:`TABLE` and what its entry
returns becomes :class:`~netdsl.backend.import_graph.ImportedNode` s; parameters read with
``get_attr``, in-place ops, modules called twice and state no call uses are handled here, and every
unsupported call is collected (:class:`UnsupportedCall`) before raising them together."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx
from torch import nn

from netdsl.backend.import_graph import ImportedGraph, ImportedInput, ImportedNode, TRef, UnsupportedCall
from netdsl.backend.trace_import.calls import (
    PREV,
    Alias,
    AttrRef,
    Call,
    Chain,
    Emit,
    Handler,
    Result,
    _dtype_name,
    _Skip,
    _Unsupported,
)
from netdsl.backend.trace_import.fx_nodes import _attr, _qualname, _Recorder, _scopes, _source
from netdsl.backend.trace_import.module_state import _check_keys, _live, _module_rank, _unowned_state
from netdsl.backend.trace_import.table import TABLE, _module_handler
from netdsl.backend.trace_import.table_functions import _IN_PLACE_FUNCTIONS, _TAKE_PARAMETERS
from netdsl.core.errors import NetdslError, NetdslErrors, SourceLoc


class _Converter:
    def __init__(self, module: nn.Module, recorder: _Recorder) -> None:
        self.module = module
        self.results = recorder.results
        self.result_dtypes = recorder.dtypes
        self.vals: dict[fx.Node, Any] = {}
        self.nodes: list[ImportedNode] = []
        self.shapes: dict[TRef, tuple[int, ...]] = {}
        self.dtypes: dict[TRef, str] = {}
        self.errors: list[NetdslError] = []
        #: in-place ops: the tensor each ref is a version of, and the latest version of each
        self.root_of: dict[TRef, TRef] = {}
        self.latest: dict[TRef, TRef] = {}
        self.module_calls: dict[str, int] = {}
        #: get_attr nodes: their fx node, and the parameter node made when a call first reads one
        self.attr_nodes: dict[str, fx.Node] = {}
        self.materialized: dict[str, TRef] = {}

    def convert(self, graph: fx.Graph, names: list[str], inputs: list[torch.Tensor]) -> ImportedGraph:
        _check_keys(self.module)
        imported_inputs: list[ImportedInput] = []
        placeholders = iter(names)
        output: fx.Node | None = None
        for n in graph.nodes:
            if n.op == "placeholder" and len(imported_inputs) == len(inputs):
                self.vals[n] = n.args[0] if n.args else None  # (an argument left at its default)
            elif n.op == "placeholder":
                name = next(placeholders)
                ref = TRef(name)
                t = inputs[len(imported_inputs)]
                imported_inputs.append(
                    ImportedInput(name, tuple(int(d) for d in t.shape), _dtype_name(t.dtype))
                )
                self.vals[n] = ref
                self.shapes[ref] = tuple(int(d) for d in t.shape)
                self.dtypes[ref] = _dtype_name(t.dtype)
            elif n.op == "output":
                output = n
            else:
                self._node(n)
        outputs = self._outputs(output)
        unowned = _unowned_state(self.module, self.nodes)
        if unowned is not None and not self.errors:
            self.errors.append(unowned)
        if self.errors:
            raise NetdslErrors(self.errors)
        nodes = _live(self.nodes, outputs)
        cls = type(self.module)
        qualname = cls.__name__ if "<locals>" in cls.__qualname__ else cls.__qualname__  # (a GraphModule's)
        return ImportedGraph(
            name=cls.__name__,
            cls=f"{cls.__module__}.{qualname}",
            inputs=imported_inputs,
            nodes=nodes,
            outputs=outputs,
            module_rank=_module_rank(self.module),
            shapes=dict(self.shapes),
        )

    # -- values ------------------------------------------------------------------------------------
    def _tensors(self, value: Any) -> Any:
        """``value`` with its parameters (:class:`AttrRef`) made nodes."""
        if isinstance(value, AttrRef):
            return self._materialize(value)
        if isinstance(value, tuple):
            return tuple(self._tensors(v) for v in value)
        if isinstance(value, list):
            return [self._tensors(v) for v in value]
        if isinstance(value, dict):
            return {k: self._tensors(v) for k, v in value.items()}
        return value

    def _materialize(self, ref: AttrRef) -> TRef:
        got = self.materialized.get(ref.path)
        if got is not None:
            return got
        n = self.attr_nodes[ref.path]
        value = _attr(self.module, ref.path)
        if ref.parameter:
            attrs: dict[str, Any] = {"shape": list(ref.shape), "init": "zeros"}
            if not value.requires_grad:
                attrs["trainable"] = False
            steps = [Emit("parameter", [], attrs)]
        else:
            steps = [
                Emit("zeros", [], {"shape": list(ref.shape), "dtype": _dtype_name(value.dtype)}),
                Emit("buffer", [PREV]),
            ]
        self._add(n, steps, module_path=ref.path, stateful=True)
        got = self.vals[n]
        assert isinstance(got, TRef)
        self.materialized[ref.path] = got
        return got

    def _owner_state(self, path: str) -> set[str]:
        """The names of a module's own parameters and persistent buffers."""
        owner = self.module.get_submodule(path) if path else self.module
        names = {k for k, _ in owner.named_parameters(recurse=False)}
        names |= {k for k in owner._buffers if k not in owner._non_persistent_buffers_set}
        return names

    def _value(self, arg: Any) -> Any:
        if isinstance(arg, fx.Node):
            if arg not in self.vals:
                raise _Skip()
            return self._current(self.vals[arg])
        if isinstance(arg, tuple):
            return tuple(self._value(a) for a in arg)
        if isinstance(arg, list):
            return [self._value(a) for a in arg]
        if isinstance(arg, slice):
            return slice(self._value(arg.start), self._value(arg.stop), self._value(arg.step))
        if isinstance(arg, dict):
            return {k: self._value(v) for k, v in arg.items()}
        return arg

    def _current(self, value: Any) -> Any:
        """A tensor as last written by an in-place op."""
        if isinstance(value, TRef):
            return self.latest.get(self.root_of.get(value, value), value)
        if isinstance(value, tuple):
            return tuple(self._current(v) for v in value)
        return value

    # -- one fx node -------------------------------------------------------------------------------
    def _node(self, n: fx.Node) -> None:
        try:
            if n.op == "get_attr":
                self._get_attr(n)
                return
            module = self.module.get_submodule(str(n.target)) if n.op == "call_module" else None
            handler, what = self._handler(n, module)
            if handler is None:
                raise _Unsupported("netdsl has no op for it")
            args = tuple(self._value(a) for a in n.args)
            kwargs = {k: self._value(v) for k, v in n.kwargs.items()}
            if n.target not in _TAKE_PARAMETERS:
                args, kwargs = self._tensors(args), self._tensors(kwargs)
            call = Call(
                what, args, kwargs, module, self.results.get(n), self.shapes, self.dtypes, self._owner_state
            )
            result = handler(call)
        except _Skip:
            return
        except _Unsupported as e:
            self._unsupported(n, e.reason)
            return
        self._apply(n, result, module)

    def _handler(self, n: fx.Node, module: nn.Module | None) -> tuple[Handler | None, str]:
        if n.op == "call_module":
            assert module is not None
            cls = type(module)
            return _module_handler(module), f"module {n.target} ({cls.__module__}.{cls.__qualname__})"
        if n.op == "call_method":
            return TABLE.get(str(n.target)), f"method Tensor.{n.target}"
        try:
            handler = TABLE.get(n.target)
        except TypeError:  # (an unhashable target)
            handler = None
        return handler, f"function {_qualname(n.target)}"

    def _unsupported(self, n: fx.Node, reason: str) -> None:
        if n.op == "call_module":
            module = self.module.get_submodule(str(n.target))
            what = f"module {n.target} ({type(module).__module__}.{type(module).__qualname__})"
        elif n.op == "call_method":
            what = f"method Tensor.{n.target}"
        elif n.op == "get_attr":
            what = f"attribute {n.target}"
        else:
            what = f"function {_qualname(n.target)}"
        src = _source(n)
        where = f": {src.code}" if src is not None and src.code else ""
        loc = SourceLoc(src.file, src.line, 1) if src is not None else None
        self.errors.append(
            UnsupportedCall(
                f"cannot import {what} (fx node {n.name}){where}: {reason}",
                loc,
                hint="netdsl import maps torch.nn modules, functions and tensor methods that have a netdsl "
                "op (netdsl ops); rewrite this call, or add an op (docs/plugins.md)",
            )
        )

    def _get_attr(self, n: fx.Node) -> None:
        path = str(n.target)
        value = _attr(self.module, path)
        owner_path, _, leaf = path.rpartition(".")
        owner = self.module.get_submodule(owner_path) if owner_path else self.module
        shape = tuple(int(d) for d in value.shape) if isinstance(value, torch.Tensor) else ()
        persistent = leaf in owner._buffers and leaf not in owner._non_persistent_buffers_set
        if isinstance(value, nn.Parameter) or (isinstance(value, torch.Tensor) and persistent):
            self.attr_nodes.setdefault(path, n)
            self.vals[n] = AttrRef(path, shape, isinstance(value, nn.Parameter))
            return
        raise _Unsupported(
            "a tensor attribute that is neither a parameter nor a persistent buffer: its values are not in "
            "the state_dict, so a spec cannot carry them"
        )

    def _apply(self, n: fx.Node, result: Result, module: nn.Module | None) -> None:
        if isinstance(result, Alias):
            self.vals[n] = result.value
            return
        steps = result.steps if isinstance(result, Chain) else [result]
        stateful = module is not None and (
            any(True for _ in module.parameters()) or any(True for _ in module.buffers())
        )
        path = str(n.target) if n.op == "call_module" else steps[-1].module
        if steps[-1].module is not None:
            stateful = True
        if path is not None:
            calls = self.module_calls.get(path, 0)
            self.module_calls[path] = calls + 1
            if calls and stateful:
                self._unsupported(
                    n,
                    "the module is called more than once: netdsl has no shared weights (each node owns its "
                    "parameters)",
                )
                return
        inplace = (
            steps[-1].inplace
            or (n.op == "call_method" and str(n.target).endswith("_") and not str(n.target).endswith("__"))
            or (
                n.op == "call_function"
                and (n.target in _IN_PLACE_FUNCTIONS or getattr(n.target, "__name__", "").endswith("_"))
            )
        )
        self._add(n, steps, module_path=path, stateful=stateful)
        if inplace and n.args and isinstance(n.args[0], fx.Node) and isinstance(self.vals.get(n), TRef):
            target = self._value(n.args[0])
            if isinstance(target, TRef):
                root = self.root_of.get(target, target)
                new = self.vals[n]
                assert isinstance(new, TRef)
                self.root_of[new] = root
                self.latest[root] = new

    def _add(self, n: fx.Node, steps: list[Emit], module_path: str | None, stateful: bool) -> None:
        scopes = _scopes(n)
        source = _source(n)
        prev: TRef | None = None
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            name = n.name if last else f"{n.name}__{i + 1}"
            inputs = tuple(prev if r == PREV and prev is not None else r for r in step.inputs)
            node = ImportedNode(
                name=name,
                op=step.op,
                inputs=inputs,
                attrs=step.attrs,
                module=module_path if last else None,
                stateful=stateful and last,
                scopes=scopes,
                source=source,
                outputs=step.outputs,
                origin=f"{n.op} {n.target}",
            )
            self.nodes.append(node)
            prev = TRef(name)
        last_step = steps[-1]
        result = self.results.get(n)
        dtypes = self.result_dtypes.get(n)
        if last_step.outputs > 1:
            refs = tuple(TRef(n.name, i) for i in range(last_step.outputs))
            self.vals[n] = refs
            for i, ref in enumerate(refs):
                if isinstance(result, list) and i < len(result) and isinstance(result[i], tuple):
                    self.shapes[ref] = result[i]
                if isinstance(dtypes, list) and i < len(dtypes) and dtypes[i]:
                    self.dtypes[ref] = dtypes[i]
        else:
            ref = TRef(n.name)
            self.vals[n] = ref
            if isinstance(result, tuple):
                self.shapes[ref] = result
            if isinstance(dtypes, str):
                self.dtypes[ref] = dtypes

    def _outputs(self, output: fx.Node | None) -> list[TRef]:
        if output is None:
            return []
        refs: list[TRef] = []

        def walk(v: Any) -> None:
            if isinstance(v, fx.Node):
                if v not in self.vals:
                    return  # (unsupported: reported)
                walk(self._current(self.vals[v]))
            elif isinstance(v, TRef):
                refs.append(v)
            elif isinstance(v, AttrRef):
                refs.append(self._materialize(v))
            elif isinstance(v, tuple | list):
                for item in v:
                    walk(item)
            else:
                self._unsupported(output, f"the module returns a {type(v).__name__}; netdsl returns tensors")

        walk(output.args[0])
        return refs

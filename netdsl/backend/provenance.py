"""Provenance at run time: an exception raised while a built module runs (eagerly, or while
torch.compile or torch.export trace it) gets a note naming the spec node involved, its file:line and
the block instances around it.

Every fx node of a built module carries its spec node (``node.meta["netdsl"]``) and, as
``node.meta["stack_trace"]``, the spec line in Python's traceback form, which torch itself shows
in its tracing errors and keeps through torch.export. The generated ``forward`` of a GraphModule
maps its line numbers to fx nodes (``_lineno_map``): a frame of that code in an exception's
traceback, or in the user stack torch.compile attaches to its errors, names the node that failed.
"""

from __future__ import annotations

import re
import traceback
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from torch import fx


@dataclass(frozen=True)
class _Code:
    """What a frame of a GraphModule's generated forward needs to name its fx node's spec node."""

    firstlineno: int
    lines: dict[int, int | None]  # line - firstlineno -> index of the fx node
    metas: list[dict[str, Any] | None]  # node.meta["netdsl"] by index
    #: the spec's CheckResult (gm.meta["netdsl"]["check"]), held weakly: the code of a module outlives
    #: neither the module nor its spec's IR
    check_ref: Callable[[], Any]

    @property
    def check(self) -> Any:
        return self.check_ref()


#: the code of the GraphModules netdsl made (built, rewritten, compiled by regions), by file name
#: (``<eval_with_key>.N``): torch.compile's errors quote frames, not the modules
_CODES: OrderedDict[str, _Code] = OrderedDict()
MAX_TRACKED = 512
_FRAME_IN_TEXT = re.compile(r'File "(<eval_with_key>[^"]*)", line (\d+)')
NOTE_PREFIX = "netdsl: raised by "


def _code(gm: fx.GraphModule) -> _Code | None:
    forward = getattr(type(gm).forward, "__code__", None)
    lines = getattr(gm, "_lineno_map", None)
    if forward is None or not lines:
        return None
    metas = [n.meta.get("netdsl") for n in gm.graph.nodes]
    check = gm.meta.get("netdsl", {}).get("check")
    try:
        check_ref: Callable[[], Any] = weakref.ref(check) if check is not None else _none
    except TypeError:  # (not weakly referable)
        check_ref = _none
    return _Code(forward.co_firstlineno, dict(lines), metas, check_ref)


def _none() -> None:
    return None


def track(gm: fx.GraphModule) -> fx.GraphModule:
    """Remember the code of ``gm`` (as it is now) so that errors quoting it can be traced back to the
    spec; returns ``gm``."""
    code, filename = _code(gm), _code_file(gm)
    if code is not None and filename is not None:
        _CODES[filename] = code
        _CODES.move_to_end(filename)
        while len(_CODES) > MAX_TRACKED:
            _CODES.popitem(last=False)
    return gm


def stack_trace(meta: dict[str, Any], text: str | None = None) -> str:
    """``node.meta["stack_trace"]`` for a spec node: the spec line in a traceback's form."""
    line = f'  File "{meta["file"]}", line {meta["line"]}, in {meta["node"]}\n'
    if text:
        line += f"    {text.strip()}\n"
    return line


def _code_file(gm: fx.GraphModule) -> str | None:
    code = getattr(type(gm).forward, "__code__", None)
    return code.co_filename if code is not None else None


def _frames(exc: BaseException) -> Iterator[tuple[str, int, fx.GraphModule | None]]:
    """(file name, line, the GraphModule when known) of the frames of generated fx code the
    exception went through, innermost first: its traceback, torch.compile's user stack, and frames
    quoted in its message."""
    found: list[tuple[str, int, fx.GraphModule | None]] = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        me = frame.f_locals.get("self")
        if isinstance(me, fx.GraphModule) and frame.f_code.co_filename == _code_file(me):
            found.append((frame.f_code.co_filename, lineno, me))
    for summary in getattr(exc, "real_stack", None) or []:
        if "eval_with_key" in summary.filename and summary.lineno is not None:
            found.append((summary.filename, summary.lineno, None))
    for m in _FRAME_IN_TEXT.finditer(str(exc)):
        found.append((m[1], int(m[2]), None))
    return reversed(found)


def meta_at(code: _Code, lineno: int) -> dict[str, Any] | None:
    """The spec meta of the fx node whose code is at line ``lineno`` of a generated forward."""
    index = code.lines.get(lineno - code.firstlineno)
    if index is None or not 0 <= index < len(code.metas):
        return None
    return code.metas[index]


def spec_origin(exc: BaseException) -> str | None:
    """The note for ``exc``: the spec node of the innermost frame of netdsl-made code it went
    through (None when it went through none, or through code with no spec node)."""
    for filename, lineno, gm in _frames(exc):
        code = _code(gm) if gm is not None else _CODES.get(filename)
        meta = meta_at(code, lineno) if code is not None else None
        if meta and "loc" in meta:
            return describe(meta, code.check if code is not None else None)
    return None


def describe(meta: dict[str, Any], check: Any = None) -> str:
    """``raised by spec node 'x' (op conv2d) at file:line:col``, and the block instances around it
    when the spec's check result is known."""
    text = f"{NOTE_PREFIX}spec node {meta['node']!r} ({meta['op']}) at {meta['loc']}"
    graph = getattr(check, "graph", None)
    node = graph.node_map().get(meta["node"]) if graph is not None else None
    if node is not None:
        for scope in reversed(node.scope.chain()):
            if scope.parent is not None and scope.block is not None:
                name = scope.path or scope.entry
                text += f"\n  in block instance {name} of {scope.block} ({scope.loc.file}:{scope.loc.line})"
    return text


def add_spec_note(exc: BaseException) -> BaseException:
    """``exc`` with the note of :func:`spec_origin` added (once); returns ``exc``."""
    notes = getattr(exc, "__notes__", [])
    if any(n.startswith(NOTE_PREFIX) for n in notes):
        return exc
    note = spec_origin(exc)
    if note is not None:
        exc.add_note(note)
    return exc


class SpecGraphModule(fx.GraphModule):
    """The GraphModule netdsl builds: an exception raised while it runs names the spec node, and a
    state_dict that does not load says why in the spec's terms."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as e:
            add_spec_note(e)
            raise

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """``nn.Module.load_state_dict``; when torch refuses the state_dict, its RuntimeError gets a
        note with ``netdsl check-weights``' report: each missing or unexpected key with the closest
        one, each shape mismatch at the spec line of the node that owns the parameter, the key map
        to apply when the keys carry a prefix."""
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as e:
            from netdsl.backend.checkpoint_io import state_dict_report

            report = state_dict_report(self, state_dict)
            if report is not None and not report.ok:
                e.add_note("netdsl check-weights:\n" + report.render(warnings=False))
            raise

"""Plugin ops: ops of installed distributions (entry point group ``netdsl.ops``) and of scripts
(:func:`register_op`), checked like netdsl's own and registered in the same registry.

An entry point of ``netdsl.ops`` is named after the op it defines and names its torch-free
:class:`~netdsl.ops.base.OpDef` (or a function of no arguments that returns it)::

    [project.entry-points."netdsl.ops"]
    squared_relu = "netdsl_example_plugin.ops:SQUARED_RELU"

so a spec's op is found by its name without loading any other plugin: :data:`~netdsl.ops.base.REGISTRY`
asks :func:`find_op` for a name it does not hold, and the plugin that defines it is loaded then, once
per process. The op's lowering is named by ``OpDef.lowering`` (``"package.module:function"``) and
imported only when the op is lowered (:data:`netdsl.ops.lowerings.LOWERINGS`), so ``netdsl validate``
stays torch-free. docs/plugins.md has the whole story.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from netdsl.core import plugins
from netdsl.core.errors import NetdslError
from netdsl.core.plugins import OPS_GROUP, PluginEntry, PluginError
from netdsl.core.types import DTYPES
from netdsl.ops.base import FAMILIES, REGISTRY, Attrs, OpDef

#: names lowering gives its own fx nodes (``node.meta["netdsl"]["op"]``): no op may take them
RESERVED_NAMES = frozenset({"input", "output", "constant"})

#: the ops whose plugin cannot be loaded or defines them wrongly: their error, raised on every lookup
_FAILED: dict[str, PluginError] = {}


def _own_op(name: str) -> bool:
    op = dict.get(REGISTRY, name)
    return op is not None and op.plugin is None


def _names(values: object) -> bool:
    return isinstance(values, tuple) and all(isinstance(v, str) and v.isidentifier() for v in values)


def _problems(op: OpDef) -> list[tuple[str, str | None]]:
    """What is wrong with a plugin op's definition: (problem, hint) pairs, the first few that apply."""
    out: list[tuple[str, str | None]] = []
    if not isinstance(op.family, str) or op.family not in FAMILIES:
        out.append(
            (f"unknown family {op.family!r}", f"one of {', '.join(FAMILIES)}"),
        )
    if not isinstance(op.doc, str) or not op.doc.strip():
        out.append(("`doc` is empty", "one line saying what the op computes (`netdsl ops` shows it)"))
    if not (inspect.isclass(op.attrs) and issubclass(op.attrs, Attrs)):
        out.append(("`attrs` is not a subclass of netdsl.ops.base.Attrs", "use NoAttrs, or subclass Attrs"))
    elif op.takes_init_as_attribute != ("init" in op.attrs.model_fields):
        out.append(("an `init` attribute goes with takes_init_as_attribute=True", None))
    for field in ("infer", "outputs"):
        if not callable(getattr(op, field)):
            out.append((f"`{field}` is not a function", None))
    for field in ("params", "macs"):
        if getattr(op, field) is not None and not callable(getattr(op, field)):
            out.append((f"`{field}` is neither None nor a function", None))
    if not _names(op.inputs) or len(set(op.inputs)) != len(op.inputs):
        out.append(("`inputs` must be a tuple of distinct identifiers, e.g. ('x',)", None))
    elif not isinstance(op.optional_inputs, int) or not 0 <= op.optional_inputs <= len(op.inputs):
        out.append((f"`optional_inputs` must be from 0 to {len(op.inputs)}", None))
    elif op.variadic and op.optional_inputs:
        out.append(("a variadic op has no optional inputs", None))
    if not isinstance(op.dtypes, tuple) or not op.dtypes or not set(op.dtypes) <= set(DTYPES):
        out.append((f"`dtypes` must be a non-empty tuple of {', '.join(DTYPES)}", None))
    if not isinstance(op.input_dtypes, Mapping):
        out.append(("`input_dtypes` must map input names to tuples of dtypes", None))
    for key, dtypes in (op.input_dtypes if isinstance(op.input_dtypes, Mapping) else {}).items():
        if not isinstance(op.inputs, tuple) or key not in op.inputs:
            out.append((f"`input_dtypes` names {key!r}, which is not an input", None))
        elif not isinstance(dtypes, tuple) or not dtypes or not set(dtypes) <= set(DTYPES):
            out.append((f"`input_dtypes[{key!r}]` must be a non-empty tuple of {', '.join(DTYPES)}", None))
    if op.lowering is None:
        out.append(
            (
                "it has no lowering",
                "set `lowering='package.module:function'` (imported when the op is lowered), "
                "or pass the function itself",
            )
        )
    elif isinstance(op.lowering, str):
        if not plugins.IMPORT_PATH.fullmatch(op.lowering):
            out.append((f"`lowering` {op.lowering!r} is not an import path `package.module:function`", None))
    elif not callable(op.lowering):
        out.append(("`lowering` is neither an import path nor a function", None))
    return out


def check_op(op: object, where: str, name: str | None = None) -> OpDef:
    """``op`` if it is a valid plugin op definition (``name``: the name it must have), else a
    PluginError saying what is wrong, prefixed with ``where``."""
    if not isinstance(op, OpDef):
        raise PluginError(
            f"{where}: expected a netdsl.ops.OpDef, got a {type(op).__name__}",
            hint="see docs/plugins.md for an op definition",
        )
    if not isinstance(op.name, str) or not (op.name.isascii() and op.name.isidentifier()):
        raise PluginError(
            f"{where}: op name {op.name!r} is not an identifier",
            hint="a name of letters, digits and _ that does not start with a digit: squared_relu",
        )
    if name is not None and op.name != name:
        raise PluginError(
            f"{where}: the entry point is named {name!r} but the op it names is {op.name!r}",
            hint="name the entry point after its op",
        )
    if _own_op(op.name):
        raise PluginError(
            f"{where}: op {op.name!r} is one of netdsl's own ops",
            hint="give your op a name of its own (`netdsl ops` lists the names taken)",
        )
    if op.name in RESERVED_NAMES:
        raise PluginError(f"{where}: op name {op.name!r} is reserved ({', '.join(sorted(RESERVED_NAMES))})")
    if dict.__contains__(REGISTRY, op.name):
        raise PluginError(
            f"{where}: op {op.name!r} is already registered (by {REGISTRY[op.name].plugin})",
            hint="an op is registered once per process",
        )
    problems = _problems(op)
    if problems:
        message, hint = problems[0]
        rest = "; ".join(p for p, _ in problems[1:])
        more = f" (and {len(problems) - 1} more: {rest})" if rest else ""
        raise PluginError(f"{where}: op {op.name!r}: {message}{more}", hint=hint)
    return op


def register_op(op: OpDef) -> OpDef:
    """Register a plugin op from a script (or a package that does not use entry points); returns the
    registered definition.

    The definition is checked as the ops of installed plugins are (a :class:`PluginError` says what is
    wrong): its name is an identifier that neither netdsl's own ops nor another plugin op have, its
    family is one of :data:`~netdsl.ops.base.FAMILIES`, ``attrs`` subclasses
    :class:`~netdsl.ops.base.Attrs`, and ``lowering`` names the lowering (``"package.module:function"``,
    imported when the op is first lowered, or the function itself)::

        import netdsl
        from netdsl.ops.base import NoAttrs, OpDef, same_type

        netdsl.register_op(OpDef(name="squared_relu", family="activation", doc="relu(x) ** 2",
                                 attrs=NoAttrs, infer=same_type, lowering="mypkg.lowering:squared_relu"))
    """
    where = f"register_op({getattr(op, 'name', op)!r})"
    checked = check_op(op, where)
    frame = inspect.currentframe()
    caller = frame.f_back.f_globals.get("__name__") if frame is not None and frame.f_back else None
    registered = replace(checked, plugin=f"register_op in {caller or 'a script'}")
    REGISTRY[checked.name] = registered
    return registered


def _load(entry: PluginEntry) -> OpDef:
    target: Any = entry.load()
    if callable(target) and not isinstance(target, OpDef):
        try:
            target = target()
        except NetdslError as e:
            raise entry.error(f"failed to load: {e.message}", hint=e.hint) from None
        except (Exception, SystemExit) as e:
            raise entry.error(f"failed to load: {type(e).__name__}: {e}") from None
    op = check_op(target, f"plugin {entry.describe()}", name=entry.name)
    registered = replace(op, plugin=entry.distribution)
    REGISTRY[op.name] = registered
    return registered


def _entries(name: str) -> list[PluginEntry]:
    return [e for e in plugins.entries(OPS_GROUP) if e.name == name]


def find_op(name: str) -> OpDef | None:
    """The plugin op ``name``, its plugin loaded now (and registered); None when no installed plugin
    defines it. A plugin that cannot be loaded, defines the op wrongly, or shares the name with another
    plugin raises a PluginError, on this and every later lookup of the name."""
    if not (name.isascii() and name.isidentifier()) or name in RESERVED_NAMES:
        return None  # (lowering's own names are looked up on every build: no need to read entry points)
    if name in _FAILED:
        raise _FAILED[name]
    found = _entries(name)
    if not found:
        return None
    try:
        if len(found) > 1:
            raise PluginError(
                f"op {name!r} is defined by {len(found)} plugins: " + "; ".join(e.describe() for e in found),
                hint="uninstall all but one of them",
            )
        return _load(found[0])
    except PluginError as e:
        _FAILED[name] = e
        raise


def load_all() -> list[NetdslError]:
    """Load every plugin op (for listings): the problems of those that cannot be, and of those named
    like one of netdsl's own ops (netdsl's is used)."""
    problems: list[NetdslError] = []
    seen: set[str] = set()
    for entry in plugins.entries(OPS_GROUP):
        if entry.name in seen:
            continue
        seen.add(entry.name)
        if _own_op(entry.name):
            problems.append(
                entry.error(
                    f"op {entry.name!r} is one of netdsl's own ops; netdsl's is used",
                    hint="the plugin must give its op a name of its own",
                )
            )
            continue
        try:
            REGISTRY.get(entry.name)
        except PluginError as e:
            problems.append(e)
    return problems


def plugin_ops() -> dict[str, str]:
    """The plugin ops registered so far: name -> where each comes from."""
    return {name: op.plugin for name, op in REGISTRY.items() if op.plugin is not None}


def forget() -> None:
    """Unregister every plugin op and forget the failures and the entry points (for tests)."""
    for name in list(plugin_ops()):
        del REGISTRY[name]
    _FAILED.clear()
    plugins.forget()


__all__ = [
    "RESERVED_NAMES",
    "PluginError",
    "check_op",
    "find_op",
    "forget",
    "load_all",
    "plugin_ops",
    "register_op",
]

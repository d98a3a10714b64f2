"""Names a spec may not give to what lowering turns into Python attributes and arguments (torch-free).

Lowering installs the module (or parameter, or buffer) of a weighted node at the node's path on a
``torch.fx.GraphModule``: every component of the path becomes an attribute of the GraphModule or of
a plain ``nn.Module`` container. A component that is already an attribute (``forward``, ``eval``,
``training``, ``_modules``, ``code``, ``graph``, ...) makes torch refuse the module, or silently
replaces what the GraphModule needs; a Python keyword (``class``) makes the generated code invalid.
The resolver refuses such paths (:func:`check_node_path`), at the key that gave the name.

:data:`RESERVED` is a fixed list, kept equal to ``dir(torch.fx.GraphModule)`` plus the instance
attributes of a built module by ``tests/test_static_runtime.py``.
"""

from __future__ import annotations

import keyword
from typing import TYPE_CHECKING

from netdsl.core.errors import ResolveError, SourceLoc

if TYPE_CHECKING:
    from netdsl.ir.graph import Node

#: attributes of a torch.fx.GraphModule (its class and a built instance): torch 2.13
RESERVED: frozenset[str] = frozenset(
    {
        "T_destination",
        "___needs_generation_tag_patch",  # set on modules by torch.compile (dynamo)
        "__annotations__",
        "__call__",
        "__class__",
        "__copy__",
        "__deepcopy__",
        "__delattr__",
        "__dict__",
        "__dir__",
        "__doc__",
        "__eq__",
        "__format__",
        "__ge__",
        "__getattr__",
        "__getattribute__",
        "__getstate__",
        "__gt__",
        "__hash__",
        "__init__",
        "__init_subclass__",
        "__jit_unused_properties__",
        "__le__",
        "__lt__",
        "__module__",
        "__ne__",
        "__new__",
        "__reduce__",
        "__reduce_ex__",
        "__reduce_package__",
        "__repr__",
        "__setattr__",
        "__setstate__",
        "__sizeof__",
        "__str__",
        "__subclasshook__",
        "__weakref__",
        "_apply",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_boxed_call",
        "_buffers",
        "_call_impl",
        "_code",
        "_compiled_call_impl",
        "_create_node_hooks",
        "_deepcopy_hooks",
        "_deepcopy_init",
        "_erase_node_hooks",
        "_forward_hooks",
        "_forward_hooks_always_called",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_get_backward_hooks",
        "_get_backward_pre_hooks",
        "_get_name",
        "_graph",
        "_is_full_backward_hook",
        "_lineno_map",
        "_load_from_state_dict",
        "_load_state_dict_post_hooks",
        "_load_state_dict_pre_hooks",
        "_maybe_warn_non_full_backward_hook",
        "_modules",
        "_named_members",
        "_non_persistent_buffers_set",
        "_parameters",
        "_prologue_start",
        "_recompile_submodules",
        "_register_create_node_hook",
        "_register_deepcopy_hook",
        "_register_erase_node_hook",
        "_register_load_state_dict_pre_hook",
        "_register_replace_node_hook",
        "_register_state_dict_hook",
        "_replace_hooks",
        "_replicate_for_data_parallel",
        "_save_to_state_dict",
        "_set_replace_hook",
        "_slow_forward",
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_tracer_cls",
        "_tracer_extras",
        "_unregister_create_node_hook",
        "_unregister_deepcopy_hook",
        "_unregister_erase_node_hook",
        "_unregister_replace_node_hook",
        "_version",
        "_wrapped_call_impl",
        "add_module",
        "add_submodule",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "code",
        "compile",
        "cpu",
        "cuda",
        "delete_all_unused_submodules",
        "delete_submodule",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "graph",
        "half",
        "ipu",
        "load_state_dict",
        "meta",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "print_readable",
        "recompile",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "shape_env",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "to_folder",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    }
)

#: names the code torch.fx generates refers to besides its arguments (``self`` and the globals it
#: imports: ``torch.fx.graph._custom_builtins``); an argument so named would shadow them
CODEGEN_NAMES: frozenset[str] = frozenset(
    {"self", "torch", "inf", "nan", "NoneType", "device", "fx_pytree", "pytree"}
)


def reserved_reason(name: str) -> str | None:
    """Why ``name`` cannot be a component of a module path (None when it can)."""
    if name in RESERVED:
        return "is an attribute of torch.fx.GraphModule / nn.Module"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    return None


def safe_name(name: str, taken: frozenset[str] | set[str] = frozenset()) -> str:
    """``name`` with '_' appended until it is neither reserved, a keyword, nor in ``taken``."""
    while reserved_reason(name) or name in taken:
        name += "_"
    return name


def safe_argument(name: str, taken: frozenset[str] | set[str] = frozenset()) -> str:
    """A name for a generated function argument: not a keyword, nor a name the code refers to."""
    while keyword.iskeyword(name) or name in CODEGEN_NAMES or name in taken:
        name += "_"
    return name


def _origins(node: Node) -> list[tuple[str, SourceLoc]]:
    """Each component of the node's path with the key that gave it: a block instance's key in its
    caller for the components of its scope, the node's own key for the rest."""
    out: list[tuple[str, SourceLoc]] = []
    prefix = ""
    for scope in node.scope.chain():
        if not scope.path or scope.path == prefix:
            continue
        rest = scope.path[len(prefix) + 1 :] if prefix else scope.path
        out += [(part, scope.loc) for part in rest.split(".")]
        prefix = scope.path
    rest = node.id[len(prefix) + 1 :] if prefix else node.id
    return out + [(part, node.loc) for part in rest.split(".")]


def check_node_path(node: Node) -> None:
    """Refuse a node that installs a module, parameter or buffer at a path with a reserved component."""
    if not node.opdef.installs:
        return
    for part, loc in _origins(node):
        why = reserved_reason(part)
        if why is not None:
            where = "" if part == node.id else f" (in its module path {node.id!r})"
            raise ResolveError(
                f"the name {part!r}{where} {why}: op {node.op!r} installs a module, parameter or buffer "
                "under it, which would clash",
                loc,
                hint=f"rename it, e.g. {safe_name(part)!r}",
            )

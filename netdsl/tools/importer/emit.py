"""The YAML text of an imported network and of its blocks: one node per line (a flow mapping),
values quoted where YAML would read them as something else."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from netdsl.tools.importer.model import BlockDef, Body, CondRef, Entry, ParamRef

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_YAML_WORDS = {"true", "false", "null"}  # (YAML 1.2: yes/no/on/off are strings)


def value(v: Any) -> str:
    """A value in YAML's flow style."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    if isinstance(v, ParamRef):
        return f"${v.name}"
    if isinstance(v, CondRef):
        return json.dumps(f"${{{v.then!r} if {v.flag} else {v.other!r}}}")
    if isinstance(v, str):
        return v if _PLAIN.match(v) and v.lower() not in _YAML_WORDS else json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{value(str(k))}: {value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def entry_line(e: Entry) -> str:
    parts = [f"{e.kind}: {value(e.what)}"]
    if e.inputs:
        parts.append(f"in: {value(e.inputs[0]) if len(e.inputs) == 1 else value(e.inputs)}")
    if e.repeat:
        parts.append(f"repeat: {e.repeat}")
        if e.repeat_var:
            parts.append(f"repeat_var: {e.repeat_var}")
        if e.path:
            parts.append(f"path: {json.dumps(e.path)}")
    if e.when is not None:
        parts.append(f"when: {value(e.when)}")
    parts += [f"{value(k)}: {value(v)}" for k, v in e.attrs.items()]
    return f"{value(e.name)}: {{{', '.join(parts)}}}"


def _inputs(body: Body, indent: str) -> list[str]:
    lines = [f"{indent}inputs:"]
    for name, decl in body.inputs:
        dtype = body.dtypes.get(name, "float32")
        shape = value(decl)
        lines.append(
            f"{indent}  {value(name)}: {shape}"
            if dtype == "float32"
            else f"{indent}  {value(name)}: {{shape: {shape}, dtype: {dtype}}}"
        )
    return lines


def _body(body: Body, indent: str) -> list[str]:
    lines = [f"{indent}nodes:"]
    lines += [f"{indent}  {entry_line(e)}" for e in body.entries]
    lines.append(f"{indent}outputs: {{{', '.join(f'{value(n)}: {value(r)}' for n, r in body.outputs)}}}")
    return lines


def _params(block: BlockDef, indent: str) -> list[str]:
    if not block.params:
        return []
    lines = [f"{indent}params:"]
    for p in block.params.values():
        lines.append(f"{indent}  {value(p.name)}: {{type: {p.type}, default: {value(p.default)}}}")
    return lines


def _description(block: BlockDef) -> str:
    shown = block.instances[:6]
    more = f" and {len(block.instances) - len(shown)} more" if len(block.instances) > len(shown) else ""
    return f"{block.cls} (imported; instances {', '.join(shown)}{more})"


def block_lines(block: BlockDef, indent: str) -> list[str]:
    """A block's definition under ``blocks:`` (inline)."""
    lines = [f"{indent}{value(block.name)}:", f"{indent}  description: {json.dumps(_description(block))}"]
    lines += _params(block, indent + "  ")
    lines += _inputs(block.body, indent + "  ")
    lines += _body(block.body, indent + "  ")
    return lines


def block_file(block: BlockDef) -> str:
    """A block as a file of its own (``--blocks-dir``)."""
    lines = [
        "# Written by `netdsl import`.",
        f"block: {value(block.name)}",
        f"description: {json.dumps(_description(block))}",
    ]
    lines += _params(block, "")
    if block.body.example:
        lines.append(f"dims: {value(block.body.example)}")
    lines += _inputs(block.body, "")
    lines += _body(block.body, "")
    return "\n".join(lines) + "\n"


def network_file(
    name: str,
    cls: str,
    body: Body,
    dims: Mapping[str, int],
    blocks: Sequence[BlockDef],
    notes: Sequence[str] = (),
) -> str:
    """The network (with ``blocks`` inline; none: they are files of their own)."""
    lines = [f"# Written by `netdsl import` from {cls} (traced with torch.fx)."]
    lines += [f"# note: {n}" for n in notes]
    lines += [f"network: {value(name)}", f"description: {json.dumps(f'{cls}, imported by netdsl import.')}"]
    lines += _inputs(body, "")
    if dims:
        lines.append(f"dims: {value(dict(dims))}")
    if blocks:
        lines.append("blocks:")
        for b in blocks:
            lines += block_lines(b, "  ")
    lines += _body(body, "")
    return "\n".join(lines) + "\n"


__all__ = ["block_file", "block_lines", "entry_line", "network_file", "value"]

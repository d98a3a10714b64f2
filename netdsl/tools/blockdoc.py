"""Reference text of the block library (``netdsl blocks``, docs/blocks.md), torch-free."""

from __future__ import annotations

from netdsl.core.errors import NetdslError, display_path
from netdsl.core.symbolic import format_shape
from netdsl.frontend.library import BlockLibrary, BlockSource
from netdsl.frontend.schema import InputDecl, RequireRule


def _default(decl: object) -> str:
    return "required" if getattr(decl, "required", False) else f"default `{getattr(decl, 'default', None)!r}`"


def _one_line(src: BlockSource) -> str:
    return (src.definition.description or "").strip().splitlines()[0] if src.definition.description else ""


def _params_line(src: BlockSource) -> str:
    parts = []
    for name, decl in src.definition.params.items():
        parts.append(name if decl.required else f"{name}={decl.default!r}")
    return ", ".join(parts)


def block_list(library: BlockLibrary, problems: list[NetdslError] | None = None) -> str:
    """One entry per block; a block file that cannot be loaded is listed as such and its error
    appended to ``problems`` (the other blocks are still listed)."""
    rows = []
    for name in library.names():
        try:
            src = library.get(name)
        except NetdslError as e:
            if problems is not None:
                problems.extend(e.errors)
            rows.append((name, "(cannot be loaded: see the error below)", "-"))
            continue
        rows.append((name, _one_line(src), _params_line(src)))
    width = max((len(r[0]) for r in rows), default=4)
    return "\n".join(f"{n.ljust(width)}  {d}\n{' ' * width}  params: {p or '-'}" for n, d, p in rows)


def _inputs(src: BlockSource) -> list[str]:
    out = []
    for name, decl in src.definition.inputs.items():
        d = decl if isinstance(decl, InputDecl) else InputDecl(shape=decl)
        extra = " (optional)" if d.optional else ""
        out.append(f"`{name}` {format_shape(list(d.shape))}{extra}")
    return out


def _outputs(src: BlockSource) -> list[str]:
    raw = src.definition.outputs
    return [raw] if isinstance(raw, str) else list(raw)


def _state_dict(name: str, library: BlockLibrary) -> list[str]:
    """The state_dict of the block built on its own: defaults, and `example:` for the parameters
    without one (static, no torch)."""
    from netdsl.pipeline import Pipeline

    path = library.index[name][0]
    try:
        res = Pipeline(path).check()
    except NetdslError:
        return []
    if not res.ok or res.shapes is None:
        return []
    out = []
    for node_id, specs in res.shapes.params.items():
        for pname, spec in specs.items():
            key = f"{node_id}.{pname}" if pname else node_id
            out.append(f"`{key}` {format_shape(spec.shape)}")
    return out


def block_markdown(name: str, library: BlockLibrary) -> str:
    src = library.get(name)
    d = src.definition
    lines = [f"## `{name}`", ""]
    if d.description:
        lines += [d.description.strip(), ""]
    if src.origin == "library":  # drawn by `netdsl diagram blocks/<name>.yaml -o docs/img/blocks/<name>.svg`
        lines += [f"![{name}](img/blocks/{name}.svg)", ""]
    if d.doc:
        lines += [d.doc.strip(), ""]
    lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
    for pname, decl in d.params.items():
        choices = f" (one of {', '.join(map(str, decl.choices))})" if decl.choices else ""
        lines.append(f"| `{pname}` | {decl.type} | {_default(decl)} | {(decl.doc or '').strip()}{choices} |")
    if not d.params:
        lines.append("| - | | | |")
    lines += [
        "",
        "Inputs: " + ", ".join(_inputs(src)) + ".",
        "",
        "Outputs: " + ", ".join(f"`{o}`" for o in _outputs(src)) + ".",
    ]
    rules = [
        r if isinstance(r, str) else r.check + (f" ({r.message})" if r.message else "") for r in d.require
    ]
    if rules:
        lines += ["", "Constraints (checked before anything runs):", ""] + [f"- `{r}`" for r in rules]
    keys = _state_dict(name, library)
    if keys:
        example = getattr(library.get(name).definition, "example", {})
        given = f"the example parameters `{example}` and the defaults" if example else "the defaults"
        lines += ["", f"state_dict built with {given}:", "", ", ".join(keys) + "."]
    lines += [
        "",
        f"Build it on its own: `netdsl build {display_path(library.index[name][0])}`.",
        "",
    ]
    return "\n".join(lines)


def library_markdown(library: BlockLibrary) -> str:
    names = library.names()
    head = [
        "# The block library",
        "",
        "Generated from `blocks/*.yaml` by `netdsl blocks --format markdown`; a test keeps it in sync.",
        "Every block is a graph of primitive ops ([ops.md](ops.md)); use it in a spec with `block: <name>`.",
        "",
        "| block | description |",
        "|---|---|",
    ]
    head += [f"| [`{n}`](#{n}) | {_one_line(library.get(n))} |" for n in names]
    return "\n".join(head + [""] + [block_markdown(n, library) for n in names])


__all__ = ["RequireRule", "block_list", "block_markdown", "library_markdown"]

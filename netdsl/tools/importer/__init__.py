"""`netdsl import`: a spec from an ``nn.Module`` (docs/toolbox.md).

The module is traced by :mod:`netdsl.backend.trace_import` (torch.fx) into an
:class:`~netdsl.backend.import_graph.ImportedGraph`; this package writes it as a spec (torch-free):

- the network's dims (:mod:`~netdsl.tools.importer.frames`): the batch of every input is ``B`` and the
  spatial dims of 4-d inputs ``H``, ``W``, their example sizes in ``dims:``; sizes read from tensors
  become dim expressions. When the network only works at the example size (a reshape to a constant
  that depends on H), H and W (then B) are numbers instead, with a note in the file.
- blocks (:mod:`~netdsl.tools.importer.bodies`, :mod:`~netdsl.tools.importer.merge`): every module
  class called two or more times (torchvision's BasicBlock, InvertedResidual, ...) is a block, its
  instances merged with parameters for what differs; instances that do not merge with the others
  stay inline. Nodes keep their module paths (``layer1.0.conv1``), so the state_dict keys are the
  module's.
- the text (:mod:`~netdsl.tools.importer.emit`), checked with netdsl's own passes before it is given
  back; :func:`import_module` also builds it and compares its outputs with the module's.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.backend.import_graph import ImportedGraph, TRef, UnsupportedCall
from netdsl.core.errors import BuildError, NetdslError, NetdslErrors, SourceLoc
from netdsl.core.symbolic import Sym
from netdsl.core.types import TensorType
from netdsl.ops import REGISTRY
from netdsl.tools.importer.bodies import NotABlock, build_body, instance_frame, instances
from netdsl.tools.importer.emit import block_file, network_file
from netdsl.tools.importer.frames import FrameError, infer
from netdsl.tools.importer.merge import NoMerge, compress_repeats, merge, param_name
from netdsl.tools.importer.model import BlockCall, BlockDef, Body, Entry

if TYPE_CHECKING:
    from torch import Tensor, nn

    from netdsl.pipeline import CheckResult

#: the dims made symbolic, tried in this order until the spec checks
DIM_LADDER: tuple[tuple[str, ...], ...] = (("B", "H", "W"), ("B",), ())


@dataclass
class ImportedSpec:
    """The result of an import: ``text``, the network with its blocks inline; ``network`` and
    ``blocks`` (name -> text), the same as a network file and block files (``--blocks-dir``)."""

    text: str
    network: str
    blocks: dict[str, str]
    name: str
    notes: list[str] = field(default_factory=list)
    block_names: list[str] = field(default_factory=list)
    #: the largest difference of the outputs, when verified
    max_difference: float | None = None


def snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    s = re.sub(r"\W+", "_", s).strip("_").lower()
    return s or "module"


def _root_inputs(
    graph: ImportedGraph, symbolic: Sequence[str]
) -> tuple[dict[TRef, TensorType], list[list[Any]], dict[str, int]]:
    """The network's input types: the batch ``B`` and a 4-d input's ``H``, ``W`` (when symbolic);
    inputs of other sizes get ``B2``, ``H2``... Other dims are numbers."""
    sizes: dict[str, int] = {}
    seeds: dict[TRef, TensorType] = {}
    decls: list[list[Any]] = []
    for k, inp in enumerate(graph.inputs):
        decl: list[Any] = []
        for i, size in enumerate(inp.shape):
            base = None
            if i == 0 and "B" in symbolic:
                base = "B"
            elif len(inp.shape) == 4 and i >= 2 and "H" in symbolic:
                base = "HW"[i - 2]
            if base is None:
                decl.append(size)
                continue
            name = base
            if name in sizes and sizes[name] != size:
                name = f"{base}{k + 1}"
            sizes[name] = size
            decl.append(name)
        decls.append(decl)
        seeds[TRef(inp.name)] = TensorType(
            tuple(Sym.var(d) if isinstance(d, str) else Sym.const(d) for d in decl), inp.dtype
        )
    return seeds, decls, sizes


def _class_order(graph: ImportedGraph, classes: Iterable[str]) -> list[str]:
    """Classes whose instances lie inside another class's instances come first (bottom-up)."""
    wanted = set(classes)
    inner: dict[str, set[str]] = {c: set() for c in wanted}
    for node in graph.nodes:
        chain = [s.cls for s in node.scopes]
        for i, outer in enumerate(chain):
            if outer in wanted:
                inner[outer].update(c for c in chain[i + 1 :] if c in wanted and c != outer)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(c: str) -> None:
        if state.get(c):
            return
        state[c] = 1
        for d in sorted(inner[c]):
            visit(d)
        state[c] = 2
        order.append(c)

    for c in sorted(wanted, key=lambda c: _first_index(graph, c)):
        visit(c)
    return order


def _first_index(graph: ImportedGraph, cls: str) -> int:
    for i, node in enumerate(graph.nodes):
        if any(s.cls == cls for s in node.scopes):
            return i
    return 10**9


def _op_defaults(op: str) -> dict[str, Any]:
    fields = REGISTRY[op].attrs.model_fields
    return {k: f.get_default(call_default_factory=True) for k, f in fields.items() if not f.is_required()}


def _names(prefix: str, n: int) -> list[str]:
    return [prefix if j == 0 else f"{prefix}{j + 1}" for j in range(n)]


def write_spec(
    graph: ImportedGraph,
    *,
    name: str | None = None,
    blocks: bool = True,
    symbolic: Sequence[str] = ("B", "H", "W"),
    taken: Iterable[str] = (),
) -> ImportedSpec:
    """The spec of ``graph``. ``blocks``: repeated module classes become blocks (else every node is
    inline); ``symbolic``: the dims kept symbolic; ``taken``: block names in use (the library's).
    Raises :class:`~netdsl.tools.importer.frames.FrameError` when a node cannot be written with
    these dims."""
    seeds, decls, dims = _root_inputs(graph, symbolic)
    root = infer(graph.nodes, seeds, dims)
    insts = instances(graph)
    decided: dict[str, BlockCall] = {}
    defs: dict[str, BlockDef] = {}
    used_names = set(taken)
    notes: list[str] = []

    def defaults_of(e: Entry) -> Mapping[str, Any]:
        if e.kind == "op":
            return _op_defaults(e.what)
        return {p.name: p.default for p in defs[e.what].params.values()}

    by_class: dict[str, list[str]] = {}
    for key, inst in insts.items():
        if not inst.scope.container and "@" not in key:
            by_class.setdefault(inst.scope.cls, []).append(key)
    candidates = {c: keys for c, keys in by_class.items() if len(keys) >= 2} if blocks else {}
    for cls in _class_order(graph, candidates):
        bodies: list[Body] = []
        keys: list[str] = []
        for key in candidates[cls]:
            inst = insts[key]
            if _enclosed(inst.parent, insts, decided) or not inst.outputs:
                continue
            try:
                frame, in_decls, _ = instance_frame(inst, root.types)
                example = {
                    d: graph.shapes[r][i]
                    for r, decl in zip(inst.inputs, in_decls, strict=True)
                    for i, d in enumerate(decl)
                    if isinstance(d, str) and r in graph.shapes
                }
                body = build_body(
                    inst.members,
                    frame,
                    decided,
                    own=key,
                    base=inst.scope.path,
                    inputs=inst.inputs,
                    input_names=_names("x", len(inst.inputs)),
                    input_decls=in_decls,
                    outputs=inst.outputs,
                    output_names=_names("y", len(inst.outputs)),
                    module_rank=graph.module_rank,
                    example=example,
                )
            except NotABlock:
                continue
            if len(body.entries) < 2:
                continue  # (a block of one node says nothing a node does not)
            bodies.append(body)
            keys.append(key)
        groups: list[list[int]] = []
        for i in range(len(bodies)):
            for g in groups:
                try:
                    merge([bodies[j] for j in [*g, i]], defaults_of)
                except NoMerge:
                    continue
                g.append(i)
                break
            else:
                groups.append([i])
        short = cls.rsplit(".", 1)[-1]
        for g in groups:
            if len(g) < 2:
                continue
            merged = merge([bodies[j] for j in g], defaults_of)
            block_name = param_name(snake(short), used_names)
            used_names.add(block_name)
            block_body = compress_repeats(merged.body, lambda b: _single_io(defs, b))
            paths = [insts[keys[j]].scope.path for j in g]
            defs[block_name] = BlockDef(block_name, cls, merged.params, block_body, paths)
            for j, args in zip(g, merged.args, strict=True):
                inst = insts[keys[j]]
                decided[keys[j]] = BlockCall(
                    block_name,
                    args,
                    inst.inputs,
                    inst.outputs,
                    _names("y", len(inst.outputs)),
                    inst.scope.path,
                )
        alone = [insts[keys[g[0]]].scope.path for g in groups if len(g) == 1]
        if alone and any(len(g) > 1 for g in groups):
            notes.append(f"{short}: {', '.join(alone)} written inline (unlike the other instances)")
    net_inputs = [TRef(i.name) for i in graph.inputs]
    outputs = graph.outputs
    out_names = ["output"] if len(outputs) == 1 else [f"output_{k}" for k in range(len(outputs))]
    try:
        body = build_body(
            graph.nodes,
            root,
            decided,
            own=None,
            base="",
            inputs=net_inputs,
            input_names=[i.name for i in graph.inputs],
            input_decls=decls,
            outputs=outputs,
            output_names=out_names,
            module_rank=graph.module_rank,
            example=dims,
        )
    except NotABlock as e:  # (cannot happen for the network: every value is in its frame)
        raise FrameError(str(e)) from None
    body = compress_repeats(body, lambda b: _single_io(defs, b))
    if not {"H", "W"} <= set(symbolic) and any(len(i.shape) == 4 for i in graph.inputs):
        notes.append("H and W are fixed: the module does not work for other image sizes as written")
    if "B" not in symbolic:
        notes.append("the batch size is fixed: the module does not work for other batch sizes as written")
    net_name = name or snake(graph.name)
    order = list(defs.values())
    text = network_file(net_name, graph.cls, body, dims, order, notes)
    network = network_file(net_name, graph.cls, body, dims, [], notes)
    return ImportedSpec(
        text=text,
        network=network,
        blocks={b.name: block_file(b) for b in order},
        name=net_name,
        notes=notes,
        block_names=[b.name for b in order],
    )


def _enclosed(parent: str | None, insts: Mapping[str, Any], decided: Mapping[str, BlockCall]) -> bool:
    while parent is not None:
        if parent in decided:
            return True
        parent = insts[parent].parent
    return False


def _single_io(defs: Mapping[str, BlockDef], block: str) -> bool:
    b = defs.get(block)
    return b is not None and len(b.body.inputs) == 1 and len(b.body.outputs) == 1


def check_text(text: str, display: str = "<import>") -> CheckResult:
    """netdsl's check (concrete sizes too) of a spec's text."""
    from netdsl.frontend.validate import parse_spec
    from netdsl.pipeline import Pipeline, Spec, read_doc

    doc = read_doc(display, text)
    return Pipeline(Spec(doc, parse_spec(doc), Path(display))).check(concrete=True)


def _library_names() -> list[str]:
    from netdsl.frontend.library import BlockLibrary

    try:
        return BlockLibrary(plugin_problems=[]).names()
    except NetdslError:
        return []


def _frame_error(graph: ImportedGraph, e: FrameError) -> NetdslError:
    node = e.node
    if node is None:
        return BuildError(f"import: {e.message}")
    src = node.source
    where = f": {src.code}" if src is not None and src.code else ""
    loc = SourceLoc(src.file, src.line, 1) if src is not None else None
    return UnsupportedCall(
        f"cannot write {node.origin} (fx node {node.name}) as netdsl op {node.op}{where}: {e.message}", loc
    )


def import_graph(
    graph: ImportedGraph, *, name: str | None = None, blocks: bool = True, display: str = "<import>"
) -> Iterator[ImportedSpec]:
    """The specs of ``graph`` that netdsl's check accepts, best first (symbolic dims and blocks;
    then fewer symbolic dims; then without blocks), each made when asked for. Raises the first
    problem when there is none."""
    taken = _library_names()
    first: NetdslError | None = None
    found = False
    modes = [(s, b) for b in ([True, False] if blocks else [False]) for s in DIM_LADDER]
    for symbolic, with_blocks in modes:
        try:
            spec = write_spec(graph, name=name, blocks=with_blocks, symbolic=symbolic, taken=taken)
        except FrameError as e:
            first = first or _frame_error(graph, e)
            continue
        result = check_text(spec.text, display)
        if result.ok:
            if blocks and not with_blocks:
                spec.notes.append("written without blocks: the blocks did not check")
            found = True
            yield spec
        elif first is None:
            first = NetdslErrors(result.errors)
    if not found:
        assert first is not None
        raise first


def import_module(
    module: nn.Module,
    example_inputs: Sequence[Tensor],
    *,
    input_names: Sequence[str] | None = None,
    name: str | None = None,
    blocks: bool = True,
    verify: bool = True,
    display: str = "<import>",
) -> ImportedSpec:
    """Trace ``module`` (in eval mode) on ``example_inputs`` and write its spec. ``verify``: build
    the spec, load the module's state_dict into it (strict) and compare the outputs (a spec that
    does not match is not returned: the next candidate is tried, then BuildError)."""
    from netdsl.backend.trace_import import compare_outputs, trace_module

    was_training = module.training
    module.eval()
    try:
        graph = trace_module(module, example_inputs, input_names)
        candidates = import_graph(graph, name=name, blocks=blocks, display=display)
        if not verify:
            return next(candidates)
        problem: NetdslError | None = None
        for spec in itertools.islice(candidates, 3):
            try:
                built = _build(spec.text, display).eval()
                spec.max_difference = compare_outputs(module, built, example_inputs)
            except NetdslError as e:
                problem = problem or e
                continue
            if problem is not None:
                spec.notes.append(f"the first candidate did not match the module: {problem.message}")
            return spec
        assert problem is not None
        raise problem
    finally:
        module.train(was_training)


def _build(text: str, display: str) -> nn.Module:
    from netdsl.frontend.validate import parse_spec
    from netdsl.pipeline import Pipeline, Spec, read_doc

    doc = read_doc(display, text)
    run = Pipeline(Spec(doc, parse_spec(doc), Path(display)))
    run.check().raise_if_errors()
    gm = run.module(0)
    assert gm is not None
    return gm


__all__ = ["DIM_LADDER", "ImportedSpec", "check_text", "import_graph", "import_module", "snake", "write_spec"]

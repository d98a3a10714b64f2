"""Regional compilation: compile each distinct block once, however deep the network.

``torch.compile`` of a whole network traces and compiles every block instance, so its cost grows with
depth (Shunted-B has 19 blocks of 4 kinds). Here the lowered graph is cut into pieces, in order:

- **regions**: block instances (their module paths come from lowering,
  ``gm.meta["netdsl"]["instances"]``) whose code is the same as another instance's. The code of a
  region is generated once per kind, with module paths relative to the instance, as a function of
  the instance's module and its inputs; it is compiled once per kind and called with each
  instance's module (torch.compile guards on the module's structure, not its identity: one graph
  per kind);
- **glue**: the runs of nodes between regions (stems, patch embeddings, heads), each a function of
  the root module, compiled on its own.

The module returned runs the pieces in order (a few Python calls); it is a copy of the GraphModule
that shares its parameters, so ``state_dict()`` is unchanged. Regions need weights as inputs: this
is not combined with inductor freezing (which would compile each instance with its weights baked in).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import fx, nn

from netdsl.backend.provenance import track
from netdsl.backend.rewrites.base import spec_meta, with_graph

#: compiles a piece's function (``fn(module, *inputs) -> tuple``)
Compiler = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass
class Piece:
    """A contiguous run of the graph's nodes, outlined as a function of one module (``path``: the
    block instance it reads its submodules from; "" for glue, which reads from the root)."""

    path: str
    nodes: list[fx.Node]
    inputs: list[fx.Node] = field(default_factory=list)
    outputs: list[fx.Node] = field(default_factory=list)
    graph: fx.Graph | None = None
    key: tuple[Any, ...] = ()

    @property
    def is_region(self) -> bool:
        return self.path != ""


def _owner(n: fx.Node) -> str:
    return str(spec_meta(n).get("node", ""))


def _inside(path: str, owner: str) -> bool:
    return owner.startswith(path + ".")


def _outline(gm: fx.GraphModule, path: str, nodes: list[fx.Node]) -> Piece | None:
    """``nodes`` as a graph of their own over the module at ``path`` (module targets made relative),
    or None when they read modules outside it."""
    members = set(nodes)
    piece = Piece(path, nodes)
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    prefix = path + "." if path else ""
    for n in nodes:
        for a in n.all_input_nodes:
            if a not in members and a not in env:
                piece.inputs.append(a)
                env[a] = g.placeholder(f"in_{len(piece.inputs)}")
        if n.op in ("call_module", "get_attr"):
            target = str(n.target)
            if not target.startswith(prefix):
                return None
        copied = g.node_copy(n, lambda a: env[a])
        if n.op in ("call_module", "get_attr"):
            copied.target = str(n.target)[len(prefix) :]
        env[n] = copied
    users_outside = [n for n in nodes if any(u not in members for u in n.users)]
    piece.outputs = users_outside
    g.output(tuple(env[n] for n in users_outside))
    g.lint()
    piece.graph = g
    root = gm.get_submodule(path)  # ("" is gm itself)
    code = _structure(g)
    called = tuple(
        (str(c.target), repr(root.get_submodule(str(c.target)))) for c in g.nodes if c.op == "call_module"
    )
    attrs = tuple(  # (the values are each instance's own: its static type is what compiles)
        (str(c.target), spec_meta(c).get("shape"), spec_meta(c).get("dtype"))
        for c in g.nodes
        if c.op == "get_attr"
    )
    piece.key = (code, called, attrs)
    return piece


def _structure(g: fx.Graph) -> tuple[Any, ...]:
    """What the graph computes, without its names: per node its op, target and arguments (other
    nodes by position). Two instances of a kind have the same structure."""
    position = {n: i for i, n in enumerate(g.nodes)}

    def arg(a: Any) -> Any:
        return fx.node.map_arg(a, lambda n: ("#", position[n]))

    def target(t: Any) -> str:
        if isinstance(t, str):
            return t
        return f"{getattr(t, '__module__', '')}.{getattr(t, '__qualname__', repr(t))}"

    return tuple((n.op, target(n.target), repr(arg(n.args)), repr(arg(n.kwargs))) for n in g.nodes)


def _is_size(n: fx.Node) -> bool:
    return n.op == "call_method" and n.target == "size"


def partition(gm: fx.GraphModule) -> list[Piece]:
    """The pieces of ``gm``'s graph in order: regions (block instances whose code another instance
    shares, outermost first) and the glue between them."""
    order = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    index = {n: i for i, n in enumerate(order)}
    instances: list[str] = list(gm.meta.get("netdsl", {}).get("instances", []))
    candidates: dict[str, Piece] = {}
    hoisted: dict[str, list[fx.Node]] = {}
    for path in instances:
        nodes = [n for n in order if _inside(path, _owner(n))]
        if not nodes or index[nodes[-1]] - index[nodes[0]] + 1 != len(nodes):
            continue  # (not one contiguous run: left to the glue)
        members = set(nodes)
        # sizes of tensors from outside the instance are its inputs (ints), as Shunted's block(x, H, W)
        hoisted[path] = [n for n in nodes if _is_size(n) and n.args[0] not in members]
        inner = [n for n in nodes if n not in hoisted[path]]
        piece = _outline(gm, path, inner) if inner else None
        if piece is not None:
            candidates[path] = piece
    counts: dict[tuple[Any, ...], int] = {}
    for piece in candidates.values():
        counts[piece.key] = counts.get(piece.key, 0) + 1
    chosen: list[Piece] = []
    taken: set[fx.Node] = set()
    for path in instances:  # outermost first: a shared instance is taken whole
        piece = candidates.get(path)
        if piece is None or counts[piece.key] < 2 or any(n in taken for n in piece.nodes):
            continue
        chosen.append(piece)
        taken.update(piece.nodes)
    for region in chosen:  # its hoisted sizes move before it, into the glue
        for n in hoisted[region.path]:
            region.nodes[0].prepend(n)
    order = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    index = {n: i for i, n in enumerate(order)}
    chosen.sort(key=lambda p: index[p.nodes[0]])
    pieces: list[Piece] = []
    at = 0
    ends: list[Piece | None] = [*chosen, None]
    for next_region in ends:
        stop = index[next_region.nodes[0]] if next_region is not None else len(order)
        if stop > at:
            glue = _outline(gm, "", order[at:stop])
            assert glue is not None  # (the root owns every module)
            pieces.append(glue)
        if next_region is not None:
            pieces.append(next_region)
            at = index[next_region.nodes[-1]] + 1
    return pieces


class _Call:
    """The call of one piece from the orchestrating graph: its compiled function on its module."""

    def __init__(self, fn: Callable[..., Any], module: nn.Module, name: str) -> None:
        self.fn = fn
        self.module = module
        self.__name__ = name
        self.__qualname__ = name

    def __call__(self, *args: Any) -> Any:
        with sizes_apart():
            return self.fn(self.module, *args)


def sizes_apart() -> Any:
    """torch.compile's setting for the call: equal sizes keep symbols of their own (no "duck
    shaping"), so that a compile at 224 x 224 does not assume H == W and a 192 x 160 input does not
    recompile."""
    from torch.fx.experimental import _config

    config: Any = _config  # (its patch() is installed at import by torch's install_config_module)
    return config.patch(use_duck_shape=False)


def regional(gm: fx.GraphModule, compiler: Compiler) -> tuple[fx.GraphModule, list[Piece]]:
    """A copy of ``gm`` (sharing its parameters) that runs its pieces, each compiled by ``compiler``:
    one compiled function per kind of region, one per glue run."""
    pieces = partition(gm)
    compiled: dict[tuple[Any, ...], Callable[..., Any]] = {}
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            env[n] = g.node_copy(n, lambda a: env[a])
    for i, piece in enumerate(pieces):
        assert piece.graph is not None
        owner = gm.get_submodule(piece.path)  # ("" is gm itself)
        if piece.key not in compiled:
            code = fx.GraphModule(owner, piece.graph)
            code.meta["netdsl"] = {"check": gm.meta.get("netdsl", {}).get("check")}
            compiled[piece.key] = compiler(type(track(code)).forward)
        kind = "region" if piece.is_region else "glue"
        call = _Call(compiled[piece.key], owner, f"{kind}_{i}")
        result = g.call_function(call, tuple(env[a] for a in piece.inputs))
        result.meta["netdsl"] = {"node": piece.path or "glue", "op": kind}
        for j, out in enumerate(piece.outputs):
            env[out] = g.call_function(operator.getitem, (result, j))
    old_output = next(n for n in gm.graph.nodes if n.op == "output")
    g.output(fx.map_arg(old_output.args[0], lambda a: env[a]))
    g.lint()
    return with_graph(gm, g), pieces


#: convolutions' share of a network's MACs above which it is compiled whole by default
CONV_DOMINATED = 0.5


def conv_share(gm: fx.GraphModule) -> float | None:
    """The convolutions' share of the MACs of the spec ``gm`` was built from, at the spec's example
    sizes (``dims:``); None when the module does not know its spec or the sizes leave it symbolic."""
    from netdsl.core.symbolic import SymbolicError
    from netdsl.core.symbolic_proofs import DEFINITIONS, expanded
    from netdsl.passes.summary import mac_count

    shapes = getattr(gm.meta.get("netdsl", {}).get("check"), "shapes", None)
    if shapes is None:
        return None
    sizes = {k: v for k, v in shapes.graph.example_sizes().items() if isinstance(v, int)}
    convs = {n.id for n in shapes.graph.nodes if n.opdef.family == "conv"}
    token = DEFINITIONS.set(shapes.aliases)
    try:
        total = expanded(mac_count(shapes)).subs(sizes)
        conv = expanded(mac_count(shapes, ids=convs)).subs(sizes)
    except SymbolicError:
        return None
    finally:
        DEFINITIONS.reset(token)
    if not (total.is_const and conv.is_const) or total.value <= 0:
        return None
    return conv.value / total.value


def prefer_regional(gm: fx.GraphModule) -> bool:
    """Whether ``netdsl.compile`` compiles ``gm`` by regions when not told: yes, unless convolutions
    carry most of its MACs (ResNet, MobileNet, EfficientNet). There inductor runs the convolutions
    channels-last, and each region would convert its input and output between layouts: measured on
    ResNet-50 (docs/benchmarks.md), whole-graph compilation is faster (1.25x / 1.54x torchvision's
    eager at batch 1 / 8, against 0.97x / 1.18x by regions) and compiles sooner (49 s against 63 s)."""
    share = conv_share(gm)
    return share is None or share < CONV_DOMINATED

"""netdsl.passes.resolve.expand (with template and unused): bodies, nodes, block instances and
repeats; copies of a repeated block stamped out from a template equal resolved ones."""

from __future__ import annotations

import dataclasses

import pytest

import netdsl
from netdsl.core.errors import ErrorCollector
from netdsl.frontend.library import BlockLibrary
from netdsl.frontend.schema import NetworkFile
from netdsl.frontend.validate import parse_spec
from netdsl.frontend.yaml_loader import load_text
from netdsl.ir.graph import Graph
from netdsl.passes.resolve import Resolver, template
from netdsl.passes.resolve.context import Ctx
from netdsl.passes.resolve.unused import used_names
from netdsl.passes.resolve.wiring import BadIn, parse_in

NET = """network: t
inputs: {x: [B, 4]}
dims: {B: 2}
blocks:
  unit:
    params: {c: {type: int}}
    inputs: {x: [B, $c]}
    nodes:
      fc: {op: linear, in: x, out_features: $c}
      act: {op: relu, in: fc}
      res: {op: add, in: [act, x]}
    outputs: {y: res, pre: fc}
nodes:
  stage: {block: unit, repeat: 4, in: x, c: 4}
  out: {op: relu, in: stage.pre}
outputs: {y: out}
"""


def resolve(text: str = NET) -> tuple[Graph, ErrorCollector]:
    doc = load_text(text, "t.yaml")
    spec = parse_spec(doc)
    assert isinstance(spec, NetworkFile)
    errors = ErrorCollector()
    graph = Resolver(BlockLibrary(), errors).network(spec, doc, None, {})
    return graph, errors


def shape_of(graph: Graph) -> list[tuple[str, str, list[str], str, tuple[str, int, int] | None]]:
    return [
        (n.id, n.op, [f"{r.node}:{r.index}" for r in n.inputs], n.scope.path, n.scope.repeat)
        for n in graph.nodes
    ]


def test_stamped_copies_equal_resolved_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    stamped, errors = resolve()
    assert not errors.errors
    monkeypatch.setattr(template, "STAMPABLE", False)  # no templates: every copy resolved
    resolved, _ = resolve()
    assert shape_of(stamped) == shape_of(resolved)
    ids = [n.id for n in stamped.nodes]
    assert ids[:3] == ["stage.0.fc", "stage.0.act", "stage.0.res"] and ids[-1] == "out"
    # a chain: copy 1 reads copy 0's first output; `out` reads the last copy's named output
    assert stamped.nodes[3].inputs[0].node == "stage.0.res"
    assert stamped.nodes[-1].inputs[0].node == "stage.3.fc"
    assert [n.scope.repeat for n in stamped.nodes[:4:3]] == [("stage", 0, 4), ("stage", 1, 4)]


def test_stamped_refs_and_entries_are_those_the_constructors_make() -> None:
    # (copies set the slots of these frozen dataclasses directly: the same objects)
    from netdsl.ir.graph import Entry, Ref

    assert template.STAMPABLE and template._ref is not Ref and template._entry is not Entry
    r = template._ref("a.b", 2)
    assert type(r) is Ref and r == Ref("a.b", 2) and hash(r) == hash(Ref("a.b", 2)) and str(r) == "a.b.2"
    e = template._entry("n", "p", "linear", False, 2, (r,), ("p.x0", "p.x1"))
    made = Entry("n", "p", "linear", False, 2, (r,), ("p.x0", "p.x1"))
    assert e.copy_paths() == ("p.x0", "p.x1")
    assert Entry("n", "p.n", "linear", False, 2, (r,)).copy_paths() == ("p.n.0", "p.n.1")
    assert type(e) is Entry and e == made and hash(e) == hash(made) and repr(e) == repr(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.name = "m"  # type: ignore[misc]


def test_entries_record_each_node_once() -> None:
    graph, _ = resolve()
    (stage, out) = graph.root.entries
    assert (stage.name, stage.kind, stage.is_block, stage.count) == ("stage", "unit", True, 4)
    assert out.outputs[0].node == "out"


def test_context_is_frozen() -> None:
    graph, _ = resolve()
    ctx = Ctx(load_text(NET, "t.yaml"), (), {}, {}, graph.root, ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.scale = 2  # type: ignore[misc]


def test_used_names_over_parsed_wires_and_outputs() -> None:
    wires = {"a": parse_in(["x", "b.out"], ("in",)), "c": BadIn(3)}
    assert used_names(wires, ["c.1"]) == {"x", "b", "b.out", "c", "c.1"}


def test_unused_node_warned_but_not_a_parameter_or_an_expect() -> None:
    text = NET.replace(
        "  out: {op: relu, in: stage.pre}\n",
        "  out: {op: relu, in: stage.pre}\n  spare: {op: relu, in: x}\n  w: {op: parameter, shape: [4]}\n",
    )
    _, errors = resolve(text)
    assert [w.message for w in errors.warnings] == ["node 'spare' is not used by any output"]
    assert errors.warnings[0].loc.path == ("nodes", "spare")


def test_no_unused_warning_when_the_body_has_errors() -> None:
    text = NET.replace(
        "  out: {op: relu, in: stage.pre}\n", "  out: {op: relu, in: nope}\n  spare: {op: relu, in: x}\n"
    )
    _, errors = resolve(text)
    assert [e.message for e in errors.errors] == ["unknown node or input 'nope'"]
    assert errors.warnings == []  # (a warning here is often an echo of the error)


def test_off_node_and_its_user() -> None:
    body = NET.replace(
        "  out: {op: relu, in: stage.pre}\n", "  out: {op: relu, in: stage.pre, when: false}\n"
    )
    res = netdsl.check(netdsl.load("t.yaml", text=body))
    assert [e.message for e in res.errors] == ["'out' is switched off by its `when:` and has no outputs"]

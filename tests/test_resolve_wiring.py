"""netdsl.passes.resolve.wiring: `in:` parsed into typed references; the symbol table looked up."""

from __future__ import annotations

import pytest

from netdsl.core.errors import ResolveError, SourceLoc
from netdsl.ir.graph import Ref
from netdsl.passes.resolve.symbols import ABSENT, FAILED, OFF, Outputs, Table
from netdsl.passes.resolve.wiring import BadIn, InRef, dependencies, lookup, op_inputs, parse_in, ref_texts

LOC = SourceLoc("t.yaml", 3, 5)


def test_parse_in_forms() -> None:
    path = ("nodes", "n", "in")
    assert parse_in("x", path) == (InRef(None, "x", path),)
    assert parse_in(["a", "b.1"], path) == (InRef(None, "a", (*path, 0)), InRef(None, "b.1", (*path, 1)))
    assert parse_in({"lhs": "a"}, path) == (InRef("lhs", "a", (*path, "lhs")),)
    assert parse_in(None, path) == ()
    assert parse_in(3, path) == BadIn(3)
    assert parse_in(["a.*"], path)[0].splat  # type: ignore[index]
    assert ref_texts(BadIn(3)) == []


def test_dependencies_name_nodes_not_inputs() -> None:
    nodes = {"a": 0, "b": 1}
    wires = parse_in(["a.out", "b", "x", "a.*"], ("in",))
    assert dependencies(wires, nodes, {"x"}) == {"a", "b"}
    assert dependencies(parse_in("a", ("in",)), nodes, {"a"}) == set()  # an input shadows the node


def table() -> Table:
    return {
        "x": Outputs((Ref("x"),)),
        "two": Outputs((Ref("two", 0), Ref("two", 1))),
        "off": OFF,
        "bad": FAILED,
        "opt": ABSENT,
        "empty": Outputs(()),
    }


def test_lookup_outputs() -> None:
    t = table()
    assert lookup("x", t, {}, LOC) == Ref("x")
    assert lookup("two", t, {}, LOC) == Ref("two", 0)
    assert lookup("two.1", t, {}, LOC) == Ref("two", 1)
    assert lookup("two.b", t, {"two": {"b": Ref("two", 1)}}, LOC) == Ref("two", 1)
    assert lookup("bad", t, {}, LOC) is None
    assert lookup("bad.0", t, {}, LOC) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown node or input 'nope'"),
        ("off", "'off' is switched off by its `when:` and has no outputs"),
        ("off.0", "'off' is switched off by its `when:` and has no outputs"),
        ("opt", "the optional input 'opt' is not connected here"),
        ("opt.0", "the optional input 'opt' is not connected here"),
        ("empty", "'empty' has no outputs"),
        ("two.5", "'two' has no output '5'"),
    ],
)
def test_lookup_errors(text: str, message: str) -> None:
    with pytest.raises(ResolveError) as info:
        lookup(text, table(), {}, LOC)
    assert info.value.message == message
    assert info.value.loc == LOC


def test_unknown_name_suggests_a_known_one() -> None:
    with pytest.raises(ResolveError) as info:
        lookup("tow", table(), {}, LOC)
    assert info.value.hint == "did you mean 'two'?"


def test_op_inputs_by_name_and_position() -> None:
    a, b = Ref("a"), Ref("b")
    assert op_inputs([(None, a), (None, b)], ("x", "y"), False, "add", LOC) == [a, b]
    assert op_inputs([("y", b), ("x", a)], ("x", "y"), False, "add", LOC) == [a, b]
    with pytest.raises(ResolveError, match="input 'x' is missing"):
        op_inputs([("y", b)], ("x", "y"), False, "add", LOC)
    with pytest.raises(ResolveError, match="takes a list of inputs"):
        op_inputs([("x", a)], ("x",), True, "cat", LOC)

"""netdsl.passes.resolve.order: topological order and cycles, as pure functions."""

from __future__ import annotations

from netdsl.passes.resolve.order import find_cycle, topo_order


def test_order_follows_dependencies_and_breaks_ties_by_position() -> None:
    names = ["c", "a", "b", "d"]
    deps = {"c": {"a"}, "a": set(), "b": set(), "d": {"c", "b"}}
    result = topo_order(names, deps)
    assert result.cycle is None
    assert result.order == ["a", "c", "b", "d"]  # c as soon as a is done: it comes first in names


def test_no_dependencies_keeps_the_given_order() -> None:
    assert topo_order(["z", "y", "x"], {}).order == ["z", "y", "x"]


def test_cycle_is_reported_in_data_flow_direction_from_first_node() -> None:
    # a reads out, out reads a (a -> out -> a in the direction data flows); free runs first
    names = ["free", "a", "out"]
    result = topo_order(names, {"free": set(), "a": {"out"}, "out": {"a"}})
    assert result.order == ["free"]
    assert result.cycle == ("a", "out")


def test_cycle_rotated_to_start_at_first_in_spec() -> None:
    names = ["p", "q", "r", "tail"]
    deps = {"p": {"r"}, "q": {"p"}, "r": {"q"}, "tail": {"r"}}
    result = topo_order(names, deps)
    assert result.order == []
    assert result.cycle == ("p", "q", "r")  # p feeds q feeds r feeds p


def test_find_cycle_follows_first_dependency_by_name() -> None:
    deps = {"a": {"c", "b"}, "b": {"a"}, "c": {"a"}}
    assert find_cycle(["a", "b", "c"], deps) == ["a", "b"]

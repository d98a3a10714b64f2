"""netdsl.passes.resolve.env: variables, variants, --set, block parameters and `require:`, each
value with its provenance (errors are reported where a value was set)."""

from __future__ import annotations

from typing import Any

import pytest

import netdsl
from netdsl.core.errors import ErrorCollector, SourceLoc
from netdsl.frontend.schema import BlockDef, NetworkFile
from netdsl.frontend.validate import parse_spec
from netdsl.frontend.yaml_loader import load_text
from netdsl.ir.graph import Scope
from netdsl.passes.resolve.env import (
    BlockCall,
    Given,
    Provenance,
    bind_params,
    check_param,
    eval_vars,
    network_values,
    override_loc,
)
from netdsl.passes.resolve.symbols import FAILED

NET = """network: t
inputs: {x: [B, 3]}
dims: {B: 2}
vars:
  w: 8
  h: "${w * 2}"
variants:
  big:
    w: 16
  broken:
    w: "${nope + 1}"
nodes:
  out: {op: linear, in: x, out_features: $h}
outputs: {y: out}
"""


def network(text: str = NET) -> tuple[NetworkFile, Any]:
    doc = load_text(text, "t.yaml")
    spec = parse_spec(doc)
    assert isinstance(spec, NetworkFile)
    return spec, doc


def test_provenance_labels() -> None:
    assert Provenance("override", override_loc("g")).label == "--set"
    assert Provenance("example").label == "example"
    assert Provenance("default").label == "default"
    assert override_loc("g") == SourceLoc("--set", 0, 0, ("g",))


def test_network_values_carry_where_they_were_set() -> None:
    spec, doc = network()
    errors = ErrorCollector()
    variant, values = network_values(spec, doc, "big", {"h": 3}, errors)
    assert variant == "big" and not errors.errors
    assert values["w"] == Given(16, Provenance("variant", doc.loc(("variants", "big", "w"))))
    assert values["w"].prov.loc is not None and values["w"].prov.loc.line == 9
    assert values["h"].prov == Provenance("override", override_loc("h"))
    _, plain = network_values(spec, doc, None, {}, errors)
    assert plain["w"].prov.kind == "default" and plain["w"].prov.loc == doc.loc(("vars", "w"))


def test_eval_vars_any_order_and_failures() -> None:
    errors = ErrorCollector()
    loc = SourceLoc("t.yaml", 1, 1)
    env = eval_vars({"b": "${a + 1}", "a": 2, "c": "${zz}", "d": "${c}"}, lambda n: loc, {}, errors)
    assert env["a"] == 2 and env["b"] == 3
    assert env["c"] is FAILED and env["d"] is FAILED  # d's only error is c's
    assert [e.message for e in errors.errors] == ["unknown name 'zz' in '${zz}'"]


def test_broken_value_in_a_variant_is_reported_at_the_variant() -> None:
    res = netdsl.check(netdsl.load("t.yaml", text=NET), variant="broken")
    (err,) = res.errors
    assert err.message == "unknown name 'nope' in '${nope + 1}'"
    assert err.loc.path == ("variants", "broken", "w")
    assert err.loc.line == 11  # the variant's line, not `vars: w`'s (line 5)


def test_variable_cycle_through_a_variant_is_reported_at_the_variant() -> None:
    res = netdsl.check(netdsl.load("t.yaml", text=NET.replace("w: 16", "w: '${h}'")), variant="big")
    (err,) = res.errors
    assert err.message.startswith("variables refer to each other in a cycle")
    assert err.loc.path == ("variants", "big", "w")


BODY: dict[str, Any] = {"inputs": {"x": ["B"]}, "nodes": {"n": {"op": "relu", "in": "x"}}, "outputs": ["n"]}

BLOCK = """
params:
  groups: {type: int, default: 2}
  c: {type: int}
  mode: {type: str, default: sum, choices: [sum, prod]}
require:
  - check: c % groups == 0
    message: c must divide into groups
"""


def call(given: dict[str, Given], cli: bool = True) -> tuple[BlockCall, ErrorCollector]:
    doc = load_text(BLOCK, "b.yaml")
    bdef = BlockDef.model_validate({**doc.data, **BODY})
    return BlockCall(bdef, "unit", doc, SourceLoc("n.yaml", 4, 3), given, cli=cli), ErrorCollector()


def test_bind_params_defaults_and_given() -> None:
    c, errors = call({"c": Given(8, Provenance("block argument", SourceLoc("n.yaml", 4, 9)))}, cli=False)
    scope = Scope("u", "unit", None, SourceLoc())
    env = bind_params(c, scope, errors)
    assert env == {"groups": 2, "c": 8, "mode": "sum"} and not errors.errors
    assert scope.params == {"groups": 2, "c": 8, "mode": "sum"}


def test_require_failure_names_the_provenance_of_each_value() -> None:
    given = {
        "c": Given(7, Provenance("example", SourceLoc("b.yaml", 9, 5, ("example", "c")))),
        "groups": Given(2, Provenance("override", override_loc("groups"))),
    }
    c, errors = call(given)
    assert bind_params(c, Scope("", "unit", None, SourceLoc()), errors) is None
    (err,) = errors.errors
    assert err.message == "block 'unit' requires c % groups == 0 (c=7 (example), groups=2 (--set))"
    assert err.hint == "c must divide into groups"
    assert err.loc.path == ("require", 0, "check")  # a --set value takes part: at the rule


def test_missing_required_and_bad_choice() -> None:
    c, errors = call({"mode": Given("max", Provenance("override", override_loc("mode")))})
    assert bind_params(c, Scope("", "unit", None, SourceLoc()), errors) is None
    messages = [e.message for e in errors.errors]
    assert messages[0] == "block 'unit' needs parameter 'c' (int)"
    assert messages[1] == "parameter 'mode' of block 'unit': 'max' is not one of ['sum', 'prod']"
    assert errors.errors[1].loc == override_loc("mode")  # reported where the value was set


@pytest.mark.parametrize(
    ("decl", "value", "problem"),
    [
        ({"type": "int"}, 3, None),
        ({"type": "int"}, True, "expected int, got a boolean true"),
        ({"type": "float"}, 2, None),
        ({"type": "dim"}, "H", None),
        ({"type": "int", "default": None}, None, None),
    ],
)
def test_check_param(decl: dict[str, Any], value: Any, problem: str | None) -> None:
    bdef = BlockDef.model_validate({"params": {"p": decl}, **BODY})
    assert check_param(bdef.params["p"], value) == problem

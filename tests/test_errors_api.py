"""The error objects: immutable, changed by copies (evolve, at, in_context), context frames,
pickling of every class, to_dict, NetdslErrors flattening and the collector's dedup."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

import netdsl
from netdsl.core import errors as core_errors
from netdsl.errors import (
    BuildError,
    ContextFrame,
    ErrorCollector,
    ExprError,
    GraphError,
    NetdslError,
    NetdslErrors,
    ResolveError,
    ShapeError,
    SourceLoc,
    SpecSyntaxError,
    SpecValidationError,
    UsageError,
)

TEXT = "network: n\nnodes:\n  stem: {op: conv2, in: x}\n"
LOC = SourceLoc("specs/x.yaml", 3, 13, ("nodes", "stem", "op"), end_col=18, text=TEXT)
FRAME_IN = ContextFrame("block instance s1.a of inner", SourceLoc("specs/net.yaml", 14, 7))
FRAME_OUT = ContextFrame("block instance s1 of outer", SourceLoc("specs/net.yaml", 17, 3))

CLASSES = [
    NetdslError,
    SpecSyntaxError,
    SpecValidationError,
    ExprError,
    ResolveError,
    GraphError,
    ShapeError,
    BuildError,
    UsageError,
]


class CustomError(ShapeError):
    """A subclass outside netdsl (as the CLI's InternalError): copies and pickles as itself."""


def make(cls: type[NetdslError] = ShapeError) -> NetdslError:
    return cls(
        "unknown op 'conv2'", LOC, expected=["conv3d", "conv2d", "conv2d"], hint="did you mean 'conv2d'?"
    )


# ---------------------------------------------------------------- immutability


@pytest.mark.parametrize("name", ["message", "loc", "expected", "hint", "severity", "context", "errors"])
def test_public_attributes_are_read_only(name: str) -> None:
    e = make()
    before = e.render()
    with pytest.raises(AttributeError):
        setattr(e, name, getattr(e, name))
    with pytest.raises(AttributeError):
        delattr(e, name)
    assert e.render() == before


@pytest.mark.parametrize("name", ["_message", "_hint", "_loc", "_context", "anything_new"])
def test_private_and_new_attributes_cannot_be_set_either(name: str) -> None:
    e = make()
    with pytest.raises(AttributeError, match="immutable"):
        setattr(e, name, "x")


def test_collections_handed_out_are_copies() -> None:
    e = make()
    assert e.expected == ["conv2d", "conv3d"]  # sorted, without duplicates
    assert e.expected is not None
    e.expected.append("linear")
    assert e.expected == ["conv2d", "conv3d"]
    many = NetdslErrors([make(), make(GraphError)])
    many.errors.clear()
    assert len(many.errors) == 2
    assert isinstance(e.context, tuple)


def test_errors_of_several_are_read_only() -> None:
    many = NetdslErrors([make(), make(GraphError)])
    with pytest.raises(AttributeError):
        many._errors = ()
    with pytest.raises(AttributeError):
        many.hint = "x"  # type: ignore[misc]


def test_python_can_still_raise_chain_and_annotate_errors() -> None:
    e = make()
    with pytest.raises(ShapeError) as info:
        try:
            raise KeyError("k")
        except KeyError as cause:
            raise e from cause
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.__traceback__ is not None
    e.add_note("a note")
    assert e.__notes__ == ["a note"]
    e.__traceback__ = None
    with pytest.raises(ShapeError):
        raise e.at(LOC) from None


# ---------------------------------------------------------------- copies


def test_evolve_changes_only_what_is_given_and_keeps_type_severity_and_context() -> None:
    e = NetdslError("old", LOC, hint="h", severity="warning").in_context(FRAME_IN)
    new_loc = SourceLoc("other.yaml", 1, 1)
    assert e.evolve().render() == e.render()
    changed = e.evolve(message="new", loc=new_loc, hint="h2", expected=["b", "a"])
    assert (changed.message, changed.loc, changed.hint, changed.expected) == (
        "new",
        new_loc,
        "h2",
        ["a", "b"],
    )
    assert changed.severity == "warning"
    assert changed.context == (FRAME_IN,)
    assert (e.message, e.loc, e.hint, e.expected) == ("old", LOC, "h", None)  # the original is unchanged
    s = make(ShapeError).evolve(hint="x")
    assert type(s) is ShapeError
    assert type(CustomError("m").evolve(message="n")) is CustomError
    assert str(changed) == changed.render() and changed.args == (changed.render(),)


def test_at_anchors_only_an_error_without_a_position() -> None:
    e = ResolveError("no place", hint="h").in_context(FRAME_IN)
    anchored = e.at(LOC)
    assert type(anchored) is ResolveError
    assert anchored.loc == LOC and anchored.hint == "h" and anchored.context == (FRAME_IN,)
    assert e.loc == SourceLoc()
    assert anchored.at(SourceLoc("elsewhere.yaml", 9, 9)) is anchored


def test_in_context_adds_frames_outermost_last_and_keeps_the_hint() -> None:
    e = make()
    inner = e.in_context(FRAME_IN)
    both = inner.in_context(FRAME_OUT)
    assert e.context == () and inner.context == (FRAME_IN,)
    assert both.context == (FRAME_IN, FRAME_OUT)
    assert type(both) is ShapeError
    assert both.hint == "did you mean 'conv2d'?" and both.expected == e.expected
    assert both.evolve(hint="another").context == (FRAME_IN, FRAME_OUT)


def test_context_frames_render_after_the_excerpt_before_expected_and_hint() -> None:
    both = make().in_context(FRAME_IN).in_context(FRAME_OUT)
    assert both.render() == (
        "specs/x.yaml:3:13: error: unknown op 'conv2' [nodes.stem.op]\n"
        "  3 |   stem: {op: conv2, in: x}\n"
        "    |             ^^^^^\n"
        "  in block instance s1.a of inner (specs/net.yaml:14)\n"
        "  in block instance s1 of outer (specs/net.yaml:17)\n"
        "  expected one of: conv2d, conv3d\n"
        "  hint: did you mean 'conv2d'?"
    )
    assert "  in block instance s1 of outer" in both.render(excerpt=False)
    assert both.render(header="H").startswith("H\n")


def test_context_frame_rendering() -> None:
    assert ContextFrame("x", SourceLoc("f.yaml", 3, 1)).render() == "in x (f.yaml:3)"
    assert ContextFrame("x", SourceLoc("f.yaml")).render() == "in x (f.yaml)"
    assert ContextFrame("x").render() == "in x"
    with pytest.raises(AttributeError):
        FRAME_IN.what = "y"  # type: ignore[misc]


# ---------------------------------------------------------------- to_dict


def test_to_dict_has_a_context_list() -> None:
    d = make().in_context(FRAME_IN).in_context(FRAME_OUT).to_dict()
    assert d["kind"] == "ShapeError" and d["hint"] == "did you mean 'conv2d'?"
    assert d["expected"] == ["conv2d", "conv3d"]
    assert d["context"] == [
        {
            "what": "block instance s1.a of inner",
            "file": "specs/net.yaml",
            "line": 14,
            "column": 7,
            "path": "",
            "text": "in block instance s1.a of inner (specs/net.yaml:14)",
        },
        {
            "what": "block instance s1 of outer",
            "file": "specs/net.yaml",
            "line": 17,
            "column": 3,
            "path": "",
            "text": "in block instance s1 of outer (specs/net.yaml:17)",
        },
    ]
    assert make().to_dict()["context"] == []
    json.dumps(d)  # serialisable as it is


# ---------------------------------------------------------------- pickling and copies


@pytest.mark.parametrize("cls", [*CLASSES, CustomError], ids=lambda c: c.__name__)
def test_every_class_pickles(cls: type[NetdslError]) -> None:
    e = make(cls).in_context(FRAME_IN)
    w = cls("careful", LOC, severity="warning")
    for err in (e, w, cls("bare")):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(err, protocol))
            assert type(back) is cls
            assert back.render() == err.render() and back.to_dict() == err.to_dict()
            assert back.args == err.args
            with pytest.raises(AttributeError):
                back.hint = "x"  # type: ignore[misc]
        assert copy.copy(err).render() == err.render()
        assert copy.deepcopy(err).render() == err.render()


def test_errors_of_several_pickle() -> None:
    many = NetdslErrors(
        [make(), make(GraphError).in_context(FRAME_IN), NetdslError("w", LOC, severity="warning")]
    )
    back = pickle.loads(pickle.dumps(many))
    assert type(back) is NetdslErrors
    assert back.render() == many.render()
    assert [type(e) for e in back.errors] == [ShapeError, GraphError, NetdslError]
    assert back.errors[1].context == (FRAME_IN,)


def test_a_pickled_note_survives() -> None:
    e = make()
    e.add_note("n")
    assert pickle.loads(pickle.dumps(e)).__notes__ == ["n"]


# ---------------------------------------------------------------- NetdslErrors


def test_errors_of_several_flatten_and_count() -> None:
    a, b, c = make(), make(GraphError), NetdslError("w", LOC, severity="warning")
    nested = NetdslErrors([a, NetdslErrors([b, c])])
    assert nested.errors == [a, b, c]
    assert (nested.message, nested.loc, nested.hint) == (a.message, a.loc, a.hint)
    assert nested.render().endswith("\n2 errors")
    assert nested.render().startswith(a.render())
    assert str(nested) == nested.render()
    assert NetdslErrors([a]).render().endswith("\n1 error")


def test_in_context_of_several_applies_to_each() -> None:
    many = NetdslErrors([make(), make(GraphError)]).in_context(FRAME_IN)
    assert type(many) is NetdslErrors
    assert all(e.context == (FRAME_IN,) for e in many.errors)
    assert many.context == (FRAME_IN,)
    assert many.render().count("  in block instance s1.a of inner") == 2


# ---------------------------------------------------------------- the collector


def test_collector_reports_the_error_of_a_block_used_twice_once() -> None:
    col = ErrorCollector()
    e = make()
    col.add(e.in_context(FRAME_IN))
    col.add(e.in_context(FRAME_OUT))  # the same error met in another instance
    col.add(NetdslErrors([e, make(GraphError).evolve(message="other")]))
    col.warn("careful", LOC, hint="h")
    col.warn("careful", LOC, hint="h")
    assert [x.message for x in col.errors] == ["unknown op 'conv2'", "other"]
    assert col.errors[0].context == (FRAME_IN,)
    assert len(col.warnings) == 1 and col.warnings[0].severity == "warning"
    with pytest.raises(NetdslErrors) as info:
        col.raise_if_any()
    assert len(info.value.errors) == 2


def test_the_shim_and_the_core_module_are_one_hierarchy() -> None:
    assert ContextFrame is core_errors.ContextFrame
    assert NetdslError is core_errors.NetdslError


# ---------------------------------------------------------------- from a spec

NESTED = """network: n
inputs: {x: [B, 3, H, W]}
dims: {B: 1, H: 2, W: 2}
blocks:
  inner:
    inputs: {x: [B, C, H, W]}
    nodes:
      c: {op: conv2d, in: x, out_channels: 4, kernel_size: 5}
    outputs: {y: c}
  outer:
    inputs: {x: [B, C, H, W]}
    nodes:
      a: {block: inner, in: x}
    outputs: {y: a}
nodes:
  s1: {block: outer, in: x}
outputs: {y: s1}
"""


def test_a_shape_error_in_a_block_shows_the_instance_chain_and_its_hint() -> None:
    res = netdsl.check(netdsl.load("t.yaml", text=NESTED), concrete=True)
    (err,) = res.errors
    assert [f.render() for f in err.context] == [
        "in block instance s1.a of inner (t.yaml:13)",
        "in block instance s1 of outer (t.yaml:16)",
    ]
    assert err.hint is not None and err.hint.startswith("the smallest input that fits has")
    lines = err.render().splitlines()
    assert lines[3:] == [
        "  in block instance s1.a of inner (t.yaml:13)",
        "  in block instance s1 of outer (t.yaml:16)",
        f"  hint: {err.hint}",
    ]


def test_an_expression_error_keeps_its_place_in_the_expression() -> None:
    from netdsl.core.errors import ExprError

    e = ExprError("unknown name 'x'", offset=4, length=0)
    assert (e.offset, e.length) == (4, 1)  # a length of at least one character
    for copy_ in (e.evolve(hint="did you mean 'y'?"), pickle.loads(pickle.dumps(e))):
        assert isinstance(copy_, ExprError) and (copy_.offset, copy_.length) == (4, 1)
    with pytest.raises(AttributeError):
        e.offset = 5  # type: ignore[misc]

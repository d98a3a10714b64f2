"""Tests for netdsl.frontend.yaml_loader: safe YAML 1.2-core loading with source positions."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netdsl.core.errors import PathT, SourceLoc, SpecSyntaxError
from netdsl.frontend import yaml_loader
from netdsl.frontend.yaml_loader import (
    HAVE_LIBYAML,
    MAX_DEPTH,
    Doc,
    ParserName,
    load_file,
    load_text,
    parse_scalar,
)


def syntax_error(text: str | bytes, **kw: int) -> SpecSyntaxError:
    with pytest.raises(SpecSyntaxError) as info:
        load_text(text, "t.yaml", **kw)
    return info.value


# ----------------------------------------------------------------------------- positions
SPEC = """\
name: tiny
nodes:
  stem:
    op: conv2d
    kernel_size: [3, 3]
    args: {stride: 2, pad: "same"}
  list:
    - first
    - {x: 1}
    -
      deep: true
"""


def test_value_positions_block_flow_and_lists() -> None:
    doc = load_text(SPEC, "s.yaml")
    assert doc.file == "s.yaml" and doc.text == SPEC

    def at(path: PathT) -> tuple[int, int, int]:
        loc = doc.loc(path)
        assert loc.path == path and loc.file == "s.yaml" and loc.text == SPEC
        return loc.line, loc.col, loc.end_col

    assert at(("name",)) == (1, 7, 11)
    assert at(("nodes", "stem", "op")) == (4, 9, 15)
    assert at(("nodes", "stem", "kernel_size")) == (5, 18, 24)  # single-line flow list
    assert at(("nodes", "stem", "kernel_size", 1)) == (5, 22, 23)
    assert at(("nodes", "stem", "args", "stride")) == (6, 20, 21)
    assert at(("nodes", "stem", "args", "pad")) == (6, 28, 34)  # quotes included
    assert at(("nodes", "list", 0)) == (8, 7, 12)
    assert at(("nodes", "list", 1, "x")) == (9, 11, 12)
    assert at(("nodes", "list", 2, "deep")) == (11, 13, 17)
    assert at(("nodes", "stem"))[:2] == (4, 5)  # a block mapping starts at its first key


def test_key_positions() -> None:
    doc = load_text(SPEC, "s.yaml")
    loc = doc.key_loc(("nodes", "stem", "kernel_size"))
    assert (loc.line, loc.col, loc.end_col) == (5, 5, 16)
    assert loc.path == ("nodes", "stem", "kernel_size")
    loc = doc.key_loc(("nodes", "stem", "args", "pad"))
    assert (loc.line, loc.col, loc.end_col) == (6, 23, 26)
    assert doc.key_loc(("nodes",)).line == 2
    # a list index has no key: falls back to the value
    assert doc.key_loc(("nodes", "list", 1)) == doc.loc(("nodes", "list", 1))


def test_loc_falls_back_to_nearest_ancestor() -> None:
    doc = load_text(SPEC, "s.yaml")
    loc = doc.loc(("nodes", "stem", "missing", "deeper"))
    assert loc.path == ("nodes", "stem", "missing", "deeper")
    assert (loc.line, loc.col) == (doc.loc(("nodes", "stem")).line, doc.loc(("nodes", "stem")).col)
    assert doc.key_loc(("nodes", "stem", "nope")).line == 4
    root = doc.loc(())
    assert (root.line, root.col) == (1, 1)


def test_excerpt_renders_with_caret() -> None:
    doc = load_text(SPEC, "s.yaml")
    excerpt = doc.loc(("nodes", "stem", "op")).excerpt()
    assert "    op: conv2d" in excerpt and "^^^^^^" in excerpt


def test_doc_without_positions() -> None:
    doc = Doc({"a": 1}, "x.yaml", "")
    loc = doc.loc(("a",))
    assert loc == SourceLoc(file="x.yaml", path=("a",))
    assert doc.key_loc(("a",)) == loc


def test_multiline_scalars_have_no_end_col() -> None:
    doc = load_text("a: |\n  one\n  two\nb: plain\n  continued\n")
    assert doc.data == {"a": "one\ntwo\n", "b": "plain continued"}
    assert doc.loc(("a",)).end_col == 0 and doc.loc(("b",)).end_col == 0


def test_crlf_and_unicode_columns() -> None:
    doc = load_text("a: 1\r\nb: 'é'\r\nc: ok\r\n")
    assert doc.data == {"a": 1, "b": "é", "c": "ok"}
    assert (doc.loc(("c",)).line, doc.loc(("c",)).col) == (3, 4)
    doc = load_text("ü: [é, x]\n")
    assert (doc.loc(("ü", 1)).line, doc.loc(("ü", 1)).col) == (1, 8)


# ----------------------------------------------------------------------------- scalars
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("null", None), ("Null", None), ("NULL", None), ("~", None), ("", None),
        ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False),
        ("FALSE", False), ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"),
        ("y", "y"), ("n", "n"), ("Yes", "Yes"), ("nULL", "nULL"), ("tRUE", "tRUE"),
        ("0", 0), ("-12", -12), ("+7", 7), ("010", 10), ("0o17", 15), ("0x1F", 31), ("0xff", 255),
        ("1_000", "1_000"), ("0b101", "0b101"), ("-0x10", "-0x10"),
        ("1e-5", 1e-5), ("1e6", 1e6), ("1E+2", 100.0), ("1.5", 1.5), ("-2.", -2.0), (".5", 0.5),
        ("+.5e1", 5.0), (".inf", math.inf), ("-.Inf", -math.inf), ("+.INF", math.inf),
        ("12:30", "12:30"), ("190:20:30", "190:20:30"), ("2024-01-01", "2024-01-01"),
        ("1.2.3", "1.2.3"), ("1e", "1e"), ("e5", "e5"), (".", "."), ("-a", "-a"), ("abc", "abc"),
        ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)),
    ],
)  # fmt: skip
def test_core_schema_plain_scalars(text: str, value: object) -> None:
    got = load_text(f"v: {text}\n").data
    assert isinstance(got, dict)
    assert got["v"] == value and type(got["v"]) is type(value)
    assert parse_scalar(text) == value and type(parse_scalar(text)) is type(value)


def test_nan() -> None:
    data = load_text("a: .nan\nb: .NaN\nc: .NAN\n").data
    assert isinstance(data, dict) and all(math.isnan(v) for v in data.values())


@pytest.mark.parametrize("text", ["'true'", '"1"', "'~'", '""', "'1e5'", '"null"', "'0o17'"])
def test_quoted_scalars_are_strings(text: str) -> None:
    data = load_text(f"v: {text}\n").data
    assert isinstance(data, dict) and data["v"] == text[1:-1]


@pytest.mark.parametrize("text", ["9223372036854775808", "-9223372036854775809", "0x" + "f" * 17, "9" * 5000])
def test_huge_integers_are_errors(text: str) -> None:
    err = syntax_error(f"a: 1\nbig: {text}\n")
    assert "out of range" in err.message
    assert (err.loc.line, err.loc.col, err.loc.path) == (2, 6, ("big",))
    with pytest.raises(SpecSyntaxError, match="out of range"):
        parse_scalar(text)


def test_huge_float_is_error() -> None:
    assert "out of range" in syntax_error("a: 1e400\n").message


# ----------------------------------------------------------------------------- tags
def test_standard_tags_are_applied() -> None:
    text = (
        "a: !!str 5\nb: !!int '7'\nc: !!float 1\nd: !!bool 'true'\ne: !!null ''\n"
        "f: !!map {x: 1}\ng: !!seq [1]\nh: !!str\ni: ! 12\nj: !!int 0x10\nk: !!float .inf\n"
    )
    assert load_text(text).data == {
        "a": "5", "b": 7, "c": 1.0, "d": True, "e": None, "f": {"x": 1}, "g": [1],
        "h": "", "i": "12", "j": 16, "k": math.inf,
    }  # fmt: skip


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system", "!!python/name:os.system", "!!python/tuple", "!foo",
        "!!binary", "!!set", "!!timestamp", "!!omap", "!!merge", "!<tag:example.com:x>",
    ],
)  # fmt: skip
def test_other_tags_are_rejected_at_the_tag(tag: str) -> None:
    err = syntax_error(f"ok: 1\nbad: {tag} ['echo hi']\n")
    assert err.message.startswith("tag '")
    assert "is not allowed; netdsl specs are plain YAML (mappings, lists, strings, numbers" in err.message
    assert (err.loc.line, err.loc.col) == (2, 6)


def test_python_tag_message_and_no_execution(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    err = syntax_error(f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    assert "tag '!!python/object/apply:os.system' is not allowed" in err.message
    assert not marker.exists()


def test_disallowed_tag_in_overridden_merge_value_still_rejected() -> None:
    err = syntax_error("m:\n  <<: {a: !!set {x}}\n  a: 1\n")
    assert "!!set" in err.message and err.loc.line == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: !!int abc\n", "not a valid !!int"), ("a: !!float x\n", "not a valid !!float"),
        ("a: !!bool yes\n", "not a valid !!bool"), ("a: !!null 0\n", "not a valid !!null"),
        ("a: !!map 5\n", "cannot be used on a scalar"), ("a: !!seq {x: 1}\n", "cannot be used on a mapping"),
        ("a: !!str [1]\n", "cannot be used on a list"), ("a: !!int 99999999999999999999\n", "out of range"),
    ],
)  # fmt: skip
def test_bad_tag_use(text: str, needle: str) -> None:
    err = syntax_error(text)
    assert needle in err.message and (err.loc.line, err.loc.col) == (1, 4)


# ----------------------------------------------------------------------------- keys
def test_keys_are_source_text() -> None:
    data = load_text("0: a\ntrue: b\n~: c\n1.5: d\n0x10: e\n'q': f\nnull: g\n").data
    assert data == {"0": "a", "true": "b", "~": "c", "1.5": "d", "0x10": "e", "q": "f", "null": "g"}


@pytest.mark.parametrize("text", ["? [1, 2]\n: x\n", "{[1]: 2}\n", "? {a: 1}\n: x\n", "a: &k [1]\n*k : 2\n"])
def test_complex_keys_are_rejected(text: str) -> None:
    assert "mapping keys must be plain scalars" in syntax_error(text).message


def test_empty_key_is_rejected() -> None:
    assert "empty mapping key" in syntax_error("? \n: 1\n").message


def test_duplicate_key_reported_at_second_occurrence() -> None:
    err = syntax_error("a: 1\nnodes:\n  x: 1\n  y: 2\n  x: 3\n")
    assert "duplicate key 'x'" in err.message and "line 3" in err.message
    assert (err.loc.line, err.loc.col, err.loc.path) == (5, 3, ("nodes", "x"))
    err = syntax_error("m: {k: 1, j: 2, k: 3}\n")
    assert "duplicate key 'k'" in err.message and (err.loc.line, err.loc.col) == (1, 17)
    # the same text quoted differently is still the same key
    assert "duplicate key '1'" in syntax_error("1: a\n'1': b\n").message


# ----------------------------------------------------------------------------- anchors and merges
def test_aliases_and_positions() -> None:
    doc = load_text("base: &b {act: relu, width: 8}\nuse: *b\nlist: [*b, *b]\n")
    assert doc.data == {
        "base": {"act": "relu", "width": 8},
        "use": {"act": "relu", "width": 8},
        "list": [{"act": "relu", "width": 8}] * 2,
    }
    assert isinstance(doc.data, dict) and doc.data["use"] is not doc.data["base"]
    # the alias itself is located where it is used, what it expands to where it is defined
    assert (doc.loc(("use",)).line, doc.loc(("use",)).col, doc.loc(("use",)).end_col) == (2, 6, 8)
    assert (doc.loc(("list", 1, "width")).line, doc.loc(("list", 1, "width")).col) == (1, 29)


def test_merge_keys() -> None:
    text = """\
a: &a {x: 1, y: 1, z: 1}
b: &b {y: 2, w: 2}
one:
  <<: *a
  z: 9
two:
  z: 9
  <<: [*b, *a]
inline:
  <<: {k: v}
"""
    doc = load_text(text)
    assert doc.data == {
        "a": {"x": 1, "y": 1, "z": 1},
        "b": {"y": 2, "w": 2},
        "one": {"x": 1, "y": 1, "z": 9},
        "two": {"z": 9, "y": 2, "w": 2, "x": 1},
        "inline": {"k": "v"},
    }
    assert doc.loc(("one", "z")).line == 5 and doc.loc(("one", "x")).line == 1
    assert doc.key_loc(("two", "w")).line == 2
    assert doc.loc(("two", "z")).line == 7


def test_quoted_merge_key_is_a_plain_key() -> None:
    assert load_text("'<<': 1\n").data == {"<<": 1}


@pytest.mark.parametrize(
    "text", ["a: 1\nb:\n  <<: 5\n", "a: &a [1]\nb:\n  <<: *a\n", "b:\n  <<: [{x: 1}, 2]\n"]
)
def test_bad_merge_values(text: str) -> None:
    assert "merge key '<<' must be a mapping" in syntax_error(text).message


@pytest.mark.parametrize(
    "text", ["a: &a [1, *a]\n", "a: &a {b: *a}\n", "a: &a {<<: *a}\n", "a: &a [{<<: *a}]\n"]
)
def test_recursive_aliases(text: str) -> None:
    assert "recursive" in syntax_error(text).message


def test_undefined_and_duplicate_anchor() -> None:
    err = syntax_error("a: 1\nb: *nope\n")
    assert "alias '*nope' is not defined" in err.message and (err.loc.line, err.loc.col) == (2, 4)
    assert "duplicate anchor" in syntax_error("a: &x 1\nb: &x 2\n").message


def billion_laughs(levels: int = 9) -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_rejected() -> None:
    text = billion_laughs()
    assert len(text) < 1200
    err = syntax_error(text)
    assert err.message == "alias expansion exceeds 100000 nodes (a 'billion laughs' document?)"
    assert err.loc.line > 1


def test_billion_laughs_via_merge_keys_is_rejected() -> None:
    lines = ["a0: &a0 {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1, k8: 1, k9: 1}"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("m: {<<: *a0, big: *a7}")
    assert "alias expansion exceeds" in syntax_error("\n".join(lines)).message


def test_moderate_alias_expansion_is_fine() -> None:
    data = load_text(billion_laughs(levels=3)).data
    assert isinstance(data, dict) and len(data["d"]) == 10 and data["d"][9][9][9] == ["lol"] * 10


# ----------------------------------------------------------------------------- depth
@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, "{a: " * 5_000 + "1" + "}" * 5_000])
def test_very_deep_flow_nesting_is_a_clean_error(text: str) -> None:
    err = syntax_error(text)
    assert f"deeper than {MAX_DEPTH}" in err.message and err.loc.line == 1


def test_deep_block_nesting() -> None:
    deep = "".join(" " * i + f"k{i}:\n" for i in range(150)) + " " * 150 + "v\n"
    assert f"deeper than {MAX_DEPTH}" in syntax_error(deep).message
    ok = "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH)) + " " * MAX_DEPTH + "v\n"
    data = load_text(ok).data
    for i in range(MAX_DEPTH):
        assert isinstance(data, dict)
        data = data[f"k{i}"]
    assert data == "v"


def test_nesting_limit_boundary() -> None:
    assert load_text("[" * MAX_DEPTH + "]" * MAX_DEPTH).data is not None
    syntax_error("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_depth_through_aliases_is_bounded() -> None:
    lines = ["l0: &l0 " + "[" * 60 + "]" * 60, "l1: &l1 " + "[" * 50 + "*l0" + "]" * 50]
    assert "deeper than" in syntax_error("\n".join(lines) + "\n").message


# ----------------------------------------------------------------------------- bytes, size, documents
def test_bom_is_stripped() -> None:
    assert load_text(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}
    assert load_text("\ufeffa: 1\n").data == {"a": 1}


def test_bytes_input() -> None:
    assert load_text("é: 'ü'\n".encode()).data == {"é": "ü"}


def test_not_utf8() -> None:
    err = syntax_error(b"a: 1\nbb: caf\xe9\n")
    assert err.message == "file is not valid UTF-8 (byte 0xe9 at line 2, column 8)"
    assert (err.loc.line, err.loc.col) == (2, 8)
    err = syntax_error(b"\xff\xfea\x00:\x00")  # UTF-16
    assert "not valid UTF-8 (byte 0xff at line 1, column 1)" in err.message


@pytest.mark.parametrize(
    "text", ["a: 1\nb: \x00\n", "a: \x07\n", b"a: 1\nb: \x00\x01\x02\n", "a: '\x1b[0m'\n"]
)
def test_binary_files(text: str | bytes) -> None:
    err = syntax_error(text)
    assert err.message.startswith("file looks binary")


def test_tabs_inside_quoted_values_are_fine() -> None:
    assert load_text("a: \"x\ty\"\nb: 'c\td'\n").data == {"a": "x\ty", "b": "c\td"}
    # PyYAML does not accept a tab as separation whitespace: a clear error, not indentation advice
    err = syntax_error("b: c\td\n")
    assert err.hint is not None and "quoted" in err.hint


def test_size_limit() -> None:
    text = "a: " + "x" * 100 + "\n"
    assert load_text(text, max_bytes=200).data == {"a": "x" * 100}
    for value in (text, text.encode()):
        err = syntax_error(value, max_bytes=50)
        assert "too large" in err.message
    assert "too large" in syntax_error("a: " + "é" * 30 + "\n", max_bytes=50).message  # counted in bytes


def test_multiple_documents_are_rejected() -> None:
    err = syntax_error("a: 1\n---\nb: 2\n")
    assert "second YAML document" in err.message and err.loc.line == 2
    assert load_text("---\na: 1\n...\n").data == {"a": 1}


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# just a comment\n", "---\n", "--- # c\n...\n", b"\xef\xbb\xbf"]
)
def test_empty_file(text: str | bytes) -> None:
    assert syntax_error(text).message == "the file is empty"


def test_explicit_null_document_is_not_empty() -> None:
    assert load_text("null\n").data is None


# ----------------------------------------------------------------------------- syntax errors
def test_pyyaml_errors_are_cleaned() -> None:
    err = syntax_error("a: 1\nb: {x: 1 {\n")
    assert err.message.startswith("YAML syntax: ")
    assert err.loc.line == 2 and err.loc.file == "t.yaml"
    err = syntax_error("k: {x: ${n}}\n")
    assert err.message == "YAML syntax: expected ',' or '}', but got '{'"
    assert (err.loc.line, err.loc.col) == (1, 9)
    assert err.hint is not None and "quote the expression" in err.hint and "flow" in err.hint


def test_expression_in_flow_list_hint() -> None:
    err = syntax_error("shape: [${n}, 3]\n")
    assert err.hint is not None and 'key: "${...}"' in err.hint
    assert load_text('shape: ["${n}", 3]\nb: ${n} + 1\n').data == {"shape": ["${n}", 3], "b": "${n} + 1"}


def test_tab_indentation_hint() -> None:
    err = syntax_error("a:\n\tb: 1\n")
    assert err.loc.line == 2 and err.hint is not None and "tabs" in err.hint


def test_unclosed_quote_mentions_start() -> None:
    err = syntax_error("a: 'abc\nb: 1\n")
    assert "line 1" in err.message and err.message.startswith("YAML syntax: ")


def test_rendered_error_has_excerpt() -> None:
    text = str(syntax_error("a: 1\na: 2\n"))
    assert text.startswith("t.yaml:2:1: error: duplicate key 'a'") and "  2 | a: 2" in text


# ----------------------------------------------------------------------------- files
def test_load_file(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text("a: [1, 2]\n", encoding="utf-8")
    doc = load_file(p, display="shown.yaml")
    assert doc.data == {"a": [1, 2]} and doc.file == "shown.yaml"
    assert doc.loc(("a", 1)).file == "shown.yaml"
    assert load_file(str(p)).data == {"a": [1, 2]}
    with pytest.raises(SpecSyntaxError, match="too large"):
        load_file(p, max_bytes=5)


def test_load_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecSyntaxError, match="cannot read") as info:
        load_file(tmp_path / "missing.yaml", display="missing.yaml")
    assert info.value.loc.file == "missing.yaml"
    with pytest.raises(SpecSyntaxError, match="cannot read"):
        load_file(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \x00")
    with pytest.raises(SpecSyntaxError, match="binary"):
        load_file(bad)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_load_file_permission_denied(tmp_path: Path) -> None:
    p = tmp_path / "locked.yaml"
    p.write_text("a: 1\n")
    p.chmod(0)
    try:
        with pytest.raises(SpecSyntaxError, match="cannot read"):
            load_file(p)
    finally:
        p.chmod(0o644)


# ----------------------------------------------------------------------------- parse_scalar
def test_parse_scalar() -> None:
    assert parse_scalar("[1, 2]") == [1, 2]
    assert parse_scalar("{a: 1, b: [x, on]}") == {"a": 1, "b": ["x", "on"]}
    assert parse_scalar(" 3 ") == 3
    assert parse_scalar('"3"') == "3"
    assert parse_scalar("'a b'") == "a b"
    assert parse_scalar("a: b") == "a: b"
    assert parse_scalar("relu") == "relu"
    assert parse_scalar("") is None
    with pytest.raises(SpecSyntaxError):
        parse_scalar("[1, 2")


# ----------------------------------------------------------------------------- round trip
_WORDS = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True).filter(lambda s: parse_scalar(s) == s)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, width=64)
    | _WORDS
    | st.text(alphabet="abc xyz.-", min_size=1, max_size=12).filter(lambda s: parse_scalar(s) == s)
)
_DATA = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_WORDS, children, max_size=4),
    max_leaves=25,
)


def _paths(value: object, prefix: PathT = ()) -> list[PathT]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(_WORDS, _DATA, min_size=1, max_size=5), flow=st.booleans())
def test_safe_dump_round_trip(data: dict[str, object], flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, allow_unicode=True)
    doc = load_text(text)
    assert doc.data == data
    assert list(doc.data) == list(data) if isinstance(doc.data, dict) else False
    for path in _paths(data):
        loc = doc.loc(path)
        assert path in doc.positions and loc.line >= 1 and loc.col >= 1
        if path and isinstance(path[-1], str):
            assert doc.key_loc(path).line >= 1 and path in doc.key_positions


# ----------------------------------------------------------------------------- libyaml vs pure Python
# load_text uses libyaml's C scanner and parser when PyYAML has it (several times faster on large
# files) and PyYAML's pure-Python parser otherwise; both must give the same Doc, or the same error.
ROOT = Path(__file__).resolve().parent.parent
YAML_FILES = sorted(
    p for folder in ("specs", "blocks", "tests") for p in (ROOT / folder).rglob("*.yaml") if p.is_file()
)
needs_libyaml = pytest.mark.skipif(not HAVE_LIBYAML, reason="PyYAML was built without libyaml")


def outcome(text: str | bytes, parser: ParserName) -> tuple[object, ...]:
    """Everything a load gives: the data (repr: NaN equals itself), every position; or the error."""
    try:
        doc = load_text(text, "f.yaml", parser=parser)
    except SpecSyntaxError as e:
        loc = e.loc
        return ("error", e.message, loc.file, loc.line, loc.col, loc.end_col, loc.path, e.hint)
    return ("ok", repr(doc.data), sorted(doc.positions.items(), key=repr), sorted(doc.key_positions.items()))


def assert_same(text: str | bytes) -> tuple[object, ...]:
    python = outcome(text, "python")
    assert outcome(text, "libyaml") == python, f"libyaml and PyYAML differ on {text!r}"
    assert outcome(text, "auto") == python
    return python


def test_have_libyaml_matches_pyyaml() -> None:
    assert HAVE_LIBYAML == bool(yaml.__with_libyaml__)


def test_unknown_parser_is_refused() -> None:
    with pytest.raises(ValueError, match="parser must be"):
        load_text("a: 1\n", parser="fast")  # type: ignore[arg-type]


@needs_libyaml
@pytest.mark.parametrize("path", YAML_FILES, ids=[p.relative_to(ROOT).as_posix() for p in YAML_FILES])
def test_libyaml_and_python_agree_on_repository_files(path: Path) -> None:
    """specs/, blocks/ and every YAML file of the tests (error corpus, hostile cases, fixtures)."""
    assert_same(path.read_bytes())


DIFFERENTIAL_CASES = [
    SPEC,
    "a: 1\nb:",  # an empty value at the end of a text without a final line break
    "a:\n  - x\n  -",
    "k: v # c",
    "? a\n",
    "a: [1, {b: c}]",
    "# only\x85a: 1\x85b: [x,\x85 y]\n",  # NEL, LS and PS are line breaks too
    "a: 1\u2028b: 2\u2029c: 3",
    "a: 1\r\nb: 'x\r\n  y'\r\nc:",
    "a: 1\rb: 2\r",
    "e: \"\\t\\u00e9\\x41\"\nf: 'it''s'\ng: \"a\\\n  b\"\n",
    "a: |\n  one\n\n  two\nb: >-\n  x\n  y\nc: |+\n  z\n\n",
    "a: |2\n   x\nb: 1",
    "t: !!str 1\nu: ! 2\nv: !!int '3'\nw: &a !!map {x: 1}\nz: *a\n",
    "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\nl: [*b, *b]\n",
    "%YAML 1.1\n---\na: 1\n...\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "%FOO bar\n---\na: 1\n",  # (an unknown directive is ignored)
    # tabs: PyYAML takes them only inside quoted and block scalars and comments, libyaml also
    # between tokens; whatever PyYAML does is what netdsl does
    "a: 'x\ty'\nb: \"\tq\t\"\nc: 1 # tab\there\n",
    "a: !!str 'x\ty'\nb: &q \"\t\"\n",
    "a: |\n  x\ty\n\tz\n",
    "a: |\n\tx\n",
    "a: 1\t\n",
    "a:\t1\n",
    "a: [1,\t2]\n",
    "b: c\td\n",
    "a: 'q' \t# c\n",
    "a: 'x\n\ty'\n",
    "%YAML\t1.1\n---\na: 1\n",
    # a '?' inside a flow plain scalar: libyaml reads a string, PyYAML an error
    "a: [x?y]\n",
    "a: {k?: 1}\n",
    "a: [x ?y]\n",
    "a: x?y\n",
    "a: [x:y, {b:c}, '?', \"?\"]\n",
    # empty plain scalars in flow collections: PyYAML marks a value after its ':', libyaml at what
    # follows; whatever PyYAML does is what netdsl does
    "a: {b: }\n",
    "a: {b: , c: 1}\n",
    "a: {b: # c\n  }\n",
    "a: [b: ]\n",
    "a: {: b}\n",
    "a: {b}\n",
    "a: {? }\n",
    "a: {b: !!str }\n",
    "a: [{b: }]",
    # block scalar headers: libyaml takes a comment right after the indicators, PyYAML does not
    "a: |# c\n  x\n",
    "|# c",
    "a: >-#\n  x\n",
    "a: |2 # c\n   x\n",
    "a: &b |\n  x\n",
    "a: !!str |# c\n  x\n",
    "a: |0\n x\n",
]


@needs_libyaml
@pytest.mark.parametrize("text", DIFFERENTIAL_CASES)
def test_libyaml_and_python_agree(text: str) -> None:
    assert_same(text)


DIFFERENTIAL_ERRORS = [
    "a: 1\nb: {x: 1 {\n",
    "k: {x: ${n}}\n",
    "shape: [${n}, 3]\n",
    "a:\n\tb: 1\n",
    "a: 'abc\nb: 1\n",
    "a: 1\n a: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "- a\nb: 1\n",
    "a: *nope\n",
    "a: &x 1\nb: &x 2\n",
    "a: 1\n---\nb: 2\n",
    "[" * 10_000,
    "{a: " * 5_000 + "1" + "}" * 5_000,
    "a: [1, 2\n",
    "a: @x\n",
    "a: `x\n",
    "%YAML 2.0\n---\na: 1\n",
    "a: !<tag:a b> 1\n",
    "&a [*a]\n",
    'a: "\\q"\n',
    "a: |x\n  b\n",
    "a: !!binary aGk=\n",
    "a: 1\na: 2\n",
    "? [1]\n: 2\n",
]


@needs_libyaml
@pytest.mark.parametrize("text", DIFFERENTIAL_ERRORS)
def test_libyaml_and_python_give_the_same_errors(text: str) -> None:
    result = assert_same(text)
    assert result[0] == "error", result


@needs_libyaml
def test_billion_laughs_and_deep_nesting_are_refused_alike() -> None:
    assert assert_same(billion_laughs())[1] == (
        f"alias expansion exceeds {yaml_loader.MAX_NODES} nodes (a 'billion laughs' document?)"
    )
    # near the size limit: flow and block nesting far beyond the limit
    assert "deeper than" in str(assert_same("[" * 500_000)[1])
    deep_block = "".join(" " * i + f"k{i}:\n" for i in range(990))
    assert len(deep_block) < 512_000
    assert "deeper than" in str(assert_same(deep_block)[1])
    deep_list = "".join(" " * (2 * i) + "-\n" for i in range(700))
    assert "deeper than" in str(assert_same(deep_list)[1])


_YAMLISH = st.lists(
    st.sampled_from(
        [
            "a", "b", "1", "-2", ".5", "~", "true", ":", ": ", " ", "  ", "\n", "\n  ", "\n    ", "- ",
            "-", "[", "]", "{", "}", ", ", ",", "'", '"', "'x y'", "'a\tb'", '"\\t"', "# c", " #", "\t",
            "&x ", "*x", "!!str ", "!!int ", "! ", "!foo ", "? ", "?", "---\n", "...\n", "\r\n", "\x85",
            "é", "${n}", "<<: ", "x:y", "a#b", "a?b", "|\n  t\n", ">-\n  t\n", "@", "%", "\\",
        ]
    ),
    max_size=24,
).map("".join)  # fmt: skip


@needs_libyaml
@settings(max_examples=400, deadline=None)
@given(text=_YAMLISH)
def test_libyaml_and_python_agree_on_generated_text(text: str) -> None:
    assert_same(text)


@needs_libyaml
@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(_WORDS, _DATA, min_size=1, max_size=5),
    flow=st.booleans(),
    style=st.sampled_from([None, "'", '"', "|", ">"]),
    width=st.sampled_from([8, 80]),
)
def test_libyaml_and_python_agree_on_dumped_data(
    data: dict[str, object], flow: bool, style: str | None, width: int
) -> None:
    text = yaml.safe_dump(
        data, default_flow_style=flow, default_style=style, sort_keys=False, allow_unicode=True, width=width
    )
    assert_same(text)
    assert_same(text.rstrip("\n"))  # (no final line break: the end of the text is marked alike)


class _Refused(Exception):
    pass


@needs_libyaml
def test_libyaml_is_used_and_pyyaml_only_where_they_could_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_python(text: str) -> None:
        raise _Refused(text)

    monkeypatch.setattr(yaml_loader, "_PyParser", no_python)
    assert load_text(SPEC).data == load_text(SPEC, parser="libyaml").data  # no pure-Python parse
    load_text("a: 'x\ty' # b\tc\n")  # tabs libyaml and PyYAML take alike
    assert "nesting is deeper" in syntax_error("[" * 200).message  # errors of the composer
    assert "is not defined" in syntax_error("a: *x\n").message
    for text in ("a: [1, 2\n", "a: 1\t\n", "a: [x?y]\n", "a: {b: }\n", "a: 'q'\nb: *x\t\n"):
        with pytest.raises(_Refused):  # syntax errors, tabs between tokens, '?' or empty in a flow
            load_text(text)

"""Safe YAML loading that keeps a source position for every value and key.

PyYAML's pure-Python ``SafeLoader`` only scans, parses and composes the node tree;
the Python values are built here by walking the nodes, so no tag ever constructs an
object.  Plain scalars follow the YAML 1.2 *core* schema, not PyYAML's YAML 1.1 rules:

* ``null``/``Null``/``NULL``/``~``/empty -> ``None``; ``true``/``false`` (3 casings) -> bool;
  ``yes``, ``no``, ``on``, ``off``, ``y``, ``n`` stay strings;
* ints ``[-+]?[0-9]+``, ``0o17``, ``0x1F`` (must fit in 64 bits); ``_`` separators are
  *not* accepted (``1_000`` stays the string ``"1_000"``, as in YAML 1.2);
* floats ``1.5``, ``1e-5``, ``1e6``, ``.5``, ``.inf``, ``-.inf``, ``.nan``;
* no sexagesimal (``12:30`` is a string), no timestamps, no binary; quoted scalars are str.

Only the standard tags ``!!str !!int !!float !!bool !!null !!map !!seq`` are accepted.
Anchors, aliases and merge keys (``<<``) work, with bounded expansion.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent, StreamEndEvent
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from netdsl.errors import PathT, SourceLoc, SpecSyntaxError, display_path

__all__ = ["MAX_DEPTH", "MAX_NODES", "Doc", "load_file", "load_text", "parse_scalar"]

MAX_NODES = 100_000
MAX_DEPTH = 100
_INT_LIMIT = 2**63

_Y = "tag:yaml.org,2002:"
_PLAIN = "tag:netdsl,2024:plain"  # internal: an untagged plain scalar (resolved by the core schema)
_STR = _Y + "str"
_SCALAR_TAGS = frozenset({_PLAIN, _STR, _Y + "int", _Y + "float", _Y + "bool", _Y + "null"})
_ALL_TAGS = _SCALAR_TAGS | {_Y + "seq", _Y + "map"}
_ALLOWED = {"scalar": _SCALAR_TAGS, "list": frozenset({_Y + "seq"}), "mapping": frozenset({_Y + "map"})}

_NULL = re.compile(r"~|null|Null|NULL|")
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_DEC = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_TAG_NOTE = "netdsl specs are plain YAML (mappings, lists, strings, numbers, booleans, null)"
_FLOW_HINT = (
    'inside a flow mapping or list `{...}`/`[...]`, quote the expression: key: "${...}" '
    "(or use the block style)"
)
_EXPR_HINT = 'quote a value that holds an expression: key: "${...}"'
_TAB_HINT = "YAML does not allow tabs for indentation; indent with spaces"

_Pos = tuple[int, int, int]  # (line, col, end_col), 1-based; end_col 0 when unknown


# ----------------------------------------------------------------------------- scalars
def _to_int(s: str) -> int | None:
    for pattern, base, skip in ((_DEC, 10, 0), (_OCT, 8, 2), (_HEX, 16, 2)):
        if pattern.fullmatch(s):
            try:
                value = int(s[skip:], base)
            except ValueError:  # more digits than int() accepts: certainly out of range
                value = _INT_LIMIT
            if not -_INT_LIMIT <= value < _INT_LIMIT:
                raise ValueError(f"integer {s[:40]} is out of range (it must fit in 64 bits)")
            return value
    return None


def _to_float(s: str) -> float | None:
    m = _INF.fullmatch(s)
    if m:
        return -math.inf if m.group(1) == "-" else math.inf
    if _NAN.fullmatch(s):
        return math.nan
    if _FLOAT.fullmatch(s):
        value = float(s)
        if math.isinf(value):
            raise ValueError(f"number {s[:40]} is out of range for a float")
        return value
    return None


def _resolve_plain(s: str) -> object:
    """The value of an untagged plain scalar under the YAML 1.2 core schema."""
    if _NULL.fullmatch(s):
        return None
    if s in _TRUE or s in _FALSE:
        return s in _TRUE
    as_int = _to_int(s)
    if as_int is not None:
        return as_int
    as_float = _to_float(s)
    return s if as_float is None else as_float


def _construct_tagged(tag: str, s: str) -> object:
    kind, v = tag[len(_Y) :], s.strip()
    if kind == "str":
        return s
    if kind == "null" and _NULL.fullmatch(v):
        return None
    result: object = v in _TRUE if kind == "bool" and v in _TRUE | _FALSE else None
    result = _to_int(v) if kind == "int" else _to_float(v) if kind == "float" else result
    if result is None:
        raise ValueError(f"{s[:40]!r} is not a valid !!{kind}")
    return result


def parse_scalar(text: str) -> object:
    """One value as written on a command line (``--set k=v``).

    Text starting with ``[``, ``{`` or a quote is parsed as a small YAML flow document;
    anything else is one plain scalar resolved by the core schema (``"a: b"`` stays a str).
    """
    s = text.strip()
    if s[:1] in ("[", "{", '"', "'"):
        return load_text(s, "<value>").data
    try:
        return _resolve_plain(s)
    except ValueError as e:
        loc = SourceLoc(file="<value>", line=1, col=1, end_col=len(s) + 1, text=s)
        raise SpecSyntaxError(str(e), loc) from None


# ----------------------------------------------------------------------------- document
@dataclass(frozen=True)
class Doc:
    """A loaded spec: plain data plus the source position of every value and key."""

    data: object
    file: str
    text: str
    positions: Mapping[PathT, _Pos] = field(default_factory=dict, repr=False, compare=False)
    key_positions: Mapping[PathT, _Pos] = field(default_factory=dict, repr=False, compare=False)

    def loc(self, path: PathT) -> SourceLoc:
        """Where the value at ``path`` is (or its nearest existing ancestor)."""
        probe = path = tuple(path)
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, col, end = self.positions.get(probe, (0, 0, 0))
        return SourceLoc(file=self.file, line=line, col=col, path=path, end_col=end, text=self.text)

    def key_loc(self, path: PathT) -> SourceLoc:
        """Where the mapping key named by the last element of ``path`` is (else ``loc(path)``)."""
        pos = self.key_positions.get(tuple(path))
        if pos is None:
            return self.loc(path)
        return SourceLoc(self.file, pos[0], pos[1], tuple(path), pos[2], text=self.text)


class _AliasNode(Node):
    """An alias (``*name``) kept in the tree so that its own position survives."""

    def __init__(self, name: str, target: Node, start: Any, end: Any) -> None:
        super().__init__("", None, start, end)
        self.name = name
        self.target = target


def _node_pos(node: Node) -> _Pos:
    start, end = node.start_mark, node.end_mark
    one_line = end is not None and end.line == start.line and end.column > start.column
    spanned = isinstance(node, ScalarNode | _AliasNode) or (
        isinstance(node, CollectionNode) and node.flow_style is True
    )
    return (start.line + 1, start.column + 1, end.column + 1 if one_line and spanned else 0)


def _mark_loc(file: str, text: str, mark: Any, path: PathT = ()) -> SourceLoc:
    if mark is None:
        return SourceLoc(file=file, path=path, text=text)
    return SourceLoc(file=file, line=mark.line + 1, col=mark.column + 1, path=path, text=text)


def _tag_text(tag: str) -> str:
    if tag.startswith(_Y):
        return "!!" + tag[len(_Y) :]
    return tag if tag.startswith("!") else f"!<{tag}>"


class _Loader(yaml.SafeLoader):
    """SafeLoader used for scanning, parsing and composing only (never constructing)."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.name = file
        self._file = file
        self._text = text
        self._depth = 0

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool] | bool) -> str:
        if kind is ScalarNode:
            assert isinstance(implicit, tuple)
            return _PLAIN if implicit[0] else _STR
        return _Y + ("seq" if kind is SequenceNode else "map")

    def event(self, consume: bool = False) -> Any:
        return self.get_event() if consume else self.peek_event()  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.event()
        if isinstance(event, AliasEvent):
            self.event(consume=True)
            name = str(event.anchor)
            if name not in self.anchors:
                loc = _mark_loc(self._file, self._text, event.start_mark)
                raise SpecSyntaxError(f"alias '*{name}' is not defined (define it first with '&{name}')", loc)
            return _AliasNode(name, self.anchors[name], event.start_mark, event.end_mark)
        if isinstance(event, ScalarEvent) and event.tag == "!":
            event.tag = _STR  # the non-specific tag '!' means "string"
        nested = isinstance(event, SequenceStartEvent | MappingStartEvent)
        if nested:
            if self._depth >= MAX_DEPTH:
                loc = _mark_loc(self._file, self._text, event.start_mark)
                raise SpecSyntaxError(f"nesting is deeper than {MAX_DEPTH} levels", loc)
            self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1


class _Builder:
    """Builds plain Python data from the node tree and records positions."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.values: dict[PathT, _Pos] = {}
        self.keys: dict[PathT, _Pos] = {}
        self.sizes: dict[int, int] = {}
        self.literal = 0  # nodes written in the file (aliases not expanded) checked so far
        self.flat: dict[int, list[tuple[str, Node, Node]]] = {}

    def error(self, message: str, node: Node, path: PathT = (), hint: str | None = None) -> SpecSyntaxError:
        line, col, end = _node_pos(node)
        loc = SourceLoc(file=self.file, line=line, col=col, path=path, end_col=end, text=self.text)
        return SpecSyntaxError(message, loc, hint=hint)

    def check(self, node: Node, path: PathT, key: bool = False) -> int:
        """Check tags and aliases in document order; return the node count once expanded.

        The expansion budget is MAX_NODES nodes *beyond* those written in the file, so a large
        alias-free file (bounded by max_bytes) is fine while a billion-laughs file fails at once.
        """
        if isinstance(node, _AliasNode):
            size = self.sizes.get(id(node.target))
            if size is None:  # the anchor's node is still being visited: it contains the alias
                raise self.error(
                    f"alias '*{node.name}' is recursive (it refers to a node containing it)", node, path
                )
        else:
            kind = {ScalarNode: "scalar", SequenceNode: "list"}.get(type(node), "mapping")
            if node.tag not in _ALLOWED[kind]:
                shown = _tag_text(node.tag)
                if node.tag in _ALL_TAGS:
                    raise self.error(f"tag '{shown}' cannot be used on a {kind}", node, path)
                raise self.error(f"tag '{shown}' is not allowed; {_TAG_NOTE}", node, path)
            size = 1
            self.literal += not key  # keys are not counted as materialised nodes
            if isinstance(node, SequenceNode):
                size += sum(self.check(item, (*path, i)) for i, item in enumerate(node.value))
            elif isinstance(node, MappingNode):
                for k, v in node.value:
                    self.check(k, path, key=True)
                    size += self.check(v, (*path, k.value if isinstance(k, ScalarNode) else "?"))
            self.sizes[id(node)] = size
        if size > MAX_NODES + self.literal:  # aliases add more than MAX_NODES nodes
            raise self.error(
                f"alias expansion exceeds {MAX_NODES} nodes (a 'billion laughs' document?)", node, path
            )
        return size

    def build(self, node: Node, path: PathT, depth: int) -> object:
        self.values[path] = _node_pos(node)
        origin = node
        if isinstance(node, _AliasNode):
            node = node.target
        if isinstance(node, ScalarNode):
            try:
                if node.tag == _PLAIN:
                    return _resolve_plain(node.value)
                return _construct_tagged(node.tag, node.value)
            except ValueError as e:
                raise self.error(str(e), origin, path, hint='quote it to keep a string: "..."') from None
        if depth >= MAX_DEPTH:
            raise self.error(f"nesting is deeper than {MAX_DEPTH} levels (aliases expanded)", origin, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: dict[str, object] = {}
        for name, key_node, value_node in self.items(node, path, 0):
            self.keys[(*path, name)] = _node_pos(key_node)
            out[name] = self.build(value_node, (*path, name), depth + 1)
        return out

    def key_text(self, key: Node, path: PathT) -> str:
        target = key.target if isinstance(key, _AliasNode) else key
        if not isinstance(target, ScalarNode):
            raise self.error(
                "mapping keys must be plain scalars (names or numbers), not lists or mappings", key, path
            )
        if target.tag == _PLAIN and target.value == "":
            raise self.error("empty mapping key", key, path)
        return str(target.value)

    def items(self, node: MappingNode, path: PathT, level: int) -> list[tuple[str, Node, Node]]:
        """The (name, key node, value node) entries of a mapping, merge keys applied."""
        cached = self.flat.get(id(node))
        if cached is not None:
            return cached
        if level > MAX_DEPTH:  # (cycles were rejected by check())
            raise self.error(f"merge keys are chained more than {MAX_DEPTH} levels deep", node, path)
        first: dict[str, Node] = {}
        pairs: list[tuple[str, Node, Node]] = []
        for key, value in node.value:
            name = self.key_text(key, path)
            if name in first:
                line = first[name].start_mark.line + 1
                raise self.error(
                    f"duplicate key '{name}' (first defined at line {line})",
                    key,
                    (*path, name),
                    hint="each key may appear only once in a mapping; remove or rename one",
                )
            first[name] = key
            pairs.append((name, key, value))
        out: dict[str, tuple[Node, Node]] = {}
        for name, key, value in pairs:
            if name == "<<" and isinstance(key, ScalarNode) and key.tag == _PLAIN:
                for source in self.merge_sources(value, path):
                    for sub, sub_key, sub_value in self.items(source, path, level + 1):
                        if sub not in out and sub not in first:
                            out[sub] = (sub_key, sub_value)
            else:
                out[name] = (key, value)
        result = [(name, key, value) for name, (key, value) in out.items()]
        self.flat[id(node)] = result
        return result

    def merge_sources(self, value: Node, path: PathT) -> list[MappingNode]:
        target = value.target if isinstance(value, _AliasNode) else value
        items = target.value if isinstance(target, SequenceNode) else [value]
        sources = [item.target if isinstance(item, _AliasNode) else item for item in items]
        if not all(isinstance(s, MappingNode) for s in sources):
            raise self.error(
                "the value of a merge key '<<' must be a mapping (like *base) or a list of them",
                value,
                (*path, "<<"),
            )
        return [s for s in sources if isinstance(s, MappingNode)]


# ----------------------------------------------------------------------------- loading
def _syntax_error(e: yaml.MarkedYAMLError, file: str, text: str) -> SpecSyntaxError:
    mark = e.problem_mark or e.context_mark
    message = f"YAML syntax: {e.problem or e.context or 'invalid document'}"
    if e.problem and e.context and e.context_mark and mark and e.context_mark.line != mark.line:
        message += f" ({e.context} that starts at line {e.context_mark.line + 1})"
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    hint = None
    if "${" in line:
        in_flow = "flow" in (e.context or "") or re.search(r"(?<!\$)[\[{]", line) is not None
        hint = _FLOW_HINT if in_flow else _EXPR_HINT
    elif "\t" in line[: len(line) - len(line.lstrip())]:
        hint = _TAB_HINT
    elif "'\\t'" in (e.problem or ""):
        hint = "use spaces instead of tabs between YAML tokens (a tab can appear inside a quoted string)"
    elif "flow" in (e.context or "") and e.context_mark is not None and mark is not None:
        opener = "[" if "sequence" in (e.context or "") else "{"
        closer = "]" if opener == "[" else "}"
        where = f"line {e.context_mark.line + 1}, column {e.context_mark.column + 1}"
        hint = f"is the '{opener}' opened at {where} closed? (a flow collection ends with '{closer}')"
    elif "<block end>" in (e.problem or "") or "<block mapping start>" in (e.problem or ""):
        message = "YAML syntax: this line's indentation does not match the keys above it"
        hint = "indent keys of one mapping by the same number of spaces"
    return SpecSyntaxError(message, _mark_loc(file, text, mark), hint=hint)


def _decode(raw: bytes, file: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        shown = raw.decode("utf-8", "replace")
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        col = len(raw[line_start : e.start].decode("utf-8", "replace")) + 1
        loc = SourceLoc(file=file, line=line, col=col, text=shown)
        byte = raw[e.start]
        message = f"file is not valid UTF-8 (byte 0x{byte:02x} at line {line}, column {col})"
        raise SpecSyntaxError(message, loc, hint="save the file as UTF-8") from None


def _too_large(size: int, max_bytes: int, file: str) -> SpecSyntaxError:
    return SpecSyntaxError(
        f"file is too large ({size} bytes; a spec file may have at most {max_bytes})", SourceLoc(file=file)
    )


def load_text(text: str | bytes, file: str = "<string>", *, max_bytes: int = 512_000) -> Doc:
    """Parse one YAML document into plain data with positions (see the module doc)."""
    if isinstance(text, bytes | bytearray):
        if len(text) > max_bytes:
            raise _too_large(len(text), max_bytes, file)
        text = _decode(bytes(text), file)
    else:
        size = len(text) if len(text) > max_bytes else len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise _too_large(size, max_bytes, file)
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        at = bad.start()
        line, col = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        char = f"U+{ord(bad.group()):04X}"
        message = f"file looks binary (control character {char} at line {line}, column {col})"
        raise SpecSyntaxError(
            message, SourceLoc(file=file, line=line, col=col), hint="netdsl specs are UTF-8 text files"
        )
    loader = _Loader(text, file)
    try:
        loader.event(consume=True)  # STREAM-START
        if loader.check_event(StreamEndEvent):
            raise SpecSyntaxError("the file is empty", SourceLoc(file=file, line=1, col=1, text=text))
        root = loader.compose_document()
        if not loader.check_event(StreamEndEvent):
            loc = _mark_loc(file, text, loader.event().start_mark)
            hint = "remove the '---' line (or split the documents into files)"
            raise SpecSyntaxError("a second YAML document starts here; a spec holds one", loc, hint=hint)
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, file, text) from None
    except yaml.YAMLError as e:
        raise SpecSyntaxError(f"YAML syntax: {e}", SourceLoc(file=file, text=text)) from None
    except RecursionError:
        raise SpecSyntaxError(f"nesting is deeper than {MAX_DEPTH} levels", SourceLoc(file=file)) from None
    finally:
        loader.dispose()
    if isinstance(root, ScalarNode) and root.tag == _PLAIN and root.value == "":
        raise SpecSyntaxError("the file is empty", SourceLoc(file=file, line=1, col=1, text=text))
    assert root is not None
    builder = _Builder(file, text)
    builder.check(root, ())
    data = builder.build(root, (), 0)
    return Doc(data, file, text, builder.values, builder.keys)


def load_file(path: str | os.PathLike[str], *, display: str | None = None, max_bytes: int = 512_000) -> Doc:
    """Read and parse a spec file; unreadable files are a :class:`SpecSyntaxError` too."""
    name = display if display is not None else display_path(os.fspath(path))
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise _too_large(size, max_bytes, name)
            raw = fh.read(max_bytes + 1)
    except OSError as e:
        raise SpecSyntaxError(f"cannot read {name}: {e.strerror or e}", SourceLoc(file=name)) from None
    return load_text(raw, name, max_bytes=max_bytes)

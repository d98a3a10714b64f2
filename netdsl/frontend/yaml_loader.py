"""Safe YAML loading that keeps a source position for every value and key.

PyYAML only scans and parses (libyaml's C parser when PyYAML has it, several times faster on
large files, else PyYAML's pure-Python one: both give the same result, see :func:`_compose_text`);
the node tree is composed here from the parser's events, without recursion, and the Python
values are built by walking the nodes, so no tag ever constructs an object.  Plain scalars follow
the YAML 1.2 *core* schema, not PyYAML's YAML 1.1 rules:

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

import bisect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import yaml
from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner

from netdsl.core.errors import PathT, SourceLoc, SpecSyntaxError, display_path
from netdsl.core.gcpause import no_gc
from netdsl.frontend.yaml_scalars import CORE_TAG_PREFIX, construct_tagged, resolve_plain

_CParser: Any
try:  # PyYAML built with libyaml: its C scanner and parser make the events
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML without its C extension
    _CParser = None

__all__ = [
    "HAVE_LIBYAML",
    "MAX_DEPTH",
    "MAX_NODES",
    "Doc",
    "ParserName",
    "load_file",
    "load_text",
    "parse_scalar",
]

#: whether PyYAML's libyaml-based parser is there (``load_text(parser="auto")`` then uses it)
HAVE_LIBYAML: bool = _CParser is not None and bool(getattr(yaml, "__with_libyaml__", False))
ParserName = Literal["auto", "libyaml", "python"]

MAX_NODES = 100_000
MAX_DEPTH = 100

_Y = CORE_TAG_PREFIX
_PLAIN = "tag:netdsl,2024:plain"  # internal: an untagged plain scalar (resolved by the core schema)
_STR = _Y + "str"
_SEQ = _Y + "seq"
_MAP = _Y + "map"
_SCALAR_TAGS = frozenset({_PLAIN, _STR, _Y + "int", _Y + "float", _Y + "bool", _Y + "null"})
_ALL_TAGS = _SCALAR_TAGS | {_Y + "seq", _Y + "map"}
_ALLOWED = {"scalar": _SCALAR_TAGS, "list": frozenset({_Y + "seq"}), "mapping": frozenset({_Y + "map"})}

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
def parse_scalar(text: str) -> object:
    """One value as written on a command line (``--set k=v``).

    Text starting with ``[``, ``{`` or a quote is parsed as a small YAML flow document;
    anything else is one plain scalar resolved by the core schema (``"a: b"`` stays a str).
    """
    s = text.strip()
    if s[:1] in ("[", "{", '"', "'"):
        return load_text(s, "<value>").data
    try:
        return resolve_plain(s)
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
    #: the locations made so far, by path (a SourceLoc is immutable: the copies of a repeated block
    #: share theirs); value and key locations apart
    _locs: dict[PathT, SourceLoc] = field(default_factory=dict, init=False, repr=False, compare=False)
    _key_locs: dict[PathT, SourceLoc] = field(default_factory=dict, init=False, repr=False, compare=False)

    def loc(self, path: PathT) -> SourceLoc:
        """Where the value at ``path`` is (or its nearest existing ancestor)."""
        if type(path) is not tuple:
            path = tuple(path)
        made = self._locs.get(path)
        if made is not None:
            return made
        pos = self.positions.get(path)
        if pos is None:
            probe = path
            while probe and probe not in self.positions:
                probe = probe[:-1]
            pos = self.positions.get(probe, (0, 0, 0))
        made = self._locs[path] = SourceLoc(self.file, pos[0], pos[1], path, pos[2], self.text)
        return made

    def key_loc(self, path: PathT) -> SourceLoc:
        """Where the mapping key named by the last element of ``path`` is (else ``loc(path)``)."""
        if type(path) is not tuple:
            path = tuple(path)
        made = self._key_locs.get(path)
        if made is not None:
            return made
        pos = self.key_positions.get(path)
        if pos is None:
            return self.loc(path)
        made = self._key_locs[path] = SourceLoc(self.file, pos[0], pos[1], path, pos[2], text=self.text)
        return made


class _AliasNode(Node):
    """An alias (``*name``) kept in the tree so that its own position survives."""

    def __init__(self, name: str, target: Node, start: Any, end: Any) -> None:
        super().__init__("", None, start, end)
        self.name = name
        self.target = target


def _node_pos(node: Node) -> _Pos:
    """(line, column, end column) of a node; the end only for a value written on one line."""
    start, end = node.start_mark, node.end_mark
    cls = type(node)
    spanned = (
        cls is ScalarNode
        or cls is _AliasNode
        or (isinstance(node, CollectionNode) and node.flow_style is True)
    )
    if spanned and end is not None and end.line == start.line and end.column > start.column:
        return (start.line + 1, start.column + 1, end.column + 1)
    return (start.line + 1, start.column + 1, 0)


def _mark_loc(file: str, text: str, mark: Any, path: PathT = ()) -> SourceLoc:
    if mark is None:
        return SourceLoc(file=file, path=path, text=text)
    return SourceLoc(file=file, line=mark.line + 1, col=mark.column + 1, path=path, text=text)


def _tag_text(tag: str) -> str:
    if tag.startswith(_Y):
        return "!!" + tag[len(_Y) :]
    return tag if tag.startswith("!") else f"!<{tag}>"


class _EventSource(Protocol):
    """What the composer needs of a parser: PyYAML's pure-Python ``Parser`` or libyaml's ``CParser``."""

    def get_event(self) -> Any: ...

    def peek_event(self) -> Any: ...

    def dispose(self) -> None: ...


class _PyParser(Reader, Scanner, Parser):
    """PyYAML's pure-Python reader, scanner and parser: the reference (and the fallback) event source."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)

    def dispose(self) -> None:
        self.states = []
        self.state = None


def _event_source(text: str, libyaml: bool) -> _EventSource:
    if libyaml:
        assert _CParser is not None
        source: _EventSource = _CParser(text)
        return source
    return _PyParser(text)


class _Diverged(Exception):
    """libyaml parsed a text PyYAML may parse otherwise: PyYAML (the reference) must parse it."""


def _compose(
    source: _EventSource,
    file: str,
    text: str,
    *,
    libyaml: bool = False,
    stream_end: Any = None,
    spans: list[int] | None = None,
) -> tuple[Node, bool]:
    """Compose the one document of the stream into a node tree, iteratively (no recursion).

    Only nodes are made (no tag constructs anything). Untagged plain scalars get the internal tag
    ``_PLAIN`` (resolved later by the core schema), other untagged scalars and the non-specific tag
    ``!`` mean ``!!str``. An alias is kept as an ``_AliasNode`` with its own position. Collections
    nest at most ``MAX_DEPTH`` deep: the error comes at the opening event, before anything deeper is
    parsed. Mirrors PyYAML's ``Composer`` otherwise (anchors, duplicate-anchor error).

    With ``libyaml`` (events from libyaml): raises :class:`_Diverged` at a plain scalar with a
    ``?`` inside a flow collection (libyaml reads ``[a?b]`` as a string, PyYAML refuses it) and at
    an empty one there (``{a: }``: PyYAML marks it after the ``:``, libyaml at the ``}``), and at
    a block scalar whose header PyYAML could refuse (libyaml takes ``|# comment``);
    ``stream_end`` is the end of a text without a final line break as PyYAML marks it (libyaml marks
    it at the start of a line after the last: events there get this mark instead); ``spans``, when
    given, gets the index of the opening quote and the end of every quoted scalar.

    Returns the root and whether the tree has aliases or explicit tags (else ``_Builder.check``
    has nothing to find).
    """
    get = source.get_event
    get()  # STREAM-START
    if type(source.peek_event()) is StreamEndEvent:
        raise SpecSyntaxError("the file is empty", SourceLoc(file=file, line=1, col=1, text=text))
    get()  # DOCUMENT-START
    last_line = stream_end.line if stream_end is not None else len(text)
    anchors: dict[str, Node] = {}
    open_nodes: list[CollectionNode] = []  # the collections being filled, innermost last
    open_seq: list[bool] = []  # whether each is a sequence
    keys: list[Node | None] = []  # per open mapping: its key waiting for a value
    root: Node | None = None
    tagged = False  # an explicit tag or an alias seen
    while root is None:
        event = get()
        if event.end_mark.line > last_line:
            event.end_mark = stream_end
            if event.start_mark.line > last_line:
                event.start_mark = stream_end
        cls = type(event)
        node: Node
        if cls is ScalarEvent:
            tag = event.tag
            style = event.style or None  # (libyaml: '' for plain scalars, PyYAML: None)
            if tag is None:
                tag = _PLAIN if event.implicit[0] else _STR
            elif tag == "!":
                tag = _STR  # the non-specific tag '!' means "string"
            else:
                tagged = True
            if libyaml:
                if style is None and open_nodes and open_nodes[-1].flow_style:
                    if not event.value or "?" in event.value:
                        raise _Diverged
                elif (style == "|" or style == ">") and not _block_header_as_pyyaml(text, event):
                    raise _Diverged
                if spans is not None and (style == "'" or style == '"'):
                    opening = _opening_quote(text, event, style)
                    if opening < 0:
                        raise _Diverged  # (a quote in a verbatim tag: left to PyYAML)
                    spans += (opening, event.end_mark.index)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style)
        elif cls is AliasEvent:
            name = str(event.anchor)
            target = anchors.get(name)
            if target is None:
                loc = _mark_loc(file, text, event.start_mark)
                raise SpecSyntaxError(f"alias '*{name}' is not defined (define it first with '&{name}')", loc)
            node = _AliasNode(name, target, event.start_mark, event.end_mark)
            tagged = True
        elif cls is SequenceEndEvent or cls is MappingEndEvent:
            done = open_nodes.pop()
            open_seq.pop()
            keys.pop()
            done.end_mark = event.end_mark
            if not open_nodes:
                root = done
            continue
        else:  # SequenceStartEvent or MappingStartEvent
            if len(open_nodes) >= MAX_DEPTH:
                loc = _mark_loc(file, text, event.start_mark)
                raise SpecSyntaxError(f"nesting is deeper than {MAX_DEPTH} levels", loc)
            is_seq = cls is SequenceStartEvent
            tag = event.tag
            if tag is None or tag == "!":
                tag = _SEQ if is_seq else _MAP
            else:
                tagged = True
            kind = SequenceNode if is_seq else MappingNode
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if cls is not AliasEvent and event.anchor is not None:
            if event.anchor in anchors:
                raise ComposerError(
                    f"found duplicate anchor {event.anchor!r}; first occurrence",
                    anchors[event.anchor].start_mark,
                    "second occurrence",
                    event.start_mark,
                )
            anchors[event.anchor] = node
        is_collection = cls is SequenceStartEvent or cls is MappingStartEvent
        if not open_nodes:
            if not is_collection:
                root = node  # (a collection is complete at its end event)
        elif open_seq[-1]:
            open_nodes[-1].value.append(node)
        else:
            key = keys[-1]
            if key is None:
                keys[-1] = node
            else:
                open_nodes[-1].value.append((key, node))
                keys[-1] = None
        if is_collection:
            assert isinstance(node, CollectionNode)
            open_nodes.append(node)
            open_seq.append(cls is SequenceStartEvent)
            keys.append(None)
    get()  # DOCUMENT-END
    following = source.peek_event()
    if type(following) is not StreamEndEvent:
        loc = _mark_loc(file, text, following.start_mark)
        hint = "remove the '---' line (or split the documents into files)"
        raise SpecSyntaxError("a second YAML document starts here; a spec holds one", loc, hint=hint)
    return root, tagged


def _opening_quote(text: str, event: Any, quote: str) -> int:
    """The index of the opening quote of a quoted scalar (after its anchor and tag, if any), or -1
    when it is not clear."""
    start: int = event.start_mark.index
    end: int = event.end_mark.index
    if event.anchor is None and event.tag is None:
        return start if text[start : start + 1] == quote else -1
    # properties hold no blank and are separated from the scalar by blanks or line breaks
    found = re.compile(f"(?<=[ \\t\\r\\n\\x85\\u2028\\u2029]){quote}").search(text, start, end)
    if found is None or text[start:end].count(quote, 0, found.start() - start):
        return -1  # (a quote within the properties: a verbatim tag !<...> may hold one)
    return found.start()


_BLOCK_HEADER = re.compile("[|>][-+0-9]*(?=[ \r\n\x85\u2028\u2029]|\\Z)")


def _block_header_as_pyyaml(text: str, event: Any) -> bool:
    """Whether the indicators of a block scalar (``|``, ``>-``, ``|2+``) end with a blank, a line
    break or the end, as PyYAML wants (libyaml takes a comment right after them). False when the
    scalar has an anchor or a tag (then where its header starts is left to PyYAML)."""
    if event.anchor is not None or event.tag is not None:
        return False
    return _BLOCK_HEADER.match(text, event.start_mark.index) is not None


_BREAKS = "\r\n\x85\u2028\u2029"  # what PyYAML and libyaml count as line breaks ("\r\n" is one)
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_COMMENT = re.compile("(?:^|(?<=[ \t]))#", re.MULTILINE)


def _end_mark(text: str) -> Any:
    """Where PyYAML marks the end of ``text`` when it has no final line break, else None."""
    if not text or text[-1] in _BREAKS:
        return None
    start = max(text.rfind(c) for c in _BREAKS) + 1
    line = sum(text.count(c) for c in _BREAKS) - text.count("\r\n")
    return yaml.error.Mark("", len(text), line, len(text) - start, text + "\0", len(text))


def _tabs_as_pyyaml(text: str, spans: list[int]) -> bool:
    """Whether PyYAML accepts the tabs of a text libyaml accepted.

    libyaml takes a tab wherever YAML allows a space between tokens; PyYAML only inside quoted or
    block scalars and comments. True when every tab is inside a quoted scalar (``spans``: start,
    end, start, end, ... in order) or a comment; False otherwise (also in block scalars: whether
    PyYAML takes those is left to PyYAML).
    """
    breaks = [0] + [m.end() for m in _BREAK.finditer(text)]
    comment_line = -1
    comment_at = -1
    for tab in re.finditer("\t", text):
        at = tab.start()
        i = bisect.bisect_right(spans, at)
        if i % 2 == 1 and spans[i - 1] < at < spans[i] - 1:
            continue  # between the quotes of a scalar
        line = bisect.bisect_right(breaks, at) - 1
        if line != comment_line:  # where the comment of this tab's line starts (len(text): none)
            comment_line, comment_at = line, len(text)
            end = breaks[line + 1] if line + 1 < len(breaks) else len(text)
            for hash_mark in _COMMENT.finditer(text, breaks[line], end):
                q = hash_mark.start()
                j = bisect.bisect_right(spans, q)
                if not (j % 2 == 1 and q < spans[j]):
                    comment_at = q
                    break
        if at < comment_at:
            return False
    return True


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
        if type(node) is ScalarNode:
            try:
                if node.tag == _PLAIN:
                    return resolve_plain(node.value)
                return construct_tagged(node.tag, node.value)
            except ValueError as e:
                raise self.error(str(e), origin, path, hint='quote it to keep a string: "..."') from None
        if depth >= MAX_DEPTH:
            raise self.error(f"nesting is deeper than {MAX_DEPTH} levels (aliases expanded)", origin, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: dict[str, object] = {}
        keys = self.keys
        for name, key_node, value_node in self.items(node, path, 0):
            sub = (*path, name)
            keys[sub] = _node_pos(key_node)
            out[name] = self.build(value_node, sub, depth + 1)
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
            if type(key) is ScalarNode and (key.value != "" or key.tag != _PLAIN):
                name = str(key.value)  # (the usual key, as key_text() would find it)
            else:
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
        if "<<" not in first:
            self.flat[id(node)] = pairs
            return pairs
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


def too_large(size: int, max_bytes: int, loc: SourceLoc, name: str = "file") -> SpecSyntaxError:
    """The error of a spec file (or of the file ``name``) over ``max_bytes``; the one message for both
    the loader and the file policy (:mod:`netdsl.frontend.files`)."""
    return SpecSyntaxError(
        f"{name} is too large ({size} bytes; a spec file may have at most {max_bytes})", loc
    )


def _check_text(text: str | bytes, file: str, max_bytes: int) -> str:
    """The text of a spec, once its size, encoding and characters are known to be fine."""
    if isinstance(text, bytes | bytearray):
        if len(text) > max_bytes:
            raise too_large(len(text), max_bytes, SourceLoc(file=file))
        text = _decode(bytes(text), file)
    else:
        size = len(text) if len(text) > max_bytes else len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise too_large(size, max_bytes, SourceLoc(file=file))
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
    return text


def _compose_text(text: str, file: str, libyaml: bool) -> tuple[Node, bool]:
    """The node tree of ``text`` (see :func:`_compose`); syntax errors are :class:`SpecSyntaxError`.

    With ``libyaml``, libyaml's C scanner and parser make the events. Where it and PyYAML's
    pure-Python parser (the reference) could differ, the text is parsed again by PyYAML, whose
    result or error counts: when libyaml finds a syntax error (it words problems differently), and
    when the text has a tab PyYAML could refuse. Errors of the composer are the same either way.
    """
    if libyaml:
        spans: list[int] | None = [] if "\t" in text else None
        source = _event_source(text, libyaml=True)
        try:
            composed = _compose(source, file, text, libyaml=True, stream_end=_end_mark(text), spans=spans)
        except _Diverged:
            return _compose_text(text, file, libyaml=False)
        except (SpecSyntaxError, yaml.YAMLError) as e:
            if spans is not None or not isinstance(e, SpecSyntaxError | ComposerError):
                return _compose_text(text, file, libyaml=False)
            if isinstance(e, ComposerError):
                raise _syntax_error(e, file, text) from None
            raise
        finally:
            source.dispose()
        if spans is not None and not _tabs_as_pyyaml(text, spans):
            return _compose_text(text, file, libyaml=False)
        return composed
    source = _event_source(text, libyaml=False)
    try:
        return _compose(source, file, text)
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, file, text) from None
    except yaml.YAMLError as e:
        raise SpecSyntaxError(f"YAML syntax: {e}", SourceLoc(file=file, text=text)) from None
    except RecursionError:  # (the composer does not recurse: kept as a last line of defence)
        raise SpecSyntaxError(f"nesting is deeper than {MAX_DEPTH} levels", SourceLoc(file=file)) from None
    finally:
        source.dispose()


def load_text(
    text: str | bytes, file: str = "<string>", *, max_bytes: int = 512_000, parser: ParserName = "auto"
) -> Doc:
    """Parse one YAML document into plain data with positions (see the module doc).

    ``parser`` chooses who scans and parses the YAML: ``"libyaml"`` (PyYAML's C extension, several
    times faster), ``"python"`` (PyYAML's pure-Python parser) or ``"auto"`` (libyaml when PyYAML
    was built with it). Both give the same :class:`Doc` and the same errors.
    """
    if parser not in ("auto", "libyaml", "python"):
        raise ValueError(f"parser must be 'auto', 'libyaml' or 'python', not {parser!r}")
    if parser == "libyaml" and not HAVE_LIBYAML:
        raise ValueError("parser='libyaml': this PyYAML was built without libyaml")
    text = _check_text(text, file, max_bytes)
    with no_gc():
        root, tagged = _compose_text(text, file, libyaml=parser != "python" and HAVE_LIBYAML)
        if isinstance(root, ScalarNode) and root.tag == _PLAIN and root.value == "":
            raise SpecSyntaxError("the file is empty", SourceLoc(file=file, line=1, col=1, text=text))
        builder = _Builder(file, text)
        if tagged:  # (without aliases and tags, every node is fine and counted once)
            builder.check(root, ())
        data = builder.build(root, (), 0)
    return Doc(data, file, text, builder.values, builder.keys)


def load_file(path: str | os.PathLike[str], *, display: str | None = None, max_bytes: int = 512_000) -> Doc:
    """Read and parse a spec file the caller trusts; unreadable files are a :class:`SpecSyntaxError`
    too. Only regular files are read, without blocking (see :mod:`netdsl.frontend.files`)."""
    from netdsl.frontend.files import read_regular

    name = display if display is not None else display_path(os.fspath(path))
    raw = read_regular(path, loc=SourceLoc(file=name), name=name, max_bytes=max_bytes)
    return load_text(raw, name, max_bytes=max_bytes)

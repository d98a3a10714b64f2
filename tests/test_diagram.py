"""Diagrams (netdsl.tools.diagrams): the model (depth, repeats, edges, parameters), golden DOT and Mermaid
files, a Mermaid grammar, SVG / PNG through the real Graphviz `dot`, networkx exports, atomic writes,
and the interactive HTML page driven in headless Chromium over the DevTools protocol (a real click
on a block, a hover, a screenshot, and no network request).

Regenerate the golden files with ``NETDSL_UPDATE_GOLDEN=1 pytest tests/test_diagram.py``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import netdsl
from netdsl.api import CheckResult
from netdsl.core.errors import BuildError, NetdslError, UsageError
from netdsl.passes.summary import param_count
from netdsl.tools.diagrams import (
    DiagramOptions,
    build,
    format_for,
    render,
    to_dot,
    to_graphml,
    to_mermaid,
    to_networkx,
    to_node_link,
    write,
)
from netdsl.tools.diagrams.dot import quote
from netdsl.tools.diagrams.mermaid import text as mermaid_text

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "diagram"
UPDATE = os.environ.get("NETDSL_UPDATE_GOLDEN") == "1"
DOT = shutil.which("dot")
NO_DOT = "Graphviz `dot` is not installed (apt-get install graphviz)"
needs_dot = pytest.mark.skipif(DOT is None, reason=NO_DOT)


def _chromium() -> str | None:
    names = (os.environ.get("NETDSL_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome")
    found = [shutil.which(n) for n in names if n]
    return next((f for f in found if f), None)


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium / Chrome on the PATH")


@cache
def checked(rel: str) -> CheckResult:
    res = netdsl.check(ROOT / rel)
    assert res.ok, [e.render() for e in res.errors]
    return res


# ----------------------------------------------------------------------------------------------------
# The model


def test_shunted_overview_is_stem_four_stages_head() -> None:
    d = build(checked("specs/shunted_t.yaml"))
    assert d.depth == 0  # the default for a big network: its top-level nodes
    # the stage loop (`path: ''`, copies with different parameters): a cluster per stage, drawn at
    # the top level
    stages = [c for c in d.clusters if c.parent is None]
    assert [c.label for c in stages] == [f"stages[{i}]: shunted_stage" for i in range(4)]
    members = {c.id: [n.name for n in d.nodes if n.cluster == c.id] for c in stages}
    assert members["stages.0"] == ["stem", "size", "blocks", "norm", "map", "map_chw"]
    assert members["stages.3"] == ["embed", "size", "blocks", "norm"]
    assert d.node("stages.0.stem").kind == "shunted_stem" and d.node("stages.1.embed").family == "block"
    assert [d.node(f"stages.{i}.blocks").label_kind for i in range(4)] == [
        "shunted_block",
        "shunted_block ×2",
        "shunted_block ×4",
        "shunted_block",
    ]
    assert [n.id for n in d.nodes if n.cluster is None] == ["@in:image", "pool", "head", "@out:logits"]
    head = d.node("head")
    assert head.kind == "linear" and head.family == "linear"


def test_edges_carry_shapes_and_skip_internal_ones() -> None:
    res = checked("specs/shunted_t.yaml")
    d = build(res, DiagramOptions(depth=0))
    pairs = [(e.src, e.dst) for e in d.edges]
    assert len(pairs) == len(set(pairs))
    assert ("stages.0.stem", "stages.0.blocks") in pairs and ("stages.2.blocks", "stages.2.norm") in pairs
    assert ("stages.0.map_chw", "stages.1.embed") in pairs  # stage to stage
    assert all(e.label.startswith("(") for e in d.edges)
    by_pair = {(e.src, e.dst): e.label for e in d.edges}
    assert by_pair[("@in:image", "stages.0.stem")] == "(B, 3, H, W)"
    assert by_pair[("head", "@out:logits")] == "(B, 1000)"
    assert by_pair[("stages.2.blocks", "stages.2.norm")] == "(B, H3*W3, 256)"


def test_repeats_drawn_once_or_all() -> None:
    res = checked("specs/tiny_cnn.yaml")
    once = build(res, DiagramOptions(depth=1))
    (cluster,) = once.clusters
    assert cluster.label == "stage: res_unit ×2" and cluster.id == "stage.0"
    inner = [n.name for n in once.nodes if n.cluster == "stage.0"]
    assert inner == ["conv1", "bn1", "relu1", "conv2", "bn2", "skip", "out"]
    # the chain between the copies is not drawn as a back edge; the residual edge is
    edges = {(e.src, e.dst) for e in once.edges}
    assert ("stage.0.out", "stage.0.conv1") not in edges
    assert ("act", "stage.0.skip") in edges and ("stage.0.out", "pool") in edges
    every = build(res, DiagramOptions(depth=1, expand_repeats=True))
    assert [c.label for c in every.clusters] == ["stage[0]: res_unit", "stage[1]: res_unit"]
    assert ("stage.0.out", "stage.1.conv1") in {(e.src, e.dst) for e in every.edges}
    collapsed = build(res, DiagramOptions(depth=0))
    assert collapsed.node("stage").label_kind == "res_unit ×2" and not collapsed.clusters


def test_depth_all_and_expand() -> None:
    res = checked("specs/shunted_b.yaml")
    g = res.graph
    assert g is not None and len(g.nodes) > 1000
    full = build(res, DiagramOptions(depth="all"))
    assert full.depth is None and full.max_depth == 2
    assert len(full.nodes) < 600  # repeats drawn once: not a wall of boxes
    every = build(res, DiagramOptions(depth="all", expand_repeats=True))
    assert len([n for n in every.nodes if n.family not in ("input", "output")]) == len(g.nodes)
    one = build(res, DiagramOptions(depth=0, expand=frozenset({"stages.2.blocks"})))
    assert "stages.2.blocks.0" in {c.id for c in one.clusters}
    assert one.node("stages.2.blocks.0.attn").expandable and one.node("stages.1.blocks").expandable


def test_params_match_the_summary() -> None:
    res = checked("specs/shunted_t.yaml")
    assert res.shapes is not None
    d = build(res, DiagramOptions(depth=1, params=True))
    assert d.total_params == param_count(res.shapes)
    assert d.node("stages.2.blocks.0.attn").params == param_count(res.shapes, "block3.0.attn")
    by_id = {c.id: c for c in d.clusters}
    assert by_id["stages.2.blocks.0"].params == param_count(res.shapes, "block3")  # all four copies
    assert by_id["stages.2"].params == sum(
        param_count(res.shapes, f"{k}3") for k in ("patch_embed", "block", "norm")
    )
    stage_sum = sum(c.params or 0 for c in d.clusters if c.parent is None)
    assert stage_sum + d.node("head").params == d.total_params  # type: ignore[operator]


def test_auto_depth_expands_small_networks() -> None:
    assert build(checked("specs/tiny_cnn.yaml")).depth == 1
    small = build(checked("specs/shunted_t.yaml"), DiagramOptions(max_nodes=1000))
    assert small.depth == 2


def test_block_files_and_options() -> None:
    d = build(checked("blocks/cbam.yaml"))
    assert d.kind == "block" and d.node("@in:x").shapes == ("(B, 32, H, W)",)
    assert {"conv", "norm", "activation", "reshape"} <= set(d.families)
    with pytest.raises(UsageError):
        DiagramOptions(depth=-1)
    with pytest.raises(UsageError):
        DiagramOptions(direction="RL")  # type: ignore[arg-type]
    with pytest.raises(NetdslError):
        build(netdsl.check(ROOT / "tests" / "golden" / "diagram" / "does_not_exist.yaml"))


def test_concrete_shapes() -> None:
    d = build(checked("specs/tiny_cnn.yaml"), DiagramOptions(depth=0, concrete=True, dims=(("B", 8),)))
    assert {e.label for e in d.edges} >= {"(8, 3, 32, 32)", "(8, 10)"}


def test_all_specs_draw(spec_files: list[Path]) -> None:
    for path in spec_files:
        res = netdsl.check(path)
        if not res.ok:
            continue
        for depth in ("auto", "all"):
            d = build(res, DiagramOptions(depth=depth))
            ids = {n.id for n in d.nodes}
            assert len(ids) == len(d.nodes)
            assert all(e.src in ids and e.dst in ids for e in d.edges)
            clusters = {c.id for c in d.clusters}
            assert all(n.cluster is None or n.cluster in clusters for n in d.nodes)
            check_mermaid(to_mermaid(d))
            assert to_dot(d).startswith("digraph ")


@pytest.fixture
def spec_files() -> list[Path]:
    return sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "blocks").glob("*.yaml"))


# ----------------------------------------------------------------------------------------------------
# Golden DOT and Mermaid files

GOLDEN_CASES = {
    "tiny_cnn": ("specs/tiny_cnn.yaml", DiagramOptions()),
    "tiny_attention": ("specs/tiny_attention.yaml", DiagramOptions(direction="LR")),
    "cbam": ("blocks/cbam.yaml", DiagramOptions(params=True)),
    "shunted_t": ("specs/shunted_t.yaml", DiagramOptions(params=True)),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_golden(name: str, fmt: str) -> None:
    spec, options = GOLDEN_CASES[name]
    got = render(checked(spec), fmt, options).decode()
    assert got == render(checked(spec), fmt, options).decode()  # stable
    path = GOLDEN / f"{name}.{'dot' if fmt == 'dot' else 'mmd'}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert path.exists(), f"no golden file {path}: run with NETDSL_UPDATE_GOLDEN=1"
    assert got == path.read_text(), f"{path} differs: if intended, run with NETDSL_UPDATE_GOLDEN=1"


def test_dot_escaping() -> None:
    assert quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    assert mermaid_text('say "hi" <b> #1 & x\ny') == "say #quot;hi#quot; #lt;b#gt; #35;1 #amp; x y"


@needs_dot
def test_dot_accepts_hostile_titles() -> None:
    opt = DiagramOptions(title='a "quoted" \\ back<slash>\n& more', depth=0)
    svg = render(checked("specs/tiny_cnn.yaml"), "svg", opt)
    ET.fromstring(svg)


# ----------------------------------------------------------------------------------------------------
# Mermaid: a grammar of the flowchart subset netdsl writes (and Mermaid's own parser when available)

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL = r'"(?:[^"<>#]|#[A-Za-z]+;|#[0-9]+;|<br/>)*"'
_PROPS = r"[a-z-]+:[#A-Za-z0-9.]+(?:,[a-z-]+:[#A-Za-z0-9.]+)*"
MERMAID_LINES = {
    "header": re.compile(r"^flowchart (TB|LR)$"),
    "comment": re.compile(r"^%%.*$"),
    "subgraph": re.compile(rf"^\s*subgraph ({_ID})\[({_LABEL})\]$"),
    "direction": re.compile(r"^\s*direction (TB|LR|BT|RL)$"),
    "end": re.compile(r"^\s*end$"),
    "node": re.compile(rf"^\s*({_ID})(?:\[({_LABEL})\]|\[\[({_LABEL})\]\]|\(\[({_LABEL})\]\))$"),
    "edge": re.compile(rf"^\s*({_ID}) -->(?:\|({_LABEL})\|)? ({_ID})$"),
    "classDef": re.compile(rf"^\s*classDef ({_ID}) {_PROPS}$"),
    "class": re.compile(rf"^\s*class ({_ID}(?:,{_ID})*) ({_ID})$"),
    "style": re.compile(rf"^\s*style ({_ID}) {_PROPS}$"),
}
RESERVED = {"end", "subgraph", "graph", "flowchart", "style", "class", "classDef", "click", "direction"}


def check_mermaid(text: str) -> None:
    """Every line matches the grammar; ids are unique; references and subgraphs are consistent."""
    lines = text.splitlines()
    assert lines and text.endswith("\n")
    defined: set[str] = set()
    subgraphs: set[str] = set()
    classes: set[str] = set()
    depth = 0
    headers = 0
    refs: list[str] = []
    for i, line in enumerate(lines, 1):
        kind = next((k for k, rx in MERMAID_LINES.items() if rx.match(line)), None)
        assert kind is not None, f"line {i} is not in the flowchart grammar: {line!r}"
        m = MERMAID_LINES[kind].match(line)
        assert m is not None
        if kind == "header":
            headers += 1
            assert depth == 0
        elif kind in ("node", "subgraph"):
            ident = m.group(1)
            assert ident not in defined and ident not in RESERVED, f"line {i}: id {ident!r} again"
            defined.add(ident)
            if kind == "subgraph":
                subgraphs.add(ident)
                depth += 1
        elif kind == "end":
            depth -= 1
            assert depth >= 0, f"line {i}: `end` without a subgraph"
        elif kind == "edge":
            refs += [m.group(1), m.group(3)]
        elif kind == "classDef":
            classes.add(m.group(1))
        elif kind == "class":
            refs += m.group(1).split(",")
            assert m.group(2) in classes, f"line {i}: class {m.group(2)!r} is not defined"
        elif kind == "style":
            assert m.group(1) in subgraphs
    assert headers == 1 and depth == 0
    missing = [r for r in refs if r not in defined or r in subgraphs]
    assert not missing, f"edges or classes name undefined nodes: {missing[:5]}"


def test_mermaid_grammar_rejects_broken_text() -> None:
    good = to_mermaid(build(checked("specs/tiny_cnn.yaml")))
    check_mermaid(good)
    for bad in (
        good.replace("-->", "->", 1),
        good + '  n0["again"]\n',
        good.replace('"', "", 1),
        good + "  n0 --> nowhere\n",
        good.replace("\n  end\n", "\n", 1),
    ):
        with pytest.raises(AssertionError):
            check_mermaid(bad)


MERMAID_JS = os.environ.get("NETDSL_MERMAID_JS")  # a mermaid.min.js (npm package `mermaid`, v10+)


@needs_chromium
@pytest.mark.skipif(not MERMAID_JS, reason="set NETDSL_MERMAID_JS to a mermaid.min.js for Mermaid's parser")
def test_mermaid_parser_accepts_the_text(tmp_path: Path) -> None:
    texts = [to_mermaid(build(checked(spec), opt)) for spec, opt in GOLDEN_CASES.values()]
    texts.append(to_mermaid(build(checked("specs/shunted_b.yaml"), DiagramOptions(depth="all"))))
    page = tmp_path / "mermaid.html"
    src = Path(str(MERMAID_JS)).resolve().as_uri()
    page.write_text(
        f'<!DOCTYPE html><html><body><script src="{src}"></script>'
        "<script>mermaid.initialize({startOnLoad: false, maxTextSize: 1e8, maxEdges: 1e6});</script>"
        "</body></html>"
    )
    with chromium(tmp_path) as c:
        c.open(page.as_uri())
        for t in texts:
            got = c.eval(f"mermaid.parse({json.dumps(t)}).then(() => 'ok', e => 'error: ' + e.message)")
            assert got == "ok", got
        svg = c.eval(f"mermaid.render('g', {json.dumps(texts[0])}).then(r => r.svg)")
        assert svg.startswith("<svg") and "conv1" in svg


# ----------------------------------------------------------------------------------------------------
# networkx


def test_graphml_and_node_link() -> None:
    import networkx as nx

    d = build(checked("specs/shunted_t.yaml"), DiagramOptions(depth=1))
    g = nx.read_graphml(io.BytesIO(to_graphml(d).encode()))
    assert g.number_of_nodes() == len(d.nodes)
    assert g.number_of_edges() == len({(e.src, e.dst) for e in d.edges})
    attn = g.nodes["stages.2.blocks.0.attn"]
    assert attn["op"] == "shunted_self_attention" and attn["family"] == "block"
    assert attn["shape"] == "(B, H3*W3, 256)" and attn["params"] == d.node("stages.2.blocks.0.attn").params
    assert attn["cluster"] == "stages.2.blocks.0" and attn["count"] == 0
    assert g.nodes["stages.0.blocks.0.norm1"]["family"] == "norm"
    assert g.edges["stages.0.stem.norm", "stages.0.blocks.0.norm1"]["shape"] == "(B, H1*W1, 64)"
    data = json.loads(to_node_link(d))
    h = nx.node_link_graph(data, edges="edges")
    assert set(h.nodes) == set(g.nodes) and h.graph["name"] == "shunted_t (variant t)"
    assert to_networkx(d).nodes["head"]["params"] == 513_000


# ----------------------------------------------------------------------------------------------------
# Files: formats, atomic writes, Graphviz


def test_format_for() -> None:
    assert format_for("a/b.SVG") == "svg" and format_for("x.gv") == "dot" and format_for("x.mmd") == "mermaid"
    assert format_for("x.txt", "png") == "png"
    with pytest.raises(UsageError):
        format_for("x.txt")
    with pytest.raises(UsageError):
        format_for("x.svg", "jpeg")


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tiny.mmd"
    out.write_text("old")
    write(checked("specs/tiny_cnn.yaml"), out)
    assert out.read_text().startswith("%% tiny_cnn")
    monkeypatch.setenv("NETDSL_DOT", str(tmp_path / "no-such-dot"))
    svg = tmp_path / "tiny.svg"
    svg.write_text("old")
    with pytest.raises(BuildError):
        write(checked("specs/tiny_cnn.yaml"), svg)
    assert svg.read_text() == "old"  # a failed render leaves the file as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.mmd", "tiny.svg"]  # no temporary files
    with pytest.raises(UsageError):
        write(checked("specs/tiny_cnn.yaml"), tmp_path / "missing" / "x.dot")


def test_missing_dot_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETDSL_DOT", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BuildError) as e:
        render(checked("specs/tiny_cnn.yaml"), "svg")
    assert "Graphviz `dot` is not installed" in e.value.message
    assert "apt-get install graphviz" in str(e.value.hint)
    # formats without Graphviz still work
    assert render(checked("specs/tiny_cnn.yaml"), "mermaid").startswith(b"%%")


@pytest.mark.skipif(os.name != "posix", reason="a shell script stands in for dot")
def test_dot_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow = tmp_path / "dot"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setenv("NETDSL_DOT", str(slow))
    start = time.monotonic()
    with pytest.raises(BuildError, match=r"did not finish within 0\.5 s"):
        render(checked("specs/tiny_cnn.yaml"), "svg", timeout=0.5)
    assert time.monotonic() - start < 10


TOP_LEVEL = ["specs/tiny_cnn.yaml", "specs/shunted_t.yaml", "specs/shunted_b.yaml", "blocks/cbam.yaml"]


@needs_dot
@pytest.mark.parametrize("spec", TOP_LEVEL)
def test_svg_is_well_formed_with_every_top_level_node(spec: str, tmp_path: Path) -> None:
    res = checked(spec)
    assert res.graph is not None
    out = write(res, tmp_path / "d.svg")
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    texts = {el.text for el in root.iter() if el.text}
    for e in res.graph.root.entries:
        assert {f"node:{e.name}", f"cluster:{e.name}", f"cluster:{e.name}.0"} & ids, e.name
        assert any(t == e.name or t.startswith((e.name + ":", e.name + "[")) for t in texts), e.name
    for gi in res.graph.inputs:
        assert f"node:@in:{gi.name}" in ids
    for name, _, _ in res.graph.outputs:
        assert f"node:@out:{name}" in ids
    assert out.read_bytes() == render(res, "svg")  # same spec, same file


@needs_dot
def test_png_is_rendered(tmp_path: Path) -> None:
    out = write(checked("specs/shunted_t.yaml"), tmp_path / "shunted_t.png", dpi=72)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 500 and len(data) > 10_000


# ----------------------------------------------------------------------------------------------------
# The HTML page


@pytest.fixture(scope="module")
def shunted_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if DOT is None:
        pytest.skip(NO_DOT)
    return write(checked("specs/shunted_t.yaml"), tmp_path_factory.mktemp("html") / "shunted_t.html")


def test_html_is_self_contained(shunted_page: Path) -> None:
    text = shunted_page.read_text()
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\\\"'<>)]*", text))
    assert urls <= namespaces, urls - namespaces
    assert not re.search(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=", text)
    found = re.search(r'<script type="application/json" id="netdsl-data">(.*?)</script>', text, re.S)
    assert found is not None
    data = json.loads(found[1])
    states = data["states"]
    first = states[data["initial"]]
    assert first["depth"] == 0 and first["expand"] == []
    target, focus = first["click"]["node:stages.2.blocks"]
    assert states[target]["expand"] == ["stages.2.blocks"] and focus == "cluster:stages.2.blocks.0"
    assert "cluster:stages.2.blocks.0" in states[target]["svg"]
    assert [lv["label"] for lv in data["levels"]] == ["0", "1", "all"]
    assert shunted_page.read_bytes() == render(checked("specs/shunted_t.yaml"), "html")  # stable


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``):
    commands are JSON texts ended by NUL, written to its fd 3; answers and events come on its fd 4."""

    def __init__(self, exe: str, profile: Path, width: int = 1200, height: int = 900) -> None:
        cmd_read, self._cmd = os.pipe()
        self._out, out_write = os.pipe()

        def child() -> None:  # in the forked child: the pipe ends become fds 3 and 4
            a, b = os.dup(cmd_read), os.dup(out_write)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", "--remote-debugging-pipe",
            "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, pass_fds=(3, 4), preexec_fn=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(cmd_read)
        os.close(out_write)
        self.size = (width, height)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            if select.select([self._out], [], [], left)[0]:
                chunk = os.read(self._out, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        out: dict[str, Any] = json.loads(msg)
        return out

    def send(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> Any:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not browser:
            msg["sessionId"] = self.session
        os.write(self._cmd, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read(60)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(max(0.01, end - time.monotonic())))

    def open(self, url: str) -> None:
        targets = self.send("Target.getTargets", browser=True)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        target = {"targetId": page["targetId"], "flatten": True}
        attached = self.send("Target.attachToTarget", target, browser=True)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")
        width, height = self.size
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, js: str) -> Any:
        r = self.send("Runtime.evaluate", {"expression": js, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{js[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def center(self, element_id: str) -> tuple[float, float]:
        rect = self.eval(
            f"(() => {{ const r = document.getElementById({json.dumps(element_id)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; })()"
        )
        assert rect[2] > 0 and rect[3] > 0, f"{element_id} is not visible"
        return rect[0], rect[1]

    def mouse(self, kind: str, x: float, y: float) -> None:
        event = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
        self.send("Input.dispatchMouseEvent", event)

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.mouse(kind, x, y)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def requests(self) -> list[str]:
        sent = [e for e in self.events if e.get("method") == "Network.requestWillBeSent"]
        return [e["params"]["request"]["url"] for e in sent]

    def close(self) -> None:
        try:
            self.send("Browser.close", browser=True)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd)
        os.close(self._out)


class chromium:
    def __init__(self, tmp: Path) -> None:
        assert CHROMIUM is not None
        self.browser = Chromium(CHROMIUM, tmp / "chromium-profile")

    def __enter__(self) -> Chromium:
        return self.browser

    def __exit__(self, *exc: object) -> None:
        self.browser.close()


def _state(c: Chromium) -> list[str]:
    return list(c.eval("[document.body.dataset.state, document.body.dataset.expanded, location.hash]"))


@needs_chromium
def test_html_click_expands_a_block(shunted_page: Path, tmp_path: Path) -> None:
    with chromium(tmp_path) as c:
        c.open(shunted_page.as_uri())
        assert c.eval("document.body.dataset.ready") == "1"
        assert _state(c)[1:] == ["", "#depth=0"]
        assert c.eval("document.getElementById('node:stages.2.blocks').classList.contains('can-expand')")
        # hover: the tooltip shows the block's output shape and parameter count
        x, y = c.center("node:stages.2.blocks")
        c.mouse("mouseMoved", x, y)
        tip = c.eval("(t => [getComputedStyle(t).display, t.innerText])(document.getElementById('tip'))")
        assert tip[0] == "block" and "(B, H3*W3, 256)" in tip[1] and "4.53M params" in tip[1]
        before = c.screenshot()
        # click: block3 opens as a cluster with its body (norm1, attn, res1, norm2, mlp, res2)
        c.click(x, y)
        state, expanded, hash_ = _state(c)
        assert expanded == "stages.2.blocks" and hash_ == "#depth=0&expand=stages.2.blocks"
        for inner in ("norm1", "attn", "res1", "norm2", "mlp", "res2"):
            assert c.eval(f"!!document.getElementById('node:stages.2.blocks.0.{inner}')"), inner
        assert c.eval("document.getElementById('node:stages.1.blocks').classList.contains('can-expand')")
        after = c.screenshot()
        shot = tmp_path / "shunted_t_block3.png"
        shot.write_bytes(after)
        for png in (before, after):
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1200, 900)
        assert before != after and len(after) > 20_000
        # a second click, on the expanded attention block, goes one level deeper
        c.click(*c.center("node:stages.2.blocks.0.attn"))
        assert _state(c)[1] == "stages.2.blocks,stages.2.blocks.0.attn"
        assert c.eval("!!document.getElementById('node:stages.2.blocks.0.attn.scores1')")
        # clicking the frame of block3 collapses it again
        assert c.eval("netdslDiagram.focus('cluster:stages.2.blocks.0')")
        x, y = _frame_point(c, "cluster:stages.2.blocks.0")
        assert (
            c.eval(f"document.elementFromPoint({x}, {y}).closest('g.cluster').id")
            == "cluster:stages.2.blocks.0"
        )
        c.click(x, y)
        assert _state(c)[1:] == ["", "#depth=0"]
        # the depth buttons: 'all' shows every level
        c.click(*_button(c, "all"))
        assert c.eval("document.body.dataset.depth") == "2"
        assert c.eval("!!document.getElementById('node:stages.0.blocks.0.attn.q')")
        # nothing but the page itself was loaded
        assert c.requests() == [shunted_page.as_uri()]
        assert state


def _frame_point(c: Chromium, element_id: str) -> tuple[float, float]:
    """A point just inside the top-left corner of a cluster's frame (its label: no node or inner box)."""
    rect = c.eval(
        f"(() => {{ const r = document.getElementById({json.dumps(element_id)}).getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })()"
    )
    return rect[0] + 5, rect[1] + 5


def _button(c: Chromium, label: str) -> tuple[float, float]:
    rect = c.eval(
        "(() => { const b = [...document.querySelectorAll('#levels button')]"
        f".find(b => b.textContent === {json.dumps(label)}); const r = b.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return rect[0], rect[1]


@needs_chromium
def test_html_deep_link(shunted_page: Path, tmp_path: Path) -> None:
    with chromium(tmp_path) as c:
        c.open(shunted_page.as_uri() + "#depth=0&expand=stages.1.blocks")
        assert _state(c)[1] == "stages.1.blocks"
        assert c.eval("!!document.getElementById('cluster:stages.1.blocks.0')")


def test_no_torch_needed() -> None:
    code = (
        "import sys, netdsl, netdsl.tools.diagrams as D\n"
        "r = netdsl.check(sys.argv[1])\n"
        "D.render(r, 'mermaid'); D.render(r, 'dot')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT / "specs" / "tiny_cnn.yaml")], check=True)


def test_netdsl_diagram_stays_callable_after_the_package_is_imported() -> None:
    """The function `netdsl.diagram` and the package `netdsl.tools.diagrams` do not shadow each other."""
    import netdsl
    import netdsl.tools.diagrams

    out = netdsl.diagram(ROOT / "specs" / "tiny_cnn.yaml", format="mermaid")
    assert out.startswith(b"%%") and b"flowchart" in out

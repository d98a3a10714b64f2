"""`netdsl summary`: the layer table (rows at a depth, shapes, params, MACs, shares), its totals
against param_count / mac_count and the official Shunted counts, `--variant all`, every flag, the
errors (exit 1 for the spec's, 2 for usage), the JSON layout, golden text / Markdown / JSON files,
torch-freeness; and `netdsl shapes --dim / --input-shape`.

Regenerate the golden files with ``NETDSL_UPDATE_GOLDEN=1 pytest tests/test_summary_cmd.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import netdsl
from netdsl.cli import main
from netdsl.core.symbolic import Sym
from netdsl.passes.shapes import ShapeResult
from netdsl.passes.summary import mac_count, param_count
from netdsl.passes.summary_format import human, shape_text, share
from netdsl.passes.summary_table import AUTO_ROWS, TableRow, auto_depth, summarize, table_rows, totals
from netdsl.passes.summary_variants import differences, value_text
from netdsl.pipeline import Pipeline

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "summary"
UPDATE = os.environ.get("NETDSL_UPDATE_GOLDEN") == "1"

#: the official parameter counts of OliverRensu/Shunted-Transformer (as in tests/test_shunted.py)
SHUNTED_PARAMS = {"t": 11_553_576, "s": 22_401_256, "b": 39_614_376}

#: specs whose tables are checked row by row (every kind: repeats, `path: ''`, nested blocks, a block)
SPECS = [
    "specs/tiny_cnn.yaml",
    "specs/mlp.yaml",
    "specs/tiny_attention.yaml",
    "specs/shunted_t.yaml",
    "specs/resnet18.yaml",
    "specs/white_patch_cnn_mha.yaml",
    "blocks/cbam.yaml",
    "blocks/shunted_block.yaml",
]


@pytest.fixture
def spec_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Write a spec file into a fresh folder, made the working folder: its name."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return name

    return write


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def summary_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run(["summary", *argv, "--format", "json"], capsys)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


@cache
def shapes_of(spec: str, concrete: bool = True) -> ShapeResult:
    p = Pipeline(ROOT / spec)
    res = p.check(concrete=concrete)
    assert res.ok and res.shapes is not None, [e.render() for e in res.errors]
    return p.concrete_shapes() if concrete else res.shapes


def _sum(rows: list[TableRow], attr: str) -> Sym:
    total = Sym.const(0)
    for r in rows:
        total = total + getattr(r, attr)
    return total


# ----------------------------------------------------------------------------------------------------
# The table: rows, sums, totals


@pytest.mark.parametrize("concrete", [True, False], ids=["concrete", "symbolic"])
@pytest.mark.parametrize("spec", SPECS)
def test_rows_add_up_to_param_count_and_mac_count(spec: str, concrete: bool) -> None:
    shapes = shapes_of(spec, concrete)
    rows = table_rows(shapes)
    top = [r for r in rows if r.level == 1]
    assert [r.entry for r in top] == [e.name for e in shapes.graph.root.entries]
    assert _sum(top, "params") == Sym.const(param_count(shapes))
    assert _sum(top, "buffers") == Sym.const(param_count(shapes, kind="buffer"))
    assert _sum(top, "macs") == mac_count(shapes)
    t = totals(shapes)
    assert (t.params, t.buffers, t.macs) == (
        Sym.const(param_count(shapes)),
        Sym.const(param_count(shapes, kind="buffer")),
        mac_count(shapes),
    )
    # every block row is the sum of the rows just below it (all copies of a repeat)
    for i, r in enumerate(rows):
        if not r.is_block:
            continue
        children = []
        for c in rows[i + 1 :]:
            if c.level <= r.level:
                break
            if c.level == r.level + 1:
                children.append(c)
        if children:
            for attr in ("params", "buffers", "macs"):
                assert _sum(children, attr) == getattr(r, attr), (spec, r.name, attr)
        else:
            assert r.params == r.macs == Sym.const(0), (spec, r.name)


def test_rows_of_a_repeat_are_each_copys_nodes_in_order() -> None:
    rows = table_rows(shapes_of("specs/tiny_cnn.yaml"))
    names = [r.name for r in rows]
    stage = names.index("stage")
    assert rows[stage].label == "res_unit x2" and rows[stage].repeat == 2 and rows[stage].is_block
    inner = [r.name for r in rows if r.level == 2]
    assert inner == [
        f"stage.{i}.{n}" for i in (0, 1) for n in ("conv1", "bn1", "relu1", "conv2", "bn2", "skip", "out")
    ]
    assert names[stage + 1 : stage + 15] == inner  # right below their block, before `pool`
    conv = rows[names.index("stage.0.conv1")]
    assert conv.params == Sym.const(32 * 32 * 9) and conv.path == "stage.0.conv1" and conv.entry == "conv1"
    assert shape_text(conv.outputs[0]) == "2 x 32 x 32 x 32"


def test_shunted_t_counts_are_the_official_ones() -> None:
    shapes = shapes_of("specs/shunted_t.yaml")
    s = summarize(shapes, 2)
    assert s.totals.params == Sym.const(SHUNTED_PARAMS["t"]) == Sym.const(param_count(shapes))
    assert s.totals.buffers == Sym.const(2 * 64 + 1)  # the stem's BatchNorm
    assert s.totals.param_bytes == 4 * (SHUNTED_PARAMS["t"] + 129)
    macs = s.totals.macs.value
    assert 2.0e9 < macs < 2.3e9  # the paper: 2.1 GFLOPs (MACs) at 224x224
    # `stages` (repeat 4, `path: ''`): its rows are the official flat names of the four stages
    level2 = [r.name for r in s.rows if r.level == 2]
    assert level2[:4] == ["patch_embed1", "size1", "block1.0", "norm1"]
    assert "block3" in level2 and "patch_embed4" in level2
    block3 = next(r for r in s.rows if r.name == "block3")
    assert block3.label == "shunted_block x4" and block3.path == "block3"


def test_symbolic_shapes_and_macs() -> None:
    shapes = shapes_of("specs/resnet18.yaml", concrete=False)
    rows = table_rows(shapes, 1)
    conv1 = next(r for r in rows if r.name == "conv1")
    assert shape_text(conv1.outputs[0]) == "B x 64 x ((H - 1)//2 + 1) x ((W - 1)//2 + 1)"
    assert not conv1.macs.is_const and share(conv1.macs, totals(shapes).macs) is None
    assert shape_text(next(r for r in rows if r.name == "fc").outputs[0]) == "B x 1000"


def test_depths() -> None:
    shapes = shapes_of("specs/shunted_t.yaml")
    every = table_rows(shapes)
    levels = [sum(1 for r in every if r.level <= d) for d in range(1, 5)]
    assert levels == [3, 25, 93, 619]
    assert auto_depth(every) == 2  # 93 rows at depth 3 are more than AUTO_ROWS
    assert auto_depth(every, 10_000) == 4 and auto_depth(every, 1) == 1
    assert summarize(shapes).depth == 2 and len(summarize(shapes).rows) == 25
    assert summarize(shapes, "all").depth is None and len(summarize(shapes, "all").rows) == 619
    assert summarize(shapes, 0).rows == [] and summarize(shapes, 1).depth == 1
    assert summarize(shapes_of("specs/tiny_cnn.yaml")).depth == 2  # all of it: 20 rows
    assert AUTO_ROWS == 60


def test_human_units() -> None:
    cases = {0: "0", 12: "12", 999: "999", 1_000: "1.00 K", 1_536: "1.54 K", 9_996: "10.0 K"}
    cases |= {99_951: "100 K", 999_499: "999 K", 999_500: "1.00 M", 11_553_576: "11.6 M"}
    cases |= {4_500_000_000: "4.50 G", 2_163_240_288: "2.16 G"}
    for n, text in cases.items():
        assert human(n) == text, n
    assert human(46_214_820, "B") == "46.2 MB"


def test_share() -> None:
    assert share(Sym.const(1), Sym.const(4)) == 25.0
    assert share(Sym.const(0), Sym.const(0)) is None
    assert share(Sym.var("B"), Sym.var("B")) is None


def test_variable_differences() -> None:
    assert differences({"a": 4, "b": [1, 2]}, {"a": 4.0, "b": [1, 2], "c": 1}) == {"c": 1}
    assert differences({"a": 1}, {"a": True}) == {"a": True}
    assert differences({"a": [1, 2]}, {"a": [2, 1]}) == {"a": [2, 1]}
    assert value_text([2, 4, 12, 1]) == "[2, 4, 12, 1]" and value_text("gelu") == "gelu"
    assert value_text("a b") == '"a b"' and value_text(list(range(100))).endswith("...")
    assert len(value_text(list(range(100)))) == 40


# ----------------------------------------------------------------------------------------------------
# The command: flags


def test_text_output(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, err = run(["summary", "specs/tiny_cnn.yaml"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "network tiny_cnn  [specs/tiny_cnn.yaml]"
    assert lines[1] == "inputs: image 2 x 3 x 32 x 32  (sizes from the spec's dims:)"
    assert re.search(r"^stage +res_unit x2 +2 x 32 x 32 x 32 +37,120 +76,152,832 +97\.6%$", out, re.M)
    assert re.search(r"^  stage\.1\.conv1 +conv2d ", out, re.M)  # nested rows indented
    shapes = shapes_of("specs/tiny_cnn.yaml")
    n = param_count(shapes)
    assert f"total params: {n:,} ({human(n)})" in out and f"trainable params: {n:,}" in out
    assert f"buffers: {param_count(shapes, kind='buffer'):,}" in out
    macs = mac_count(shapes).value
    assert f"total MACs: {human(macs)} ({macs:,})" in out
    assert "parameter memory: 154 KB (parameters and buffers, float32)" in out
    assert "outputs: logits 2 x 10" in out


def test_depth_flag(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    for depth, n in (("0", 0), ("1", 6), ("2", 20), ("all", 20), ("auto", 20), (" 1 ", 6)):
        data = summary_json(["specs/tiny_cnn.yaml", "--depth", depth], capsys)
        assert len(data["rows"]) == n, depth
        assert data["depth"] == (None if depth == "all" else 2 if depth == "auto" else int(depth))
    code, out, _ = run(["summary", "specs/tiny_cnn.yaml", "--depth", "0"], capsys)
    assert code == 0 and "(no rows at depth 0)" in out and "total params: 38,346" in out
    data = summary_json(["specs/shunted_t.yaml"], capsys)
    assert data["depth"] == 2 and len(data["rows"]) == 25
    assert len(summary_json(["specs/shunted_t.yaml", "--depth", "3"], capsys)["rows"]) == 93


def test_dim_and_input_shape(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    base = summary_json(["specs/tiny_cnn.yaml"], capsys)
    bigger = summary_json(["specs/tiny_cnn.yaml", "--dim", "H=64", "--dim", "W=64"], capsys)
    assert bigger["sizes"] == "command-line" and base["sizes"] == "spec-dims"
    assert bigger["inputs"][0]["shape"] == [2, 3, 64, 64]
    assert bigger["totals"]["params"] == base["totals"]["params"]
    sym = mac_count(shapes_of("specs/tiny_cnn.yaml", concrete=False))
    assert (
        bigger["totals"]["macs"]
        == sym.evaluate({"B": 2, "H": 64, "W": 64})
        == 4 * base["totals"]["macs"] - 3 * 640
    )
    one = summary_json(["specs/tiny_cnn.yaml", "--input-shape", "image=1x3x16x16"], capsys)
    assert one["inputs"][0]["shape"] == [1, 3, 16, 16] and one["outputs"][0]["shape"] == [1, 10]
    assert one["rows"][0]["outputs"][0]["shape"] == [1, 32, 16, 16]
    assert one["totals"]["macs"] == sym.evaluate({"B": 1, "H": 16, "W": 16})
    code, out, _ = run(["summary", "specs/tiny_cnn.yaml", "--dim", "H=64"], capsys)
    assert code == 0 and "2 x 3 x 64 x 32  (sizes from --input-shape / --dim, the others from the spec" in out


def test_symbolic_flag(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json(["specs/tiny_cnn.yaml", "--symbolic"], capsys)
    assert data["sizes"] == "symbolic" and data["inputs"][0]["shape"] == ["B", 3, "H", "W"]
    assert data["totals"]["macs"] == str(mac_count(shapes_of("specs/tiny_cnn.yaml", concrete=False)))
    assert data["totals"]["params"] == 38_346 and data["rows"][0]["mac_share"] is None
    assert data["rows"][0]["macs"] == "864*B*H*W"
    code, out, _ = run(["summary", "specs/tiny_cnn.yaml", "--symbolic", "--depth", "1"], capsys)
    assert code == 0 and "B x 32 x H x W" in out and "total MACs: 38080*B*H*W + 320*B" in out


def test_symbolic_when_the_spec_gives_no_sizes(
    spec_file: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file(
        "free.yaml",
        "network: free\ninputs: {x: [B, 8]}\nnodes:\n"
        "  fc: {op: linear, in: x, out_features: 4}\noutputs: {y: fc}\n",
    )
    data = summary_json(["free.yaml"], capsys)
    assert data["sizes"] == "symbolic" and data["totals"] == {
        "params": 36,
        "trainable_params": 36,
        "buffers": 0,
        "macs": "32*B",
        "param_bytes": 144,
        "param_dtype": "float32",
    }
    sized = summary_json(["free.yaml", "--dim", "B=3"], capsys)
    assert sized["sizes"] == "command-line" and sized["totals"]["macs"] == 96


def test_set_and_variant(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    wide = summary_json(["specs/tiny_cnn.yaml", "--variant", "wide"], capsys)
    assert wide["variant"] == "wide" and wide["rows"][0]["outputs"][0]["shape"] == [2, 64, 32, 32]
    set48 = summary_json(["specs/tiny_cnn.yaml", "--set", "width=48", "--depth", "1"], capsys)
    assert set48["rows"][0]["params"] == 48 * 3 * 9 + 48
    code, out, _ = run(["summary", "specs/tiny_cnn.yaml", "--variant", "wide"], capsys)
    assert code == 0 and out.startswith("network tiny_cnn (variant wide)  [specs/tiny_cnn.yaml]")


def test_block_spec(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json(["blocks/cbam.yaml"], capsys)
    assert data["kind"] == "block" and data["name"] == "cbam" and data["variant"] is None
    assert data["totals"]["params"] == param_count(shapes_of("blocks/cbam.yaml"))
    more = summary_json(["blocks/cbam.yaml", "--set", "gate_channels=64"], capsys)
    assert more["inputs"][0]["shape"][1] == 64 and more["totals"]["params"] > data["totals"]["params"]


def test_markdown(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, err = run(["summary", "specs/shunted_t.yaml", "--format", "markdown", "--depth", "3"], capsys)
    assert code == 0, err
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0] == "| layer (spec path) | kind | output shape | params | MACs | MACs % |"
    assert table[1] == "|---|---|---|---:|---:|---:|"
    assert len(table) == 2 + 93
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 7 for line in table)
    assert "| &nbsp;&nbsp;&nbsp;&nbsp;`patch_embed1` | shunted_stem |" in out
    assert "| " + "&nbsp;" * 8 + "`block1.0.attn` | shunted_self_attention |" in out
    assert "- total params: 11,553,576 (11.6 M)" in out


def test_quiet(spec_file: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]) -> None:
    spec_file(
        "unused.yaml",
        "network: unused\ninputs: {x: [B, 8]}\ndims: {B: 2}\nnodes:\n"
        "  fc: {op: linear, in: x, out_features: 4}\n  extra: {op: relu, in: x}\noutputs: {y: fc}\n",
    )
    code, out, err = run(["summary", "unused.yaml"], capsys)
    assert code == 0 and "warning" in err and "extra" in err and "total params: 36" in out
    code, _, err = run(["summary", "unused.yaml", "-q"], capsys)
    assert code == 0 and err == ""
    _, _, err = run(["summary", "unused.yaml", "--variant", "all"], capsys)  # (no variants: usage)
    assert "has no variants" in err


# ----------------------------------------------------------------------------------------------------
# --variant all


def test_variant_all_shunted(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json(["specs/shunted.yaml", "--variant", "all"], capsys)
    assert data["schema"] == "netdsl.summary.variants/1" and data["name"] == "shunted"
    rows = {r["variant"]: r for r in data["variants"]}
    assert list(rows) == [None, "t", "s", "b"] and rows[None]["base"] and not rows["t"]["base"]
    for v, n in SHUNTED_PARAMS.items():
        assert rows[v]["params"] == n
    assert rows["t"]["differs"] == {} and rows[None]["params"] == rows["t"]["params"]
    assert rows["s"]["differs"] == {"depths": [2, 4, 12, 1], "num_conv": 1}
    assert rows[None]["macs"] < rows["s"]["macs"] < rows["b"]["macs"]
    code, out, _ = run(["summary", "specs/shunted.yaml", "--variant", "all"], capsys)
    assert code == 0
    assert re.search(
        r"^s +22,401,256 \(22\.4 M\) +5\.03 G +89\.6 MB +1 x 1000 +depths=\[2, 4, 12, 1\], num_conv=1$",
        out,
        re.M,
    )
    assert re.search(r"^t +11,553,576 .* \(same as the base\)$", out, re.M)


def test_variant_all_default_variant_is_the_base(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json(["specs/vit.yaml", "--variant", "all"], capsys)
    assert [(r["variant"], r["base"]) for r in data["variants"]] == [
        ("vit_b_16", True),
        ("vit_b_32", False),
        ("vit_l_16", False),
    ]
    b32 = data["variants"][1]
    assert b32["differs"] == {"patch_size": 32, "grid": 7, "seq_length": 50}  # computed variables too
    assert data["variants"][0]["params"] == 86_567_656  # torchvision's vit_b_16
    code, out, _ = run(["summary", "specs/vit.yaml", "--variant", "all"], capsys)
    assert code == 0 and re.search(r"^vit_b_16 \(base\) +86,567,656 ", out, re.M)


def test_variant_all_applies_set_and_sizes(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json(
        ["specs/tiny_cnn.yaml", "--variant", "all", "--set", "classes=3", "--dim", "H=8"], capsys
    )
    base, wide = data["variants"]
    assert data["sizes"] == "command-line" and base["outputs"][0]["shape"] == [2, 3]
    assert wide["differs"] == {"width": 64} and wide["outputs"][0]["shape"] == [2, 3]
    # the stem, two res_units of two bias-free convs and two norms each, the 3-class head
    assert wide["params"] == (64 * 3 * 9 + 64) + 2 * 2 * (64 * 64 * 9 + 2 * 64) + (64 * 3 + 3)


def test_variant_all_reports_each_variants_errors(
    spec_file: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file(
        "v.yaml",
        "network: v\ninputs: {x: [B, 8]}\ndims: {B: 2}\nvars: {n: 4}\n"
        "variants:\n  ok: {n: 5}\n  bad: {n: 0}\n  worse: {n: -1}\n"
        "nodes:\n  fc: {op: linear, in: x, out_features: $n}\noutputs: {y: fc}\n",
    )
    code, out, err = run(["summary", "v.yaml", "--variant", "all"], capsys)
    assert code == 1 and out == ""
    assert "got 0 [nodes.fc]" in err and "got -1 [nodes.fc]" in err  # the errors of each variant
    assert "  in variant 'bad' (v.yaml:7)" in err and "  in variant 'worse' (v.yaml:8)" in err
    code, _, err_one = run(["summary", "v.yaml", "--variant", "bad"], capsys)
    assert code == 1 and err_one.splitlines()[:3] == err.splitlines()[:3]


# ----------------------------------------------------------------------------------------------------
# Errors


def test_spec_errors_are_rendered_as_shapes_does(
    spec_file: Callable[[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file(
        "bad.yaml",
        "network: bad\ninputs: {x: [B, 8]}\ndims: {B: 2}\nnodes:\n"
        "  fc: {op: linaer, in: x, out_features: 4}\n  act: {op: relu, in: fcc}\noutputs: {y: act}\n",
    )
    code, out, err = run(["summary", "bad.yaml"], capsys)
    assert code == 1 and out == ""
    assert "bad.yaml:5:" in err and "did you mean 'linear'" in err and "Traceback" not in err
    assert run(["shapes", "bad.yaml"], capsys)[1:] == (out, err)
    assert run(["summary", "bad.yaml", "--format", "json"], capsys)[2] == err
    code, _, err = run(["summary", "missing.yaml"], capsys)
    assert code == 1 and "cannot read missing.yaml" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--depth", "-1"], "--depth expects a number from 0 to 10000, 'auto' or 'all', got '-1'"),
        (["--depth", "x"], "got 'x'"),
        (["--depth", "1.5"], "got '1.5'"),
        (["--depth", "10001"], "got '10001'"),
        (["--depth", "al"], "did you mean 'all'?"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--variant", "wdie"], "'tiny_cnn' has no variant 'wdie'"),
        (["--variant", "wdie"], "did you mean 'wide'?"),
        (
            ["--variant", "all", "--depth", "2"],
            "--variant all compares the variants' totals: it takes no --depth",
        ),
        (["--symbolic", "--dim", "H=4"], "--symbolic shows the shapes without sizes: it takes no --dim"),
        (["--symbolic", "--input-shape", "image=1x3x8x8"], "it takes no --input-shape"),
        (["--dim", "Q=4"], "unknown dim 'Q'"),
        (["--dim", "H=0"], "a size must be from 1 to 2**63 - 1"),
        (["--input-shape", "image=1x3"], "input 'image' is declared (B, 3, H, W) (rank 4)"),
        (["--set", "widht=3"], "did you mean 'width'?"),
        (["--set", "nonsense"], "--set expects NAME=VALUE"),
    ],
)
def test_usage_errors(argv: list[str], words: str, capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, err = run(["summary", "specs/tiny_cnn.yaml", *argv], capsys)
    assert code == 2, err
    assert out == "" and words in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("specs/mobilenet_v2.yaml", "--variant all: 'mobilenet_v2' has no variants"),
        ("blocks/cbam.yaml", "--variant all: 'cbam' is a block: it has no variants"),
        ("specs/shunted_t.yaml", "'shunted_t' is variant 't' of shunted.yaml"),
        ("specs/shunted_t.yaml", "netdsl summary specs/shunted.yaml --variant all shows all its variants"),
    ],
)
def test_variant_all_without_variants_is_a_usage_error(
    spec: str, words: str, capsys: pytest.CaptureFixture[str], in_root: Path
) -> None:
    code, out, err = run(["summary", spec, "--variant", "all"], capsys)
    assert code == 2 and out == "" and words in err
    # as `netdsl build --variant NAME` refuses a block or a thin file (exit 2)
    assert run(["shapes", spec, "--variant", "x"], capsys)[0] == 2


# ----------------------------------------------------------------------------------------------------
# JSON layout

_COUNT = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "minLength": 1}]}
_TYPE = {
    "type": "object",
    "required": ["shape", "dtype"],
    "additionalProperties": False,
    "properties": {"shape": {"type": "array", "items": _COUNT}, "dtype": {"type": "string"}},
}
_NAMED = {
    "type": "object",
    "required": ["name", "shape", "dtype"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string"}, **_TYPE["properties"]},  # type: ignore[dict-item]
}
_TOTALS = {
    "type": "object",
    "required": ["params", "trainable_params", "buffers", "macs", "param_bytes", "param_dtype"],
    "additionalProperties": False,
    "properties": {
        "params": _COUNT,
        "trainable_params": _COUNT,
        "buffers": _COUNT,
        "macs": _COUNT,
        "param_bytes": {"type": "integer", "minimum": 0},
        "param_dtype": {"const": "float32"},
    },
}
SUMMARY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema",
        "spec",
        "kind",
        "name",
        "variant",
        "depth",
        "sizes",
        "inputs",
        "outputs",
        "rows",
        "totals",
    ],
    "properties": {
        "schema": {"const": "netdsl.summary/1"},
        "spec": {"type": "string"},
        "kind": {"enum": ["network", "block"]},
        "name": {"type": "string"},
        "variant": {"type": ["string", "null"]},
        "depth": {"type": ["integer", "null"], "minimum": 0},
        "sizes": {"enum": ["command-line", "spec-dims", "symbolic"]},
        "inputs": {"type": "array", "items": _NAMED},
        "outputs": {"type": "array", "items": _NAMED},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "name",
                    "path",
                    "entry",
                    "level",
                    "kind",
                    "block",
                    "repeat",
                    "outputs",
                    "params",
                    "buffers",
                    "macs",
                    "mac_share",
                ],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "path": {"type": "string"},
                    "entry": {"type": "string", "minLength": 1},
                    "level": {"type": "integer", "minimum": 1},
                    "kind": {"type": "string"},
                    "block": {"type": "boolean"},
                    "repeat": {"type": ["integer", "null"], "minimum": 1},
                    "outputs": {"type": "array", "items": _TYPE},
                    "params": _COUNT,
                    "buffers": _COUNT,
                    "macs": _COUNT,
                    "mac_share": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                },
            },
        },
        "totals": _TOTALS,
    },
}
VARIANTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "spec", "name", "sizes", "variants"],
    "properties": {
        "schema": {"const": "netdsl.summary.variants/1"},
        "spec": {"type": "string"},
        "name": {"type": "string"},
        "sizes": {"enum": ["command-line", "spec-dims", "symbolic"]},
        "variants": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "variant",
                    "base",
                    "params",
                    "trainable_params",
                    "buffers",
                    "macs",
                    "param_bytes",
                    "outputs",
                    "differs",
                ],
                "properties": {
                    "variant": {"type": ["string", "null"]},
                    "base": {"type": "boolean"},
                    **{k: v for k, v in _TOTALS["properties"].items() if k != "param_dtype"},  # type: ignore[attr-defined]
                    "outputs": {"type": "array", "items": _NAMED},
                    "differs": {"type": "object"},
                },
            },
        },
    },
}


@pytest.mark.parametrize(
    "argv",
    [
        ["specs/tiny_cnn.yaml"],
        ["specs/tiny_cnn.yaml", "--symbolic", "--depth", "all"],
        ["specs/shunted_t.yaml", "--depth", "3"],
        ["specs/white_patch_cnn_mha.yaml", "--depth", "all"],
        ["blocks/cbam.yaml", "--depth", "0"],
        ["specs/tiny_attention.yaml", "--dim", "B=1"],
    ],
    ids=lambda a: " ".join(a),
)
def test_json_layout(argv: list[str], capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json(argv, capsys)
    jsonschema.validate(data, SUMMARY_SCHEMA)
    assert data["spec"] == argv[0]
    if data["sizes"] != "symbolic" and data["rows"]:
        shares = [r["mac_share"] for r in data["rows"] if r["level"] == 1]
        assert sum(s for s in shares if s) == pytest.approx(100.0 if data["totals"]["macs"] else 0.0)
        for r in data["rows"]:
            assert r["mac_share"] == pytest.approx(100 * r["macs"] / data["totals"]["macs"])


@pytest.mark.parametrize("spec", ["specs/tiny_cnn.yaml", "specs/vit.yaml", "specs/white_patch_cnn_mha.yaml"])
def test_variants_json_layout(spec: str, capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    data = summary_json([spec, "--variant", "all"], capsys)
    jsonschema.validate(data, VARIANTS_SCHEMA)
    assert sum(r["base"] for r in data["variants"]) == 1 and data["variants"][0]["base"]


# ----------------------------------------------------------------------------------------------------
# Golden files

GOLDEN_CASES = {
    "tiny_cnn.txt": ["specs/tiny_cnn.yaml"],
    "tiny_cnn.md": ["specs/tiny_cnn.yaml", "--format", "markdown"],
    "tiny_cnn.json": ["specs/tiny_cnn.yaml", "--format", "json", "--depth", "1"],
    "tiny_cnn_symbolic.txt": ["specs/tiny_cnn.yaml", "--symbolic"],
    "shunted_t_depth2.txt": ["specs/shunted_t.yaml", "--depth", "2"],
    "shunted_t_depth2.md": ["specs/shunted_t.yaml", "--depth", "2", "--format", "markdown"],
    "cbam.txt": ["blocks/cbam.yaml"],
    "shunted_variants.txt": ["specs/shunted.yaml", "--variant", "all"],
    "shunted_variants.md": ["specs/shunted.yaml", "--variant", "all", "--format", "markdown"],
    "vit_variants.json": ["specs/vit.yaml", "--variant", "all", "--format", "json"],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name: str, capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, got, err = run(["summary", *GOLDEN_CASES[name]], capsys)
    assert code == 0, err
    assert run(["summary", *GOLDEN_CASES[name]], capsys)[1] == got  # stable
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    assert path.exists(), f"no golden file {path}: run with NETDSL_UPDATE_GOLDEN=1"
    assert got == path.read_text(), f"{path} differs: if intended, run with NETDSL_UPDATE_GOLDEN=1"


# ----------------------------------------------------------------------------------------------------
# torch-free, and `netdsl shapes`


def test_summary_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from netdsl.cli import main\n"
        "for argv in (['summary', 'specs/shunted_t.yaml', '--depth', 'all'],\n"
        "             ['summary', 'specs/shunted.yaml', '--variant', 'all', '--format', 'json'],\n"
        "             ['summary', 'blocks/cbam.yaml', '--format', 'markdown']):\n"
        "    assert main(argv) == 0, argv\n"
        "assert 'torch' not in sys.modules, 'summary imported torch'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "total params: 11,553,576" in proc.stdout


def test_check_api_matches_the_command(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    res = netdsl.check("specs/mlp.yaml")
    assert res.shapes is not None
    data = summary_json(["specs/mlp.yaml", "--symbolic"], capsys)
    assert data["totals"]["params"] == param_count(res.shapes) == 784 * 196 + 196 + 196 * 10 + 10


def test_shapes_uses_dim_and_input_shape(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, _ = run(["shapes", "specs/tiny_cnn.yaml"], capsys)
    assert code == 0 and re.search(r"^stem +conv2d +\(B, 32, H, W\)$", out, re.M)
    code, out, _ = run(["shapes", "specs/tiny_cnn.yaml", "--dim", "H=64"], capsys)
    assert code == 0 and re.search(r"^stem +conv2d +\(2, 32, 64, 32\)$", out, re.M), out
    code, out, _ = run(["shapes", "specs/tiny_cnn.yaml", "--input-shape", "image=1x3x16x8"], capsys)
    assert code == 0 and re.search(r"^image +input +\(1, 3, 16, 8\)$", out, re.M), out
    assert "-> logits: head (1, 10)" in out
    code, _, err = run(["shapes", "specs/tiny_cnn.yaml", "--input-shape", "image=1x3x0x8"], capsys)
    assert code == 2 and "--input-shape image" in err


@pytest.mark.parametrize(
    ("argv", "runs"),
    [
        (["specs/tiny_cnn.yaml"], ["symbolic", "concrete"]),
        (["specs/tiny_cnn.yaml", "--dim", "H=8", "--format", "json"], ["symbolic", "concrete"]),
        (["specs/tiny_cnn.yaml", "--symbolic"], ["symbolic"]),
        (["specs/tiny_cnn.yaml", "--variant", "all"], ["symbolic", "concrete"] * 2),
    ],
    ids=["default", "dim", "symbolic", "variant-all"],
)
def test_shape_inference_runs_once_per_graph_and_sizes(
    argv: list[str],
    runs: list[str],
    capsys: pytest.CaptureFixture[str],
    in_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import netdsl.pipeline

    calls: list[str] = []
    infer = netdsl.pipeline.infer_shapes

    def counting(graph: Any, inputs: Any = None, *args: Any, **kwargs: Any) -> ShapeResult:
        calls.append("symbolic" if inputs is None else "concrete")
        return infer(graph, inputs, *args, **kwargs)

    monkeypatch.setattr(netdsl.pipeline, "infer_shapes", counting)
    code, _, err = run(["summary", *argv], capsys)
    assert code == 0, err
    assert calls == runs

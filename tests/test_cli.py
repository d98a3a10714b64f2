"""The command line: exit codes, output formats, torch-free validate, atomic --out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from netdsl.cli import main

from .conftest import ALL_SPECS, FIXTURE_BLOCKS, ROOT

BAD = """network: bad
inputs: {x: [B, 8]}
dims: {B: 2}
nodes:
  fc: {op: linaer, in: x, out_features: 4}
  act: {op: relu, in: fcc}
outputs: {y: act}
"""


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text(BAD)
    return p


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_ok(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, _, err = run(["validate", "specs"], capsys)
    assert code == 0, err
    assert "spec file(s) valid, 0 error(s)" in err


def test_validate_reports_all_errors_with_locations(
    bad_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["validate", str(bad_spec)], capsys)
    assert code == 1
    assert "bad.yaml:5:" in err and "unknown op 'linaer'" in err and "did you mean 'linear'" in err
    assert "Traceback" not in err


def test_validate_json(bad_spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", "--format", "json", str(bad_spec)], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["errors"] >= 1
    e = report["files"][0]["errors"][0]
    assert e["line"] == 5 and e["column"] > 0 and e["path"] == "nodes.fc.op" and "linear" in e["hint"]


def test_validate_github_annotations(bad_spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", "--format", "github", str(bad_spec)], capsys)
    assert code == 1
    line = out.splitlines()[0]
    assert line.startswith(f"::error file={bad_spec},line=5,col=")
    assert "title=netdsl::unknown op" in line


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["validate"],
        ["validate", "does/not/exist.yaml"],
        ["build", "specs/mlp.yaml", "--set", "nokey"],
        ["build", "specs/mlp.yaml", "--set", "widht=3"],
        ["build", "specs/mlp.yaml", "--input-shape", "x=2xfoo"],
        ["build", "specs/mlp.yaml", "--dim", "B=-1"],
        ["build", "specs/mlp.yaml", "--out", "model.txt"],
        ["build", "specs/mlp.yaml", "--out", "specs"],
        ["build", "specs/mlp.yaml", "--dim", "Q=3"],
        ["build", "specs/mlp.yaml", "--input-shape", "x=0x784"],
        ["build", "specs/mlp.yaml", "--seed", str(2**70)],
        ["build", "specs/mlp.yaml", "--device", "nope"],
        ["build", "specs/mlp.yaml", "--max-memory", "lots"],
        ["diagram", "specs/tiny_cnn.yaml", "--expand", "nope"],
        ["validate", "specs", "--blocks-path", "no/such/folder"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert "netdsl: usage error: " in err and "usage error: error:" not in err


def test_unknown_variant_is_a_usage_error(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, _, err = run(["build", "specs/tiny_cnn.yaml", "--variant", "wdie"], capsys)
    assert code == 2
    assert "has no variant 'wdie'" in err and "did you mean 'wide'" in err


def test_build_prints_summary(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, err = run(["build", "specs/tiny_cnn.yaml", "--variant", "wide", "--set", "width=48"], capsys)
    assert code == 0, err
    assert "network tiny_cnn (variant wide)" in out
    assert "stage  res_unit x2" in out
    assert "parameters:" in out and "MACs:" in out


def test_build_input_shape_and_dims(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, err = run(["build", "specs/tiny_cnn.yaml", "--input-shape", "image=1x3x20x28"], capsys)
    assert code == 0, err
    assert "(1, 32, 20, 28)" in out
    code, out, err = run(["build", "specs/tiny_cnn.yaml", "--dim", "H=16"], capsys)
    assert code == 0, err
    assert "(2, 32, 16, 32)" in out


def test_build_block_file_with_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(FIXTURE_BLOCKS / "gated_mlp.yaml")
    code, out, err = run(["build", spec, "--set", "dim=8", "--set", "ratio=3"], capsys)
    assert code == 0, err
    assert "block gated_mlp" in out and "(2, 5, 24)" in out
    code, _, err = run(["build", spec, "--set", "dmi=8"], capsys)
    assert code == 2 and "did you mean 'dim'" in err


def test_out_state_dict_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    pt = tmp_path / "mlp.pt"
    code, _, err = run(["build", "specs/mlp.yaml", "--out", str(pt)], capsys)
    assert code == 0, err
    sd = torch.load(pt)
    assert sorted(sd) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    pt2 = tmp_path / "mlp.pt2"
    code, _, err = run(["build", "specs/mlp.yaml", "--out", str(pt2)], capsys)
    assert code == 0, err
    program = torch.export.load(pt2)
    x = torch.randn(8, 784)
    assert program.module()(x).shape == (8, 10)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_out_not_written_on_error(tmp_path: Path, bad_spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never.pt"
    code, _, _ = run(["build", str(bad_spec), "--out", str(out)], capsys)
    assert code == 1
    assert list(tmp_path.iterdir()) == [bad_spec]


def test_shapes_command(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, _ = run(["shapes", "specs/tiny_attention.yaml"], capsys)
    assert code == 0
    assert "patch_embed       conv2d          (B, 64, Hp, Wp)" in out
    assert "attn.scores       matmul          (B, 4, Hp*Wp, Hp*Wp)" in out
    assert "where Hp = H//8, Wp = W//8" in out
    assert "-> attention: attn.attn" in out


def test_schema_command_accepts_every_spec_and_rejects_typos(capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from netdsl.frontend.yaml_loader import load_file

    code, out, _ = run(["schema"], capsys)
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in ALL_SPECS:
        data = load_file(path).data
        assert list(validator.iter_errors(data)) == [], path
    bad = load_file(ROOT / "specs" / "mlp.yaml").data
    bad["nodes"]["fc1"]["out_featuers"] = 3  # type: ignore[index]
    assert list(validator.iter_errors(bad))


def _subprocess(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def test_validate_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from netdsl.cli import main\n"
        "rc = main(['validate', 'specs', 'tests/fixtures/blocks'])\n"
        "assert 'torch' not in sys.modules, 'validate imported torch'\n"
        "sys.exit(rc)\n"
    )
    proc = _subprocess(code)
    assert proc.returncode == 0, proc.stderr


def test_python_m_netdsl() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "netdsl", "validate", "specs"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_docs_ops_md_is_in_sync() -> None:
    from netdsl.tools.opdoc import ops_markdown

    assert (ROOT / "docs" / "ops.md").read_text() == ops_markdown() + "\n", (
        "docs/ops.md is stale: run `netdsl ops --format markdown > docs/ops.md`"
    )


def test_docs_blocks_md_is_in_sync() -> None:
    from netdsl.frontend.library import BlockLibrary
    from netdsl.tools.blockdoc import library_markdown

    assert (ROOT / "docs" / "blocks.md").read_text() == library_markdown(
        BlockLibrary(use_env=False)
    ) + "\n", "docs/blocks.md is stale: run `netdsl blocks --format markdown > docs/blocks.md`"


def test_blocks_command(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, _ = run(["blocks"], capsys)
    assert code == 0 and "shunted_self_attention" in out and "cbam" in out
    code, out, _ = run(["blocks", "cbam"], capsys)
    assert code == 0 and "`ChannelGate.mlp.1.weight`" in out
    code, _, err = run(["blocks", "cbma"], capsys)
    assert code == 2 and "did you mean 'cbam'" in err


def test_diagram_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    code, out, _ = run(["diagram", "specs/tiny_cnn.yaml", "-f", "mermaid"], capsys)
    assert code == 0 and out.startswith("%% tiny_cnn") and "flowchart TB" in out
    code, out, _ = run(["diagram", "specs/tiny_cnn.yaml", "--depth", "0", "--direction", "LR"], capsys)
    assert code == 0 and "rankdir=LR" in out
    code, _, err = run(["diagram", "specs/tiny_cnn.yaml", "-f", "svg"], capsys)
    assert code == 2 and "give -o FILE" in err
    code, _, err = run(["diagram", "specs/tiny_cnn.yaml", "--depth", "deep"], capsys)
    assert code == 2
    target = tmp_path / "net.json"
    code, _, err = run(["diagram", "specs/tiny_attention.yaml", "-o", str(target)], capsys)
    assert code == 0 and json.loads(target.read_text())["nodes"]


def test_every_library_block_has_its_diagram_in_docs() -> None:
    for spec in sorted((ROOT / "blocks").glob("*.yaml")):
        assert (ROOT / "docs" / "img" / "blocks" / f"{spec.stem}.svg").is_file(), (
            f"run: netdsl diagram {spec.relative_to(ROOT)} -o docs/img/blocks/{spec.stem}.svg"
        )


def test_github_annotations_carry_the_block_instance_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_errors_api import NESTED

    spec = tmp_path / "t.yaml"
    spec.write_text(NESTED)
    code, out, _ = run(["validate", "--format", "github", str(spec)], capsys)
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("::error ")]
    assert "; in block instance s1.a of inner (" in line and "; in block instance s1 of outer (" in line
    assert line.index("s1.a of inner") < line.index("s1 of outer") < line.index("the smallest input")

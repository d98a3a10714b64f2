"""`netdsl check-weights` / netdsl.check_weights / `netdsl build --weights`: a checkpoint's keys,
shapes and dtypes against the spec's static parameters, without building; safetensors read
torch-free (hostile headers are clean errors), torch files with weights_only."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

import netdsl
from netdsl.cli import main
from netdsl.cli.build import BuildOptions, run_build
from netdsl.frontend.checkpoint import (
    MAX_HEADER,
    CheckpointError,
    checkpoint_format,
    parse_safetensors_header,
    read_safetensors_header,
)
from netdsl.passes.weights import KeyRule, WeightsError, apply_rules, expected_state
from netdsl.pipeline import Pipeline

from .conftest import ROOT

TINY = ROOT / "specs" / "tiny_cnn.yaml"
SHUNTED_KEYS = ROOT / "tests" / "data" / "shunted" / "keys_t.tsv"

# ----------------------------------------------------------------------------------------------------
# Writing checkpoints (the safetensors package is not a dependency: a small writer of the format)

ST_CODES = {
    torch.bool: "BOOL",
    torch.uint8: "U8",
    torch.int8: "I8",
    torch.int16: "I16",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int32: "I32",
    torch.float32: "F32",
    torch.float64: "F64",
    torch.int64: "I64",
}


def raw_safetensors(path: Path, header: bytes, data: bytes = b"", length: int | None = None) -> Path:
    """A file of the safetensors layout: the header's length (or ``length``), the header, ``data``."""
    n = len(header) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + header + data)
    return path


def write_safetensors(
    path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    blobs: list[bytes] = []
    offset = 0
    for name, t in tensors.items():
        data = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {
            "dtype": ST_CODES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # (the format pads the header to 8 bytes)
    return raw_safetensors(path, text, b"".join(blobs))


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """tiny_cnn's state_dict, seeded."""
    return dict(netdsl.build(TINY, seed=3).state_dict())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, state: dict[str, torch.Tensor]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ckpt")
    out: dict[str, Path] = {}

    def save(name: str, obj: object) -> None:
        out[name] = d / name
        torch.save(obj, out[name])

    save("ok.pt", state)
    out["ok.safetensors"] = write_safetensors(d / "ok.safetensors", state, {"format": "pt"})
    renamed = dict(state)
    renamed["stem.wieght"] = renamed.pop("stem.weight")
    save("renamed.pt", renamed)
    shaped = dict(state)
    shaped["head.weight"] = torch.zeros(10, 64)
    save("shape.pt", shaped)
    save("prefix.pt", {"module." + k: v for k, v in state.items()})
    save("compiled.pth", {"_orig_mod." + k: v for k, v in state.items()})
    save("layers.pt", {k.replace("stage.", "layers.", 1): v for k, v in state.items()})
    save("wrapped.pt", {"state_dict": state, "epoch": 7, "optimizer": {"lr": 0.1}})
    save("ema.pt", {"model": state, "model_ema": {k: v + 1 for k, v in state.items()}})
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save("half.pt", half)
    out["half.safetensors"] = write_safetensors(d / "half.safetensors", half)
    no_counter = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    out["no_counter.safetensors"] = write_safetensors(d / "no_counter.safetensors", no_counter)
    data = out["ok.pt"].read_bytes()
    (d / "truncated.pt").write_bytes(data[: len(data) // 2])
    out["truncated.pt"] = d / "truncated.pt"
    return out


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def spec_line(path: Path, start: str) -> int:
    """The 1-based line of ``path`` that starts with ``start``."""
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith(start))


# ----------------------------------------------------------------------------------------------------
# The static list is the module's state_dict


@pytest.mark.parametrize(
    "name", ["tiny_cnn", "mlp", "tiny_attention", "white_patch_cnn_conv1d_mha", "resnet18", "swin_t"]
)
def test_static_list_is_the_state_dict(name: str) -> None:
    run = Pipeline(ROOT / "specs" / f"{name}.yaml")
    _, shapes = run.checked()
    expected = {k: (tuple(d.value for d in e.shape), e.dtype) for k, e in expected_state(shapes).items()}
    real = {
        k: (tuple(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in run.module(0).state_dict().items()
    }
    assert expected == real


# ----------------------------------------------------------------------------------------------------
# The checks


@pytest.mark.parametrize("name", ["ok.pt", "ok.safetensors"])
def test_exact_match_exits_0(name: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    report = netdsl.check_weights(TINY, files[name])
    assert report.ok and not report.warnings and not report.notes
    assert report.matched == report.expected == report.found == 28
    assert report.format == ("safetensors" if name.endswith("safetensors") else "torch")
    code, out, err = cli(["check-weights", str(TINY), str(files[name])], capsys)
    assert code == 0, out + err
    assert "28 of the spec's 28 parameter and buffer keys found" in out and "loads with strict=True" in out


def test_renamed_key_did_you_mean(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    report = netdsl.check_weights(TINY, files["renamed.pt"])
    assert not report.ok and not report.suggested_map
    assert [m.expected.key for m in report.missing] == ["stem.weight"]
    assert [(u.key, u.closest) for u in report.unexpected] == [("stem.wieght", "stem.weight")]
    code, out, _ = cli(["check-weights", str(TINY), str(files["renamed.pt"])], capsys)
    assert code == 1
    assert "unexpected key 'stem.wieght'" in out and "did you mean 'stem.weight'?" in out
    line = spec_line(TINY, "  stem:")
    assert f"specs/tiny_cnn.yaml:{line}:3: error: missing key 'stem.weight'" in out.replace(os.sep, "/")


def test_changed_shape_names_the_spec_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(["check-weights", str(TINY), str(files["shape.pt"])], capsys)
    assert code == 1
    line = spec_line(TINY, "  head:")
    assert f"tiny_cnn.yaml:{line}:3: error: shape mismatch for 'head.weight'" in out
    assert "the checkpoint has (10, 64), the spec's linear head needs (10, 32)" in out
    assert f"{line} |   head: {{op: linear" in out  # the caret excerpt
    report = netdsl.check_weights(TINY, files["shape.pt"])
    (m,) = report.shape_mismatches
    assert (m.expected.key, m.info.shape, m.wanted) == ("head.weight", (10, 64), "(10, 32)")
    assert m.to_dict()["line"] == line


def test_shape_inside_a_block_instance_names_the_block_line(
    tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    bad = dict(state)
    bad["stage.1.conv1.weight"] = torch.zeros(32, 33, 3, 3)
    torch.save(bad, tmp_path / "b.pt")
    report = netdsl.check_weights(TINY, tmp_path / "b.pt")
    (err,) = report.errors
    assert err.loc.line == spec_line(TINY, "      conv1:")
    assert "in block instance stage.1 of res_unit" in err.render()


@pytest.mark.parametrize(("name", "rule"), [("prefix.pt", "module.="), ("compiled.pth", "_orig_mod.=")])
def test_prefix_suggests_a_mapping(
    name: str, rule: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    report = netdsl.check_weights(TINY, files[name])
    assert not report.ok and report.loads_with_suggested_map
    assert [r.flag for r in report.suggested_map] == [rule]
    assert len(report.renamed) == 28 and not report.missing and not report.unexpected
    code, out, _ = cli(["check-weights", str(TINY), str(files[name])], capsys)
    assert code == 1
    assert f"--map '{rule}'" in out and "rename 28 keys" in out
    code, out, _ = cli(["check-weights", str(TINY), str(files[name]), "--map", rule], capsys)
    assert code == 0, out
    old, new = rule.split("=")
    assert netdsl.check_weights(TINY, files[name], key_map={old: new}).ok


def test_consistent_renaming_and_added_prefix(
    files: dict[str, Path], tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    report = netdsl.check_weights(TINY, files["layers.pt"])
    assert [(r.old, r.new) for r in report.suggested_map] == [("layers.", "stage.")]
    assert report.loads_with_suggested_map and report.matched == 4 and len(report.renamed) == 24
    torch.save(
        {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}, tmp_path / "h.pt"
    )
    short = netdsl.check_weights(TINY, tmp_path / "h.pt")  # 2 keys: 'weight', 'bias' -> 'head.'
    assert [(r.old, r.new) for r in short.suggested_map] == [("", "head.")]


def test_key_rules() -> None:
    rules = [KeyRule("module.", ""), KeyRule("module.head.", "fc.")]
    assert apply_rules("module.stem.w", rules) == "stem.w"
    assert apply_rules("module.head.w", rules) == "fc.w"  # the longest prefix wins
    assert apply_rules("other", rules) == "other"


def test_wrapped_checkpoint_is_unwrapped_with_a_note(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    report = netdsl.check_weights(TINY, files["wrapped.pt"])
    assert report.ok and report.wrapper == ("state_dict",)
    assert any("entry 'state_dict'" in n for n in report.notes)
    code, out, _ = cli(["check-weights", str(TINY), str(files["wrapped.pt"])], capsys)
    assert (
        code == 0
        and "note: the checkpoint is a dict: the weights were taken from its entry 'state_dict'" in out
    )

    ema = netdsl.check_weights(TINY, files["ema.pt"])
    assert ema.wrapper == ("model",) and "'model_ema'" in ema.notes[0]  # the other one is named
    assert netdsl.check_weights(TINY, files["ema.pt"], key="model_ema").wrapper == ("model_ema",)
    code, _, err = cli(["check-weights", str(TINY), str(files["ema.pt"]), "--key", "model_emma"], capsys)
    assert code == 2 and "did you mean 'model_ema'" in err


def test_unwrapping_prefers_the_model_over_optimizer_state(
    tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    moments = {i: {"exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)} for i in range(5)}
    torch.save({"optimizer": {"state": moments}, "weights_dict": state, "epoch": 1}, tmp_path / "o.pt")
    report = netdsl.check_weights(TINY, tmp_path / "o.pt")
    assert report.ok and report.wrapper == ("weights_dict",) and "optimizer.state.0" in report.notes[0]
    torch.save({**state, "epoch": 1, "note": "x"}, tmp_path / "m.pt")
    report = netdsl.check_weights(TINY, tmp_path / "m.pt")
    assert report.ok and report.notes == ["entries that are not tensors were left out: 'epoch', 'note'"]
    torch.save([state], tmp_path / "l.pt")
    with pytest.raises(CheckpointError, match="holds no state_dict: it is a list"):
        netdsl.check_weights(TINY, tmp_path / "l.pt")


def test_float16_is_a_warning(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("half.pt", "half.safetensors"):
        report = netdsl.check_weights(TINY, files[name])
        assert report.ok and len(report.dtype_casts) == 24  # all but the int64 step counters
        assert report.warnings and all(w.severity == "warning" for w in report.warnings)
        code, out, _ = cli(["check-weights", str(TINY), str(files[name])], capsys)
        assert code == 0
        assert "warning: dtype cast: 24 float16 tensors" in out and "(exact)" in out
    code, out, _ = cli(["check-weights", str(TINY), str(files["half.pt"]), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["loads"] is True and len(data["dtype_casts"]) == 24
    assert (
        data["dtype_casts"][0]["checkpoint_dtype"] == "float16"
        and data["dtype_casts"][0]["dtype"] == "float32"
    )


def test_one_cast_is_located_at_its_node(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    torch.save({**state, "head.bias": state["head.bias"].double()}, tmp_path / "d.pt")
    (w,) = netdsl.check_weights(TINY, tmp_path / "d.pt").warnings
    assert w.loc.line == spec_line(TINY, "  head:") and "float64" in w.message and "rounded" in w.message


def test_missing_step_counter_is_filled(files: dict[str, Path]) -> None:
    report = netdsl.check_weights(TINY, files["no_counter.safetensors"])
    assert report.ok and len(report.filled) == 4 and not report.missing
    gm = netdsl.build(TINY, weights=files["no_counter.safetensors"])
    assert int(gm.state_dict()["stage.0.bn1.num_batches_tracked"]) == 0


def test_json_report(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["check-weights", str(TINY), str(files["renamed.pt"]), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["loads"] is False and data["format"] == "torch"
    assert data["missing"][0]["key"] == "stem.weight" and data["missing"][0]["op"] == "conv2d"
    assert data["unexpected"][0] == {
        "key": "stem.wieght",
        "original_key": "stem.wieght",
        "shape": [32, 3, 3, 3],
        "dtype": "float32",
        "did_you_mean": "stem.weight",
    }
    assert {e["severity"] for e in data["errors"]} == {"error"}


def test_extra_and_missing_many_are_capped_in_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save({f"x{i}": torch.zeros(1) for i in range(30)}, tmp_path / "x.pt")
    code, out, _ = cli(["check-weights", str(TINY), str(tmp_path / "x.pt")], capsys)
    assert code == 1
    assert "... and 14 more missing keys" in out and "... and 20 more unexpected keys" in out
    assert "0 of the spec's 28 parameter and buffer keys found" in out


# ----------------------------------------------------------------------------------------------------
# Files that are not checkpoints


def test_truncated_and_foreign_files_are_clean_errors(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        files["truncated.pt"]: "truncated or corrupt",
        tmp_path / "empty.pt": "is empty",
        tmp_path / "text.bin": "neither a safetensors file nor a torch.save file",
        tmp_path / "missing.pt": "No such file or directory",
        tmp_path: "it is a folder",
    }
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.bin").write_text("hello, this is no checkpoint")
    for path, message in cases.items():
        code, _, err = cli(["check-weights", str(TINY), str(path)], capsys)
        assert code == 1, (path, err)
        assert message in err and path.name in err and "Traceback" not in err and "internal error" not in err
        with pytest.raises(CheckpointError):
            netdsl.check_weights(TINY, path)


def test_torch_file_with_objects_is_refused_by_weights_only(tmp_path: Path) -> None:
    torch.save({"state_dict": {}, "cfg": Path("x")}, tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match=r"refuses: .*pathlib"):
        netdsl.check_weights(TINY, tmp_path / "obj.pt")


def test_checkpoint_without_tensors(tmp_path: Path) -> None:
    torch.save({"epoch": 1, "lr": 0.1}, tmp_path / "n.pt")
    with pytest.raises(CheckpointError, match="holds no state_dict"):
        netdsl.check_weights(TINY, tmp_path / "n.pt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "f.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="FIFO"):
        netdsl.check_weights(TINY, fifo)


def _header(entries: dict[str, Any]) -> bytes:
    return json.dumps(entries).encode()


F32_4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
HOSTILE: dict[str, tuple[bytes, bytes, int | None, str]] = {
    # name: (header, data, declared header length, message)
    "huge header length": (b"{}", b"", 2**63, "would be 9,223,372,036,854,775,808 bytes"),
    "header over the limit": (b"{}", b"", MAX_HEADER + 1, "at most 100,000,000"),
    "header longer than the file": (b"{}", b"", 4096, "truncated"),
    "bad JSON": (b'{"a": {"dtype": "F32",', b"", None, "not valid JSON"),
    "not UTF-8": (b'{"\xff": 1}', b"", None, "not UTF-8"),
    "deep JSON": (b"[" * 100_000, b"", None, "nests too deeply"),
    "a list": (b"[1, 2]", b"", None, "not an object"),
    "NaN": (b'{"a": NaN}', b"", None, "not valid JSON"),
    "duplicate": (b'{"a": 1, "a": 2}', b"", None, "appears twice"),
    "not an entry": (_header({"a": 3}), b"", None, "expected an object"),
    "no offsets": (_header({"a": {"dtype": "F32", "shape": [4]}}), b"\0" * 16, None, "no data_offsets"),
    "offsets out of range": (
        _header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 40]}}),
        b"\0" * 16,
        None,
        "outside the file's 16 bytes of data",
    ),
    "negative offset": (
        _header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}),
        b"\0" * 16,
        None,
        "outside",
    ),
    "offsets of the wrong length": (
        _header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}),
        b"\0" * 16,
        None,
        "needs 16 bytes, data_offsets give 8",
    ),
    "negative shape": (
        _header({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}),
        b"\0" * 16,
        None,
        "size -4",
    ),
    "shape of floats": (
        _header({"a": {"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]}}),
        b"\0" * 16,
        None,
        "not a list of integers",
    ),
    "shape of bools": (
        _header({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}),
        b"\0" * 16,
        None,
        "not a list of integers",
    ),
    "huge shape": (
        _header({"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 16]}}),
        b"\0" * 16,
        None,
        "larger than the file's 16 bytes",
    ),
    "too many dims": (
        _header({"a": {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}}),
        b"\0" * 16,
        None,
        "65 dims",
    ),
    "wrong dtype name": (
        _header({"a": {"dtype": "float32", "shape": [4], "data_offsets": [0, 16]}}),
        b"\0" * 16,
        None,
        "unknown dtype 'float32'",
    ),
    "dtype not a string": (
        _header({"a": {"dtype": 4, "shape": [4], "data_offsets": [0, 16]}}),
        b"\0" * 16,
        None,
        "unknown dtype a JSON int",
    ),
    "overlap": (
        _header({"a": F32_4, "b": F32_4}),
        b"\0" * 16,
        None,
        "overlap",
    ),
    "metadata not strings": (_header({"__metadata__": {"a": 1}}), b"", None, "__metadata__"),
    "short file": (b"", b"", None, "truncated"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_safetensors_are_clean_errors(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, data, length, message = HOSTILE[case]
    path = tmp_path / "hostile.safetensors"
    if case == "short file":
        path.write_bytes(b"\x01\x02")
    else:
        raw_safetensors(path, header, data, length)
    with pytest.raises(CheckpointError) as info:
        read_safetensors_header(path)
    assert message in info.value.message, info.value.message
    assert info.value.loc.file.endswith("hostile.safetensors")
    code, out, err = cli(["check-weights", str(TINY), str(path)], capsys)
    assert code == 1 and message in err and "hostile.safetensors" in err
    assert "Traceback" not in err and "internal error" not in err and not out


def test_hostile_header_under_another_suffix_is_still_read_as_safetensors(tmp_path: Path) -> None:
    path = raw_safetensors(
        tmp_path / "weights.bin",
        _header({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}),
        b"\0" * 4,
    )
    assert checkpoint_format(path) == "safetensors"
    with pytest.raises(CheckpointError, match="unknown dtype 'F33'") as info:
        netdsl.check_weights(TINY, path)
    assert info.value.hint == "did you mean 'F32'?"


def test_safetensors_header_parser_directly() -> None:
    header = parse_safetensors_header(
        _header({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}}), 12
    )
    entry = header.entries["w"]
    assert (entry.info.shape, entry.info.dtype, entry.end - entry.begin) == ((2, 3), "bfloat16", 12)
    empty = parse_safetensors_header(
        _header({"z": {"dtype": "F32", "shape": [0, 5], "data_offsets": [0, 0]}}), 0
    )
    assert empty.entries["z"].info.shape == (0, 5)


def test_safetensors_check_is_torch_free(files: dict[str, Path]) -> None:
    code = (
        "import sys, netdsl\n"
        f"r = netdsl.check_weights({str(TINY)!r}, {str(files['ok.safetensors'])!r})\n"
        "assert r.ok, r.render()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cross_check_with_the_safetensors_package(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    st = pytest.importorskip("safetensors.torch")
    mixed = {
        **state,
        "extra.bf16": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),
        "extra.u8": torch.arange(3, dtype=torch.uint8),
    }
    st.save_file(mixed, str(tmp_path / "theirs.safetensors"))
    header = read_safetensors_header(tmp_path / "theirs.safetensors")
    assert {k: (e.info.shape, e.info.dtype) for k, e in header.entries.items()} == {
        k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in mixed.items()
    }
    from netdsl.backend.checkpoint_io import read_safetensors

    for k, v in read_safetensors(tmp_path / "theirs.safetensors").items():
        assert torch.equal(v, mixed[k]), k
    write_safetensors(tmp_path / "ours.safetensors", mixed)
    for k, v in st.load_file(str(tmp_path / "ours.safetensors")).items():
        assert torch.equal(v, mixed[k]), k


# ----------------------------------------------------------------------------------------------------
# The official Shunted-T layout


def test_official_shunted_t_layout_matches_the_spec(tmp_path: Path) -> None:
    rows = [line.split("\t") for line in SHUNTED_KEYS.read_text().splitlines()]
    layout = {k: () if s == "scalar" else tuple(int(d) for d in s.split("x")) for k, s in rows}
    assert len(layout) == 260

    def dtype(k: str) -> torch.dtype:
        return torch.int64 if k.endswith("num_batches_tracked") else torch.float32

    # a torch file of meta tensors (no data) ...
    torch.save(
        {k: torch.empty(s, dtype=dtype(k), device="meta") for k, s in layout.items()}, tmp_path / "t.pt"
    )
    # ... and a safetensors file of zeros (sparse: the data is a hole)
    header: dict[str, Any] = {}
    offset = 0
    for k, s in layout.items():
        n = 8 if dtype(k) == torch.int64 else 4
        for d in s:
            n *= d
        header[k] = {
            "dtype": "I64" if dtype(k) == torch.int64 else "F32",
            "shape": list(s),
            "data_offsets": [offset, offset + n],
        }
        offset += n
    path = raw_safetensors(tmp_path / "t.safetensors", json.dumps(header).encode())
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size + offset)
    spec = ROOT / "specs" / "shunted_t.yaml"
    for ckpt in (tmp_path / "t.pt", path):
        report = netdsl.check_weights(spec, ckpt)
        assert report.ok, report.render()
        assert report.matched == report.expected == 260 and not report.warnings
    # DataParallel's prefix on the official keys: the mapping is found
    torch.save({"module." + k: torch.empty(s, device="meta") for k, s in layout.items()}, tmp_path / "dp.pt")
    assert [r.flag for r in netdsl.check_weights(spec, tmp_path / "dp.pt").suggested_map] == ["module.="]


# ----------------------------------------------------------------------------------------------------
# netdsl build --weights


def test_build_loads_the_weights(files: dict[str, Path], state: dict[str, torch.Tensor]) -> None:
    for name in ("ok.pt", "ok.safetensors", "wrapped.pt"):
        gm = netdsl.build(TINY, seed=0, weights=files[name])
        for k, v in gm.state_dict().items():
            assert torch.equal(v, state[k]), (name, k)
    gm = netdsl.build(TINY, weights=files["prefix.pt"], weights_map={"module.": ""})
    assert torch.equal(gm.state_dict()["head.weight"], state["head.weight"])
    gm = netdsl.build(TINY, weights=files["ema.pt"], weights_key="model_ema")
    assert torch.equal(gm.state_dict()["head.weight"], state["head.weight"] + 1)
    gm = netdsl.build(TINY, weights=files["half.safetensors"])
    assert gm.state_dict()["head.weight"].dtype == torch.float32
    assert torch.equal(gm.state_dict()["head.weight"], state["head.weight"].half().float())


def test_build_refuses_weights_that_do_not_load(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(WeightsError) as info:
        netdsl.build(TINY, weights=files["shape.pt"])
    assert "shape mismatch for 'head.weight'" in info.value.render()
    with pytest.raises(WeightsError):
        run_build(TINY, BuildOptions(weights=files["prefix.pt"]))
    code, out, err = cli(["build", str(TINY), "--weights", str(files["shape.pt"])], capsys)
    assert code == 1
    assert "shape mismatch for 'head.weight'" in err and "does not load with strict=True" in err
    assert "built in" not in out and "Traceback" not in err


def test_build_command_with_weights(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    out_file = tmp_path / "out.pt"
    code, out, err = cli(
        [
            "build",
            str(TINY),
            "--weights",
            str(files["prefix.pt"]),
            "--weights-map",
            "module.=",
            "--out",
            str(out_file),
        ],
        capsys,
    )
    assert code == 0, err
    assert "loaded 28 tensors from" in out and "built in" in out
    saved = torch.load(out_file, weights_only=True)
    assert all(torch.equal(saved[k], state[k]) for k in state)
    code, out, err = cli(["build", str(TINY), "--weights", str(files["half.pt"])], capsys)
    assert code == 0 and "warning: dtype cast" in err
    code, _, err = cli(
        ["build", str(TINY), "--weights", str(files["ok.pt"]), "--weights-map", "nomap"], capsys
    )
    assert code == 2 and "--weights-map expects OLD=NEW" in err

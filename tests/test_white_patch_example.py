"""examples/white_patch: seed 003's experiment on a tiny configuration (docs/white_patch.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.white_patch import data
from examples.white_patch.__main__ import main
from examples.white_patch.nets import RUNS

from .conftest import ROOT

pytest.importorskip("matplotlib")

TINY = ["--train", "24", "--test", "16", "--epochs", "3", "--batch-size", "8", "--image-size", "48"]


def test_the_seeds_labels_and_positions() -> None:
    """--as-seed: the seed's getBatch draws, with numpy's global generator, image i of every batch."""
    labels, rows, cols = data.seed_patches(25, 10)
    for k in range(25):
        np.random.seed(k % 10 + 10)
        corrupt = np.random.randint(2)
        assert labels[k] == corrupt
        if corrupt:
            assert (rows[k], cols[k]) == (np.random.randint(96 - 16), np.random.randint(96 - 16))
    assert list(labels[:10]) == list(labels[10:20])  # (the quirk: every batch the same)
    own, _, _ = data.own_patches(0, range(200))
    assert 0.4 < own.mean() < 0.6 and list(own[:10]) != list(own[10:20])


def test_images_are_reproducible_and_the_patch_is_the_seeds() -> None:
    a = data.synthetic_images(3, [5, 6])
    assert a.dtype == np.uint8 and a.shape == (2, 3, 96, 96)
    assert np.array_equal(a[1], data.synthetic_image(3, 6)) and not np.array_equal(a[0], a[1])
    assert a.std() > 20  # (not flat)
    split = data.make_split(data.DataConfig(train=4, test=0, seed=3, batch_size=4), [0, 1, 2, 3])
    x, y = split.batch(0, 4)
    assert x.shape == (4, 3, 96, 96) and set(y.tolist()) <= {0.0, 1.0}
    for k in range(4):
        raw = (torch.from_numpy(split.images[k]).float() - 128) / 128
        if y[k]:
            r, c = int(split.rows[k]), int(split.cols[k])
            assert bool((x[k, :, r : r + 16, c : c + 16] == 1).all())
            raw[:, r : r + 16, c : c + 16] = 1.0
        assert torch.equal(x[k], raw)


def test_stl10_binary_layout(tmp_path: Path) -> None:
    """train_X.bin stores each image as 3 x 96 x 96 column-major; read back as (C, rows, cols)."""
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 96, 96), dtype=np.uint8)
    (tmp_path / "stl10_binary").mkdir()
    images.transpose(0, 1, 3, 2).tofile(tmp_path / "stl10_binary" / "train_X.bin")
    assert np.array_equal(data.read_stl10(tmp_path, [2, 0]), images[[2, 0]])
    with pytest.raises(ValueError, match="holds 3 images"):
        data.read_stl10(tmp_path / "stl10_binary" / "train_X.bin", [3])


def test_tiny_run_end_to_end_then_eval_only(tmp_path: Path) -> None:
    """All six networks, a few batches: the outputs exist and every training loss falls; the eval-only
    mode rebuilds the same tables from the checkpoints."""
    torch.set_num_threads(1)
    out = tmp_path / "out"
    assert main([*TINY, "--out", str(out), "--quiet", "--map-images", "3"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["runs"]) == [r.name for r in RUNS]
    for r in RUNS:
        row = results["runs"][r.name]
        assert len(row["history"]["train_loss"]) == 3
        assert row["history"]["train_loss"][-1] < row["history"]["train_loss"][0], r.name
        assert (out / "checkpoints" / f"{r.name}.pt").is_file()
        assert (out / f"maps_{r.name}.png").is_file() == bool(r.maps)
    assert results["runs"]["cnn_cbam_spatial"]["params"] == 54_119
    assert "attn1.spatial_scale" in results["runs"]["cnn_cbam_spatial"]["maps"]
    assert (out / "curves.png").stat().st_size > 10_000
    table = (out / "results.md").read_text()
    assert "| `cnn_conv1d_mha` | CNN + conv1d MHA | 72,897 |" in table and "0.0143" in table
    assert "[maps_cnn_cbam.png](maps_cnn_cbam.png)" in table
    for f in out.glob("*.png"):
        f.unlink()
    assert main(["--eval-only", "--out", str(out), "--quiet", "--map-images", "2"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["runs"].keys() == results["runs"].keys()
    for name, row in results["runs"].items():
        assert again["runs"][name]["history"] == row["history"]
        assert again["runs"][name].get("maps") == row.get("maps")
    assert (out / "curves.png").is_file() and (out / "maps_cnn_cbam.png").is_file()


def _run(cmd: list[str], out: Path) -> dict[str, object]:
    args = ["--runs", "cnn", "--train", "320", "--test", "160", "--epochs", "4", "--batch-size", "32"]
    args += ["--image-size", "48", "--no-figures", "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "torch.distributed.run" in cmd:  # (once more: a port taken meanwhile)
        first = r.stdout + r.stderr
        r = subprocess.run([*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, first + "\n--- again:\n" + r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads((out / "results.json").read_text())
    assert isinstance(got, dict)
    return got


@pytest.mark.slow
def test_ddp_matches_one_process(tmp_path: Path) -> None:
    """torchrun with 2 processes (gloo), the same global batch and seed: the final test accuracy within
    2 points and every epoch's losses within 10% of one process's (batch norm's statistics are per
    process, so they are not equal; the differences grow as training goes on: measured here, at most
    6% on the losses and no difference in accuracy, and 15% after 8 epochs)."""
    one = _run([sys.executable, "-m", "examples.white_patch", "--threads", "1"], tmp_path / "one")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    ddp = _run([*torchrun, "-m", "examples.white_patch"], tmp_path / "ddp")
    assert ddp["processes"] == 2 and one["processes"] == 1
    a, b = one["runs"]["cnn"], ddp["runs"]["cnn"]  # type: ignore[index]
    assert a["history"]["train_loss"][-1] < 0.7 * a["history"]["train_loss"][0], a  # (it learns)
    assert abs(a["final_test_acc"] - b["final_test_acc"]) <= 0.02, (a["history"], b["history"])
    for key in ("train_loss", "test_loss"):
        for x, y in zip(a["history"][key], b["history"][key], strict=True):
            assert abs(x - y) <= 0.1 * x, (key, a["history"][key], b["history"][key])


def _close(a: object, b: object) -> bool:
    """Equal JSON values, numbers to 1e-4 relative (the map scores, computed again)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, int | float):
        return abs(a - b) <= 1e-4 * max(1.0, abs(a))
    return a == b


@pytest.mark.slow
def test_the_committed_results_come_from_the_committed_checkpoints(tmp_path: Path) -> None:
    """--eval-only on the default run's committed checkpoints gives the committed results.json: the
    same histories and parameter counts, the same map scores (the test images made again)."""
    committed = ROOT / "examples" / "white_patch" / "results"
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    for f in (committed / "checkpoints").glob("*.pt"):
        (out / "checkpoints" / f.name).write_bytes(f.read_bytes())
    assert main(["--eval-only", "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert "Figures:" not in (out / "results.md").read_text() and not list(out.glob("*.png"))
    again = json.loads((out / "results.json").read_text())
    want = json.loads((committed / "results.json").read_text())
    assert list(again["runs"]) == [r.name for r in RUNS] == list(want["runs"])
    assert again["command"] == want["command"] and again["config"] == want["config"]
    for name, row in want["runs"].items():
        assert _close(again["runs"][name], row), name


def test_seeds_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """examples.white_patch.seeds: runs of one configuration side by side; another configuration is
    refused."""
    from examples.white_patch import seeds

    committed = json.loads((ROOT / "examples" / "white_patch" / "results" / "results.json").read_text())
    other = json.loads(json.dumps(committed))
    other["config"]["seed"] = 7
    other["runs"]["cnn"]["min_test_loss"] = 0.5
    (tmp_path / "a.json").write_text(json.dumps(committed))
    (tmp_path / "b.json").write_text(json.dumps(other))
    assert seeds.main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    cnn = committed["runs"]["cnn"]["min_test_loss"]
    assert "(seeds 0, 7)" in out and f"| `cnn` | {cnn:.3g} / 0.5 | {(cnn + 0.5) / 2:.3g} |" in out
    mha = committed["runs"]["cnn_mha"]["maps"]["attention_map"]["mean_abs_z_shown"]
    assert f"{mha:.2f} / {mha:.2f}" in out
    other["config"]["epochs"] = 99
    (tmp_path / "b.json").write_text(json.dumps(other))
    assert seeds.main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert "another configuration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--batch-size", "0"], "--batch-size: expected a positive number, got 0"),
        (["--train", "0"], "--train: expected a positive number"),
        (["--epochs", "-1"], "--epochs: expected a positive number"),
        (["--map-images", "0"], "--map-images: expected a positive number"),
        (["--train", "4", "--batch-size", "8"], "--batch-size 8 is more than the 4 training images"),
        (["--lr", "nan"], "--lr: expected a positive learning rate, got nan"),
        (["--image-size", "16"], "the 16x16 patch needs at least 17, got 16"),
        (["--runs", ",,"], "--runs: no run named"),
        (["--runs", "cnn,cbam"], "--runs: unknown cbam"),
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--quiet"])
    assert e.value.code == 2 and words in capsys.readouterr().err


def test_bad_files_are_errors_not_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing STL10 file; a checkpoint that is not one (or of another network): exit 1, one line."""
    small = ["--train", "8", "--test", "8", "--batch-size", "4", "--runs", "cnn", "--quiet"]
    assert main([*small, "--stl10", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "white_patch: no STL10 train_X.bin at" in capsys.readouterr().err
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "cnn.pt").write_bytes(b"not a checkpoint")
    assert main(["--eval-only", "--runs", "cnn", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("white_patch: cannot use ") and "cnn.pt" in err and len(err.splitlines()) == 1
    mha = ROOT / "examples" / "white_patch" / "results" / "checkpoints" / "cnn_mha.pt"
    (tmp_path / "checkpoints" / "cnn.pt").write_bytes(mha.read_bytes())  # another network's weights
    assert main(["--eval-only", "--runs", "cnn", "--out", str(tmp_path), "--quiet"]) == 1
    assert "RuntimeError: Error(s) in loading state_dict" in capsys.readouterr().err
    cnn = ROOT / "examples" / "white_patch" / "results" / "checkpoints" / "cnn.pt"
    saved = torch.load(cnn, weights_only=True)
    torch.save(
        {"state_dict": saved["state_dict"], "config": saved["config"]}, tmp_path / "checkpoints" / "cnn.pt"
    )
    assert main(["--eval-only", "--runs", "cnn", "--out", str(tmp_path), "--quiet"]) == 1  # (no history)
    assert "KeyError: 'history'" in capsys.readouterr().err

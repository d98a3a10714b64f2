"""`netdsl export` / `netdsl.export`: torch.export programs and ONNX models with dynamic batch and
image sizes, verified against the eager module, written atomically; and `build --out x.pt2`, which
exports the same way."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import netdsl
from netdsl.backend import export_verify
from netdsl.backend.export import export_module
from netdsl.backend.export_formats import require_onnx
from netdsl.backend.export_plan import plan_dims
from netdsl.backend.export_verify import difference, tolerance_for
from netdsl.backend.export_violations import export_failed, read_violation, violation_error
from netdsl.cli import main
from netdsl.core.errors import BuildError, UsageError
from netdsl.passes.sizes import concrete_inputs
from netdsl.pipeline import Pipeline

from .conftest import ROOT

TINY_CNN = str(ROOT / "specs" / "tiny_cnn.yaml")
TINY_ATTENTION = str(ROOT / "specs" / "tiny_attention.yaml")
MLP = str(ROOT / "specs" / "mlp.yaml")
CBAM = str(ROOT / "blocks" / "cbam.yaml")

SPACE_TO_DEPTH = """network: s2d
inputs:
  x: [B, 4, 2*Hh, 2*Wh]
dims: {B: 2, Hh: 8, Wh: 8}
nodes:
  r: {op: reshape, in: x, shape: [B, 4, Hh, 2, Wh, 2]}
  p: {op: permute, in: r, dims: [0, 1, 3, 5, 2, 4]}
  f: {op: reshape, in: p, shape: [B, 16, Hh, Wh]}
  c: {op: conv2d, in: f, out_channels: 8, kernel_size: 3, padding: 1}
outputs: {y: c}
"""


BAD = """network: bad
inputs: {x: [B, 8]}
dims: {B: 2}
nodes:
  fc: {op: linaer, in: x}
outputs: {y: fc}
"""


def _has_onnx() -> bool:
    try:
        require_onnx()
    except UsageError:
        return False
    return True


needs_onnx = pytest.mark.skipif(not _has_onnx(), reason="the [onnx] extra is not installed")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def eager(spec: str, *inputs: torch.Tensor, seed: int = 0, **kwargs: Any) -> list[torch.Tensor]:
    gm = netdsl.build(spec, seed=seed, **kwargs).eval()
    with torch.no_grad():
        out = gm(*inputs)
    return list(out) if isinstance(out, tuple | list) else [out]


def run_pt2(path: Path, *inputs: torch.Tensor) -> list[torch.Tensor]:
    out = torch.export.load(path).module()(*inputs)
    return list(out) if isinstance(out, tuple | list) else [out]


def run_onnx(path: Path, feeds: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [torch.from_numpy(o) for o in session.run(None, {k: v.numpy() for k, v in feeds.items()})]


def onnx_axes(path: Path) -> dict[str, list[str | int]]:
    import onnx

    model = onnx.load(str(path))
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.input, *model.graph.output]
    }


def close(got: list[torch.Tensor], want: list[torch.Tensor], tol: float = 1e-4) -> bool:
    got, want = [g.detach() for g in got], [w.detach() for w in want]
    return len(got) == len(want) and all(
        g.shape == w.shape and float((g - w).abs().max()) <= tol * max(1.0, float(w.abs().max()))
        for g, w in zip(got, want, strict=True)
    )


def no_temporaries(folder: Path) -> bool:
    return not [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- .pt2


def test_tiny_cnn_pt2_runs_at_other_batch_and_image_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tiny.pt2"
    code, stdout, err = run(["export", TINY_CNN, "-o", str(out), "-q"], capsys)
    assert code == 0, err
    assert "dynamic: B >= 1; H >= 1; W >= 1" in stdout
    assert "verified with torch.export.load: 4 runs at B=2,1, H=32,36, W=32,36" in stdout
    for shape in [(1, 3, 32, 32), (3, 3, 40, 24), (5, 3, 17, 65)]:
        x = torch.randn(*shape)
        assert close(run_pt2(out, x), eager(TINY_CNN, x))
    assert no_temporaries(tmp_path)


def test_dynamic_batch_only_refuses_another_image_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tiny.pt2"
    code, stdout, err = run(["export", TINY_CNN, "-o", str(out), "--dynamic", "B", "-q"], capsys)
    assert code == 0, err
    assert "dynamic: B >= 1" in stdout and "static: H = 32; W = 32" in stdout
    x = torch.randn(4, 3, 32, 32)
    assert close(run_pt2(out, x), eager(TINY_CNN, x))
    with pytest.raises((AssertionError, RuntimeError), match="32"):
        run_pt2(out, torch.randn(4, 3, 40, 32))


def test_static_export_refuses_another_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.pt2"
    code, stdout, err = run(["export", TINY_CNN, "-o", str(out), "--dynamic", "none", "--dim", "B=3"], capsys)
    assert code == 0, err
    assert "dynamic: none" in stdout and "1 run at B=3, H=32, W=32" in stdout
    x = torch.randn(3, 3, 32, 32)
    assert close(run_pt2(out, x), eager(TINY_CNN, x))
    with pytest.raises((AssertionError, RuntimeError)):
        run_pt2(out, torch.randn(2, 3, 32, 32))


def test_block_with_set_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cbam.pt2"
    argv = ["export", CBAM, "--set", "gate_channels=16", "--set", "reduction_ratio=4", "-o", str(out), "-q"]
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    assert "dynamic: B >= 1; H >= 1; W >= 1" in stdout
    x = torch.randn(3, 16, 9, 4)
    assert close(run_pt2(out, x), eager(CBAM, x, overrides={"gate_channels": 16, "reduction_ratio": 4}))


def test_build_out_pt2_is_dynamic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`build --out x.pt2` was specialised to the example (a batch of 2 failed with `Guard failed:
    image.size()[0] == 1`): it now exports with dynamic sizes, verified, as `netdsl export` does."""
    out = tmp_path / "tiny.pt2"
    code, stdout, err = run(["build", TINY_CNN, "--dim", "B=1", "--out", str(out), "-q"], capsys)
    assert code == 0, err
    assert err == ""
    assert "dynamic: B >= 1; H >= 1; W >= 1" in stdout and f"wrote {out}" in stdout
    for shape in [(2, 3, 32, 32), (1, 3, 48, 40)]:
        x = torch.randn(*shape)
        assert close(run_pt2(out, x), eager(TINY_CNN, x))


def test_derived_dims_stay_multiples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An input dim written 2*Hh is a derived dim of Hh: every size the program takes is even."""
    spec = tmp_path / "s2d.yaml"
    spec.write_text(SPACE_TO_DEPTH)
    out = tmp_path / "s2d.pt2"
    code, stdout, err = run(["export", str(spec), "-o", str(out), "-q"], capsys)
    assert code == 0, err
    assert "dynamic: B >= 1; Hh >= 2; Wh >= 2" in stdout  # torch.export's own lower bound, read back
    x = torch.randn(3, 4, 10, 22)
    assert close(run_pt2(out, x), eager(str(spec), x))
    with pytest.raises((AssertionError, RuntimeError)):
        run_pt2(out, torch.randn(3, 4, 11, 22))


def test_weights_are_loaded_before_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trained = netdsl.build(MLP, seed=7)
    ckpt = tmp_path / "mlp.pth"
    torch.save(trained.state_dict(), ckpt)
    out = tmp_path / "mlp.pt2"
    code, _, err = run(["export", MLP, "-o", str(out), "--weights", str(ckpt), "-q"], capsys)
    assert code == 0, err
    x = torch.randn(5, 784)
    assert close(run_pt2(out, x), eager(MLP, x, seed=7))
    assert not close(run_pt2(out, x), eager(MLP, x, seed=0))
    bad = tmp_path / "bad.pth"
    torch.save({"fc1.weight": torch.zeros(3, 3)}, bad)
    code, _, err = run(["export", MLP, "-o", str(tmp_path / "never.pt2"), "--weights", str(bad)], capsys)
    assert code == 1 and "Traceback" not in err and "fc1.weight" in err
    assert not (tmp_path / "never.pt2").exists()


# ---------------------------------------------------------------- .onnx


@needs_onnx
def test_tiny_attention_onnx_has_named_dynamic_axes(tmp_path: Path) -> None:
    out = tmp_path / "attn.onnx"
    report = netdsl.export(TINY_ATTENTION, out, quiet=True)
    assert report.format == "onnx" and report.opset == 18 and report.dynamic == ["B", "H", "W"]
    # H//8 (the patch grid) must stay >= 2: torch.export specialises sizes 1
    assert [report.range_text(d) for d in report.dims] == ["B >= 1", "H >= 16", "W >= 16"]
    assert any("H//8 must stay >= 2" in n for d in report.dims for n in d.notes)
    assert len(report.checks) == 4 and all(c.max_difference <= c.tolerance for c in report.checks)
    axes = onnx_axes(out)
    assert axes["image"] == ["B", 3, "H", "W"] and axes["logits"] == ["B", 10]
    assert axes["features"] == ["B", "(H//8)", "(W//8)", 64]
    x = torch.randn(3, 3, 24, 40)
    assert close(run_onnx(out, {"image": x}), eager(TINY_ATTENTION, x))


@needs_onnx
def test_onnx_axes_named_after_derived_dims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s2d.yaml"
    spec.write_text(SPACE_TO_DEPTH)
    out = tmp_path / "s2d.onnx"
    code, _, err = run(["export", str(spec), "-o", str(out), "--opset", "18", "-q"], capsys)
    assert code == 0, err
    axes = onnx_axes(out)
    assert axes["x"] == ["B", 4, "2*Hh", "2*Wh"] and axes["y"] == ["B", 8, "Hh", "Wh"]
    x = torch.randn(1, 4, 6, 14)
    assert close(run_onnx(out, {"x": x}), eager(str(spec), x))


def test_missing_onnx_extra_says_which_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    out = tmp_path / "m.onnx"
    code, _, err = run(["export", TINY_CNN, "-o", str(out)], capsys)
    assert code == 2
    assert "onnxruntime" in err and "pip install 'netdsl[onnx]'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match=r"\[onnx\] extra"):
        netdsl.export(TINY_CNN, out)


# ---------------------------------------------------------------- writing, verifying, exit codes


@pytest.mark.parametrize("suffix", [".pt2", pytest.param(".onnx", marks=needs_onnx)])
def test_failed_verification_leaves_no_file(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mismatch with eager is an error (exit 1); nothing is written, an older file stays."""
    monkeypatch.setattr(export_verify, "difference", lambda got, want, base: (0.5, 1e-4))
    out = tmp_path / f"mlp{suffix}"
    code, _, err = run(["export", MLP, "-o", str(out), "-q"], capsys)
    assert code == 1 and "differs from the eager module" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"older")
    code, _, _ = run(["export", MLP, "-o", str(out), "-q"], capsys)
    assert code == 1 and out.read_bytes() == b"older"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_exported_program_failing_at_a_check_size_is_an_error(tmp_path: Path) -> None:
    """A verification size outside what the program takes is reported, not a traceback."""
    with pytest.raises(BuildError, match="does not run at B=2, H=8, W=48"):
        netdsl.export(TINY_ATTENTION, tmp_path / "t.pt2", check_sizes=[{"H": 8}], quiet=True)
    with pytest.raises(UsageError, match="H is not a dynamic dim"):
        netdsl.export(TINY_CNN, tmp_path / "t.pt2", dynamic="B", check_sizes=[{"H": 40}], quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_an_export_failure_inside_the_module_names_the_spec_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.export failing inside one of the network's modules: the error names the spec node and
    its line (torch.export runs a GraphModule with an fx.Interpreter, node by node); nothing is
    written. A failure outside netdsl's code names none."""
    monkeypatch.delenv("NETDSL_DEBUG", raising=False)
    graph, shapes = Pipeline(TINY_CNN).checked()
    example = concrete_inputs(graph, graph.example_sizes())
    gm = netdsl.build(TINY_CNN, seed=0)

    def boom(module: torch.nn.Module, args: Any) -> None:
        raise RuntimeError("boom")

    gm.get_submodule("stage.1.conv1").register_forward_pre_hook(boom)
    with pytest.raises(BuildError, match=r"torch\.export failed: RuntimeError: boom") as info:
        export_module(gm, graph, shapes, example, tmp_path / "t.pt2", quiet=True)
    message = info.value.message
    assert "(raised by spec node 'stage.1.conv1' (conv2d) at " in message
    assert "tiny_cnn.yaml:27:" in message and "in block instance stage.1 of res_unit" in message
    assert list(tmp_path.iterdir()) == []
    assert "raised by" not in export_failed(ValueError("plain")).message


def _noisy_export(monkeypatch: pytest.MonkeyPatch) -> None:
    real = torch.export.export

    def noisy(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("torch noise from export", UserWarning, stacklevel=1)
        logging.getLogger("torch.export").warning("torch log noise")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.export, "export", noisy)


def test_quiet_silences_torch_warnings_and_logs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _noisy_export(monkeypatch)
    caplog.set_level(logging.DEBUG, logger="netdsl")
    quiet = [
        ["export", MLP, "-o", str(tmp_path / "a.pt2"), "-q"],
        ["build", MLP, "--out", str(tmp_path / "b.pt2"), "-q"],
    ]
    for argv in quiet:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            code, out, err = run(argv, capsys)
        assert code == 0, err
        assert err == "" and "wrote" in out and not seen
        assert "torch log noise" not in caplog.text
    with pytest.warns(UserWarning, match="torch noise from export"):
        code, _, err = run(["export", MLP, "-o", str(tmp_path / "c.pt2")], capsys)
    assert code == 0 and "torch log noise" in caplog.text


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    cases: list[tuple[list[str], int, str]] = [
        (["export", TINY_CNN, "-o", str(tmp_path / "m.txt")], 2, ".pt2"),
        (["export", TINY_CNN, "-o", str(tmp_path / "no" / "m.pt2")], 2, "does not exist"),
        (["export", TINY_CNN, "-o", str(tmp_path)], 2, "is a folder"),
        (["export", TINY_CNN, "-o", str(tmp_path / "m.pt2"), "--dynamic", "B,X"], 2, "no dim 'X'"),
        (["export", TINY_CNN, "-o", str(tmp_path / "m.pt2"), "--dynamic", "B,,H"], 2, "empty dim name"),
        (["export", TINY_CNN, "-o", str(tmp_path / "m.pt2"), "--tolerance", "2"], 2, "--tolerance"),
        (["export", TINY_CNN, "-o", str(tmp_path / "m.onnx"), "--opset", "x"], 2, "--opset"),
        (["export", TINY_CNN, "-o", str(tmp_path / "m.pt2"), "--seed", "x"], 2, "--seed"),
        (["export", TINY_CNN], 2, "-o"),
        (["export", str(bad), "-o", str(tmp_path / "m.pt2")], 1, "unknown op 'linaer'"),
    ]
    if _has_onnx():
        cases.append((["export", TINY_CNN, "-o", str(tmp_path / "m.onnx"), "--opset", "9"], 2, "opset 9"))
    for argv, want, text in cases:
        code, _, err = run(argv, capsys)
        assert (code, text in err) == (want, True), (argv, err)
        assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_export_command_imports_no_torch() -> None:
    code = "import sys, netdsl.cli.export, netdsl; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


# ---------------------------------------------------------------- torch.export's complaints


SHUNTED_MIN = """Constraints violated (H, W)! For more information, run with TORCH_LOGS="+dynamic".
  - Not all values of H = L['image'].size()[2] in the specified range 32 <= H satisfy the generated guard \
63 <= L['image'].size()[2] and L['image'].size()[2] <= IntInfinity()
  - Not all values of W = L['image'].size()[3] in the specified range 32 <= W satisfy the generated guard \
63 <= L['image'].size()[3] and L['image'].size()[3] <= IntInfinity()
Suggested fixes:
  H = Dim('H', min=63)
  W = Dim('W', min=63)

The error above occurred when calling torch.export.export. If you would like to view some more \
information about this error, and get a list of all other errors that may occur in your export call, you \
can replace your `export()` call with `draft_export()`."""

MULTIPLE = """Constraints violated (H, W)! For more information, run with TORCH_LOGS="+dynamic".
  - Not all values of H = L['image'].size()[2] in the specified range satisfy the generated guard \
(L['image'].size()[2] // 2) != L['image'].size()[2].
Suggested fixes:
  _H = Dim('_H', max=oo)
  _W = Dim('_W', max=oo)
  H = 2*_H
  W = 2*_W

The error above occurred when calling torch.export.export."""

EQUAL = """Constraints violated (W)! For more information, run with TORCH_LOGS="+dynamic".
  - The values of W = L['image'].size()[3] and H = L['image'].size()[2] must always be equal.
Suggested fixes:
  W = H
The error above occurred when calling torch.export.export."""

STATIC = """Constraints violated (H)! For more information, run with TORCH_LOGS="+dynamic".
  - You marked H as dynamic but your code specialized it to be a constant (32). If you're using \
mark_dynamic, either remove it or use maybe_mark_dynamic.
Suggested fixes:
  H = 32
The error above occurred when calling torch.export.export."""

NO_FIX = """Constraints violated (H, W)! For more information, run with TORCH_LOGS="+dynamic".
  - Not all values of W = L['image'].size()[3] in the specified range 8 <= W satisfy the generated guard \
(L['image'].size()[3] // 8) != 1.
  - Not all values of H = L['image'].size()[2] in the specified range 8 <= H satisfy the generated guard \
(L['image'].size()[2] // 8) != 1.

The error above occurred when calling torch.export.export."""


def _plan(dynamic: list[str] | None = None) -> Any:
    run_ = Pipeline(TINY_CNN)
    graph, shapes = run_.checked()
    return plan_dims(graph, shapes, concrete_inputs(graph, graph.example_sizes()), dynamic)


NAMES = {("image", 2): "H", ("image", 3): "W"}


def test_suggested_fixes_are_read_and_applied() -> None:
    v = read_violation(SHUNTED_MIN, NAMES)
    assert v is not None and v.dims == ["H", "W"]
    assert v.guards == ["H: 63 <= H and H <= oo", "W: 63 <= W and W <= oo"]
    plan, axes = _plan()
    assert plan.apply(v) == [
        "H = Dim('H', min=63) (the range torch.export can export)",
        "W = Dim('W', min=63) (the range torch.export can export)",
    ]
    assert (plan.roots["H"].low, plan.roots["H"].trace, plan.trace_values()["H"]) == (63, 63, 63)

    plan, axes = _plan()
    v = read_violation(MULTIPLE, NAMES)
    assert v is not None and v.guards == ["H: (H // 2) != H"]
    assert plan.apply(v) == [
        "H = 2*_H (a multiple as torch.export requires)",
        "W = 2*_W (a multiple as torch.export requires)",
    ]
    assert plan.trace_values() == {"B": 2, "H": 32, "W": 32} and sorted(plan.roots) == ["B", "_H", "_W"]
    shapes = plan.dynamic_shapes(plan_graph(), axes)
    assert str(shapes[0][2]) == "2*_H"

    plan, _ = _plan()
    v = read_violation(EQUAL, NAMES)
    assert v is not None and v.guards == ["The values of W and H must always be equal"]
    assert plan.apply(v) == ["W = H (the same size as torch.export requires)"]
    assert plan.dims["W"].root == "H" and "W" not in plan.roots

    plan, _ = _plan()
    v = read_violation(STATIC, NAMES)
    assert v is not None and v.guards == ["H: the network only works at H = 32"]
    assert plan.apply(v) == ["H = 32 (static: the traced program only works at this size)"]
    assert not plan.dims["H"].dynamic and "H" not in plan.roots


def plan_graph() -> Any:
    return Pipeline(TINY_CNN).checked()[0]


def test_a_dim_asked_for_that_must_be_static_is_an_error() -> None:
    plan, _ = _plan(["B", "H"])
    v = read_violation(STATIC, NAMES)
    assert v is not None
    with pytest.raises(BuildError, match="dim H cannot be dynamic") as e:
        plan.apply(v)
    assert e.value.hint is not None and "--dynamic" in e.value.hint


def test_a_refusal_without_fix_names_the_dims_and_guards() -> None:
    v = read_violation(NO_FIX, NAMES)
    assert v is not None and v.fixes == []
    plan, _ = _plan()
    assert plan.apply(v) == [] and plan.raise_floors(v) == []
    message = violation_error(v).message
    assert "cannot make H, W dynamic" in message and "H: (H // 8) != 1" in message
    assert read_violation("some other failure") is None


def test_refused_sizes_from_one_dim_are_raised_and_reported(tmp_path: Path) -> None:
    """With the >= 2 rule held back, torch.export refuses H//8 = 1 (no fix suggested): netdsl raises
    H and W to 16 and exports again, and reports it."""
    run_ = Pipeline(TINY_ATTENTION)
    graph, shapes = run_.checked()
    example = concrete_inputs(graph, graph.example_sizes())
    report = export_module(
        run_.module(0), graph, shapes, example, tmp_path / "a.pt2", quiet=True, above_one=False
    )
    assert report.adjustments == ["H >= 16 (it refused Hp = 1)", "W >= 16 (it refused Wp = 1)"]
    assert [report.range_text(d) for d in report.dims] == ["B >= 1", "H >= 16", "W >= 16"]
    assert any("torch.export: H >= 16" in line for line in report.lines())


def test_difference_is_relative_and_checks_non_finite_values() -> None:
    one = [torch.tensor([100.0, 1.0])]
    assert difference([torch.tensor([100.005, 1.0])], one, None) == pytest.approx((0.005, 0.01), rel=1e-2)
    diff, _ = difference([torch.tensor([float("nan"), 1.0])], one, None)
    assert diff == float("inf")
    nan = [torch.tensor([float("nan"), 1.0])]
    assert difference(nan, nan, None)[0] == 0.0
    assert difference([torch.tensor([1, 2])], [torch.tensor([1, 3])], None) == (1.0, 0.0)
    assert tolerance_for(torch.float16) > tolerance_for(torch.float32) == 1e-4


# ---------------------------------------------------------------- a real network


@pytest.mark.slow
@needs_onnx
def test_shunted_t_onnx_with_dynamic_batch_and_image_size(tmp_path: Path) -> None:
    """Shunted-T to ONNX with dynamic B, H, W; batch 1 and 2 at 224 and 256 against eager."""
    spec = str(ROOT / "specs" / "shunted_t.yaml")
    out = tmp_path / "shunted_t.onnx"
    sizes = [{"B": b, "H": s, "W": s} for b in (1, 2) for s in (224, 256)]
    report = netdsl.export(spec, out, dynamic="B,H,W", check_sizes=sizes, quiet=True)
    assert report.dynamic == ["B", "H", "W"]
    assert [c.sizes for c in report.checks] == sizes
    assert all(c.max_difference <= c.tolerance for c in report.checks)
    assert onnx_axes(out)["image"] == ["B", 3, "H", "W"]
    x = torch.randn(2, 3, 256, 224)
    assert close(run_onnx(out, {"image": x}), eager(spec, x))

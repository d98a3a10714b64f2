"""torch.compile of built modules (slow: marked `compile`; deselect with -m 'not compile')."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.cli import main

pytestmark = pytest.mark.compile


def test_compiled_module_matches_eager(in_root: Path) -> None:
    gm = netdsl.build("specs/tiny_attention.yaml", seed=0).eval()
    compiled = netdsl.compile(gm)
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        eager = gm(x)
        fast = compiled(x)
    for a, b in zip(eager, fast, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_cli_build_compile(capsys: pytest.CaptureFixture[str], in_root: Path) -> None:
    assert main(["build", "specs/tiny_cnn.yaml", "--compile"]) == 0
    out = capsys.readouterr().out
    assert "netdsl.compile (inference, " in out and "first call (compile)" in out
    diff = float(out.split("max |compiled - eager| = ")[1].split()[0])
    assert diff < 1e-4


def _recompiles() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@pytest.mark.parametrize("freeze", [True, False])
def test_inference_compile_matches_eager_and_keeps_sizes_dynamic(freeze: bool, in_root: Path) -> None:
    """Batch and image size change without a recompile (the first call at batch 2: torch specialises
    a size of 1)."""
    torch._dynamo.reset()
    gm = netdsl.build("specs/tiny_attention.yaml", seed=0).eval()
    compiled = netdsl.compile(gm, freeze=freeze)
    assert list(compiled.state_dict()) == list(gm.state_dict())
    graphs = None
    for shape in ((2, 3, 32, 48), (5, 3, 32, 48), (2, 3, 40, 64), (3, 3, 64, 56)):
        x = torch.randn(shape)
        with torch.no_grad():
            eager = gm(x)
        fast = compiled(x)
        for a, b in zip(eager, fast, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
        graphs = _recompiles() if graphs is None else graphs
        assert _recompiles() == graphs, f"recompiled at {shape}"
    assert not fast[0].requires_grad  # no_grad


def test_training_compile_trains_as_eager(in_root: Path) -> None:
    """A few SGD steps of the compiled module and of the eager one from the same weights."""
    torch._dynamo.reset()
    eager = netdsl.build("specs/tiny_cnn.yaml", seed=0)
    twin = netdsl.build("specs/tiny_cnn.yaml", seed=0)
    compiled = netdsl.compile(twin, purpose="training")
    assert compiled.training and list(compiled.state_dict()) == list(eager.state_dict())
    opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (eager, compiled)]
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x, target = torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 10, (4,), generator=g)
        losses = []
        for model, opt in zip((eager, compiled), opts, strict=True):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-5)
    for (name, a), b in zip(eager.state_dict().items(), compiled.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_cli_build_compile_for_training_leaves_the_weights_as_built(
    capsys: pytest.CaptureFixture[str], in_root: Path, tmp_path: Path
) -> None:
    """--purpose training: compiled and compared in training mode (tiny_cnn draws no random numbers);
    the batch-norm statistics the training-mode passes moved are put back before --out is written."""
    out = tmp_path / "tiny_cnn.pt"
    args = ["build", "specs/tiny_cnn.yaml", "--compile", "--purpose", "training", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "netdsl.compile (training, " in text
    diff = float(text.split("max |compiled - eager| = ")[1].split()[0])
    assert diff < 1e-4
    saved = torch.load(out, weights_only=True)
    built = netdsl.build("specs/tiny_cnn.yaml", seed=0).state_dict()
    assert list(saved) == list(built)
    for key, value in built.items():
        torch.testing.assert_close(saved[key], value, msg=key)

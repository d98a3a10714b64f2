"""Shared fixtures: the repo's spec files, parametrized so a new spec is tested the day it lands."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BLOCKS = sorted((ROOT / "blocks").glob("*.yaml"))
FIXTURE_BLOCKS = ROOT / "tests" / "fixtures" / "blocks"
ALL_SPECS = SPECS + BLOCKS + sorted(FIXTURE_BLOCKS.glob("*.yaml"))


#: The quick tier (`pytest -m "not slow"`, the inner loop) leaves out: the larger Shunted variants
#: S and B (T stays, as specs/shunted_t.yaml: the family file's own tests at its default variant,
#: the same network, run in CI), the near-cap hostile cases, the hypothesis generators of the hostile
#: suite and of the command-line values, and torch.compile tests. CI runs everything.
SLOW_IDS = (
    "shunted_b.yaml",
    "shunted_s.yaml",
    "shunted.yaml-b",
    "shunted.yaml-s",
    "specs/shunted.yaml]",
    # ResNet: the quick tier builds resnet18.yaml and resnet50.yaml (the family's default variant);
    # the family file's own variants (up to ResNet-152 at 224) and the 3-build seed test of
    # ResNet-50 are CI-only (tests/zoo checks every variant's layout on the meta device, quickly)
    "specs/resnet.yaml-",
    "test_build_is_reproducible_with_seed[specs/resnet.yaml]",
    "test_build_is_reproducible_with_seed[specs/resnet50.yaml]",
    "specs/efficientnet.yaml",  # EfficientNet: the family file's B0-B7 (B0 runs as efficientnet_b0.yaml)
    "[efficientnet-efficientnet_b",  # EfficientNet: the zoo rows of the larger variants (all in CI)
    "test_build_is_reproducible_with_seed[specs/efficientnet_b0.yaml]",
    "specs/mobilenet_v3.yaml",  # MobileNetV3: the family file (large runs as mobilenet_v3_large.yaml)
    "specs/vit.yaml",  # ViT: the family file (B/16 runs as vit_b_16.yaml)
    "test_build_is_reproducible_with_seed[specs/vit_b_16.yaml]",  # ViT-B/16: 3 builds of 86M parameters
    "specs/convnext.yaml",  # ConvNeXt: the family file (tiny runs as convnext_tiny.yaml)
    "test_build_is_reproducible_with_seed[specs/convnext_tiny.yaml]",  # ConvNeXt-T: 3 builds
    "specs/swin.yaml",  # Swin: the family file (T runs as swin_t.yaml)
    "test_build_is_reproducible_with_seed[specs/swin_t.yaml]",  # Swin-T: 3 builds
    # the zoo: every family variant against its torchvision builder on the meta device, and the rows
    # over a family file's variant (resnet152, mobilenet_v3_small, ...), are CI-only; the thin files'
    # layouts, hyper-parameters and num_classes stay in the quick tier
    "test_family_variant_is_torchvisions_builder[",
    # the rewrites of netdsl.compile: for inference over every spec in the quick tier, for training
    # (the same rewrites less the removal of dropout) in CI
    "test_rewritten_module_computes_the_same[training-",
    "-resnet152]",
    "[mobilenet_v3-mobilenet_v3",
    "near_cap",
    "test_hostile_generators.py",
    "test_cli_values.py::test_generated_",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        big_variant = callspec is not None and callspec.params.get("variant") in ("s", "b")
        if item.get_closest_marker("compile") or big_variant or any(s in item.nodeid for s in SLOW_IDS):
            item.add_marker(pytest.mark.slow)


def cli_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    """``netdsl validate`` of ``text`` written to ``tmp_path``/spec.yaml: the exit code and stderr."""
    from netdsl.cli import main

    path = tmp_path / "spec.yaml"
    path.write_text(text)
    rc = main(["validate", str(path)])
    return rc, capsys.readouterr().err


def spec_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goldens hold plain text: colour stays off even where the environment forces it (some CI
    runners set FORCE_COLOR); tests of colour set it themselves."""
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)

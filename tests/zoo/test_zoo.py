"""The zoo: every spec of the table below equals torchvision's model (torchvision 0.28, the oracle).

Per model: the state_dict layout (keys in order, shapes, dtypes, buffers included); float64 logits
for the same random weights (every parameter and buffer random) at 224x224 and a non-square size;
a torchvision checkpoint file loads with strict=True (and netdsl's `build --out` file loads into
torchvision); the training hyper-parameters (norm eps / momentum, dropout and stochastic depth p);
`num_classes` overrides. Per family file: every variant has the layout and parameter count of
torchvision's builder of the variant's name (built on the meta device: nothing is allocated).

Adding a model is one row of MODELS. The float64 logits and checkpoint-file tests of a model are
slow (left out of `pytest -m "not slow"`) unless its row says quick=True.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.backend.soundness import runtime_mismatches
from netdsl.cli import main as cli_main
from netdsl.frontend.schema import NetworkFile
from netdsl.passes.shapes import infer_shapes
from netdsl.passes.sizes import concrete_inputs
from netdsl.passes.summary import param_count

from .oracle import (
    ROOT,
    TOLERANCE,
    ZooModel,
    build_pair,
    compare_logits,
    hyper_parameter_diff,
    layout,
    layout_diff,
    netdsl_model,
    random_state_dict,
    same_values,
    tv_model,
)
from .tv import import_torchvision, torchvision_reason

# ----------------------------------------------------------------------------------------------------
# The table: spec file -> torchvision builder, one row per model (see ZooModel for the options), in
# one module per family, tests/zoo/rows_<family>.py with a list ROWS, e.g.
#   ZooModel("specs/vit_b_16.yaml", "vit_b_16", family="specs/vit.yaml", sizes=((224, 224),),
#            notes="position embeddings for 224x224 only"),
#   ZooModel("specs/x.yaml", "x", kwargs={"dropout": 0.3}, overrides={"dropout": 0.3}),


def _rows() -> list[ZooModel]:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("rows_*.py"))
    return [row for name in names for row in importlib.import_module(f"{__package__}.{name}").ROWS]


MODELS = _rows()

#: family files: each variant is checked against torchvision's builder of the same name
FAMILIES = sorted({m.family for m in MODELS if m.family is not None})


def _family_variants(family: str) -> list[tuple[str, str]]:
    model = netdsl.load(ROOT / family).model
    assert isinstance(model, NetworkFile), f"{family} is not a network file"
    return [(family, v) for v in model.variants]


FAMILY_CASES = [case for family in FAMILIES for case in _family_variants(family)]


def _tier(model: ZooModel) -> list[pytest.MarkDecorator]:
    return [] if model.quick else [pytest.mark.slow]


def heavy(models: list[ZooModel]) -> list[object]:
    """The models as parameters of an expensive test: slow unless the row says quick."""
    return [pytest.param(m, id=m.id, marks=_tier(m)) for m in models]


def light(models: list[ZooModel]) -> list[object]:
    return [pytest.param(m, id=m.id) for m in models]


@pytest.fixture(autouse=True)
def _needs_torchvision() -> None:
    reason = torchvision_reason()
    if reason is not None:
        pytest.skip(reason)


# ----------------------------------------------------------------------------------------------------
# a. the state_dict layout


@pytest.mark.parametrize("model", light(MODELS))
def test_state_dict_layout_is_torchvisions(model: ZooModel) -> None:
    tv, ours = build_pair(model, device="meta")
    want, got = tv.state_dict(), ours.state_dict()
    assert layout(got) == layout(want), layout_diff(want, got)
    buffers = [k for k, v in want.items() if not v.is_floating_point()]
    assert all(got[k].dtype == want[k].dtype for k in buffers)


# ----------------------------------------------------------------------------------------------------
# b. logits for random weights, float64


@pytest.mark.parametrize("model", heavy(MODELS))
def test_logits_equal_torchvisions_for_random_weights(
    model: ZooModel, record_property: pytest.RecordProperty
) -> None:
    tv, ours = build_pair(model)
    results = compare_logits(tv, ours, model.sizes)
    for (h, w), diff, spread in results:
        record_property(f"max_abs_diff_{h}x{w}", diff)
        assert spread > 1e-3, f"torchvision's logits at {h}x{w} are all near zero (std {spread}): rescale"
        assert diff <= TOLERANCE, f"{model.id} at {h}x{w}: max abs logit difference {diff:.3g}"


def test_random_weights_cover_every_entry() -> None:
    sd = {
        "conv.weight": torch.zeros(8, 4, 3, 3),
        "bn.weight": torch.zeros(8),
        "bn.bias": torch.zeros(8),
        "bn.running_mean": torch.zeros(8),
        "bn.running_var": torch.ones(8),
        "bn.num_batches_tracked": torch.tensor(0),
        "attn.relative_position_index": torch.arange(6),
    }
    a, b = random_state_dict(sd, seed=0), random_state_dict(sd, seed=0)
    assert same_values(a, b) == [] and random_state_dict(sd, seed=1)["conv.weight"].ne(a["conv.weight"]).all()
    assert [k for k in sd if torch.equal(a[k].to(sd[k].dtype), sd[k])] == ["attn.relative_position_index"]
    assert a["bn.running_var"].min() >= 0.5 and a["bn.num_batches_tracked"].dtype == torch.int64
    assert a["conv.weight"].dtype == torch.float64 and 0.1 < a["conv.weight"].std() < 0.5  # 1/sqrt(36)


# ----------------------------------------------------------------------------------------------------
# c. checkpoint files, both ways


@pytest.mark.parametrize("model", heavy(MODELS))
def test_static_shapes_are_the_runtime_shapes_at_every_size(model: ZooModel) -> None:
    """Every node's static shape, at each size of the row (224x224 and the non-square one), is the
    shape its fx node gives when the built module runs (float32, batch 2)."""
    path = ROOT / model.spec
    for h, w in model.sizes:
        res = netdsl.check(path, model.variant, input_shapes={"image": (2, 3, h, w)})
        assert res.ok and res.graph is not None, [e.render() for e in res.errors]
        concrete = infer_shapes(res.graph, concrete_inputs(res.graph, {"B": 2, "H": h, "W": w}))
        gm = netdsl.build(path, model.variant).eval()
        assert runtime_mismatches(gm, concrete, [torch.randn(2, 3, h, w)]) == [], (h, w)


@pytest.mark.parametrize("model", heavy(MODELS))
def test_torchvision_checkpoint_file_loads_strictly(model: ZooModel, tmp_path: Path) -> None:
    tv, ours = build_pair(model)
    sd = random_state_dict(tv.state_dict(), seed=2, dtype=torch.float32)
    tv.load_state_dict(sd, strict=True)
    path = tmp_path / f"{model.builder}.pth"
    torch.save(tv.state_dict(), path)
    ours.load_state_dict(torch.load(path, weights_only=True), strict=True)
    assert same_values(tv.state_dict(), ours.state_dict()) == []


@pytest.mark.parametrize("model", heavy(MODELS))
def test_cli_build_out_file_loads_into_torchvision(
    model: ZooModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`netdsl build SPEC --set num_classes=10 --out FILE`: torchvision's builder(num_classes=10)
    loads the file with strict=True (and the CLI's summary says 10 logits)."""
    out = tmp_path / f"{model.builder}.pt"
    # the CLI's forward pass: small (the logits test covers 224), but where the model takes one size
    h, w = (64, 64) if len(model.sizes) > 1 else model.sizes[0]
    size = f"image=1x3x{h}x{w}"
    args = ["build", str(model.path), "--set", f"{model.num_classes_var}=10", "--input-shape", size]
    args += ["--out", str(out), "-q"]
    args += ["--variant", model.variant] if model.variant else []
    args += [f"--set={k}={json.dumps(v)}" for k, v in model.overrides.items()]
    assert cli_main(args) == 0, capsys.readouterr().err
    assert "(1, 10)" in capsys.readouterr().out
    tv = tv_model(model.builder, **{**model.kwargs, "num_classes": 10})
    sd = torch.load(out, weights_only=True)
    tv.load_state_dict(sd, strict=True)
    assert same_values(sd, tv.state_dict()) == []


# ----------------------------------------------------------------------------------------------------
# d. training hyper-parameters


@pytest.mark.parametrize("model", light(MODELS))
def test_training_hyper_parameters_are_torchvisions(model: ZooModel) -> None:
    tv, ours = build_pair(model, device="meta")
    problems, compared = hyper_parameter_diff(tv, ours)
    assert compared > 0, "torchvision's model has no norm / dropout module: nothing was compared"
    assert problems == [], "\n".join(problems)


# ----------------------------------------------------------------------------------------------------
# e. every variant of a family file (meta device)


@pytest.mark.parametrize(
    ("family", "variant"), FAMILY_CASES, ids=[f"{Path(f).stem}/{v}" for f, v in FAMILY_CASES]
)
def test_family_variant_is_torchvisions_builder(family: str, variant: str) -> None:
    tv = tv_model(variant, device="meta")
    ours = netdsl_model(ROOT / family, variant, device="meta")
    want, got = tv.state_dict(), ours.state_dict()
    assert layout(got) == layout(want), layout_diff(want, got)
    n_params = sum(p.numel() for p in tv.parameters())
    n_buffers = sum(b.numel() for b in tv.buffers())
    assert sum(p.numel() for p in ours.parameters()) == n_params
    res = netdsl.check(ROOT / family, variant)  # the static count of `netdsl build` / summaries
    assert res.ok and res.shapes is not None, "\n".join(e.render() for e in res.errors)
    assert (param_count(res.shapes), param_count(res.shapes, kind="buffer")) == (n_params, n_buffers)


def test_every_family_variant_is_a_torchvision_builder() -> None:
    builders = set(import_torchvision().models.list_models())
    missing = [f"{f}: {v}" for f, v in FAMILY_CASES if v not in builders]
    assert missing == [], "variants of a family file are named after torchvision's builders"
    assert {m.builder for m in MODELS} <= builders


# ----------------------------------------------------------------------------------------------------
# f. overriding num_classes


@pytest.mark.parametrize("model", light(MODELS))
def test_num_classes_override_is_the_builders_argument(model: ZooModel) -> None:
    tv, ours = build_pair(model, device="meta", num_classes=10)
    want, got = tv.state_dict(), ours.state_dict()
    assert layout(got) == layout(want), layout_diff(want, got)
    x = torch.empty(1, 3, 224, 224, device="meta")
    assert tuple(ours(x).shape) == tuple(tv(x).shape) == (1, 10)


# ----------------------------------------------------------------------------------------------------
# the harness itself


def test_torchvision_import_restores_register_fake() -> None:
    original = torch.library.register_fake
    import_torchvision()
    assert torch.library.register_fake is original
    assert all(m.path.is_file() for m in MODELS)
    assert len({m.id for m in MODELS}) == len(MODELS)

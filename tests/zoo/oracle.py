"""Helpers of the zoo's oracle tests: build both models, random weights, comparisons.

Every model of the zoo is compared with torchvision's builder of the same network (the oracle):
state_dict layout, logits for the same random weights in float64, checkpoint files, training
hyper-parameters (norm eps / momentum, dropout and stochastic depth p) and every variant of the
family file. See test_zoo.py for the table of models.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import netdsl

from .tv import import_torchvision

ROOT = Path(__file__).resolve().parents[2]

#: the default input sizes of the logits check: square, and non-square (H != W, both not 224)
SIZES: tuple[tuple[int, int], ...] = ((224, 224), (192, 160))
BATCH = 2
TOLERANCE = 1e-9  # max abs logit difference in float64


@dataclass(frozen=True)
class ZooModel:
    """One row of the zoo: a spec file and the torchvision builder it must equal.

    ``family``: the family file whose every variant is checked against torchvision's builder of the
    variant's name (None: the spec has no family). ``sizes``: the (H, W) of the logits check (vit:
    only 224). ``quick``: run the float64 logits and the checkpoint-file tests in the quick tier
    (small models only; they are slow otherwise).
    ``notes``: why a model deviates from the defaults, for the reader.
    """

    spec: str  # path from the repository root, e.g. "specs/resnet18.yaml"
    builder: str  # torchvision.models builder, e.g. "resnet18"
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # torchvision builder kwargs
    overrides: Mapping[str, Any] = field(default_factory=dict)  # the spec's overrides that match them
    family: str | None = None
    variant: str | None = None  # variant of the spec file (None: the file's own / default)
    sizes: tuple[tuple[int, int], ...] = SIZES
    quick: bool = False
    num_classes_var: str = "num_classes"  # the spec variable of the classifier width
    notes: str = ""

    @property
    def id(self) -> str:
        return Path(self.spec).stem if self.variant is None else f"{Path(self.spec).stem}-{self.variant}"

    @property
    def path(self) -> Path:
        return ROOT / self.spec


# ----------------------------------------------------------------------------------------------------
# building


@contextmanager
def _device(device: str | None) -> Iterator[None]:
    if device is None:
        yield
    else:
        with torch.device(device):
            yield


def tv_model(builder: str, device: str | None = None, **kwargs: Any) -> nn.Module:
    """torchvision's model (random init, eval mode); ``device="meta"`` allocates nothing."""
    tv = import_torchvision()
    with _device(device):
        model: nn.Module = tv.models.get_model_builder(builder)(weights=None, **kwargs)
    return model.eval()


def netdsl_model(
    spec: Path | str,
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> torch.fx.GraphModule:
    """netdsl's module of a spec (seed 0, eval mode); ``device="meta"`` allocates nothing."""
    with _device(device):
        gm = netdsl.build(spec, variant, dict(overrides or {}), seed=0)
    return gm.eval()


def build_pair(
    model: ZooModel, device: str | None = None, num_classes: int | None = None
) -> tuple[nn.Module, torch.fx.GraphModule]:
    """torchvision's and netdsl's model of a zoo row (``num_classes``: the builder's argument and
    the spec's variable ``model.num_classes_var``)."""
    kwargs, overrides = dict(model.kwargs), dict(model.overrides)
    if num_classes is not None:
        kwargs["num_classes"] = overrides[model.num_classes_var] = num_classes
    tv = tv_model(model.builder, device, **kwargs)
    ours = netdsl_model(model.path, model.variant, overrides, device)
    return tv, ours


# ----------------------------------------------------------------------------------------------------
# state_dicts


def layout(sd: Mapping[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """The keys, shapes and dtypes of a state_dict, in order."""
    return [(k, tuple(v.shape), v.dtype) for k, v in sd.items()]


def layout_diff(want: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]) -> str:
    """A readable difference of two state_dict layouts ('' when equal, order included)."""
    a, b = layout(want), layout(got)
    if a == b:
        return ""
    lines = []
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        lines.append(f"missing in netdsl ({len(missing)}): {missing[:10]}")
    if extra:
        lines.append(f"not in torchvision ({len(extra)}): {extra[:10]}")
    for k in want:
        if k in got and (want[k].shape, want[k].dtype) != (got[k].shape, got[k].dtype):
            lines.append(
                f"{k}: torchvision {tuple(want[k].shape)} {want[k].dtype}, "
                f"netdsl {tuple(got[k].shape)} {got[k].dtype}"
            )
    if not lines:
        first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        lines.append(
            f"same entries, other order: from #{first}, torchvision {a[first][0]}, netdsl {b[first][0]}"
        )
    return "\n".join(lines)


def is_index(key: str) -> bool:
    """Index buffers (e.g. swin's relative_position_index) keep their values: they are not weights."""
    return "index" in key


def random_state_dict(
    sd: Mapping[str, torch.Tensor], seed: int = 0, dtype: torch.dtype = torch.float64
) -> dict[str, torch.Tensor]:
    """Random values for every parameter and buffer of ``sd`` (floating ones in ``dtype``), seeded.

    Scaled so that activations stay of order 1 through deep networks and every entry matters:
    weights of 2+ dims ~ normal(0, 1/sqrt(fan_in)) (fan_in = numel / shape[0]); 1-d ``weight``
    (norm scales) ~ uniform(0.5, 1.5); ``running_var`` ~ uniform(0.5, 1.5) (positive);
    ``running_mean`` and biases ~ normal(0, 0.1); integer buffers (``num_batches_tracked``) random
    ints in [0, 1000); ``*index*`` and bool buffers unchanged.
    """
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        name = key.rsplit(".", 1)[-1]
        shape = tuple(value.shape)
        if is_index(key) or value.dtype == torch.bool:
            out[key] = value.detach().clone()
        elif not value.is_floating_point():
            out[key] = torch.randint(0, 1000, shape, generator=g, dtype=value.dtype)
        elif name == "running_var":
            out[key] = torch.rand(shape, generator=g, dtype=dtype) + 0.5
        elif value.dim() >= 2:
            fan_in = max(1, value.numel() // max(1, shape[0]))
            out[key] = torch.randn(shape, generator=g, dtype=dtype) / math.sqrt(fan_in)
        elif name == "weight":
            out[key] = torch.rand(shape, generator=g, dtype=dtype) + 0.5
        else:  # biases, running_mean, 0-d and other 1-d tensors
            out[key] = torch.randn(shape, generator=g, dtype=dtype) * 0.1
    return out


def same_values(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> list[str]:
    """The keys whose tensors differ (keys of ``a``; dtypes may differ, values must be equal)."""
    return [k for k in a if k not in b or not torch.equal(a[k].to(b[k].dtype), b[k])]


# ----------------------------------------------------------------------------------------------------
# logits


def random_image(h: int, w: int, batch: int = BATCH, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, h, w, generator=g, dtype=torch.float64)


@torch.no_grad()
def compare_logits(
    tv: nn.Module, ours: nn.Module, sizes: tuple[tuple[int, int], ...], seed: int = 0
) -> list[tuple[tuple[int, int], float, float]]:
    """Load the same random float64 weights into both (strict) and run both on the same images:
    per size, (size, max abs logit difference, std of torchvision's logits)."""
    tv.double().eval()
    ours.double().eval()
    sd = random_state_dict(tv.state_dict(), seed)
    tv.load_state_dict(sd, strict=True)
    ours.load_state_dict(sd, strict=True)
    results = []
    for h, w in sizes:
        x = random_image(h, w)
        want = tv(x)
        got = ours(x)
        assert got.shape == want.shape, (got.shape, want.shape)
        assert torch.isfinite(want).all(), (
            f"torchvision's logits at {h}x{w} are not finite: rescale the weights"
        )
        diff = (got - want).abs().max().item()
        results.append(((h, w), diff, want.std().item()))
    return results


# ----------------------------------------------------------------------------------------------------
# training hyper-parameters

#: attributes that must be equal on the module of the same path, per torchvision module type
#: (by class name, so that torchvision.ops.StochasticDepth needs no import here)
HYPER_PARAMETERS: dict[str, tuple[str, ...]] = {
    "BatchNorm1d": ("eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm3d": ("eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("eps", "normalized_shape", "elementwise_affine"),
    "GroupNorm": ("eps", "num_groups", "affine"),
    "LocalResponseNorm": ("size", "alpha", "beta", "k"),
    "Dropout": ("p",),
    "Dropout1d": ("p",),
    "Dropout2d": ("p",),
    "AlphaDropout": ("p",),
    "StochasticDepth": ("p", "mode"),
}


#: modules whose hyper-parameters netdsl holds in a submodule under another name: class name ->
#: (netdsl's submodule below the same path, {torchvision's attribute: netdsl's attribute}); torch's
#: nn.MultiheadAttention is written out in specs/vit.yaml, its dropout on the attention weights is the
#: fused attention's
ELSEWHERE: dict[str, tuple[str, dict[str, str]]] = {
    "MultiheadAttention": ("attend", {"dropout": "dropout_p"}),
}


def hyper_parameters(module: nn.Module) -> dict[str, dict[str, Any]]:
    """path -> {attribute: value} for every module of ``module`` that has training hyper-parameters."""
    out = {}
    for path, sub in module.named_modules():
        attrs = HYPER_PARAMETERS.get(type(sub).__name__)
        if attrs is not None:
            out[path] = {a: getattr(sub, a) for a in attrs}
        elsewhere = ELSEWHERE.get(type(sub).__name__)
        if elsewhere is not None:
            child, names = elsewhere
            out[f"{path}.{child}"] = {ours: getattr(sub, theirs) for theirs, ours in names.items()}
    return out


def hyper_parameter_diff(tv: nn.Module, ours: nn.Module) -> tuple[list[str], int]:
    """Problems (one line each) and how many torchvision modules were compared."""
    want = hyper_parameters(tv)
    problems = []
    for path, attrs in want.items():
        try:
            sub = ours.get_submodule(path)
        except AttributeError:
            problems.append(f"{path}: no module at this path in netdsl (torchvision: {attrs})")
            continue
        got = {a: getattr(sub, a, "<missing>") for a in attrs}
        if got != attrs:
            problems.append(f"{path} ({type(sub).__name__}): torchvision {attrs}, netdsl {got}")
    return problems, len(want)

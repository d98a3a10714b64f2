"""The zoo against torchvision: parameters, static GMACs, lines of YAML against lines of torchvision
code, and eager forward time side by side (docs/zoo.md).

    python benchmarks/zoo.py                       # every model, markdown table
    python benchmarks/zoo.py --models resnet50 swin_t --rounds 15 --threads 2

Each model and its torchvision twin get the same random weights; their forwards run interleaved
(float32, eval, no_grad, 2 threads by default), after warm-up: each round times both back to back,
over enough calls to last about 0.2 s each, and the table gives the median time per call and the
median of the per-round ratios (netdsl / torchvision: below 1 is faster). torchvision's wheel on PyPI
is a CUDA build whose C ops cannot load next to the CPU torch: it is imported with
torch.library.register_fake made a no-op for the duration of the import (the models are plain
PyTorch).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import netdsl  # noqa: E402
from netdsl.core.symbolic import DEFINITIONS, expanded  # noqa: E402
from netdsl.passes.summary import mac_count, param_count  # noqa: E402
from tests.zoo.tv import import_torchvision  # noqa: E402

#: model -> (spec file, torchvision module, the classes and functions of that module it uses)
MODELS: dict[str, tuple[str, str, list[str]]] = {
    "resnet18": ("specs/resnet18.yaml", "resnet", ["conv3x3", "conv1x1", "BasicBlock", "ResNet", "_resnet"]),
    "resnet50": ("specs/resnet50.yaml", "resnet", ["conv3x3", "conv1x1", "Bottleneck", "ResNet", "_resnet"]),
    "mobilenet_v2": ("specs/mobilenet_v2.yaml", "mobilenetv2", ["InvertedResidual", "MobileNetV2"]),
    "mobilenet_v3_large": (
        "specs/mobilenet_v3_large.yaml",
        "mobilenetv3",
        ["InvertedResidualConfig", "InvertedResidual", "MobileNetV3", "_mobilenet_v3_conf", "_mobilenet_v3"],
    ),
    "efficientnet_b0": (
        "specs/efficientnet_b0.yaml",
        "efficientnet",
        ["_MBConvConfig", "MBConvConfig", "MBConv", "EfficientNet", "_efficientnet", "_efficientnet_conf"],
    ),
    "vit_b_16": (
        "specs/vit_b_16.yaml",
        "vision_transformer",
        ["MLPBlock", "EncoderBlock", "Encoder", "VisionTransformer", "_vision_transformer"],
    ),
    "convnext_tiny": (
        "specs/convnext_tiny.yaml",
        "convnext",
        ["LayerNorm2d", "CNBlock", "CNBlockConfig", "ConvNeXt", "_convnext"],
    ),
    "swin_t": (
        "specs/swin_t.yaml",
        "swin_transformer",
        [
            "_patch_merging_pad",
            "_get_relative_position_bias",
            "PatchMerging",
            "shifted_window_attention",
            "ShiftedWindowAttention",
            "SwinTransformerBlock",
            "SwinTransformer",
            "_swin_transformer",
        ],
    ),
}
#: torchvision.ops helpers the models build on (counted for the models that use them)
SHARED = {
    "mobilenet_v2": ["_make_divisible", "Conv2dNormActivation", "ConvNormActivation"],
    "mobilenet_v3_large": [
        "_make_divisible",
        "Conv2dNormActivation",
        "ConvNormActivation",
        "SqueezeExcitation",
    ],
    "efficientnet_b0": [
        "_make_divisible",
        "Conv2dNormActivation",
        "ConvNormActivation",
        "SqueezeExcitation",
        "stochastic_depth",
        "StochasticDepth",
    ],
    "vit_b_16": ["Conv2dNormActivation", "ConvNormActivation", "MLP"],
    "convnext_tiny": [
        "Conv2dNormActivation",
        "ConvNormActivation",
        "Permute",
        "stochastic_depth",
        "StochasticDepth",
    ],
    "swin_t": ["MLP", "Permute", "stochastic_depth", "StochasticDepth"],
}


def code_lines(obj: Any) -> int:
    """Non-blank, non-comment lines of a class or function, docstrings left out."""
    source = inspect.getsource(obj)
    tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith(" ") else source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines = source.splitlines()
    kept = [line.strip() for i, line in enumerate(lines, 1) if i not in skip]
    return sum(1 for line in kept if line and not line.startswith("#"))


def yaml_lines(path: Path) -> int:
    """Non-blank, non-comment lines of a spec and of the files it extends."""
    total = 0
    text = path.read_text()
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            total += 1
    for line in text.splitlines():
        if line.startswith("extends:"):
            total += yaml_lines(path.parent / line.split(":", 1)[1].strip())
    return total


def timed(fn: Any, x: torch.Tensor, calls: int) -> float:
    """Seconds per call, over ``calls`` calls in a row."""
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - start) / calls


def speed(
    ours: torch.nn.Module, theirs: torch.nn.Module, batch: int, rounds: int
) -> tuple[float, float, float]:
    """Median seconds per call of each model and the median of the per-round ratios ours / theirs:
    each round times both models back to back (alternating which goes first) over enough calls to
    last about 0.2 s, so that a slow spell of the machine hits both sides of a ratio alike."""
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        for _ in range(2):
            ours(x), theirs(x)
        calls = max(1, round(0.2 / timed(theirs, x, 1)))
        a, b = [], []
        for i in range(rounds):
            if i % 2:
                a.append(timed(ours, x, calls))
                b.append(timed(theirs, x, calls))
            else:
                b.append(timed(theirs, x, calls))
                a.append(timed(ours, x, calls))
    ratios = [p / q for p, q in zip(a, b, strict=True)]
    return statistics.median(a), statistics.median(b), statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 8])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tv = import_torchvision()
    print(f"torch {torch.__version__}, torchvision {tv.__version__}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds of ~0.2 s per model: median time per call, median of the "
          "per-round ratios netdsl / torchvision")  # fmt: skip
    head = "| model | params | GMACs (224) | YAML lines | torchvision lines |"
    head += "".join(f" eager b{b}: netdsl / torchvision |" for b in args.batches)
    print(head)
    print("|" + "---|" * (5 + len(args.batches)))
    for name in args.models:
        spec, module, names = MODELS[name]
        if not (ROOT / spec).is_file():
            print(f"| {name} | (no spec yet) |")
            continue
        mod = getattr(tv.models, module)
        ops = tv.ops.misc, tv.ops.stochastic_depth, tv.models._utils
        shared = [getattr(m, n) for n in SHARED.get(name, []) for m in ops if hasattr(m, n)]
        tv_lines = sum(code_lines(getattr(mod, n)) for n in names) + sum(code_lines(o) for o in shared)
        res = netdsl.check(ROOT / spec, concrete=True)
        assert res.shapes is not None, [e.render() for e in res.errors]
        token = DEFINITIONS.set(res.shapes.aliases)  # (the names of `expect:` as what they stand for)
        try:
            macs = expanded(mac_count(res.shapes)).subs({"B": 1, "H": 224, "W": 224})
        finally:
            DEFINITIONS.reset(token)
        gmacs = f"{macs.value / 1e9:.2f}" if macs.is_const else str(macs)
        ours = netdsl.build(ROOT / spec).eval()
        theirs = getattr(tv.models, name)().eval()
        theirs.load_state_dict(ours.state_dict(), strict=True)
        params = param_count(res.shapes) / 1e6
        row = f"| {name} | {params:.2f}M | {gmacs} | {yaml_lines(ROOT / spec)} | {tv_lines} |"
        for b in args.batches:
            a, t, ratio = speed(ours, theirs, b, args.rounds)
            row += f" {a * 1e3:.1f} / {t * 1e3:.1f} ms: {ratio:.3f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()

"""The reference rule of tests/data (see tests/data/README.md): weights and inputs from SHA-256 seeds.

Used by the block tests (tests/blocks/) and the Shunted Transformer tests to check netdsl against
outputs computed by implementations that match the official code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

import netdsl

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
BLOCKS = ROOT / "blocks"


def seed(s: str) -> int:
    """First 8 bytes of SHA-256 of the UTF-8 string, little-endian."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "little")


def reference_weight(key: str, shape: Sequence[int]) -> torch.Tensor:
    """The weight the reference rule gives state_dict key ``key``."""
    gen = torch.Generator().manual_seed(seed("shared/" + key) & (2**63 - 1))
    size = tuple(shape)
    if key.endswith("num_batches_tracked"):
        return torch.zeros(size, dtype=torch.int64)
    if key.endswith("running_var"):
        return 0.5 + torch.rand(size, generator=gen, dtype=torch.float64)
    z = torch.randn(size, generator=gen, dtype=torch.float64)
    if key.endswith("running_mean"):
        return 0.1 * z
    if key.endswith("weight") and len(size) == 1:
        return 1 + 0.1 * z
    if key.endswith("bias"):
        return 0.02 * z
    if len(size) == 4:
        fan_in = size[1] * size[2] * size[3]
        return max(0.02, fan_in**-0.5) * z
    return 0.02 * z


def reference_state_dict(layout: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    return {k: reference_weight(k, shape) for k, shape in layout.items()}


def parse_shape(text: str) -> tuple[int, ...]:
    """`1000x512` -> (1000, 512); `scalar` -> ()."""
    return () if text == "scalar" else tuple(int(p) for p in text.split("x"))


def load_case(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def block_cases(block: str) -> list[Path]:
    """The reference cases of a block (tests/data/blocks/NN_<block>.json)."""
    return sorted(p for p in (DATA / "blocks").glob("*.json") if load_case(p)["block"] == block)


def case_id(path: Path) -> str:
    return path.stem


def run_case(path: Path) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.fx.GraphModule]:
    """Build the case's block from blocks/, load the reference weights strictly, run it in float64.

    Tensor inputs are passed by name; integer inputs (such as H, W) are block parameters.
    Returns (outputs, expected outputs, module).
    """
    case = load_case(path)
    tensors = {k: v for k, v in case["inputs"].items() if isinstance(v, dict)}
    ints = {k: v for k, v in case["inputs"].items() if not isinstance(v, dict)}
    shapes = {k: tuple(v["shape"]) for k, v in tensors.items()}
    gm = netdsl.build(
        BLOCKS / f"{case['block']}.yaml", overrides={**case["params"], **ints}, input_shapes=shapes
    )
    gm = gm.double().eval()
    layout = {k: tuple(v) for k, v in case["state_dict"].items()}
    ours = {k: tuple(v.shape) for k, v in gm.state_dict().items()}
    assert ours == layout, f"state_dict layout differs:\nours {ours}\nreference {layout}"
    gm.load_state_dict(reference_state_dict(layout), strict=True)
    inputs = {
        k: torch.tensor(v["values"], dtype=torch.float64).reshape(v["shape"]) for k, v in tensors.items()
    }
    with torch.no_grad():
        out = gm(**inputs)
    got = list(out) if isinstance(out, tuple) else [out]
    want = [
        torch.tensor(o["values"] if isinstance(o, dict) else o, dtype=torch.float64) for o in case["outputs"]
    ]
    want = [
        w.reshape(o["shape"]) if isinstance(o, dict) else w
        for w, o in zip(want, case["outputs"], strict=True)
    ]
    return got, want, gm


def max_diff(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor]) -> float:
    assert len(got) == len(want), f"{len(got)} outputs, the reference has {len(want)}"
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        assert tuple(g.shape) == tuple(w.shape), f"shape {tuple(g.shape)} vs reference {tuple(w.shape)}"
        worst = max(worst, float((g.double() - w).abs().max()) if g.numel() else 0.0)
    return worst


def randomise(gm: torch.nn.Module, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Random weights in place (normal * scale; running variances in [0.5, 1.5)); returns the state_dict."""
    with torch.no_grad():
        for name, t in gm.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand_like(t))
            elif t.is_floating_point():
                t.copy_(torch.randn_like(t) * scale)
    return gm.state_dict()


def error_texts(
    spec: Path, overrides: Mapping[str, object], shapes: Mapping[str, tuple[int, ...]] | None = None
) -> list[str]:
    """The errors of checking a block with these parameters (and input shapes), as 'message | hint'."""
    res = netdsl.check(spec, overrides=overrides, input_shapes=shapes)
    return [f"{e.message} | {e.hint}" for e in res.errors]

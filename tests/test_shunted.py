"""Shunted Transformer T/S/B (specs/shunted_{t,s,b}.yaml) against the official layout, reference logits
and an eager PyTorch reference written here.

The eager reference (`ShuntedReference`) is written from the paper (Ren et al., "Shunted Self-Attention
via Multi-scale Token Aggregation", CVPR 2022) and the architecture of the official code
(OliverRensu/Shunted-Transformer `SSA.py`), with the official module names so that the official
state_dict loads into it with strict=True. benchmarks/bench_shunted.py imports it from here.

Built modules are float64 with the reference weights of tests/data (tests/blockref.py); every module,
output and check result is built once per variant (module-scoped cache) to keep the file fast.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netdsl
from netdsl.passes.shapes import ShapeResult, infer_shapes
from netdsl.passes.sizes import concrete_inputs
from netdsl.passes.summary import mac_count, param_count
from tests.blockref import DATA, ROOT, parse_shape, reference_state_dict, seed

SHUNTED = DATA / "shunted"


# ----------------------------------------------------------------------------------------------------
# The configurations (official `shunted_t`, `shunted_s`, `shunted_b`)


@dataclass(frozen=True)
class Config:
    depths: tuple[int, int, int, int]
    num_conv: int  # extra 3x3 conv-BN-ReLU layers in the stem
    params: int  # official parameter count
    gflops: float  # the paper's "FLOPs" at 224x224 (multiply-accumulates, in G)
    embed_dims: tuple[int, int, int, int] = (64, 128, 256, 512)
    num_heads: tuple[int, int, int, int] = (2, 4, 8, 16)
    mlp_ratios: tuple[int, int, int, int] = (8, 8, 4, 4)
    sr_ratios: tuple[int, int, int, int] = (8, 4, 2, 1)
    num_classes: int = 1000


CONFIGS = {
    "t": Config(depths=(1, 2, 4, 1), num_conv=0, params=11_553_576, gflops=2.1),
    "s": Config(depths=(2, 4, 12, 1), num_conv=1, params=22_401_256, gflops=4.9),
    "b": Config(depths=(3, 4, 24, 2), num_conv=2, params=39_614_376, gflops=8.1),
}
VARIANTS = list(CONFIGS)

BLOCK_EPS = 1e-6  # the network's norm layer: Block.norm1/norm2 and the stage norms norm1..norm4
EMBED_EPS = 1e-5  # nn.LayerNorm's default: the stem (Head) and patch-embedding norms, the norms inside SSA


def spec_path(variant: str) -> str:
    return str(ROOT / "specs" / f"shunted_{variant}.yaml")


# ----------------------------------------------------------------------------------------------------
# The eager reference


def _depthwise3x3(channels: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=channels)


def _tokens_to_map(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, h*w, C) -> (B, C, h, w)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)


def _map_to_tokens(fmap: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h*w, C)."""
    return fmap.flatten(2).transpose(1, 2)


class ConvStem(nn.Module):
    """Stage 1's patch embedding (official `Head`): 7x7/2 conv-BN-ReLU, `num_conv` x (3x3 conv-BN-ReLU),
    2x2/2 conv with bias; then the tokens are layer-normalised (eps 1e-5)."""

    def __init__(self, num_conv: int, dim: int = 64, in_chans: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, dim, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(),
        ]
        for _ in range(num_conv):
            layers += [
                nn.Conv2d(dim, dim, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(dim),
                nn.ReLU(),
            ]
        layers.append(nn.Conv2d(dim, dim, kernel_size=2, stride=2))
        self.conv = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim, eps=EMBED_EPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        fmap = self.conv(x)
        return self.norm(_map_to_tokens(fmap)), fmap.shape[2], fmap.shape[3]


class PatchMerge(nn.Module):
    """Stages 2-4's patch embedding (official `OverlapPatchEmbed` with patch 3, stride 2): a 3x3/2 conv
    (padding 1) to the next width, then LayerNorm (eps 1e-5) over the tokens."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=2, padding=1)
        self.norm = nn.LayerNorm(out_dim, eps=EMBED_EPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        fmap = self.proj(x)
        return self.norm(_map_to_tokens(fmap)), fmap.shape[2], fmap.shape[3]


class ShuntedAttention(nn.Module):
    """Shunted self-attention (official `Attention`).

    r > 1: the heads are split in two halves. The first half attends to keys/values computed from the
    map reduced by r (conv k = s = r, LayerNorm eps 1e-5, GELU, then `kv1`), the second half to those of
    the map reduced by r/2 (`sr2`, `norm2`, `kv2`). Each half's values get a local enhancement (a
    depthwise 3x3 conv of the values laid out as their reduced map) BEFORE the attention product.
    r == 1 (stage 4): one key/value set over all tokens; the local enhancement of the values is added
    AFTER the attention product, to the heads' output.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr1 = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm1 = nn.LayerNorm(dim, eps=EMBED_EPS)
            self.sr2 = nn.Conv2d(dim, dim, kernel_size=sr_ratio // 2, stride=sr_ratio // 2)
            self.norm2 = nn.LayerNorm(dim, eps=EMBED_EPS)
            self.kv1 = nn.Linear(dim, dim)  # keys and values of half the heads
            self.kv2 = nn.Linear(dim, dim)
            self.local_conv1 = _depthwise3x3(dim // 2)
            self.local_conv2 = _depthwise3x3(dim // 2)
        else:
            self.kv = nn.Linear(dim, 2 * dim)
            self.local_conv = _depthwise3x3(dim)

    def _keys_values(self, kv: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, M, 2*heads*d) -> keys and values (B, heads, M, d); channel order (k/v, head, d)."""
        b, m, _ = kv.shape
        k, v = kv.reshape(b, m, 2, heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return k, v

    def _local(self, conv: nn.Conv2d, v: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Depthwise 3x3 of the values v (B, heads, h*w, d) seen as a (heads*d, h, w) map, back in v's
        layout."""
        b, heads, m, d = v.shape
        fmap = v.transpose(2, 3).reshape(b, heads * d, h, w)  # channel = head * d + j
        return conv(fmap).reshape(b, heads, d, m).transpose(2, 3)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T * scale) v, heads merged: (B, heads, N, d) -> (B, N, heads*d)."""
        weights = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        out = torch.matmul(weights, v)
        return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, heads, N, d)
        if self.sr_ratio == 1:
            k, v = self._keys_values(self.kv(x), self.num_heads)
            local = self._local(self.local_conv, v, h, w)  # added to the output, not to v
            out = self._attend(q, k, v) + local.transpose(1, 2).reshape(b, n, c)
        else:
            fmap = _tokens_to_map(x, h, w)
            half = self.num_heads // 2
            outs = []
            for i, q_half in ((1, q[:, :half]), (2, q[:, half:])):
                reduced = getattr(self, f"sr{i}")(fmap)  # (B, C, h', w'): floor(h / k) x floor(w / k)
                rh, rw = reduced.shape[2], reduced.shape[3]
                kv_in = F.gelu(getattr(self, f"norm{i}")(_map_to_tokens(reduced)))
                k, v = self._keys_values(getattr(self, f"kv{i}")(kv_in), half)
                v = v + self._local(getattr(self, f"local_conv{i}"), v, rh, rw)
                outs.append(self._attend(q_half, k, v))
            out = torch.cat(outs, dim=-1)
        return self.proj(out)


class TokenDWConv(nn.Module):
    """A depthwise 3x3 conv applied to tokens (B, h*w, C) through their map (official `DWConv`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = _depthwise3x3(channels)

    def forward(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return _map_to_tokens(self.dwconv(_tokens_to_map(tokens, h, w)))


class DetailFFN(nn.Module):
    """The detail-specific feed-forward (official `Mlp` + `DWConv`): fc1, GELU(h + dwconv3x3(h)), fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = TokenDWConv(hidden)  # official path: mlp.dwconv.dwconv
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        hid = self.fc1(x)
        return self.fc2(F.gelu(hid + self.dwconv(hid, h, w)))


class ShuntedBlock(nn.Module):
    """Pre-norm block (official `Block`, eval: drop path is the identity); LayerNorms eps 1e-6."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=BLOCK_EPS)
        self.attn = ShuntedAttention(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=BLOCK_EPS)
        self.mlp = DetailFFN(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class ShuntedReference(nn.Module):
    """The Shunted Transformer classifier (official `ShuntedTransformer` in eval mode)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.num_stages = 4
        dims = cfg.embed_dims
        for i in range(self.num_stages):
            embed = ConvStem(cfg.num_conv, dims[0]) if i == 0 else PatchMerge(dims[i - 1], dims[i])
            blocks = nn.ModuleList(
                ShuntedBlock(dims[i], cfg.num_heads[i], cfg.mlp_ratios[i], cfg.sr_ratios[i])
                for _ in range(cfg.depths[i])
            )
            setattr(self, f"patch_embed{i + 1}", embed)
            setattr(self, f"block{i + 1}", blocks)
            setattr(self, f"norm{i + 1}", nn.LayerNorm(dims[i], eps=BLOCK_EPS))
        self.head = nn.Linear(dims[-1], cfg.num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for i in range(1, self.num_stages + 1):
            tokens, h, w = getattr(self, f"patch_embed{i}")(x)
            for blk in getattr(self, f"block{i}"):
                tokens = blk(tokens, h, w)
            tokens = getattr(self, f"norm{i}")(tokens)
            x = _tokens_to_map(tokens, h, w)  # the next stage's input map (unused after stage 4)
        return self.head(tokens.mean(dim=1))


# ----------------------------------------------------------------------------------------------------
# Shared data and a module-scoped cache of built modules and outputs


def official_layout(variant: str) -> dict[str, tuple[int, ...]]:
    rows = (line.split("\t") for line in (SHUNTED / f"keys_{variant}.tsv").read_text().splitlines())
    return {k: parse_shape(s) for k, s in rows}


def reference_logits(variant: str) -> dict[str, Any]:
    return json.loads((SHUNTED / f"logits_{variant}.json").read_text())  # type: ignore[no-any-return]


def case_input(case: dict[str, Any]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed(case["input_seed_name"]) >> 1)
    return torch.randn(case["input_shape"], generator=gen, dtype=torch.float64)


def seeded_image(h: int, w: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed(f"test_shunted/{h}x{w}") >> 1)
    return torch.randn((1, 3, h, w), generator=gen, dtype=torch.float64)


def concrete_shapes(res: netdsl.CheckResult, shape: Sequence[int]) -> ShapeResult:
    """The ShapeResult of a checked spec for a concrete input shape (as `netdsl build` computes it)."""
    assert res.graph is not None
    sizes = res.graph.example_sizes(None)
    return infer_shapes(res.graph, concrete_inputs(res.graph, sizes, {"image": tuple(shape)}))


class Cache:
    def __init__(self) -> None:
        self.checks: dict[str, netdsl.CheckResult] = {}
        self.modules: dict[str, torch.fx.GraphModule] = {}
        self.refs: dict[str, ShuntedReference] = {}
        self.outputs: dict[tuple[str, str, tuple[int, ...], float], torch.Tensor] = {}

    def check(self, variant: str) -> netdsl.CheckResult:
        if variant not in self.checks:
            self.checks[variant] = netdsl.check(spec_path(variant))
        return self.checks[variant]

    def module(self, variant: str) -> torch.fx.GraphModule:
        """netdsl's module, float64, eval, with the reference weights loaded strictly."""
        if variant not in self.modules:
            gm = netdsl.build(spec_path(variant)).double().eval()
            gm.load_state_dict(reference_state_dict(official_layout(variant)), strict=True)
            self.modules[variant] = gm
        return self.modules[variant]

    def ref(self, variant: str) -> ShuntedReference:
        """The eager reference, float64, eval, with the reference weights loaded strictly."""
        if variant not in self.refs:
            m = ShuntedReference(CONFIGS[variant]).double().eval()
            m.load_state_dict(reference_state_dict(official_layout(variant)), strict=True)
            self.refs[variant] = m
        return self.refs[variant]

    def run(self, which: str, variant: str, x: torch.Tensor) -> torch.Tensor:
        key = (which, variant, tuple(x.shape), float(x.sum()))
        if key not in self.outputs:
            model = self.module(variant) if which == "netdsl" else self.ref(variant)
            with torch.no_grad():
                self.outputs[key] = model(x)
        return self.outputs[key]


@pytest.fixture(scope="module")
def cache() -> Cache:
    return Cache()


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"{tuple(a.shape)} vs {tuple(b.shape)}"
    return float((a.double() - b.double()).abs().max())


# ----------------------------------------------------------------------------------------------------
# Layout and parameter counts


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_layout_and_parameters(cache: Cache, variant: str) -> None:
    cfg = CONFIGS[variant]
    layout = official_layout(variant)
    gm = cache.module(variant)  # loads the reference weights with strict=True
    ours = {k: tuple(v.shape) for k, v in gm.state_dict().items()}
    assert set(ours) == set(layout), (
        f"missing {sorted(set(layout) - set(ours))[:10]}, extra {sorted(set(ours) - set(layout))[:10]}"
    )
    assert ours == layout, [k for k in ours if ours[k] != layout[k]][:10]
    assert len(layout) == {"t": 260, "s": 596, "b": 1010}[variant]

    n_params = sum(p.numel() for p in gm.parameters())
    assert n_params == cfg.params == reference_logits(variant)["params"]
    res = cache.check(variant)
    assert res.ok, [e.render() for e in res.errors]
    assert res.shapes is not None
    assert param_count(res.shapes) == cfg.params
    n_buffers = sum(b.numel() for b in gm.buffers())  # BN running stats and num_batches_tracked
    assert param_count(res.shapes, kind="buffer") == n_buffers == (1 + cfg.num_conv) * (2 * 64 + 1)

    # the eager reference has the same layout (it loads the official weights strictly as well)
    ref = cache.ref(variant)
    assert {k: tuple(v.shape) for k, v in ref.state_dict().items()} == layout
    assert list(ref.state_dict()) == list(layout)  # in the official order, too
    assert sum(p.numel() for p in ref.parameters()) == cfg.params


def test_epsilons_where_the_official_code_puts_them(cache: Cache) -> None:
    """LayerNorm eps: 1e-6 for the block and stage norms, 1e-5 in the stem, patch embeds and SSA."""
    gm = cache.module("t")
    eps = {name: m.eps for name, m in gm.named_modules() if isinstance(m, nn.LayerNorm)}
    assert eps, "no LayerNorm modules: the check below would be vacuous"
    for name, e in eps.items():
        parts = name.split(".")
        want = EMBED_EPS if parts[0].startswith("patch_embed") or "attn" in parts else BLOCK_EPS
        assert e == want, f"{name}: eps {e}, the official model has {want}"
    assert {n for n in eps if eps[n] == BLOCK_EPS} >= {"norm1", "norm4", "block1.0.norm1", "block4.0.norm2"}
    assert {n for n in eps if eps[n] == EMBED_EPS} >= {"patch_embed1.norm", "block1.0.attn.norm2"}


# ----------------------------------------------------------------------------------------------------
# Logits against the reference data (float64)


CASES = [(v, i) for v in VARIANTS for i in range(2)]


@pytest.mark.parametrize(("variant", "index"), CASES, ids=[f"{v}-{i}" for v, i in CASES])
def test_logits_match_reference_data(cache: Cache, variant: str, index: int) -> None:
    case = reference_logits(variant)["cases"][index]
    assert case["input_shape"] in ([1, 3, 224, 224], [1, 3, 160, 192])
    x = case_input(case)
    got = cache.run("netdsl", variant, x)
    want = torch.tensor(case["logits"]["values"], dtype=torch.float64).reshape(case["logits"]["shape"])
    assert got.dtype == torch.float64
    assert max_abs(got, want) <= 1e-9


# ----------------------------------------------------------------------------------------------------
# netdsl against the eager reference


@pytest.mark.parametrize(("variant", "index"), [("t", 0), ("t", 1), ("s", 0), ("s", 1)])
def test_matches_eager_reference_float64(cache: Cache, variant: str, index: int) -> None:
    case = reference_logits(variant)["cases"][index]
    x = case_input(case)
    ours = cache.run("netdsl", variant, x)
    eager = cache.run("ref", variant, x)
    assert max_abs(ours, eager) <= 1e-9
    # and the eager reference itself reproduces the reference data
    want = torch.tensor(case["logits"]["values"], dtype=torch.float64).reshape(case["logits"]["shape"])
    assert max_abs(eager, want) <= 1e-9


def test_matches_eager_reference_float32(cache: Cache) -> None:
    gm = copy.deepcopy(cache.module("t")).float()
    ref = copy.deepcopy(cache.ref("t")).float()
    x = case_input(reference_logits("t")["cases"][0]).float()
    with torch.no_grad():
        ours, eager = gm(x), ref(x)
    assert ours.dtype == eager.dtype == torch.float32
    assert float(eager.abs().max()) > 0.1  # not vacuous
    assert max_abs(ours, eager) <= 1e-4


@pytest.mark.parametrize("hw", [(161, 193), (31, 31), (33, 95)], ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_odd_sizes_match_eager_reference(cache: Cache, hw: tuple[int, int]) -> None:
    """Sizes that are not multiples of 32 (the strided convs floor): the official model accepts them."""
    x = seeded_image(*hw)
    ours = cache.run("netdsl", "t", x)
    eager = cache.run("ref", "t", x)
    assert ours.shape == (1, 1000)
    assert max_abs(ours, eager) <= 1e-9
    res = netdsl.check(spec_path("t"), input_shapes={"image": (1, 3, *hw)})
    assert res.ok, [e.render() for e in res.errors]


# ----------------------------------------------------------------------------------------------------
# Inputs too small for the spatial reductions


def test_too_small_input_is_a_static_error_with_the_minimum_size() -> None:
    res = netdsl.check(spec_path("t"), input_shapes={"image": (1, 3, 24, 24)})
    assert not res.ok and res.errors
    err = res.errors[0]
    # the first reduction that fails: stage 1's sr1 (8x8 / 8 conv) on the 6x6 token map of a 24x24 image
    assert err.loc.file.endswith("shunted_self_attention.yaml")
    assert err.loc.path[-1] == "sr1"
    assert "too small" in err.message
    assert "(1, 64, 6, 6)" in err.message and "kernel 8, stride 8" in err.message
    # 31 is the smallest side: 31 -> 16 (7x7/2 conv) -> 8 (2x2/2 conv) tokens, reduced by 8 to 1
    assert err.hint == "the smallest input that fits has H >= 31, W >= 31"
    assert "the smallest input that fits has H >= 31, W >= 31" in err.render()

    # one side too small: only that side is named
    res = netdsl.check(spec_path("t"), input_shapes={"image": (1, 3, 30, 400)})
    assert not res.ok
    hints = [e.hint for e in res.errors if "too small" in e.message]
    assert hints and hints[0] == "the smallest input that fits has H >= 31"
    # the minimum is exact: 31x31 fits, and the eager reference fails at 30 as the official model does
    assert netdsl.check(spec_path("t"), input_shapes={"image": (1, 3, 31, 31)}).ok
    ref = ShuntedReference(CONFIGS["t"]).eval()
    with torch.no_grad(), pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        ref(torch.zeros(1, 3, 30, 31))


def test_too_small_input_build_raises() -> None:
    with pytest.raises(netdsl.NetdslError) as info:
        netdsl.build(spec_path("t"), input_shapes={"image": (1, 3, 24, 24)})
    errors = info.value.errors
    assert any("too small" in e.message for e in errors)
    assert any("the smallest input that fits has H >= 31, W >= 31" in e.render() for e in errors)


def test_too_small_input_message_of_the_raised_error() -> None:
    """str() of the raised error shows the minimum size (a hint added after the error was made)."""
    with pytest.raises(netdsl.NetdslError) as info:
        netdsl.build(spec_path("t"), input_shapes={"image": (1, 3, 24, 24)})
    assert "the smallest input that fits has H >= 31, W >= 31" in str(info.value)


# ----------------------------------------------------------------------------------------------------
# Static MACs


@pytest.mark.parametrize("variant", VARIANTS)
def test_static_macs_near_the_official_flops(cache: Cache, variant: str) -> None:
    concrete = concrete_shapes(cache.check(variant), (1, 3, 224, 224))
    macs = mac_count(concrete)
    assert macs.is_const
    gmacs = macs.value / 1e9
    official = CONFIGS[variant].gflops
    assert abs(gmacs - official) <= 0.1 * official, f"{gmacs:.3f} GMACs vs the official {official} G"


DENSE_OPS = ("linear", "conv2d", "matmul")


def dense_macs(shapes: ShapeResult) -> int:
    """netdsl's static MACs of the linear, conv and matmul nodes only."""
    total = 0
    for node in shapes.graph.nodes:
        if node.op in DENSE_OPS and node.id in shapes.types:
            ins = [shapes.type_of(r) for r in node.inputs]
            m = node.opdef.mac_count(shapes.attrs[node.id], ins, shapes.types[node.id])
            assert m.is_const
            total += m.value
    return total


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("hw", [(224, 224), (160, 192), (161, 193)], ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_static_dense_macs_equal_torch_flop_counter(cache: Cache, variant: str, hw: tuple[int, int]) -> None:
    """The conv / linear / matmul MACs of the static count equal torch's FlopCounterMode / 2 on the eager
    reference (run on the meta device: no compute)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        ref = ShuntedReference(CONFIGS[variant]).eval()
        x = torch.empty(1, 3, *hw)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        ref(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    assert dense_macs(concrete_shapes(cache.check(variant), (1, 3, *hw))) == flops // 2


def test_static_macs_scale_with_the_input() -> None:
    res = netdsl.check(spec_path("t"))
    assert res.shapes is not None
    symbolic = mac_count(res.shapes)
    assert not symbolic.is_const  # a polynomial in the input dims
    small = mac_count(concrete_shapes(res, (1, 3, 160, 192))).value
    big = mac_count(concrete_shapes(res, (1, 3, 224, 224))).value
    two = mac_count(concrete_shapes(res, (2, 3, 224, 224))).value
    assert small < big and two == 2 * big
    assert math.isclose(small / big, 160 * 192 / 224**2, rel_tol=0.15)

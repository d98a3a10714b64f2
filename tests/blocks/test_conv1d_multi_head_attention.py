"""conv1d_multi_head_attention (seed 003's conv MHA): block vs an eager reference, reference outputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, run_case

SPEC = BLOCKS / "conv1d_multi_head_attention.yaml"
DEFAULTS = {"mem_in": 32, "query_in": 32, "key_size": 32, "output_size": 32, "num_heads": 4}


class Head(nn.Module):
    def __init__(self, mem_in: int, query_in: int, key_size: int, output_size: int) -> None:
        super().__init__()
        self.key = nn.Conv1d(mem_in, key_size, 1)
        self.value = nn.Conv1d(mem_in, output_size, 1)
        self.query = nn.Conv1d(query_in, key_size, 1)
        self.key_size = key_size

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        q, k, v = self.query(x1), self.key(x2), self.value(x2)
        u = k.transpose(1, 2) @ q / math.sqrt(self.key_size)  # (B, Nk, Nq)
        return v @ torch.softmax(u, dim=1)  # softmax over the keys


class EagerConv1dMHA(nn.Module):
    """blocks-spec.md §13, written from the spec with the seed bugs fixed (residual adds the query x1,
    a 4-D output keeps (H, W), matmul scores)."""

    def __init__(
        self,
        mem_in: int = 32,
        query_in: int = 32,
        key_size: int = 32,
        output_size: int = 32,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        self.mem_in, self.query_in = mem_in, query_in
        self.layers = nn.ModuleList(Head(mem_in, query_in, key_size, output_size) for _ in range(num_heads))
        self.proj_down = nn.Conv1d(num_heads * output_size, query_in, 1)
        self.mixing_layer1 = nn.Conv1d(query_in, query_in, 1)
        self.mixing_layer2 = nn.Conv1d(query_in, query_in, 1)
        self.norm1 = nn.LayerNorm(query_in, eps=1e-5)
        self.norm2 = nn.LayerNorm(query_in, eps=1e-5)

    @staticmethod
    def lnc(t: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        return norm(t.transpose(1, 2)).transpose(1, 2)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = query.shape[0]
        x1 = query.reshape(b, self.query_in, -1)
        x2 = context.reshape(b, self.mem_in, -1)
        z1 = torch.cat([head(x1, x2) for head in self.layers], dim=1)
        z2 = self.lnc(self.proj_down(z1) + x1, self.norm1)
        z3 = self.lnc(self.mixing_layer2(torch.relu(self.mixing_layer1(z2))) + z2, self.norm2)
        return z3.reshape(query.shape), z1


def randomise(gm: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.randn_like(p))


def compare(
    gm: torch.nn.Module, params: dict[str, Any], q_shape: tuple[int, ...], c_shape: tuple[int, ...]
) -> None:
    randomise(gm)
    ref = EagerConv1dMHA(**params).double().eval()
    prefix = "mha." if any(k.startswith("mha.") for k in gm.state_dict()) else ""
    ref.load_state_dict({k.removeprefix(prefix): v for k, v in gm.state_dict().items()}, strict=True)
    query = torch.randn(q_shape, dtype=torch.float64)
    context = torch.randn(c_shape, dtype=torch.float64)
    with torch.no_grad():
        got, want = gm(query, context), ref(query, context)
    assert [tuple(t.shape) for t in got] == [
        q_shape,
        (q_shape[0], params["num_heads"] * params["output_size"], math.prod(q_shape[2:])),
    ]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-10)


CASES_4D = [
    # (params, query shape, context shape)
    (
        {"mem_in": 12, "query_in": 8, "key_size": 6, "output_size": 5, "num_heads": 3},
        (2, 8, 3, 5),
        (2, 12, 7),
    ),
    (
        {"mem_in": 6, "query_in": 10, "key_size": 4, "output_size": 3, "num_heads": 1},
        (1, 10, 4, 2),
        (1, 6, 9),
    ),
    (DEFAULTS, (1, 32, 2, 3), (1, 32, 5)),
]


@pytest.mark.parametrize(("params", "q_shape", "c_shape"), CASES_4D)
def test_matches_eager_reference(
    params: dict[str, Any], q_shape: tuple[int, ...], c_shape: tuple[int, ...]
) -> None:
    gm = netdsl.build(SPEC, overrides=params, input_shapes={"query": q_shape, "context": c_shape}, seed=0)
    compare(gm.double().eval(), params, q_shape, c_shape)


def test_self_attention() -> None:
    """query == context (the only case where the seed's residual bug is invisible)."""
    params = {"mem_in": 8, "query_in": 8, "key_size": 4, "output_size": 4, "num_heads": 2}
    gm = netdsl.build(SPEC, overrides=params, input_shapes={"query": (2, 8, 3, 4), "context": (2, 8, 12)})
    gm = gm.double().eval()
    randomise(gm)
    ref = EagerConv1dMHA(**params).double().eval()
    ref.load_state_dict(gm.state_dict(), strict=True)
    x = torch.randn(2, 8, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        for g, w in zip(gm(x, x.flatten(2)), ref(x, x), strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-10)


def wrapped(params: dict[str, Any], q_dims: str, c_dims: str, sizes: str) -> torch.fx.GraphModule:
    """The block inside a network, so that the query/context ranks come from the caller's tensors."""
    attrs = ", ".join(f"{k}: {v}" for k, v in params.items())
    text = (
        "network: wrap\n"
        f"inputs: {{query: {q_dims}, context: {c_dims}}}\n"
        f"dims: {sizes}\n"
        "nodes:\n"
        f"  mha: {{block: conv1d_multi_head_attention, in: {{query: query, context: context}}, {attrs}}}\n"
        "outputs: [mha.z3, mha.z1]\n"
    )
    return netdsl.build(netdsl.load("wrap.yaml", text=text), seed=0).double().eval()


@pytest.mark.parametrize(
    ("q_shape", "c_shape"),
    [((2, 8, 9), (2, 12, 4)), ((1, 8, 5), (1, 12, 2, 3)), ((1, 8, 3, 1, 2), (1, 12, 6))],
)
def test_query_of_any_rank(q_shape: tuple[int, ...], c_shape: tuple[int, ...]) -> None:
    """A 3-D query (B, C, N) gives a 3-D z3, a 4-D one (B, C, H, W) a 4-D z3; the context may be either."""
    params = {"mem_in": 12, "query_in": 8, "key_size": 4, "output_size": 6, "num_heads": 2}
    q_dims = "[B, 8" + "".join(f", Q{i}" for i in range(len(q_shape) - 2)) + "]"
    c_dims = "[B, 12" + "".join(f", K{i}" for i in range(len(c_shape) - 2)) + "]"
    sizes = {"B": q_shape[0], **{f"Q{i}": s for i, s in enumerate(q_shape[2:])}}
    sizes |= {f"K{i}": s for i, s in enumerate(c_shape[2:])}
    gm = wrapped(params, q_dims, c_dims, "{" + ", ".join(f"{k}: {v}" for k, v in sizes.items()) + "}")
    compare(gm, params, q_shape, c_shape)


def test_block_file_built_for_a_3d_query() -> None:
    params = {"mem_in": 12, "query_in": 8, "key_size": 4, "output_size": 6, "num_heads": 2}
    gm = netdsl.build(
        SPEC, overrides=params, input_shapes={"query": (2, 8, 9), "context": (2, 12, 4)}, seed=0
    )
    compare(gm.double().eval(), params, (2, 8, 9), (2, 12, 4))


def test_state_dict_layout() -> None:
    gm = netdsl.build(
        SPEC,
        overrides={**DEFAULTS, "num_heads": 2},
        input_shapes={"query": (1, 32, 2, 2), "context": (1, 32, 3)},
    )
    layout = {k: tuple(v.shape) for k, v in gm.state_dict().items()}
    want = {}
    for i in range(2):
        want |= {
            f"layers.{i}.key.weight": (32, 32, 1),
            f"layers.{i}.key.bias": (32,),
            f"layers.{i}.value.weight": (32, 32, 1),
            f"layers.{i}.value.bias": (32,),
            f"layers.{i}.query.weight": (32, 32, 1),
            f"layers.{i}.query.bias": (32,),
        }
    want |= {
        "proj_down.weight": (32, 64, 1),
        "proj_down.bias": (32,),
        "mixing_layer1.weight": (32, 32, 1),
        "mixing_layer1.bias": (32,),
        "mixing_layer2.weight": (32, 32, 1),
        "mixing_layer2.bias": (32,),
        "norm1.weight": (32,),
        "norm1.bias": (32,),
        "norm2.weight": (32,),
        "norm2.bias": (32,),
    }
    assert layout == want


def test_default_init() -> None:
    """Default PyTorch init: LayerNorms 1/0, convs uniform(+-1/sqrt(fan_in))."""
    sd = netdsl.build(
        SPEC, overrides=DEFAULTS, input_shapes={"query": (1, 32, 2, 2), "context": (1, 32, 3)}, seed=1
    ).state_dict()
    for n in ["norm1", "norm2"]:
        assert torch.equal(sd[f"{n}.weight"], torch.ones(32)) and torch.equal(
            sd[f"{n}.bias"], torch.zeros(32)
        )
    bound = 1 / math.sqrt(4 * 32)
    assert (
        float(sd["proj_down.weight"].abs().max()) <= bound
        and float(sd["proj_down.bias"].abs().max()) <= bound
    )
    assert float(sd["layers.3.key.weight"].abs().max()) <= 1 / math.sqrt(32)


@pytest.mark.parametrize("path", block_cases("conv1d_multi_head_attention"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def test_query_channels_must_be_query_in() -> None:
    res = netdsl.check(
        SPEC,
        overrides={"mem_in": 16, "query_in": 16},
        input_shapes={"query": (2, 12, 4, 5), "context": (2, 16, 7)},
    )
    assert any("input 'query'" in e.message and "dim 1 is 12, not 16" in e.message for e in res.errors), [
        e.render() for e in res.errors
    ]


def test_context_channels_must_be_mem_in() -> None:
    res = netdsl.check(
        SPEC,
        overrides={"mem_in": 16, "query_in": 16},
        input_shapes={"query": (2, 16, 4, 5), "context": (2, 8, 7)},
    )
    assert any("input 'context'" in e.message and "dim 1 is 8, not 16" in e.message for e in res.errors), [
        e.render() for e in res.errors
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_heads": 0}, "num_heads must be positive"),
        ({"key_size": 0}, "mem_in, query_in, key_size and output_size must be positive"),
        ({"mem_in": -1}, "mem_in, query_in, key_size and output_size must be positive"),
    ],
)
def test_constraints(overrides: dict[str, Any], message: str) -> None:
    res = netdsl.check(SPEC, overrides=overrides)
    msgs = [e.render() for e in res.errors]
    assert any(message in m for m in msgs), msgs

"""aft_full (Attention Free Transformer): the block against an eager reference and the reference outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, randomise, run_case

SPEC = BLOCKS / "aft_full.yaml"


def eager_aft_full(x: torch.Tensor, sd: dict[str, torch.Tensor], simple: bool) -> torch.Tensor:
    """blocks-spec.md §5, written from the spec (fixed behaviour: a softmax instead of exp / sum)."""
    b, n, d = x.shape
    q = F.linear(x, sd["fc_q.weight"], sd["fc_q.bias"])
    k = F.linear(x, sd["fc_k.weight"], sd["fc_k.bias"])
    v = F.linear(x, sd["fc_v.weight"], sd["fc_v.bias"])
    w = torch.zeros(n, n, dtype=x.dtype) if simple else sd["position_biases"]
    logits = k.reshape(b, 1, n, d) + w.reshape(1, n, n, 1)  # (B, t, t', d)
    a = torch.softmax(logits, dim=2)
    y = (a * v.reshape(b, 1, n, d)).sum(dim=2)
    return torch.sigmoid(q) * y


def eager_aft_full_exp_form(x: torch.Tensor, sd: dict[str, torch.Tensor]) -> torch.Tensor:
    """The paper's formula, sum_t' exp(K_t' + w_tt') V_t' / sum_t' exp(K_t' + w_tt') (fine in float64)."""
    q = F.linear(x, sd["fc_q.weight"], sd["fc_q.bias"])
    k = F.linear(x, sd["fc_k.weight"], sd["fc_k.bias"])
    v = F.linear(x, sd["fc_v.weight"], sd["fc_v.bias"])
    e = torch.exp(k.unsqueeze(1) + sd["position_biases"].unsqueeze(0).unsqueeze(-1))  # (B, t, t', d)
    return torch.sigmoid(q) * (e * v.unsqueeze(1)).sum(2) / e.sum(2)


def _random_block(params: dict[str, object], shape: tuple[int, ...]) -> torch.fx.GraphModule:
    gm = netdsl.build(SPEC, overrides=params, input_shapes={"x": shape}, seed=0).double().eval()
    randomise(gm)
    return gm


@pytest.mark.parametrize("simple", [False, True])
@pytest.mark.parametrize(
    ("d_model", "shape"), [(16, (2, 12, 16)), (5, (1, 7, 5)), (3, (3, 1, 3)), (8, (2, 49, 8))]
)
def test_matches_eager_reference(d_model: int, shape: tuple[int, ...], simple: bool) -> None:
    params = {"d_model": d_model, "n": shape[1], "simple": simple}
    gm = _random_block(params, shape)
    sd = gm.state_dict()
    assert ("position_biases" in sd) != simple
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        got = gm(x)
    torch.testing.assert_close(got, eager_aft_full(x, sd, simple), rtol=0, atol=1e-10)
    if not simple:
        torch.testing.assert_close(got, eager_aft_full_exp_form(x, sd), rtol=0, atol=1e-10)


def test_large_logits_do_not_overflow_in_float32() -> None:
    """The seed's exp(k + w) overflows to inf/NaN once k + w > ~88 in float32; the softmax form does not."""
    gm = netdsl.build(SPEC, overrides={"d_model": 4, "n": 6}, input_shapes={"x": (2, 6, 4)}, seed=0).eval()
    with torch.no_grad():
        gm.get_parameter("position_biases").fill_(200.0)
        gm.get_submodule("fc_k").weight.copy_(torch.eye(4) * 50.0)
    x = torch.randn(2, 6, 4) * 3
    with torch.no_grad():
        got = gm(x)
    assert torch.isfinite(got).all()
    sd = {k: v.double() for k, v in gm.state_dict().items()}
    torch.testing.assert_close(got.double(), eager_aft_full(x.double(), sd, False), rtol=1e-5, atol=1e-6)


def test_simple_equals_zero_position_biases() -> None:
    full = _random_block({"d_model": 6, "n": 5}, (2, 5, 6))
    simple = netdsl.build(SPEC, overrides={"d_model": 6, "n": 5, "simple": True}).double().eval()
    with torch.no_grad():
        full.get_parameter("position_biases").fill_(0.7)  # any constant cancels in the softmax
    sd = {k: v for k, v in full.state_dict().items() if k != "position_biases"}
    simple.load_state_dict(sd, strict=True)
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(simple(x), full(x), rtol=0, atol=1e-12)


def test_source_init() -> None:
    sd = netdsl.build(SPEC, overrides={"d_model": 256, "n": 7}, seed=2).state_dict()
    assert torch.equal(sd["position_biases"], torch.ones(7, 7))
    for name in ("fc_q", "fc_k", "fc_v"):
        assert torch.equal(sd[f"{name}.bias"], torch.zeros(256)), name
        std = float(sd[f"{name}.weight"].std())
        assert abs(std - 0.001) < 2e-5, (name, std)
        assert abs(float(sd[f"{name}.weight"].mean())) < 2e-5, name


def test_default_n_is_49(tmp_path: Path) -> None:
    net = tmp_path / "net.yaml"
    net.write_text(
        "network: uses_aft\n"
        "inputs: {x: [B, 49, 8]}\n"
        "dims: {B: 1}\n"
        "nodes:\n"
        "  aft: {block: aft_full, in: x, d_model: 8}\n"
        "outputs: {y: aft}\n"
    )
    sd = netdsl.build(net).state_dict()
    assert tuple(sd["aft.position_biases"].shape) == (49, 49)


@pytest.mark.parametrize("path", block_cases("aft_full"), ids=case_id)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


def _hints(res: netdsl.CheckResult) -> list[str]:
    return [f"{e.message} | {e.hint}" for e in res.errors]


@pytest.mark.parametrize("simple", [False, True])
def test_input_length_must_equal_n(simple: bool) -> None:
    res = netdsl.check(
        SPEC, overrides={"d_model": 16, "n": 12, "simple": simple}, input_shapes={"x": (2, 10, 16)}
    )
    assert any("dim 1 is 10, not 12" in h for h in _hints(res)), _hints(res)


def test_input_features_must_equal_d_model() -> None:
    res = netdsl.check(SPEC, overrides={"d_model": 16, "n": 12}, input_shapes={"x": (2, 12, 8)})
    assert any("dim 2 is 8, not 16" in h for h in _hints(res)), _hints(res)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"d_model": 0, "n": 12}, "d_model must be positive"), ({"d_model": 16, "n": 0}, "n must be positive")],
)
def test_sizes_must_be_positive(params: dict[str, int], message: str) -> None:
    res = netdsl.check(SPEC, overrides=params, input_shapes={"x": (2, params["n"], params["d_model"])})
    assert any(message in h for h in _hints(res)), _hints(res)

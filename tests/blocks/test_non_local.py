"""non_local (Non-local block) and its aliases non_local_1d/2d/3d: eager reference, reference outputs, init,
constraints."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netdsl
from tests.blockref import BLOCKS, block_cases, case_id, max_diff, randomise, run_case

SPEC = BLOCKS / "non_local.yaml"
ALIAS = {d: BLOCKS / f"non_local_{d}d.yaml" for d in (1, 2, 3)}
MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")
POOL = {1: (2,), 2: (2, 2), 3: (1, 2, 2)}


def eager_non_local(
    x: torch.Tensor,
    sd: dict[str, torch.Tensor],
    ci: int,
    mode: str,
    sub_sample: bool,
    bn_layer: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """blocks-spec.md §7 written from the spec (eval mode); returns (z, f_div_C)."""
    b, c = x.shape[:2]
    dim = x.dim() - 2
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dim]
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dim]

    def sub(t: torch.Tensor) -> torch.Tensor:
        return pool(t, POOL[dim]) if sub_sample else t

    gp, pp = ("g.0", "phi.0") if sub_sample else ("g", "phi")
    g_x = sub(conv(x, sd[f"{gp}.weight"], sd[f"{gp}.bias"])).reshape(b, ci, -1).permute(0, 2, 1)
    if mode == "gaussian":
        theta = x.reshape(b, c, -1)
        phi = sub(x).reshape(b, c, -1)
    else:
        theta = conv(x, sd["theta.weight"], sd["theta.bias"]).reshape(b, ci, -1)
        phi = sub(conv(x, sd[f"{pp}.weight"], sd[f"{pp}.bias"])).reshape(b, ci, -1)
    if mode == "concatenation":
        n, n2 = theta.shape[2], phi.shape[2]
        th = theta.reshape(b, ci, n, 1).expand(b, ci, n, n2)
        ph = phi.reshape(b, ci, 1, n2).expand(b, ci, n, n2)
        f = F.relu(F.conv2d(torch.cat([th, ph], 1), sd["concat_project.0.weight"]))
        f_div_c = f.reshape(b, n, n2) / n2
    else:
        f = torch.matmul(theta.permute(0, 2, 1), phi)
        f_div_c = f / f.shape[-1] if mode == "dot_product" else F.softmax(f, dim=-1)
    y = torch.matmul(f_div_c, g_x).permute(0, 2, 1).reshape(b, ci, *x.shape[2:])
    if bn_layer:
        w_y = conv(y, sd["W.0.weight"], sd["W.0.bias"])
        w_y = F.batch_norm(
            w_y,
            sd["W.1.running_mean"],
            sd["W.1.running_var"],
            sd["W.1.weight"],
            sd["W.1.bias"],
            False,
            0.1,
            1e-5,
        )
    else:
        w_y = conv(y, sd["W.weight"], sd["W.bias"])
    return w_y + x, f_div_c


def check_against_eager(
    spec: Path,
    shape: tuple[int, ...],
    mode: str = "embedded_gaussian",
    sub_sample: bool = True,
    bn_layer: bool = True,
    inter_channels: int | None = None,
    **fixed: int,
) -> None:
    """Build ``spec`` for ``shape`` with random weights and compare it with the eager reference."""
    params = {"in_channels": shape[1], "mode": mode, "sub_sample": sub_sample, "bn_layer": bn_layer}
    params.update(fixed, inter_channels=inter_channels)
    gm = netdsl.build(spec, overrides=params, input_shapes={"x": shape}, seed=0).double().eval()
    sd = randomise(gm)
    ci = inter_channels or max(shape[1] // 2, 1)
    x = torch.randn(shape, dtype=torch.float64)
    want, _ = eager_non_local(x, sd, ci, mode, sub_sample, bn_layer)
    with torch.no_grad():
        got = gm(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


SHAPES: dict[int, list[tuple[int, ...]]] = {
    1: [(2, 6, 10), (1, 3, 7)],
    2: [(2, 6, 6, 4), (1, 3, 5, 7)],
    3: [(2, 6, 2, 4, 6), (1, 3, 3, 5, 2)],
}
COMBOS = [
    pytest.param(d, m, s, b, id=f"{d}d-{m}-{'sub' if s else 'nosub'}-{'bn' if b else 'nobn'}")
    for d, m, s, b in itertools.product((1, 2, 3), MODES, (True, False), (True, False))
]


@pytest.mark.parametrize(("dimension", "mode", "sub_sample", "bn_layer"), COMBOS)
def test_aliases_match_eager_reference(dimension: int, mode: str, sub_sample: bool, bn_layer: bool) -> None:
    """Every mode x sub_sample x bn_layer, for each dimension, on two shapes (one non-square, batch 1)."""
    for shape in SHAPES[dimension]:
        check_against_eager(ALIAS[dimension], shape, mode, sub_sample, bn_layer)


@pytest.mark.parametrize("mode", MODES)
def test_base_block_matches_eager_reference(mode: str) -> None:
    for shape in SHAPES[2]:
        check_against_eager(SPEC, shape, mode, dimension=2)
    # explicit inter_channels, and C = 1 (inter_channels max(1 // 2, 1) = 1)
    check_against_eager(SPEC, (2, 4, 4, 5), mode, inter_channels=3, dimension=2)
    check_against_eager(SPEC, (1, 1, 2, 3), mode, dimension=2)


@pytest.mark.parametrize("dimension", [1, 3])
def test_base_block_in_a_network(tmp_path: Path, dimension: int) -> None:
    """The base block with dimension 1 or 3, used from a network: *S binds to the caller's tensor."""
    dims = {1: "L", 3: "T, H, W"}[dimension]
    sizes = {1: "{B: 2, L: 9}", 3: "{B: 2, T: 3, H: 4, W: 6}"}[dimension]
    net = tmp_path / "net.yaml"
    net.write_text(
        f"network: net\ninputs:\n  x: [B, 6, {dims}]\ndims: {sizes}\n"
        "nodes:\n  nl: {block: non_local, in: x, in_channels: 6, mode: concatenation, "
        f"dimension: {dimension}}}\n"
        "outputs: {z: nl}\n"
    )
    gm = netdsl.build(net, seed=0).double().eval()
    sd = {k.removeprefix("nl."): v for k, v in randomise(gm).items()}
    shape = (2, 6, 9) if dimension == 1 else (2, 6, 3, 4, 6)
    x = torch.randn(shape, dtype=torch.float64)
    want, _ = eager_non_local(x, sd, 3, "concatenation", True, True)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), want, rtol=0, atol=1e-10)


def test_base_block_built_alone_for_3d() -> None:
    check_against_eager(SPEC, (2, 6, 2, 4, 6), dimension=3)


@pytest.mark.parametrize("mode", MODES)
def test_return_nl_map(mode: str) -> None:
    shape = (2, 6, 6, 4)
    gm = netdsl.build(
        ALIAS[2], overrides={"in_channels": 6, "mode": mode, "return_nl_map": True}, input_shapes={"x": shape}
    )
    gm = gm.double().eval()
    sd = randomise(gm)
    x = torch.randn(shape, dtype=torch.float64)
    z, f_div_c = eager_non_local(x, sd, 3, mode, True, True)
    with torch.no_grad():
        got = gm(x)
    assert isinstance(got, tuple) and len(got) == 2
    torch.testing.assert_close(got[0], z, rtol=0, atol=1e-10)
    torch.testing.assert_close(got[1], f_div_c, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "path",
    [p for b in ("non_local", "non_local_1d", "non_local_2d", "non_local_3d") for p in block_cases(b)],
    ids=case_id,
)
def test_reference_outputs(path: Path) -> None:
    got, want, _ = run_case(path)
    assert max_diff(got, want) <= 1e-9


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bn_layer", [True, False])
def test_identity_at_init(mode: str, bn_layer: bool) -> None:
    gm = netdsl.build(
        ALIAS[2], overrides={"in_channels": 8, "mode": mode, "bn_layer": bn_layer}, seed=1
    ).eval()
    sd = gm.state_dict()
    zero = ("W.1.weight", "W.1.bias") if bn_layer else ("W.weight", "W.bias")
    for key in zero:
        assert torch.equal(sd[key], torch.zeros_like(sd[key])), key
    if bn_layer:  # the conv before the BN has PyTorch's default init
        assert sd["W.0.weight"].abs().max() > 0
    x = torch.randn(2, 8, 6, 4)
    with torch.no_grad():
        assert torch.equal(gm(x), x)


def test_alias_state_dict_keys() -> None:
    want = {
        1: (8, 4, 1),
        2: (8, 4, 1, 1),
        3: (8, 4, 1, 1, 1),
    }
    for d, path in ALIAS.items():
        sd = netdsl.build(path, overrides={"in_channels": 8}).state_dict()
        assert set(sd) == {
            "g.0.weight",
            "g.0.bias",
            "W.0.weight",
            "W.0.bias",
            "W.1.weight",
            "W.1.bias",
            "W.1.running_mean",
            "W.1.running_var",
            "W.1.num_batches_tracked",
            "theta.weight",
            "theta.bias",
            "phi.0.weight",
            "phi.0.bias",
        }
        assert tuple(sd["W.0.weight"].shape) == want[d]
    sd = netdsl.build(
        ALIAS[3], overrides={"in_channels": 8, "mode": "gaussian", "sub_sample": False}
    ).state_dict()
    assert [k for k in sd if not k.startswith("W.")] == ["g.weight", "g.bias"]


def errors(spec: Path, params: dict[str, object], shape: tuple[int, ...] | None = None) -> list[str]:
    res = netdsl.check(spec, overrides=params, input_shapes={"x": shape} if shape else None)
    return [e.message + " " + (e.hint or "") for e in res.errors]


def test_alias_has_no_dimension_parameter() -> None:
    msgs = errors(ALIAS[2], {"in_channels": 8, "dimension": 3})
    assert any("dimension" in m for m in msgs), msgs


def test_dimension_must_be_1_2_or_3() -> None:
    msgs = errors(SPEC, {"in_channels": 8, "dimension": 4})
    assert any("4 is not one of [1, 2, 3]" in m for m in msgs), msgs


def test_mode_must_be_known() -> None:
    msgs = errors(ALIAS[2], {"in_channels": 8, "mode": "softmax"})
    assert any("'softmax' is not one of" in m for m in msgs), msgs


def test_rank_must_be_2_plus_dimension() -> None:
    msgs = errors(ALIAS[3], {"in_channels": 8}, (2, 8, 6, 4))
    assert any("conv3d input (B, C, D, H, W) must have rank 5" in m for m in msgs), msgs
    msgs = errors(ALIAS[1], {"in_channels": 8}, (2, 8, 6, 4))
    assert any("conv1d input (B, C, W) must have rank 3" in m for m in msgs), msgs


def test_channels_must_equal_in_channels() -> None:
    msgs = errors(ALIAS[2], {"in_channels": 8}, (2, 6, 6, 4))
    assert any("dim 1 is 6, not 8" in m for m in msgs), msgs


def test_inter_channels_must_be_positive() -> None:
    msgs = errors(ALIAS[2], {"in_channels": 8, "inter_channels": 0})
    assert any("inter_channels must be a positive integer" in m for m in msgs), msgs


@pytest.mark.parametrize(
    ("dimension", "shape"), [(1, (2, 8, 1)), (2, (2, 8, 1, 4)), (2, (2, 8, 4, 1)), (3, (2, 8, 3, 1, 4))]
)
def test_sub_sample_needs_two_positions(dimension: int, shape: tuple[int, ...]) -> None:
    msgs = errors(ALIAS[dimension], {"in_channels": 8}, shape)
    assert any("too small" in m for m in msgs), msgs
    assert not errors(ALIAS[dimension], {"in_channels": 8, "sub_sample": False}, shape)

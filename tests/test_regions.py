"""Regional compilation (netdsl/backend/regions.py), checked with the pieces run eagerly: the cut of
every spec and block computes what the module computes, shares code between the copies of a block,
and leaves ``state_dict()`` alone. (tests/test_compile.py compiles.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.api import example_inputs
from netdsl.backend.regions import partition, regional
from netdsl.backend.rewrites import rewrite

from .conftest import ALL_SPECS, BLOCKS, FIXTURE_BLOCKS, ROOT, spec_id


def outputs(gm: torch.nn.Module, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        y = gm(*xs)
    return list(y) if isinstance(y, tuple) else [y]


@pytest.mark.parametrize("path", ALL_SPECS + BLOCKS, ids=spec_id)
def test_pieces_compute_what_the_module_computes(path: Path) -> None:
    blocks = [FIXTURE_BLOCKS] if FIXTURE_BLOCKS in path.parents else None
    res = netdsl.check(path, blocks_path=blocks)
    gm = netdsl.build(path, seed=0, blocks_path=blocks).eval()
    new, _ = rewrite(gm, "inference")
    seen: list[object] = []
    orchestrated, pieces = regional(new, lambda fn: seen.append(fn) or fn)  # type: ignore[func-returns-value]
    assert list(orchestrated.state_dict()) == list(gm.state_dict())
    assert sum(len(p.nodes) for p in pieces) == sum(
        1 for n in new.graph.nodes if n.op not in ("placeholder", "output")
    )
    kinds = {p.key for p in pieces}
    assert len(seen) == len(kinds)  # one function per kind of piece
    xs = example_inputs(res)
    for want, got in zip(outputs(gm, xs), outputs(orchestrated, xs), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("spec", "kinds", "regions"),
    [
        ("specs/shunted_t.yaml", 2, ["block2.0", "block2.1", "block3.0", "block3.1", "block3.2", "block3.3"]),
        ("specs/vit_b_16.yaml", 1, [f"encoder.layers.encoder_layer_{i}" for i in range(12)]),
        ("specs/resnet18.yaml", 1, ["layer1.0", "layer1.1"]),  # (one plain block in the other stages)
        (
            "specs/resnet50.yaml",
            4,
            [f"layer{s}.{i}" for s, n in ((1, 3), (2, 4), (3, 6), (4, 3)) for i in range(1, n)],
        ),
    ],
)
def test_copies_of_a_block_are_one_region_kind(spec: str, kinds: int, regions: list[str]) -> None:
    gm = netdsl.build(ROOT / spec, seed=0).eval()
    pieces = partition(rewrite(gm, "inference")[0])
    found = [p.path for p in pieces if p.is_region]
    assert found == regions
    assert len({p.key for p in pieces if p.is_region}) == kinds


def test_sizes_from_outside_come_in_as_inputs() -> None:
    """Shunted's blocks take the stage's H and W as inputs (the official block(x, H, W)): each copy
    reads the sizes of its own tensors and gets those of the feature map from outside."""
    gm = netdsl.build(ROOT / "specs/shunted_t.yaml", seed=0).eval()
    pieces = partition(rewrite(gm, "inference")[0])
    first, second = (p for p in pieces if p.path in ("block3.0", "block3.1"))
    assert len(first.inputs) == len(second.inputs) == 3  # tokens, H, W
    assert [n.op for n in first.inputs[1:]] == ["call_method", "call_method"]  # x.size(2), x.size(3)


@pytest.mark.parametrize(
    ("name", "regional"),
    [
        ("shunted_t", True),
        ("tiny_attention", True),
        ("vit_b_16", True),
        ("resnet50", False),
        ("tiny_cnn", False),
    ],
)
def test_regional_by_default_unless_convolutions_dominate(name: str, regional: bool) -> None:
    from netdsl.backend.regions import conv_share, prefer_regional

    gm = netdsl.build(ROOT / "specs" / f"{name}.yaml", seed=0)
    share = conv_share(gm)
    assert share is not None and (share < 0.5) == regional
    assert prefer_regional(gm) is regional
    if name.startswith("tiny"):  # what netdsl.compile does when not told
        compiled = netdsl.compile(gm, backend="eager")
        assert ("regions" in compiled.meta.get("netdsl", {})) is regional


def test_a_module_that_does_not_know_its_spec_is_compiled_by_regions() -> None:
    from netdsl.backend.regions import conv_share, prefer_regional

    gm = netdsl.build(ROOT / "specs" / "tiny_cnn.yaml", seed=0)
    del gm.meta["netdsl"]["check"]
    assert conv_share(gm) is None and prefer_regional(gm)

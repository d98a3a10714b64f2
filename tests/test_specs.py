"""Every spec in specs/ and blocks/: valid, builds, and its static shapes are sound at run time."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.api import example_inputs
from netdsl.backend.soundness import runtime_mismatches
from netdsl.frontend.library import BlockLibrary
from netdsl.frontend.schema import NetworkFile
from netdsl.passes.shapes import infer_shapes
from netdsl.passes.sizes import concrete_inputs
from netdsl.passes.summary import param_count

from .conftest import ALL_SPECS, BLOCKS, FIXTURE_BLOCKS, spec_id


def _variants(path: Path) -> list[str | None]:
    spec = netdsl.load(path)
    if isinstance(spec.model, NetworkFile):
        return [None, *spec.model.variants]
    return [None]


CASES = [(p, v) for p in ALL_SPECS for v in _variants(p)]


@pytest.mark.parametrize("path", ALL_SPECS, ids=spec_id)
def test_spec_is_valid_without_warnings(path: Path) -> None:
    res = netdsl.check(path, blocks_path=[FIXTURE_BLOCKS] if FIXTURE_BLOCKS in path.parents else None)
    assert res.ok, "\n".join(e.render() for e in res.errors)
    assert not res.warnings, "\n".join(w.render() for w in res.warnings)
    assert res.graph is not None and res.graph.dims, "give example sizes in `dims:` so the spec can be built"


@pytest.mark.parametrize(("path", "variant"), CASES, ids=[f"{spec_id(p)}-{v}" for p, v in CASES])
def test_build_and_runtime_shapes_equal_static(path: Path, variant: str | None) -> None:
    res = netdsl.check(path, variant, concrete=True)
    assert res.ok, "\n".join(e.render() for e in res.errors)
    assert res.graph is not None and res.shapes is not None
    gm = netdsl.build(path, variant, seed=0)
    gm.eval()
    concrete = infer_shapes(res.graph, concrete_inputs(res.graph, res.graph.example_sizes()))
    inputs = example_inputs(res)
    assert runtime_mismatches(gm, concrete, inputs) == []
    # the static parameter count is the module's
    n_params = sum(p.numel() for p in gm.parameters())
    assert n_params == param_count(res.shapes)
    n_buffers = sum(b.numel() for b in gm.buffers())
    assert n_buffers == param_count(res.shapes, kind="buffer")
    # state_dict keys are exactly the node paths of the weighted nodes, with the static shapes
    expected = {
        (f"{node_id}.{name}" if name else node_id): tuple(d.value for d in spec.shape)
        for node_id, specs in res.shapes.params.items()
        for name, spec in specs.items()
    }
    assert {k: tuple(v.shape) for k, v in gm.state_dict().items()} == expected


@pytest.mark.parametrize("path", ALL_SPECS, ids=spec_id)
def test_build_is_reproducible_with_seed(path: Path) -> None:
    a = netdsl.build(path, seed=3).state_dict()
    b = netdsl.build(path, seed=3).state_dict()
    c = netdsl.build(path, seed=4).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    random = [k for k, v in a.items() if v.is_floating_point() and v.unique().numel() > 1]
    assert all(not torch.equal(a[k], c[k]) for k in random), "a random initialiser ignores the seed"


@pytest.mark.parametrize("path", BLOCKS, ids=spec_id)
def test_block_built_alone_uses_the_declared_defaults(path: Path) -> None:
    """A block file built on its own: `example:` fills only the required parameters; every
    parameter with a default gets its declared default (aliases: the base's, less `fixed:`)."""
    params = BlockLibrary(use_env=False).get(path.stem).definition.params
    example = netdsl.load(path).model.example  # type: ignore[union-attr]
    assert set(example) == {n for n, d in params.items() if d.required}, (
        "`example:` should set exactly the parameters without a default"
    )
    res = netdsl.check(path)
    assert res.ok and res.graph is not None, "\n".join(e.render() for e in res.errors)
    got = res.graph.root.params
    defaults = {n: d.default for n, d in params.items() if not d.required}
    assert {n: got[n] for n in defaults} == defaults
    assert {n: got[n] for n in example} == example

"""The networks of the experiment: seed 003's four specs, built with netdsl, in six runs (the MHA
network with both tokenisations, the CBAM network with and without its spatial gate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import fx

import netdsl

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


@dataclass(frozen=True)
class Run:
    """One network of the experiment."""

    name: str
    spec: str  # file name under specs/
    title: str
    variant: str | None = None
    #: the spec's `vars:` set for this run (the CBAM spec's `no_spatial`, when it has one)
    overrides: dict[str, Any] = field(default_factory=dict)
    #: the seed's row of its results table that this run reproduces (None: not run by the seed)
    seed_row: str | None = None
    #: the values plotted: (capture name, title); the first is the attention block's output map
    maps: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> Path:
        return SPECS / self.spec


RUNS: tuple[Run, ...] = (
    Run("cnn", "white_patch_cnn.yaml", "CNN", seed_row="cnn"),
    Run(
        "cnn_mha",
        "white_patch_cnn_mha.yaml",
        "CNN + MHA (tokens by permute, fixed)",
        maps=(("attention_map", "MHA output"),),
    ),
    Run(
        "cnn_mha_seed_reshape",
        "white_patch_cnn_mha.yaml",
        "CNN + MHA (seed's reshape tokens)",
        variant="seed_reshape",
        seed_row="cnn_mha",
        maps=(("attention_map", "MHA output"),),
    ),
    Run(
        "cnn_conv1d_mha",
        "white_patch_cnn_conv1d_mha.yaml",
        "CNN + conv1d MHA",
        seed_row="cnn_conv1d_mha",
        maps=(("attention_map", "conv1d-MHA output"),),
    ),
    Run(
        "cnn_cbam",
        "white_patch_cnn_cbam.yaml",
        "CNN + CBAM (no_spatial=True, as the seed)",
        seed_row="cnn_cbam",
        maps=(("attn1", "CBAM output"),),
    ),
    Run(
        "cnn_cbam_spatial",
        "white_patch_cnn_cbam.yaml",
        "CNN + CBAM (official, spatial gate)",
        overrides={"no_spatial": False},
        maps=(("attn1", "CBAM output"), ("attn1.spatial_scale", "spatial attention")),
    ),
)
BY_NAME = {r.name: r for r in RUNS}

#: seed 003's reported minima of the per-epoch mean BCE loss ("min train / test error")
SEED_RESULTS: dict[str, tuple[float, float]] = {
    "cnn": (0.0011167450276843738, 0.05411996720208516),
    "cnn_mha": (9.811600781858942e-06, 0.04209221125441423),
    "cnn_conv1d_mha": (0.00025470180017873645, 0.014278276459193759),
    "cnn_cbam": (2.786791462858673e-05, 0.028047989653949175),
}


def build(run: Run, seed: int) -> fx.GraphModule:
    """The run's network, initialised from ``seed`` (its ``vars:`` overrides set as by ``--set``:
    the CBAM spec's ``no_spatial``)."""
    return netdsl.build(run.path, run.variant, dict(run.overrides) or None, seed=seed)


def parameter_count(gm: fx.GraphModule) -> int:
    return sum(p.numel() for p in gm.parameters())

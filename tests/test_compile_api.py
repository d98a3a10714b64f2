"""netdsl.compile's arguments and the module it returns, before anything compiles (torch.compile
compiles on the first call: these tests never call the compiled module; tests/test_compile.py does)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netdsl
from netdsl.core.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "specs/tiny_cnn.yaml"


def test_purpose_is_checked_with_a_suggestion() -> None:
    with pytest.raises(UsageError) as info:
        netdsl.compile(netdsl.build(TINY), purpose="inferense")
    assert "did you mean 'inference'" in info.value.render()
    assert "training" in info.value.render()


def test_freeze_is_for_inference_only() -> None:
    with pytest.raises(UsageError, match="purpose='inference' only"):
        netdsl.compile(netdsl.build(TINY), purpose="training", freeze=True)


def test_not_a_module() -> None:
    with pytest.raises(UsageError, match=r"expected a torch\.nn\.Module"):
        netdsl.compile(42)


def test_state_dict_keys_are_the_specs() -> None:
    gm = netdsl.build(TINY, seed=0)
    keys = list(gm.state_dict())
    for purpose in ("inference", "training"):
        compiled = netdsl.compile(gm, purpose=purpose)
        assert list(compiled.state_dict()) == keys  # no _orig_mod. prefix
        assert compiled.training == (purpose == "training")


def test_frozen_module_refuses_weights_loaded_after_compiling() -> None:
    gm = netdsl.build(TINY, seed=0)
    state = gm.state_dict()
    frozen = netdsl.compile(gm, freeze=True)
    with pytest.raises(UsageError) as info:
        frozen.load_state_dict(state)
    assert "load the weights into the module before netdsl.compile" in info.value.render()
    unfrozen = netdsl.compile(gm)  # (the default: regional, weights as inputs)
    unfrozen.load_state_dict({k: torch.zeros_like(v) for k, v in state.items()})
    assert all(not v.any() for v in gm.state_dict().values())  # the parameters are shared


def test_regional_and_frozen_exclude_each_other() -> None:
    with pytest.raises(UsageError, match="choose one"):
        netdsl.compile(netdsl.build(TINY), freeze=True, regional=True)


def test_regions_of_a_deep_network_share_their_code() -> None:
    """Shunted-B: 33 blocks of 4 kinds (depths 3, 4, 24, 2): one compiled function per kind, and the
    glue between them."""
    compiled = netdsl.compile(netdsl.build(ROOT / "specs/shunted_b.yaml"))
    regions = compiled.meta["netdsl"]["regions"]
    blocks = [p for p in regions if p]
    assert blocks == [f"block{s}.{i}" for s, n in ((1, 3), (2, 4), (3, 24), (4, 2)) for i in range(n)]
    calls = [n.target for n in compiled.graph.nodes if n.op == "call_function" and hasattr(n.target, "fn")]
    assert len({id(c.fn) for c in calls if c.__name__.startswith("region")}) == 4  # one per kind
    assert list(compiled.state_dict()) == list(netdsl.build(ROOT / "specs/shunted_b.yaml").state_dict())


def test_inference_module_cannot_train() -> None:
    compiled = netdsl.compile(netdsl.build(TINY))
    compiled.eval()  # fine
    with pytest.raises(UsageError, match="compiled for inference"):
        compiled.train()


def test_compiling_twice_is_refused() -> None:
    compiled = netdsl.compile(netdsl.build(TINY), purpose="training")
    with pytest.raises(UsageError, match="compiled already"):
        netdsl.compile(compiled)


def test_a_spec_path_is_built_first() -> None:
    compiled = netdsl.compile(TINY, purpose="training")
    assert list(compiled.state_dict()) == list(netdsl.build(TINY).state_dict())


def test_cli_explain_lists_rewrites_by_spec_line(capsys: pytest.CaptureFixture[str]) -> None:
    from netdsl.cli import main

    assert main(["build", str(ROOT / "specs/tiny_attention.yaml"), "--explain"]) == 0
    out = capsys.readouterr().out
    # (its attention weights are an output of the network: the attention is left written out)
    assert "rewrites for inference (unbind x1):" in out
    assert "specs/tiny_attention.yaml:32:7: unbind: attn.q: split into 3 parts of 1" in out
    assert main(["build", str(ROOT / "specs/vit_b_16.yaml"), "--explain", "--purpose", "training"]) == 0
    out = capsys.readouterr().out
    assert "rewrites for training (unbind x12):" in out


def test_cli_compile_mode_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from netdsl.cli import main

    assert main(["build", str(TINY), "--compile", "--compile-mode", "max-autotun"]) == 2
    err = capsys.readouterr().err
    assert "--compile-mode 'max-autotun' is not a mode of torch.compile" in err
    assert "did you mean 'max-autotune'" in err

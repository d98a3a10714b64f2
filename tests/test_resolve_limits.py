"""Resolver findings of the hostile-input review: each was an internal error or a misplaced message."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import netdsl
from netdsl.cli import main
from netdsl.frontend.library import BlockLibrary


def check_text(text: str, **kwargs: object) -> netdsl.CheckResult:
    return netdsl.check(netdsl.load("t.yaml", text=text), **kwargs)  # type: ignore[arg-type]


HEAD = "network: t\ninputs: {x: [B, 4]}\ndims: {B: 2}\n"
TAIL = "nodes: {n: {op: relu, in: x}}\noutputs: n\n"


@pytest.mark.parametrize("n", [1_000, 5_000])
def test_long_variable_chains_do_not_recurse(n: int) -> None:
    lines = ["vars:", "  v0: 1"] + [f"  v{i}: ${{v{i - 1} + 1}}" for i in range(1, n)]
    res = check_text(HEAD + "\n".join(lines) + "\n" + TAIL)
    assert res.ok, [str(e) for e in res.errors]
    # reversed order too (each variable refers to one defined later)
    lines = ["vars:"] + [f"  v{i}: ${{v{i + 1} + 1}}" for i in range(n - 1)] + [f"  v{n - 1}: 1"]
    assert check_text(HEAD + "\n".join(lines) + "\n" + TAIL).ok


def test_long_variable_cycle_is_reported_once() -> None:
    n = 2_000
    lines = ["vars:"] + [f"  v{i}: ${{v{(i + 1) % n}}}" for i in range(n)]
    res = check_text(HEAD + "\n".join(lines) + "\n" + TAIL)
    (err,) = res.errors
    assert "cycle" in err.message and err.loc.line > 0


@pytest.mark.parametrize("value", ["${a + 1}", "$a", "${[a]}"])
def test_variable_referring_to_itself(value: str) -> None:
    res = check_text(HEAD + f'vars: {{a: "{value}", b: 2}}\n' + TAIL)
    (err,) = res.errors
    assert err.message == "variable 'a' refers to itself"
    assert err.loc.line == 4 and err.loc.path == ("vars", "a")


def test_block_parameter_shadowed_by_a_variable_of_the_same_name_still_works() -> None:
    text = (
        HEAD
        + "blocks:\n  b:\n    params: {k: {type: int}}\n    vars: {k: '${k * 2}'}\n"
        + "    inputs: {x: [B, 4]}\n    nodes: {n: {op: linear, in: x, out_features: $k}}\n    outputs: n\n"
        + "nodes: {n: {block: b, in: x, k: 3}}\noutputs: n\n"
    )
    res = check_text(text)
    assert res.ok, [str(e) for e in res.errors]


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ("{B: [1, 2]}", "`dims: B` is one dim"),
        ("{B: 0}", "sizes must be >= 1"),
        ("{B: -3}", "sizes must be >= 1"),
    ],
)
def test_bad_dims_are_located_errors(dims: str, message: str) -> None:
    res = check_text(f"network: t\ninputs: {{x: [B, 4]}}\ndims: {dims}\n" + TAIL, concrete=True)
    assert res.errors, "accepted"
    err = res.errors[0]
    assert message in err.message and err.loc.line == 3 and err.loc.path == ("dims", "B")


def test_variadic_dims_need_a_list() -> None:
    res = check_text("network: t\ninputs: {x: [B, '*S']}\ndims: {B: 1, S: 3}\n" + TAIL, concrete=True)
    (err,) = res.errors
    assert "variadic" in err.message and err.loc.path == ("dims", "S")


def test_nested_repeats_are_refused_before_expanding() -> None:
    text = (
        HEAD
        + "blocks:\n  inner:\n    inputs: {x: [B, 4]}\n    nodes:\n      a: {op: relu, in: x}\n"
        + "      b: {op: relu, in: a}\n    outputs: b\n"
        + "  outer:\n    inputs: {x: [B, 4]}\n    nodes: {r: {block: inner, in: x, repeat: 10000}}\n"
        + "    outputs: r\n"
        + "nodes: {n: {block: outer, in: x, repeat: 10000}}\noutputs: n\n"
    )
    t0 = time.perf_counter()
    res = check_text(text)
    elapsed = time.perf_counter() - t0
    (err,) = res.errors
    assert "expands to about 200,000,000 nodes" in err.message
    assert err.loc.path == ("blocks", "outer", "nodes", "r", "repeat")
    assert elapsed < 30  # generous: it used to take seconds, now milliseconds (see benchmarks)


def test_a_repeat_just_under_the_limit_is_accepted() -> None:
    res = check_text(HEAD + "nodes: {n: {op: relu, in: x, repeat: 10000}}\noutputs: n\n")
    assert res.ok


def _alias(name: str, extends: str) -> str:
    return f"block: {name}\nextends: {extends}\nfixed: {{}}\n"


def test_block_alias_cycle_is_located(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_alias("a", "b"))
    (tmp_path / "b.yaml").write_text(_alias("b", "c"))
    (tmp_path / "c.yaml").write_text(_alias("c", "a"))
    lib = BlockLibrary([tmp_path], use_env=False)
    with pytest.raises(netdsl.NetdslError) as info:
        lib.get("a")
    err = info.value
    assert "cycle: a -> b -> c -> a" in err.message
    assert err.loc.line == 2 and err.loc.file.endswith("c.yaml") and err.loc.path == ("extends",)


def test_block_alias_cycle_in_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "blk").mkdir()
    (tmp_path / "blk" / "a.yaml").write_text(_alias("a", "b"))
    (tmp_path / "blk" / "b.yaml").write_text(_alias("b", "a"))
    (tmp_path / "u.yaml").write_text(
        "network: u\ninputs: {x: [B, 4]}\nnodes: {n: {block: a, in: x}}\noutputs: n\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "u.yaml", "--blocks-path", "blk"]) == 1
    err = capsys.readouterr().err
    assert "cycle" in err and "nesting" not in err and "blk/b.yaml:2:" in err


SGE = Path(__file__).resolve().parent.parent / "blocks" / "sge.yaml"


def test_require_broken_through_set_is_located_at_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    res = netdsl.check(SGE, overrides={"groups": 0})
    errs = [e for e in res.errors if "requires" in e.message]
    assert errs, [str(e) for e in res.errors]
    err = errs[0]
    assert err.loc.path[:1] == ("require",), err.loc
    assert "groups=0 (--set)" in err.message


@pytest.mark.parametrize(
    "init",
    [
        "{fn: normal, std: -1}",
        "{fn: normal, std: .nan}",
        "{fn: uniform, a: 1, b: 0}",
        "{fn: trunc_normal, a: 2, b: 1}",
        "{fn: uniform, b: .inf}",
        "{fn: constant, value: 1.0e+39}",
        "{fn: xavier_uniform, gain: .nan}",
        "{fn: kaiming_normal, a: -.inf}",
    ],
)
def test_initialisers_that_crash_torch_are_static_errors(init: str) -> None:
    """These passed validate and crashed the build with torch's RuntimeError."""
    text = (
        HEAD + f"nodes: {{n: {{op: linear, in: x, out_features: 3, init: {{weight: {init}}}}}}}\noutputs: n\n"
    )
    res = check_text(text)
    (err,) = res.errors
    assert "initialiser" in err.message and err.loc.line == 4

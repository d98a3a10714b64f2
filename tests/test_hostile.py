"""Hostile and random input: netdsl answers with NetdslErrors, never a crash, a hang or a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.cli import main
from netdsl.core.errors import NetdslError
from netdsl.ops import REGISTRY

from .conftest import ROOT, SPECS

TEXTS = [t for t in (p.read_text() for p in SPECS) if "extends:" not in t and len(t) < 4000]  # small networks


def _check_text(text: str) -> netdsl.CheckResult:
    try:
        spec = netdsl.load("fuzz.yaml", text=text)
    except NetdslError:
        return netdsl.CheckResult(None)
    return netdsl.check(spec, concrete=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(TEXTS),
    cuts=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 40), st.text(max_size=8)), max_size=4),
)
def test_mutated_specs_never_crash(base: str, cuts: list[tuple[int, int, str]]) -> None:
    text = base
    for pos, length, insert in cuts:
        pos %= max(1, len(text))
        text = text[:pos] + insert + text[pos + length :]
    res = _check_text(text)  # must not raise anything but NetdslError (caught inside)
    for e in res.errors:
        assert isinstance(e, NetdslError)
        assert e.loc.file


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70)
    | st.sampled_from(["x", "B", "$w", "${w*2}", "fc", "-1", ""]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "in", "op", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
OPS = st.sampled_from([*sorted(REGISTRY), "nope"])


@settings(max_examples=300, deadline=None)
@given(
    op=OPS,
    attrs=st.dictionaries(
        st.sampled_from(
            [
                "out_features",
                "kernel_size",
                "dim",
                "shape",
                "p",
                "sizes",
                "chunks",
                "other",
                "value",
                "stride",
            ]
        ),
        VALUES,
        max_size=3,
    ),
)
def test_random_attributes_never_crash(op: str, attrs: dict[str, object]) -> None:
    import yaml

    node = {"op": op, "in": "x", **attrs}
    doc = {
        "network": "fuzz",
        "inputs": {"x": ["B", 4, 6]},
        "dims": {"B": 2},
        "vars": {"w": 3},
        "nodes": {"n": node},
        "outputs": {"y": "n"},
    }
    res = _check_text(yaml.safe_dump(doc))
    assert all(isinstance(e, NetdslError) for e in res.errors)


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
        "[" * 5000 + "]" * 5000,
        "network: x\nvars: {a: '${" + "(" * 500 + "1" + ")" * 500 + "}'}\n",
        "network: x\nvars: {a: '${2**2**2**2**2**2}'}\n",
        "network: x\nvars: {a: '${range(10**9)}'}\n",
        "!!python/object/apply:os.system ['echo hacked']\n",
        "network: x\ninputs: {x: [B, 4]}\nnodes: {n: {op: relu, in: x, repeat: 99999999}}\noutputs: n\n",
        "network: x\ninputs: {x: [B, 4]}\nnodes: {n: {op: linear, in: x, out_features: 999999999999}}\n"
        "outputs: n\ndims: {B: 1}\n",
        "\x00\x01\x02binary",
        "network: x\n" + "#" * 600_000,
    ],
    ids=[
        "billion-laughs",
        "deep-nesting",
        "deep-expression",
        "huge-power",
        "huge-range",
        "python-tag",
        "huge-repeat",
        "huge-weight",
        "binary",
        "too-large",
    ],
)
def test_hostile_files_fail_fast_with_an_error(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    t0 = time.perf_counter()
    code = main(["validate", str(path)])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert "hostile.yaml" in err
    assert elapsed < 10, f"took {elapsed:.1f} s"  # generous: a hang would take forever


#: the two modules that may import ``importlib``, never for anything a spec names: plugins, the entry
#: points of *installed* distributions (``importlib.metadata``; a plugin op's lowering, an import path
#: its Python definition gives), and `netdsl import MODULE:FACTORY`, which imports the module its user
#: names on the command line (as ``python -m`` does). Everywhere else the ban stands.
IMPORTLIB_ALLOWED = {ROOT / "netdsl" / "core" / "plugins.py", ROOT / "netdsl" / "cli" / "importer.py"}


def test_no_eval_or_exec_in_the_package() -> None:
    import re

    banned = re.compile(r"(?<![.\w])(?<!def )(eval|exec|compile|__import__)\(|\bimportlib\b|\bpickle\b")
    without_importlib = re.compile(r"(?<![.\w])(?<!def )(eval|exec|compile|__import__)\(|\bpickle\b")
    for path in (ROOT / "netdsl").rglob("*.py"):
        ban = without_importlib if path in IMPORTLIB_ALLOWED else banned
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not ban.search(line), f"{path}:{n}: {line.strip()}"
    for allowed in IMPORTLIB_ALLOWED:
        assert "import importlib" in allowed.read_text(), allowed  # (the exception is not stale)

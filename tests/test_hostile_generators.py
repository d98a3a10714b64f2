"""Hypothesis generators of hostile input, one family per class of the hostile review.

- file kinds made at test time (regular files, FIFOs, folders, symlinks inside / outside / dangling /
  looping, /dev and /proc files) as ``extends:`` targets, as the named spec, in block folders;
  references written relative, absolute, with ``..`` detours;
- YAML structure (tags, anchors, aliases, merge keys, nesting, encodings, control characters);
- expressions (extreme integers, every operator and function, nesting), variable chains and cycles;
- extreme integers in dims, attributes, repeats and ``--set``; nested repeats;
- node names that are attributes of ``torch.nn.Module``; every op with every input dtype; integer
  powers; normalisation ``eps``; block parameter precedence (overrides, defaults, ``example:``);
- command-line values: ``--dim``, ``--input-shape``, ``--seed``, ``--device``, ``--max-memory``.

Each property holds whatever the wording of netdsl's messages: only located ``NetdslError``s, the
documented exit codes, no secret printed, no hang (an in-process watchdog for blocking system calls;
a worker subprocess with a timeout for computations). Examples per test are sized so that the whole
hostile suite runs about 10,000 examples in about two minutes on two cores; scale them with
``NETDSL_HOSTILE_SCALE`` (a factor, e.g. ``0.1`` for a quick run, ``10`` for a long one).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, example, given, note, settings
from hypothesis import strategies as st

from .hostile.harness import (
    BASE,
    NET,
    TOKEN,
    CheckWorker,
    Dir,
    Entry,
    Expect,
    Fifo,
    Link,
    Run,
    assert_clean,
    block_file,
    check_github,
    check_json,
    check_text,
    cuda_available,
    make_layout,
    make_temporary_root,
    remove_tree,
    run_cli,
    secret_lines,
    standard_entries,
    thin,
    uses,
)
from .test_ops import CASES as OP_CASES  # the valid example of every op (imported here: it has @given tests)
from .test_ops import DIMS as OP_DIMS

SCALE = float(os.environ.get("NETDSL_HOSTILE_SCALE", "1"))
ETC_PASSWD = tuple(secret_lines("/etc/passwd"))


def examples(n: int) -> settings:
    """Settings for ``n`` examples (scaled), no deadline; shrinking off for tests whose failures
    are hangs (each shrink step would wait for the watchdog)."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        phases=[Phase.explicit, Phase.generate],
        database=None,  # nothing written into the repository (.hypothesis/)
    )


@pytest.fixture(scope="module")
def worker() -> Iterator[CheckWorker]:
    w = CheckWorker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A temporary folder for the examples of this module (each example empties its own subfolder)."""
    root = make_temporary_root("netdsl-hostile-gen-")
    yield root
    remove_tree(root)


_counter = iter(range(10**9))


def fresh(scratch: Path) -> Path:
    """A new empty folder under ``scratch`` for one example."""
    d = scratch / f"e{next(_counter)}"
    d.mkdir()
    return d


NOT_SPEC = f"# {TOKEN}\ndatabase: {{user: admin, password: {TOKEN}}}\n"
SHADOW = f"root:{TOKEN}:19000:0:99999:7:::\n"


def run_format(argv: list[str], fmt: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    return run_cli([*argv, "--format", fmt] if fmt != "text" else argv, cwd=cwd, env=env, hang_seconds=10)


def check_format(run: Run, fmt: str, expect: Expect) -> None:
    if fmt == "json":
        check_json(run, expect)
    elif fmt == "github":
        check_github(run, expect)
    else:
        check_text(run, expect)


# ============================================================================= file kinds
#: where a file can be: (folder relative to the root T, inside the project?)
PLACES = {
    "same": ("proj/specs", True),
    "sub": ("proj/specs/sub", True),
    "parent": ("proj/shared", True),
    "outside": ("outside", False),
    "secret": ("secret", False),
}
#: what a referenced file can be: name -> (entry or absolute system path, is a valid network)
KINDS: dict[str, tuple[Entry | str, bool]] = {
    "spec": (BASE, True),
    "not_spec": (NOT_SPEC, False),
    "shadow": (SHADOW, False),
    "fifo": (Fifo(), False),
    "folder": (Dir(), False),
    "dangling": ("<dangling>", False),
    "dev_zero": ("/dev/zero", False),
    "dev_null": ("/dev/null", False),
    "proc_environ": ("/proc/self/environ", False),
    "etc_passwd": ("/etc/passwd", False),
}


def _rel(target: Path, start: Path) -> str:
    return os.path.relpath(target, start)


@st.composite
def references(draw: st.DrawFn) -> dict[str, Any]:
    """A target file of some kind at some place, reached through a chain of symlinks, written in some
    style: the layout, the `extends:` text, and what netdsl must answer."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    place = draw(st.sampled_from(sorted(PLACES)))
    hops = draw(st.lists(st.sampled_from(sorted(PLACES)), max_size=3))
    style = draw(st.sampled_from(["relative", "absolute", "dot", "detour", "dotdot_name"]))
    loop = draw(st.booleans()) and not hops and kind == "dangling"
    return {"kind": kind, "place": place, "hops": hops, "style": style, "loop": loop}


def lay_out_reference(root: Path, ref: dict[str, Any]) -> tuple[dict[str, Entry], str, bool | None]:
    """The entries, the `extends:` text, and whether netdsl must accept it (None: either answer)."""
    entries: dict[str, Entry] = dict(standard_entries())
    kind, (folder, inside) = ref["kind"], PLACES[ref["place"]]
    content, valid = KINDS[kind]
    if isinstance(content, str) and content.startswith("/"):
        target, inside = Path(content), False
    else:
        target = root / folder / f"t_{kind}.yaml"
        if content == "<dangling>":
            if ref["loop"]:
                entries[f"{folder}/t_{kind}.yaml"] = Link("loop_back.yaml")
                entries[f"{folder}/loop_back.yaml"] = Link(f"t_{kind}.yaml")
        else:
            entries[f"{folder}/t_{kind}.yaml"] = content
    chain_inside = [inside]
    for i, hop in enumerate(reversed(ref["hops"])):  # links built from the target backwards
        hop_folder, hop_inside = PLACES[hop]
        link = root / hop_folder / f"link{i}.yaml"
        entries[f"{hop_folder}/link{i}.yaml"] = Link(_rel(target, link.parent) if i % 2 else str(target))
        target = link
        chain_inside.append(hop_inside)
    spec_dir = root / "proj/specs"
    style = ref["style"]
    if style == "absolute":
        written = str(target)
    elif style == "dot":
        written = "./" + _rel(target, spec_dir)
    elif style == "detour":
        written = "../specs/sub/../" + _rel(target, spec_dir)
    elif style == "dotdot_name":
        written = "sub/../" + _rel(target, spec_dir)
    else:
        written = _rel(target, spec_dir)
    entries["proj/specs/net.yaml"] = thin(written)
    entries.setdefault("proj/specs/sub/keep.txt", "")
    ok: bool | None
    if not chain_inside[0]:  # the file finally read is outside the project: always refused
        ok = False
    elif all(chain_inside):
        ok = valid and content != "<dangling>"
    else:  # inside, but through a link outside: either answer, as long as it is a clean one
        ok = None
    return entries, written, ok


@examples(1000)
@given(ref=references(), fmt=st.sampled_from(["text", "text", "json", "github"]))
def test_extends_targets_of_every_kind(scratch: Path, ref: dict[str, Any], fmt: str) -> None:
    """`extends:` of any file kind, anywhere, through any symlink chain: accepted only when it is a
    valid spec inside the project; otherwise an error at the `extends:` line, never the file's text."""
    root = fresh(scratch)
    entries, written, ok = lay_out_reference(root, ref)
    note(f"extends: {written}  (ok={ok})")
    make_layout(root, entries)
    run = run_format(["validate", "specs/net.yaml"], fmt, root / "proj")
    if ok is None:
        assert run.code in (0, 1), run.text
    expected = run.code if ok is None else (0 if ok else 1)
    at = ("specs/net.yaml", 2) if expected == 1 else None
    check_format(run, fmt, Expect(exit=expected, at=at, secrets=ETC_PASSWD))


NAMED_KINDS = [
    "spec",
    "fifo",
    "folder",
    "dangling",
    "link_fifo",
    "link_spec_outside",
    "link_loop",
    "dev_null",
]


@examples(250)
@given(kind=st.sampled_from(NAMED_KINDS), command=st.sampled_from(["validate", "shapes", "diagram"]))
def test_named_spec_of_every_kind(scratch: Path, kind: str, command: str) -> None:
    """The file named on the command line is trusted, but must still be a regular file: no hang,
    a clean error (exit 1 for what cannot be read)."""
    root = fresh(scratch)
    entries: dict[str, Entry] = dict(standard_entries())
    name = "proj/specs/net.yaml"
    named: dict[str, Entry] = {
        "spec": NET,
        "fifo": Fifo(),
        "folder": Dir(),
        "dangling": Link("gone.yaml"),
        "link_fifo": Link("pipe"),
        "link_spec_outside": Link(str(root / "outside/ok.yaml")),
        "link_loop": Link("net.yaml"),
        "dev_null": Link("/dev/null"),
    }
    entries[name] = named[kind]
    if kind == "link_fifo":
        entries = {"proj/specs/pipe": Fifo(), **entries}
    entries["outside/ok.yaml"] = NET
    make_layout(root, entries)
    argv = [command, "specs/net.yaml"] + (["-f", "dot"] if command == "diagram" else [])
    run = run_cli(argv, cwd=root / "proj", hang_seconds=10)
    expected = {"spec": 0, "link_spec_outside": 0}.get(kind, 1)
    if kind == "folder" and command == "validate":
        expected = 2  # a folder without specs: nothing to check
    check_text(run, Expect(exit=expected, unlocated_ok=True, validate=command == "validate"))


BLOCK_KINDS: dict[str, tuple[Entry, bool]] = {
    "block": (block_file("evil"), True),
    "not_block": (NOT_SPEC, False),
    "network": (NET, False),
    "shadow": (SHADOW, False),
    "fifo": (Fifo(), False),
    "folder": (Dir(), False),
    "dangling": (Link("gone.yaml"), False),
    "loop": (Link("evil.yaml"), False),
    "link_inside": (Link("../lib/evil.yaml"), True),
    "link_outside_block": (Link("{T}/outside/evil.yaml"), False),
    "link_outside_shadow": (Link("{T}/secret/shadow"), False),
    "link_etc_passwd": (Link("/etc/passwd"), False),
    "link_dev_zero": (Link("/dev/zero"), False),
}


@examples(250)
@given(
    kind=st.sampled_from(sorted(BLOCK_KINDS)),
    command=st.sampled_from(["use_evil", "use_good", "list", "show"]),
    via_env=st.booleans(),
    sibling=st.sampled_from(["none", "fifo", "shadow", "link_outside_shadow", "folder"]),
)
def test_block_folders_with_every_kind(
    scratch: Path, kind: str, command: str, via_env: bool, sibling: str
) -> None:
    """A block folder (``--blocks-path`` or ``NETDSL_BLOCKS_PATH``) holding ``evil.yaml`` of any kind:
    using it works only for a block file inside a trusted folder; never a hang, never a secret."""
    root = fresh(scratch)
    entry, fine = BLOCK_KINDS[kind]
    entries: dict[str, Entry] = {
        **standard_entries(),
        "proj/lib/evil.yaml": block_file("evil"),
        "outside/evil.yaml": block_file("evil"),
        "proj/blk/good.yaml": block_file("good"),
        "proj/blk/evil.yaml": entry,
        "proj/specs/net.yaml": uses("evil" if command == "use_evil" else "good"),
    }
    if sibling != "none":  # another bad file in the folder, never used by the spec
        entries["proj/blk/other.yaml"] = BLOCK_KINDS[sibling][0]
    make_layout(root, entries)
    folder = ["--blocks-path", "blk"] if not via_env else []
    env = {"NETDSL_BLOCKS_PATH": str(root / "proj/blk")} if via_env else None
    argv = {
        "use_evil": ["validate", "specs/net.yaml", *folder],
        "use_good": ["validate", "specs/net.yaml", *folder],
        "list": ["blocks", *folder],
        "show": ["blocks", "evil", *folder],
    }[command]
    run = run_cli(argv, cwd=root / "proj", env=env, hang_seconds=10)
    note(run.text)
    quiet = sibling == "none"  # no other bad file in the folder
    if command == "use_evil" and (quiet or not fine):
        at = None if fine else ("specs/net.yaml", 5)
        expect = Expect(exit=0 if fine else 1, at=at, secrets=ETC_PASSWD, validate=True)
    elif command in ("use_evil", "use_good"):
        assert run.code in (0, 1), run.text  # an unused bad file may or may not be reported
        expect = Expect(exit=run.code, unlocated_ok=True, secrets=ETC_PASSWD, validate=True)
    elif command == "list":  # `netdsl blocks` reads every file of the folder
        expect = Expect(exit=0 if fine and quiet else 1, unlocated_ok=True, secrets=ETC_PASSWD)
    else:
        assert (fine and (quiet or run.code in (0, 1))) or (not fine and run.code in (1, 2)), run.text
        expect = Expect(exit=run.code if not (fine and quiet) else 0, unlocated_ok=True, secrets=ETC_PASSWD)
    check_text(run, expect)


# ============================================================================= YAML structure
TAGS = [
    "!!python/object/apply:os.system",
    "!!python/name:os.system",
    "!foo",
    "!!binary",
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!map",
    "!!seq",
    "!!set",
    "!!omap",
    "!!timestamp",
    "!",
    "!<tag:yaml.org,2002:python/object:os.system>",
    "!<tag:yaml.org,2002:str>",
]
SCALARS = st.one_of(
    st.sampled_from(
        [
            "1",
            "-1",
            "0x1F",
            "0o17",
            "1_000",
            "1e400",
            ".nan",
            "-.inf",
            "yes",
            "~",
            "''",
            '"\\e[2J"',
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "'${1+1}'",
            '"\\0"',
            "'\u202e'",
            "12:30",
            "2001-12-14",
            "<<",
            "*a",
            "&a 1",
            "? x",
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6).map(lambda s: repr(s)),
)


@st.composite
def yaml_values(draw: st.DrawFn, depth: int = 0) -> str:
    """A YAML value in flow style, built from hostile pieces (tags, anchors, aliases, merges)."""
    choice = draw(st.integers(0, 6 if depth < 4 else 1))
    anchor = f"&a{draw(st.integers(0, 3))} " if draw(st.integers(0, 5)) == 0 else ""
    tag = draw(st.sampled_from(TAGS)) + " " if draw(st.integers(0, 4)) == 0 else ""
    if choice <= 1:
        return anchor + tag + draw(SCALARS)
    if choice == 2:
        return f"*a{draw(st.integers(0, 4))}"
    if choice == 3:
        items = draw(st.lists(yaml_values(depth + 1), max_size=4))
        return anchor + tag + "[" + ", ".join(items) + "]"
    if choice == 4:
        keys = draw(st.lists(st.sampled_from(["a", "b", "<<", "in", "op", "''", "? [x]"]), max_size=3))
        items = [f"{k}: {draw(yaml_values(depth + 1))}" for k in keys]
        return anchor + tag + "{" + ", ".join(items) + "}"
    if choice == 5:
        n = draw(st.integers(1, 150))
        return "[" * n + "]" * n
    return "{<<: " + draw(yaml_values(depth + 1)) + "}"


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"]


@examples(1200)
@given(
    values=st.lists(yaml_values(), min_size=1, max_size=4),
    slot=st.sampled_from(["vars", "dims", "node", "top", "inputs"]),
    encoding=st.sampled_from(ENCODINGS),
    junk=st.sampled_from(
        ["", "\x00", "\x1b[2J", "\t", "\r", "\ufeff", "---\n", "%YAML 1.1\n", "\x85", "\u2028"]
    ),
)
def test_yaml_structures(scratch: Path, values: list[str], slot: str, encoding: str, junk: str) -> None:
    """Tags, anchors, aliases, merges, deep nesting, encodings and control characters anywhere in an
    otherwise valid spec, read from a file: only located NetdslErrors."""
    body = "\n".join(f"  k{i}: {v}" for i, v in enumerate(values))
    lines = NET.splitlines()
    if slot == "vars":
        text = NET + "vars:\n" + body + "\n"
    elif slot == "dims":
        text = NET.replace("dims: {B: 2}", "dims:\n  B: " + values[0])
    elif slot == "node":
        text = NET.replace("out_features: 3}", f"out_features: 3, extra: {values[0]}}}")
    elif slot == "inputs":
        text = NET.replace("inputs: {x: [B, 4]}", f"inputs: {{x: {values[0]}}}")
    else:
        text = "\n".join([*lines[:1], junk + lines[1], *lines[2:]]) + "\n" + body.replace("  k", "k") + "\n"
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    path = scratch / "fuzz.yaml"
    path.write_bytes(raw)
    import netdsl
    from netdsl.core.errors import NetdslError

    from .hostile.harness import watchdog

    with watchdog(10, "netdsl.check"):
        res = netdsl.check(path, concrete=True)
    for e in res.errors + res.warnings:
        assert isinstance(e, NetdslError)
        rendered = e.render()
        assert "internal error" not in rendered, rendered
        assert e.loc.file.endswith("fuzz.yaml")
        if "too large" not in e.message:
            assert e.loc.line >= 1, rendered


# ============================================================================= expressions
EXTREME_INTS = st.one_of(
    st.sampled_from(
        [
            0,
            1,
            -1,
            2,
            7,
            63,
            64,
            2**31 - 1,
            2**31,
            2**53 + 1,
            2**62,
            2**63 - 1,
            2**63,
            2**64 - 1,
            2**64,
            -(2**63),
            -(2**63) - 1,
            10**18,
            10**30,
            10**100,
        ]
    ),
    st.integers(-(2**70), 2**70),
    st.integers(-100, 100),
)
NUMBERS = st.one_of(EXTREME_INTS.map(str), st.sampled_from(["1e308", "1e-320", "0.5", "-0.0", "1.5", "3.0"]))
FUNCS = ["min", "max", "abs", "int", "float", "round", "len", "sqrt", "ceil", "floor", "sum", "range"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "==", "<", ">=", "and", "or", "in"]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    """An expression of the spec language (and some things outside it), with extreme numbers."""
    choice = draw(st.integers(0, 9 if depth < 4 else 1))
    if choice == 0:
        return draw(NUMBERS)
    if choice == 1:
        return draw(
            st.sampled_from(["w", "xs", "s", "true", "null", "'ab'", "[]", "B", "__class__", "w.real"])
        )
    if choice == 2:
        op = draw(st.sampled_from(BINOPS))
        return f"({draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))})"
    if choice == 3:
        f = draw(st.sampled_from(FUNCS))
        args = draw(st.lists(expressions(depth + 1), max_size=3))
        return f"{f}({', '.join(args)})"
    if choice == 4:
        return f"[{', '.join(draw(st.lists(expressions(depth + 1), max_size=3)))}]"
    if choice == 5:
        return f"{draw(expressions(depth + 1))}[{draw(expressions(depth + 1))}]"
    if choice == 6:
        a, b, c = (draw(st.one_of(st.just(""), expressions(depth + 1))) for _ in range(3))
        return f"xs[{a}:{b}:{c}]"
    if choice == 7:
        a, b, c = (draw(expressions(depth + 1)) for _ in range(3))
        return f"({a} if {b} else {c})"
    if choice == 8:
        return f"{draw(st.sampled_from(['-', 'not ', '+']))}{draw(expressions(depth + 1))}"
    return draw(
        st.sampled_from(
            [
                "__import__('os')",
                "(lambda: 1)()",
                "[i for i in xs]",
                "w.__class__",
                "''.join",
                "{'a': 1}",
                "xs[10**30]",
                "'x' * 10**9",
                "[0] * 10**8",
                "2**2**2**2**2",
            ]
        )
    )


@examples(1500)
@given(expr=expressions(), use=st.sampled_from(["var", "attr", "repeat", "dim", "when"]))
@example(expr="18446744073709551615", use="dim")  # found by this test: SymbolicError escaped
@example(expr="round(10**30, -10**9)", use="attr")
@example(expr="2**63", use="dim")
def test_expressions(worker: CheckWorker, expr: str, use: str) -> None:
    """Any expression, used anywhere: a value or a located ExprError, quickly (a worker process with
    a timeout catches computations that would run for minutes in C)."""
    e = expr.replace('"', "'")
    node = {
        "var": "  fc: {op: linear, in: x, out_features: $v}\n",
        "attr": f'  fc: {{op: linear, in: x, out_features: "${{{e}}}"}}\n',
        "repeat": f'  fc: {{op: relu, in: x, repeat: "${{{e}}}"}}\n',
        "dim": '  fc: {op: reshape, in: x, shape: [B, "${' + e + '}"]}\n',
        "when": f'  fc: {{op: relu, in: x, when: "${{{e}}}"}}\n',
    }[use]
    text = (
        f"network: fuzz\ninputs: {{x: [B, 4]}}\ndims: {{B: 2}}\n"
        f'vars:\n  w: 3\n  xs: [1, 2, 3]\n  s: abc\n  v: "${{{e}}}"\nnodes:\n{node}outputs: fc\n'
    )
    assert_clean(worker.check(text, timeout=10), text)


@examples(80)
@given(n=st.integers(1, 3000), cycle=st.integers(0, 5), shape=st.sampled_from(["chain", "self", "cycle"]))
def test_variable_chains_and_cycles(worker: CheckWorker, n: int, cycle: int, shape: str) -> None:
    """A chain of n variables is fine however long; a variable that refers to itself, or a cycle,
    is an error located at one of its variables, and is not called an unknown name."""
    lines = ["  v0: 1"] + [f"  v{i}: ${{v{i - 1} + 1}}" for i in range(1, n)]
    if shape == "self":
        lines[-1] = f"  v{n - 1}: ${{v{n - 1} + 1}}"
    elif shape == "cycle":
        k = min(n, cycle + 1)
        lines[n - k] = f"  v{n - k}: ${{v{n - 1} + 1}}"
    text = (
        "network: fuzz\ninputs: {x: [B, 4]}\ndims: {B: 2}\nvars:\n"
        + "\n".join(lines)
        + f"\nnodes:\n  fc: {{op: linear, in: x, out_features: $v{n - 1}}}\noutputs: fc\n"
    )
    answer = worker.check(text, timeout=20)
    assert_clean(answer, text)
    if shape == "chain":
        assert not answer["errors"], answer["errors"]
        assert answer["outputs"] == [["fc", f"(B, {n})"]], answer["outputs"]
    else:
        assert answer["errors"], f"a {shape} of variables is not reported"
        first = answer["errors"][0]
        assert 5 <= first["line"] <= 4 + n, first
        assert "unknown" not in first["message"], first["message"]


# ============================================================================= extreme integers
def spec_with(
    nodes: str, *, inputs: str = "[B, 4]", dims: str = "{B: 2}", extra: str = "", out: str = "fc"
) -> str:
    """A small network: input ``x`` of shape ``inputs``, the ``nodes`` lines, output ``out``."""
    return f"network: f\ninputs: {{x: {inputs}}}\ndims: {dims}\n{extra}nodes:\n{nodes}outputs: {out}\n"


UNIT = (
    "blocks:\n  u:\n    params: {n: {type: int}}\n    inputs: {x: [B, 4]}\n"
    "    nodes:\n      fc: {op: linear, in: x, out_features: $n}\n    outputs: fc\n"
)
#: where an integer V can go
SLOTS = {
    "dims": spec_with("  fc: {op: linear, in: x, out_features: 3}\n", dims="{B: V}"),
    "dims_list": spec_with("  fc: {op: relu, in: x}\n", dims="{B: [V, 2]}"),
    "input_dim": spec_with("  fc: {op: relu, in: x}\n", inputs="[V, 4]", dims="{}"),
    "out_features": spec_with("  fc: {op: linear, in: x, out_features: V}\n"),
    "kernel": spec_with("  fc: {op: conv1d, in: x, out_channels: 2, kernel_size: V}\n", inputs="[B, 2, 8]"),
    "stride": spec_with("  fc: {op: max_pool1d, in: x, kernel_size: 2, stride: V}\n", inputs="[B, 2, 8]"),
    "repeat": spec_with("  fc: {op: relu, in: x, repeat: V}\n"),
    "parallel": spec_with("  h: {op: relu, in: x, parallel: V}\n  fc: {op: cat, in: h.*, dim: 1}\n"),
    "reshape": spec_with("  fc: {op: reshape, in: x, shape: [V, -1]}\n"),
    "split": spec_with("  fc: {op: split, in: x, dim: 1, chunks: V}\n", out="fc.0"),
    "slice": spec_with("  fc: {op: slice, in: x, dim: 1, start: V, end: 3}\n"),
    "softmax_dim": spec_with("  fc: {op: softmax, in: x, dim: V}\n"),
    "unsqueeze": spec_with("  fc: {op: unsqueeze, in: x, dim: V}\n"),
    "expand": spec_with("  fc: {op: expand, in: x, shape: [B, V]}\n", inputs="[B, 1]"),
    "var": spec_with('  fc: {op: linear, in: x, out_features: "${w * 2}"}\n', extra="vars: {w: V}\n"),
    "group_norm": spec_with("  fc: {op: group_norm, in: x, num_groups: V}\n", inputs="[B, 4, 3]"),
    "parameter": spec_with("  p: {op: parameter, shape: [V, 4]}\n  fc: {op: add, in: [x, p]}\n"),
    "block_param": spec_with("  fc: {block: u, in: x, n: V}\n", extra=UNIT),
}


@examples(2500)
@given(slot=st.sampled_from(sorted(SLOTS)), value=EXTREME_INTS)
def test_extreme_integers_in_every_slot(worker: CheckWorker, slot: str, value: int) -> None:
    """An extreme integer in a dim, an attribute, a repeat, a variable or a block parameter: a
    located error or a valid spec; a value that does not fit in 64 bits is always an error."""
    text = SLOTS[slot].replace("V", str(value))
    answer = worker.check(text, timeout=20)
    assert_clean(answer, text)
    if not -(2**63) <= value < 2**63:
        assert answer["errors"], f"{value} does not fit in 64 bits but is accepted in {slot}"
    if slot in ("dims", "out_features", "repeat") and value < 1:
        assert answer["errors"], f"{slot} of {value} is accepted"


@examples(25)
@given(counts=st.lists(st.integers(1, 120), min_size=2, max_size=3), over=st.booleans())
def test_nested_repeats(worker: CheckWorker, counts: list[int], over: bool) -> None:
    """Nested repeats: over the 200,000-node cap an error at once, under it a valid spec, both quick."""
    total = math.prod(counts)
    if over:
        counts = [*counts[:-1], counts[-1] * max(1, 200_001 // total + 1)]
        total = math.prod(counts)
    assume(over == (total > 200_000))
    assume(total <= 10_000 or over)  # under the cap, keep the example small
    blocks = ""
    inner = "op: relu"
    for i, n in enumerate(counts[:-1]):
        blocks += (
            f"  b{i}:\n    inputs: {{x: [B, 4]}}\n"
            f"    nodes:\n      n: {{{inner}, in: x, repeat: {n}}}\n    outputs: n\n"
        )
        inner = f"block: b{i}"
    text = (
        f"network: fuzz\ninputs: {{x: [B, 4]}}\ndims: {{B: 2}}\nblocks:\n{blocks}"
        f"nodes:\n  fc: {{{inner}, in: x, repeat: {counts[-1]}}}\noutputs: fc\n"
    )
    answer = worker.check(text, timeout=30)
    assert_clean(answer, text)
    assert bool(answer["errors"]) == over, answer["errors"]
    assert answer["seconds"] < (2 if over else 20), f"{answer['seconds']:.1f} s for {counts}"


# ============================================================================= block parameters
@st.composite
def block_params(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    params = []
    for i in range(n):
        params.append(
            {
                "name": f"p{i}",
                "default": draw(st.one_of(st.none(), st.integers(1, 9))),
                "example": draw(st.one_of(st.none(), st.integers(1, 9))),
                "override": draw(st.one_of(st.none(), st.integers(1, 9))),
            }
        )
    return {"params": params}


@examples(300)
@given(spec=block_params())
def test_block_parameter_precedence(spec: dict[str, Any]) -> None:
    """A block file checked on its own: each parameter is the override when given, else its declared
    default, else the `example:` value; with none of them, an error."""
    import netdsl

    params = spec["params"]
    decl = "\n".join(
        f"  {p['name']}: {{type: int"
        + (f", default: {p['default']}" if p["default"] is not None else "")
        + "}"
        for p in params
    )
    example = {p["name"]: p["example"] for p in params if p["example"] is not None}
    nodes = "\n".join(
        f"  n{i}: {{op: linear, in: x, out_features: ${p['name']}}}" for i, p in enumerate(params)
    )
    outputs = "\n".join(f"  y{i}: n{i}" for i in range(len(params)))
    text = (
        f"block: prec\nparams:\n{decl}\n"
        + (f"example: {example}\n" if example else "")
        + f"dims: {{B: 2}}\ninputs:\n  x: [B, 4]\nnodes:\n{nodes}\noutputs:\n{outputs}\n"
    ).replace("'", "")
    overrides = {p["name"]: p["override"] for p in params if p["override"] is not None}
    res = netdsl.check(netdsl.load("prec.yaml", text=text), overrides=overrides)
    expected = []
    for p in params:
        for source in ("override", "default", "example"):
            if p[source] is not None:
                expected.append(p[source])
                break
        else:
            expected.append(None)
    note(f"{text}\noverrides={overrides} expected={expected}")
    if None in expected:
        assert res.errors, "a parameter without override, default or example is accepted"
        return
    assert not res.errors, [e.render() for e in res.errors]
    assert res.shapes is not None
    got = [str(t) for _, t in res.shapes.outputs]
    assert got == [f"(B, {v})" for v in expected], (got, expected)


# ============================================================================= node names and modules
def _module_attributes() -> list[str]:
    import torch

    names = set(dir(torch.nn.Module())) | set(dir(torch.nn.Linear(1, 1))) | set(vars(torch.nn.Module()))
    return sorted(n for n in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n))


WEIGHTED = {
    "linear": ("[B, 4]", "out_features: 3", "weight"),
    "conv1d": ("[B, 4, 5]", "out_channels: 2, kernel_size: 1", "weight"),
    "layer_norm": ("[B, 4]", "", "weight"),
    "batch_norm1d": ("[B, 4, 5]", "", "running_mean"),
    "group_norm": ("[B, 4, 5]", "num_groups: 2", "weight"),
    "relu": ("[B, 4]", "", None),
}


@st.composite
def node_names(draw: st.DrawFn) -> str:
    attrs = _module_attributes()
    parts = draw(
        st.lists(
            st.one_of(st.sampled_from(attrs), st.sampled_from(["stage", "fc", "0", "1"])),
            min_size=1,
            max_size=3,
        )
    )
    return ".".join(parts)


@examples(250)
@given(name=node_names(), op=st.sampled_from(sorted(WEIGHTED)))
def test_node_names_that_are_module_attributes(name: str, op: str) -> None:
    """A node (or one of its containers) named like an attribute of torch.nn.Module: a static error
    located at the node, or a module that builds, runs and keeps its parameters at the node's path."""
    import netdsl
    from netdsl.api import example_inputs

    shape, attrs, param = WEIGHTED[op]
    text = (
        f"network: names\ninputs: {{x: {shape}}}\ndims: {{B: 2}}\nnodes:\n"
        f"  '{name}': {{op: {op}, in: x{', ' + attrs if attrs else ''}}}\noutputs: '{name}'\n"
    )
    spec = netdsl.load("names.yaml", text=text)
    res = netdsl.check(spec, concrete=True)
    if res.errors:
        for e in res.errors:
            assert e.loc.line >= 1, e.render()
        return
    import torch

    gm = netdsl.build(spec, seed=0)
    with torch.no_grad():
        gm.eval()(*example_inputs(res))
    if param is not None:
        assert f"{name}.{param}" in gm.state_dict(), sorted(gm.state_dict())


# ============================================================================= dtypes, pow, eps
def _op_cases() -> list[Any]:
    return [c for cases in OP_CASES.values() for c in cases]


DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]


def _op_spec(case: Any, dtypes: tuple[str, ...]) -> str:
    used = sorted({d for s in case.shapes for d in s if isinstance(d, str)})
    inputs = {
        f"x{i}": {"shape": list(s), "dtype": dt}
        for i, (s, dt) in enumerate(zip(case.shapes, dtypes, strict=True))
    }
    node = {"op": case.op, **case.attrs}
    if case.shapes:
        node["in"] = [f"x{i}" for i in range(len(case.shapes))]
    doc = {
        "network": "dtypes",
        "inputs": inputs,
        "dims": {d: OP_DIMS[d] for d in used},
        "nodes": {"n": node},
        "outputs": "n.0" if case.op == "split" else "n",  # split: one output per part
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _build_and_run(text: str) -> None:
    """Check ``text``; when it is valid, build it and run one forward pass: that must work."""
    import torch

    import netdsl
    from netdsl.api import example_inputs

    spec = netdsl.load("dtypes.yaml", text=text)
    res = netdsl.check(spec, concrete=True)
    if res.errors:
        for e in res.errors:
            assert e.loc.line >= 1, e.render()
        return
    gm = netdsl.build(spec, seed=0)
    with torch.no_grad():
        try:
            gm.eval()(*example_inputs(res))
        except Exception as e:  # the bug: valid statically, crashes in torch
            raise AssertionError(
                f"passes netdsl.check but fails at run time: {type(e).__name__}: {e}\n{text}"
            ) from None


@examples(300)
@given(data=st.data())
def test_every_op_with_every_dtype(data: st.DataObject) -> None:
    """Every op with inputs of every dtype: a static error located in the spec, or a module that runs."""
    cases = _op_cases()
    case = data.draw(st.sampled_from(cases), label="case")
    dtypes = tuple(data.draw(st.sampled_from(DTYPES), label=f"dtype{i}") for i in range(len(case.shapes)))
    _build_and_run(_op_spec(case, dtypes))


@examples(150)
@given(
    dtype=st.sampled_from(DTYPES),
    other=st.one_of(
        st.integers(-5, 5), st.sampled_from([-1.5, 0.5, 2.0, -2.0]), st.integers(-(2**40), 2**40)
    ),
    two_tensors=st.booleans(),
)
def test_pow_with_every_dtype_and_exponent(dtype: str, other: int | float, two_tensors: bool) -> None:
    """`pow` of any dtype by any exponent: a static error (negative integer powers of integers), or it
    runs."""
    if two_tensors:
        text = (
            f"network: p\ninputs:\n  x: {{shape: [B, 4], dtype: {dtype}}}\n"
            f"  y: {{shape: [B, 4], dtype: {dtype}}}\n"
            "dims: {B: 2}\nnodes:\n  n: {op: pow, in: [x, y]}\noutputs: n\n"
        )
    else:
        text = (
            f"network: p\ninputs:\n  x: {{shape: [B, 4], dtype: {dtype}}}\ndims: {{B: 2}}\n"
            f"nodes:\n  n: {{op: pow, in: x, other: {other}}}\noutputs: n\n"
        )
    _build_and_run(text)


EPS_OPS = {
    "layer_norm": "[B, 4]",
    "batch_norm1d": "[B, 4, 3]",
    "batch_norm2d": "[B, 4, 3, 3]",
    "group_norm": "[B, 4, 3]",
}


@examples(1000)
@given(
    op=st.sampled_from(sorted(EPS_OPS)),
    eps=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1, -0.0, 1e-300, -1e-300])
    ),
    via_var=st.booleans(),
)
def test_norm_eps(worker: CheckWorker, op: str, eps: float, via_var: bool) -> None:
    """A negative or NaN `eps` is a static error located at the node; a positive finite one is fine."""
    written = (
        ".nan"
        if isinstance(eps, float) and math.isnan(eps)
        else (".inf" if eps == math.inf else "-.inf" if eps == -math.inf else repr(eps))
    )
    extra = ", num_groups: 2" if op == "group_norm" else ""
    value = "$e" if via_var else written
    text = (
        f"network: eps\ninputs: {{x: {EPS_OPS[op]}}}\ndims: {{B: 2}}\n"
        + (f"vars: {{e: {written}}}\n" if via_var else "")
        + f"nodes:\n  n: {{op: {op}, in: x, eps: {value}{extra}}}\noutputs: n\n"
    )
    answer = worker.check(text, name="fuzz.yaml", timeout=10)
    assert_clean(answer, text)
    if math.isnan(eps) or eps < 0:
        assert answer["errors"], f"eps={written} is accepted"
        assert answer["errors"][0]["line"] >= 1
    elif 0 < eps < math.inf:
        assert not answer["errors"], answer["errors"]


# ============================================================================= command-line values
UNICODE_DIGITS = st.text(st.characters(categories=["Nd"]), min_size=1, max_size=3)
NUMBER_TEXT = st.one_of(
    EXTREME_INTS.map(str),
    st.integers(1, 64).map(str),
    UNICODE_DIGITS,
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "00",
            "-0",
            "+3",
            "3.0",
            "1e3",
            "0x10",
            "٣",
            "²",
            "１",
            "3 ",
            " 3",
            "3_000",
            "9" * 5000,
            "nan",
            "inf",
            "three",
            "3;rm -rf",
            "3\u202e",
        ]
    ),
)


def _cli_number_ok(text: str) -> bool | None:
    """Whether a size on the command line is valid: True, False, or None (either answer)."""
    s = text.strip()
    if s != text:
        return None  # surrounding spaces: either answer
    if not s.isascii() or not s.isdigit():
        return False
    n = int(s) if len(s) < 100 else 2**64
    if n < 1 or n >= 2**63:
        return False
    return True if n <= 2**40 else None


IMG = (
    "network: img\ninputs: {image: [B, 3, H, W]}\ndims: {B: 1, H: 8, W: 8}\n"
    "nodes:\n  conv: {op: conv2d, in: image, out_channels: 2, kernel_size: 1}\noutputs: conv\n"
)


@examples(700)
@given(
    flag=st.sampled_from(["dim", "input_shape"]),
    name=st.sampled_from(["H", "W", "B", "Q", "image", "nope", ""]),
    values=st.lists(NUMBER_TEXT, min_size=1, max_size=4),
    command=st.sampled_from(["shapes", "shapes", "diagram"]),
)
def test_cli_sizes(scratch: Path, flag: str, name: str, values: list[str], command: str) -> None:
    """`--dim NAME=N` / `--input-shape NAME=AxBxC`: a size that is not a positive ASCII integer below
    2**63, or a name the spec does not have, is a usage error (exit 2), never an internal error."""
    path = scratch / "img.yaml"
    if not path.exists():
        path.write_text(IMG)
    if flag == "dim":
        arg, value = ["--dim", f"{name}={values[0]}"], values[0]
        known = name in ("H", "W", "B")
        oks = [_cli_number_ok(value)]
        rank_ok = True
    else:
        value = "x".join(values)
        arg = ["--input-shape", f"{name}={value}"]
        known = name == "image"
        oks = [_cli_number_ok(v) for v in values]
        rank_ok = len(values) == 4
    argv = [command, str(path), *arg] + (["-f", "dot"] if command == "diagram" else [])
    run = run_cli(argv, cwd=scratch, hang_seconds=20)
    note(run.text[:2000])
    if not known or False in oks or (command == "diagram" and flag == "input_shape"):
        expected = 2  # (`diagram` has no --input-shape)
    elif all(ok is True for ok in oks) and rank_ok:
        assert run.code in (0, 1), run.text[:2000]
        expected = run.code
    elif None in oks:  # a size with spaces around it, or beyond 2**40: any clean answer
        expected = run.code
    else:  # a wrong rank: an error either way
        assert run.code in (1, 2), run.text[:2000]
        expected = run.code
    check_text(run, Expect(exit=expected, unlocated_ok=True))


@examples(70)
@given(
    seed=st.one_of(
        EXTREME_INTS.map(str), UNICODE_DIGITS, st.sampled_from(["0", "-1", "1.5", "0x10", "", "seed"])
    ),
    device=st.sampled_from(
        ["cpu", "cpu", "cuda", "cuda:0", "cuda:99", "nope", "", "CPU", "mps", "meta", "cpu:0"]
    ),
)
def test_cli_seed_and_device(scratch: Path, seed: str, device: str) -> None:
    """`build --seed S --device D`: a seed beyond 64 bits or not an integer, a device that does not
    exist here, are usage errors (exit 2); valid ones build."""
    path = scratch / "net.yaml"
    if not path.exists():
        path.write_text(NET)
    run = run_cli(["build", str(path), f"--seed={seed}", f"--device={device}"], cwd=scratch, hang_seconds=60)
    note(run.text[:2000])
    s = seed.strip()
    seed_ok: bool | None = False
    if s.isascii() and s.isdigit():
        n = int(s) if len(s) < 100 else 2**64
        seed_ok = True if n < 2**63 else None if n < 2**64 else False
    elif (s.startswith("-") and s[1:].isascii() and s[1:].isdigit()) or (s and s.isdigit()):
        seed_ok = None  # a negative seed, or digits of another script: either answer
    device_ok: bool | None = {"cpu": True, "nope": False, "": False, "cuda:99": False}.get(device)
    if device.startswith("cuda") and not cuda_available():
        device_ok = False
    if seed_ok is False or device_ok is False:
        expected = 2
    elif seed_ok and device_ok:
        expected = 0
    else:
        assert run.code in (0, 2), run.text[:2000]
        expected = run.code
    check_text(run, Expect(exit=expected, seconds=60))


@examples(80)
@given(
    size=st.one_of(
        st.sampled_from(["1G", "512M", "1.5GiB", "64MB", "100000000", "2T", "1K", "1", "10 M", "8g", "1kb"]),
        st.sampled_from(
            ["0", "-1G", "lots", "", "1e9", "١G", "G", "1.2.3G", "99999999999999999999T", "1 GB extra"]
        ),
        st.text(max_size=6),
    )
)
def test_cli_max_memory(scratch: Path, size: str) -> None:
    """`build --max-memory SIZE`: garbage is a usage error; a valid size builds or refuses cleanly."""
    path = scratch / "net.yaml"
    if not path.exists():
        path.write_text(NET)
    run = run_cli(["build", str(path), f"--max-memory={size}"], cwd=scratch, hang_seconds=60)
    note(run.text[:2000])
    s = size.strip()
    m = re.fullmatch(r"(?i)([0-9]+(?:\.[0-9]+)?) ?([KMGT]?)(i?B)?", s) if s.isascii() else None
    garbage = not s or not any(c.isascii() and c.isdigit() for c in s) or s.startswith("-") or not s.isascii()
    if m is not None and 0 < float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " ") < 2**62:
        assert run.code in (0, 1), run.text[:2000]
    elif garbage:
        assert run.code == 2, run.text[:2000]
    check_text(run, Expect(exit=run.code, unlocated_ok=True, seconds=60))
    assert run.code in (0, 1, 2)


@examples(800)
@given(
    name=st.sampled_from(["c", "r", "nope", "", "c.d", "__class__"]),
    value=st.one_of(
        EXTREME_INTS.map(str),
        st.sampled_from(
            [
                "[1, 2]",
                "{a: 1}",
                "null",
                "true",
                "1e3",
                "'4'",
                "${c}",
                "${__import__('os')}",
                "[" * 200 + "]" * 200,
                "\u0664",
                "0x10",
                "4 # comment",
                "!!python/name:os.system",
            ]
        ),
    ),
)
def test_cli_set_values(scratch: Path, name: str, value: str) -> None:
    """`shapes block.yaml --set NAME=VALUE` with extreme or hostile values: exit 0, 1 or 2, never an
    internal error; a value that does not fit in 64 bits, or a name the block does not have, is a
    usage error."""
    path = scratch / "blk.yaml"
    if not path.exists():
        path.write_text(
            "block: blk\nparams:\n  c: {type: int}\n  r: {type: int, default: 2}\nexample: {c: 4}\n"
            "dims: {B: 2}\ninputs:\n  x: [B, 4]\n"
            'nodes:\n  fc: {op: linear, in: x, out_features: "${c * r}"}\n'
            "outputs: {y: fc}\n"
        )
    run = run_cli(["shapes", str(path), "--set", f"{name}={value}"], cwd=scratch, hang_seconds=20)
    note(run.text[:2000])
    assert run.code in (0, 1, 2), run.text[:2000]
    s = value.strip()
    if name not in ("c", "r"):
        assert run.code == 2, run.text[:2000]
    elif s.lstrip("-").isascii() and s.lstrip("-").isdigit() and not -(2**63) <= int(s) < 2**63:
        assert run.code == 2, run.text[:2000]
    check_text(run, Expect(exit=run.code, unlocated_ok=True))

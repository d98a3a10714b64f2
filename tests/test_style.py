"""Colour on the terminal: when it is on, what it paints, and that it never lets a spec's own
escapes through."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from netdsl.cli import main
from netdsl.cli.style import RED, RESET, YELLOW, color_enabled, paint

from .conftest import ROOT


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")  # as a real file does
        return True


@pytest.mark.parametrize(
    ("env", "tty", "on"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"TERM": "dumb"}, True, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "0"}, False, False),
        ({"CLICOLOR_FORCE": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty: no effect (no-color.org)
    ],
)
def test_when_colour_is_on(env: dict[str, str], tty: bool, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert color_enabled(_Tty() if tty else io.StringIO()) is on


def test_a_closed_stream_takes_no_colour() -> None:
    s = _Tty()
    s.close()
    assert color_enabled(s) is False


def test_paint_marks_severity_caret_and_hint() -> None:
    text = "a.yaml:3:5: error: unknown op 'conv2' [nodes.x.op]\n  3 |     op: conv2\n    |         ^^^^^\n"
    text += "  in block instance s.0 of b (a.yaml:9)\n  hint: did you mean 'conv2d'?"
    out = paint(text)
    assert f"{RED}error{RESET}" in out and f"{RED}^^^^^{RESET}" in out
    assert "\x1b[36mhint:\x1b[0m did you mean 'conv2d'?" in out
    assert out.replace("\x1b[", "").count("op: conv2") == 1  # the excerpt itself is not painted
    warning = paint("a.yaml:1:1: warning: unused\n  1 | x\n    | ^")
    assert f"{YELLOW}warning{RESET}" in warning and f"{YELLOW}^{RESET}" in warning


def _strip(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_the_cli_paints_errors_only_when_forced(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = ROOT / "tests" / "errors" / "02_yaml_bad_indentation.yaml"
    assert main(["validate", str(bad)]) == 1
    plain = capsys.readouterr().err
    assert "\x1b" not in plain
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["validate", str(bad)]) == 1
    painted = capsys.readouterr().err
    assert f"{RED}error{RESET}" in painted and _strip(painted) == plain


def test_a_specs_own_escapes_stay_escaped_when_painted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "esc.yaml"
    spec.write_text(
        'network: n\ninputs: {x: [B, 4]}\nnodes:\n  a: {op: "lin\\e[31mear", in: x}\noutputs: {y: a}\n'
    )
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "\\x1b[31m" in err  # the spec's escape, shown escaped
    assert "\x1b[31m" not in err  # never raw (our own red is bold: 1;31)


def test_usage_errors_are_one_line_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["biuld", "x.yaml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("netdsl: usage error: argument command: invalid choice: 'biuld'")
    assert err[0].endswith("(see 'netdsl --help')")
    assert err[1:] == ["  hint: did you mean 'build'?"]
    assert main(["build", "specs/tiny_cnn.yaml", "--seed", "x"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("(see 'netdsl build --help')") and "usage:" not in line

"""torch is an extra (`pip install 'netdsl[torch]'`): the base install checks, shapes, summarises and
draws specs; building, compiling and exporting stop with a usage error (exit 2) naming the extra.

"Without torch" is a subprocess whose import system refuses torch (a finder first on sys.meta_path
that records each attempt and raises ModuleNotFoundError, as a missing package does): the torch-free
commands must succeed without even trying to import it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import netdsl
from netdsl.backend.torch_extra import require_torch
from netdsl.core.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "specs" / "tiny_cnn.yaml"
EXTRA = "pip install 'netdsl[torch]'"

#: makes torch unimportable, and records every attempt to import it
NO_TORCH = """\
import sys

class NoTorch:
    attempts = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            NoTorch.attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
"""
CLI = """\
from netdsl.cli import main

rc = main(sys.argv[1:])
print("torch import attempts:", ",".join(NoTorch.attempts) or "none", file=sys.stderr)
sys.exit(rc)
"""


def no_torch(*args: str, code: str = CLI) -> subprocess.CompletedProcess[str]:
    """``netdsl ARGS...`` (or ``code``) in a subprocess where torch cannot be imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH + code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def attempts(proc: subprocess.CompletedProcess[str]) -> str:
    found = re.findall(r"^torch import attempts: (.*)$", proc.stderr, re.M)
    assert found, proc.stdout + proc.stderr
    return found[-1]


# ---------------------------------------------------------------- a .safetensors checkpoint, torch-free

ST_CODES = {"float32": "F32", "int64": "I64", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], str, int]]) -> Path:
    """A .safetensors file with these keys' shapes and dtypes (the data zeros: check-weights reads
    only the header)."""
    header: dict[str, Any] = {}
    offset = 0
    for key, (shape, dtype, nbytes) in tensors.items():
        header[key] = {"dtype": ST_CODES[dtype], "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(offset))
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny_cnn's weights as .safetensors and as a torch.save file (written here, where torch is)."""
    import torch

    state = netdsl.build(TINY, seed=0).state_dict()
    d = tmp_path_factory.mktemp("ckpt")
    tensors = {
        k: (list(v.shape), str(v.dtype).removeprefix("torch."), v.numel() * v.element_size())
        for k, v in state.items()
    }
    torch.save(dict(state), d / "tiny.pt")
    return {"safetensors": write_safetensors(d / "tiny.safetensors", tensors), "pt": d / "tiny.pt"}


# ---------------------------------------------------------------- what works without torch

TORCH_FREE: dict[str, Sequence[str]] = {
    "validate": ["validate", "specs", "blocks"],
    "shapes": ["shapes", "specs/tiny_attention.yaml"],
    "summary": ["summary", "specs/tiny_cnn.yaml", "--depth", "2"],
    "summary-variants": ["summary", "specs/tiny_cnn.yaml", "--variant", "all"],
    "where": ["where", "specs/tiny_cnn.yaml", "stem.weight"],
    "schema": ["schema"],
    "blocks": ["blocks"],
    "block": ["blocks", "cbam"],
    "ops": ["ops", "--format", "markdown"],
    "diagram-dot": ["diagram", "specs/tiny_cnn.yaml", "-f", "dot"],
    "diagram-mermaid": ["diagram", "blocks/cbam.yaml", "-f", "mermaid"],
    "diagram-json": ["diagram", "specs/tiny_cnn.yaml", "-f", "json", "--params"],
    "diagram-graphml": ["diagram", "specs/tiny_cnn.yaml", "-f", "graphml"],
}


@pytest.mark.parametrize("argv", TORCH_FREE.values(), ids=TORCH_FREE.keys())
def test_command_works_without_torch(argv: Sequence[str]) -> None:
    proc = no_torch(*argv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert attempts(proc) == "none", proc.stderr
    assert (proc.stdout + proc.stderr).strip().removesuffix("torch import attempts: none").strip()


def test_check_weights_of_safetensors_works_without_torch(checkpoints: dict[str, Path]) -> None:
    proc = no_torch("check-weights", "specs/tiny_cnn.yaml", str(checkpoints["safetensors"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert attempts(proc) == "none", proc.stderr


def test_validate_reports_spec_errors_without_torch(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "network: bad\ninputs:\n  x: [B, 8]\nnodes:\n  fc: {op: linaer, in: x, out_features: 4}\n"
        "outputs: {y: fc}\n"
    )
    proc = no_torch("validate", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bad.yaml:5:12: error: unknown op 'linaer'" in proc.stderr
    assert attempts(proc) == "none", proc.stderr


# ---------------------------------------------------------------- what needs it: exit 2, the extra named

NEEDS_TORCH: dict[str, tuple[Sequence[str], str]] = {
    "build": (["build", "specs/tiny_cnn.yaml"], EXTRA),
    "build-compile": (["build", "specs/tiny_cnn.yaml", "--compile"], EXTRA),
    "export-pt2": (["export", "specs/tiny_cnn.yaml", "-o", "{tmp}/tiny.pt2"], EXTRA),
    "export-onnx": (
        ["export", "specs/tiny_cnn.yaml", "-o", "{tmp}/tiny.onnx"],
        "pip install 'netdsl[torch,onnx]'",
    ),
}


@pytest.mark.parametrize("argv, extra", NEEDS_TORCH.values(), ids=NEEDS_TORCH.keys())
def test_command_without_torch_names_the_extra(argv: Sequence[str], extra: str, tmp_path: Path) -> None:
    proc = no_torch(*(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "netdsl: usage error: " in proc.stderr and "needs PyTorch, which is not installed" in proc.stderr
    assert extra in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_check_weights_of_a_torch_file_without_torch(checkpoints: dict[str, Path]) -> None:
    proc = no_torch("check-weights", "specs/tiny_cnn.yaml", str(checkpoints["pt"]))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "reading a torch.save checkpoint (.pt, .pth, .bin) needs PyTorch" in proc.stderr
    assert EXTRA in proc.stderr and ".safetensors" in proc.stderr


def test_python_api_without_torch(tmp_path: Path) -> None:
    """netdsl imports, checks and draws without torch; build, compile, export and example_inputs
    raise UsageError naming the extra."""
    code = f"""\
import netdsl
from netdsl.api import example_inputs

spec = {str(TINY)!r}
calls = {{
    "check": lambda: netdsl.check(spec).raise_if_errors(),
    "diagram": lambda: netdsl.diagram(spec, "dot"),
    "build": lambda: netdsl.build(spec),
    "compile": lambda: netdsl.compile(spec),
    "export": lambda: netdsl.export(spec, {str(tmp_path / "x.pt2")!r}),
    "example_inputs": lambda: example_inputs(netdsl.check(spec)),
}}
for name, call in calls.items():
    before = len(NoTorch.attempts)
    try:
        call()
        outcome = "ok"
    except Exception as e:
        outcome = type(e).__name__ + " " + str(e).replace("\\n", " ")
    print(name, ",".join(NoTorch.attempts[before:]) or "none", outcome)
"""
    proc = no_torch(code=code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {name: rest for name, _, rest in (line.partition(" ") for line in proc.stdout.splitlines())}
    # check and diagram never try torch; the others try `import torch` once (the helper), nothing else
    assert results.pop("check") == "none ok" and results.pop("diagram") == "none ok", proc.stdout
    assert sorted(results) == ["build", "compile", "example_inputs", "export"], proc.stdout
    for name, text in results.items():
        assert text.startswith("torch UsageError "), (name, text)
        assert "needs PyTorch, which is not installed" in text and EXTRA in text, (name, text)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- the helper, in-process


def test_require_torch_with_torch_installed() -> None:
    require_torch("anything")  # torch is installed in the test environment: no error


def test_require_torch_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ModuleNotFoundError
    with pytest.raises(UsageError) as info:
        require_torch("netdsl build")
    e = info.value
    assert (
        e.message
        == "netdsl build needs PyTorch, which is not installed: it comes with netdsl's [torch] extra"
    )
    assert e.hint is not None and e.hint.startswith(EXTRA) and "validate" in e.hint


def test_require_torch_when_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch installed but failing to import (a missing shared library, a missing dependency): its
    error is shown, not the extra (installing it again would change nothing)."""

    class Broken:
        def find_spec(self, name: str, path: object = None, target: ModuleType | None = None) -> None:
            if name == "torch":
                raise ImportError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.raises(UsageError) as info:
        require_torch("exporting a module", "torch,onnx")
    assert "installed but cannot be imported: libtorch_cpu.so" in info.value.message
    assert info.value.hint is not None and "reinstall torch" in info.value.hint


# ---------------------------------------------------------------- packaging and set-up


def test_torch_is_an_extra_and_numpy_is_not_a_dependency() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]]
    assert sorted(names) == ["networkx", "pydantic", "pyyaml"]
    extras = project["optional-dependencies"]
    assert extras["torch"] == ["torch>=2.4"]
    assert "numpy>=1.24" in extras["dev"]  # the tests' tensor.numpy()
    assert any(d.startswith("pre-commit") for d in extras["dev"])
    assert any(d.startswith("check-jsonschema") for d in extras["dev"])
    assert "onnx" in extras


def test_netdsl_never_imports_numpy() -> None:
    """numpy is not a dependency: no module of the package imports it (tensor.numpy() in the ONNX
    check runs where onnxruntime, which needs numpy, is installed)."""
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted((ROOT / "netdsl").rglob("*.py"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.match(r"\s*(import numpy|from numpy)\b", line)
    ]
    assert not found, found


def test_setup_commands_install_the_torch_extra_and_ci_runs_them() -> None:
    """README.md's two set-up commands install torch==2.13.0 first (the CPU wheel), then
    '.[torch,dev]'; .ci/run runs exactly these commands."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = [c.strip() for c in re.findall(r"```sh\n(.*?)```", section, re.S)]
    assert len(commands) == 2, commands
    assert "pip install -q torch==2.13.0 && pip install -q -e '.[torch,dev]' && " in commands[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ran = [line.removesuffix(" || exit 1") for line in ci.splitlines() if line.endswith(" || exit 1")]
    assert ran == commands

"""Plugins (docs/plugins.md): ops and block folders of installed distributions (entry point groups
``netdsl.ops`` and ``netdsl.blocks``) and ops of scripts (``netdsl.register_op``).

In-process tests install fake distributions into a temporary folder on ``sys.path`` (a ``.dist-info``
with ``entry_points.txt``: what pip writes); the example plugin of examples/netdsl_example_plugin is
installed with pip into a temporary folder and used by the command line in subprocesses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import fx

import netdsl
from netdsl.cli import main
from netdsl.core import plugins as entry_points
from netdsl.core.errors import NetdslError
from netdsl.frontend.library import BlockLibrary
from netdsl.ops import REGISTRY
from netdsl.ops.base import NoAttrs, OpDef, same_type
from netdsl.ops.lowerings import LOWERINGS, LowerCtx
from netdsl.ops.plugins import forget

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "netdsl_example_plugin"

NET = """network: net
inputs: {x: [B, 4]}
dims: {B: 2}
nodes:
  a: {op: OPNAME, in: x}
outputs: {y: a}
"""


def double_lowering(ctx: LowerCtx, a: Any, args: list[fx.Node]) -> fx.Node:
    """The lowering of the test ops: 2 * x."""
    return ctx.fn(torch.mul, args[0], 2)


def op_def(name: str = "test_double", **changes: Any) -> OpDef:
    base = OpDef(
        name=name,
        family="elementwise",
        doc="2 * x (a test op).",
        attrs=NoAttrs,
        infer=same_type,
        macs=lambda a, ins, outs: outs[0].numel(),
        lowering="tests.test_plugins:double_lowering",
    )
    return replace(base, **changes)


#: what the fake plugins' entry points name
FAKE_OP = op_def("fake_double")
RELU_OP = op_def("relu")


def explode() -> OpDef:
    raise RuntimeError("the plugin is broken")


@pytest.fixture(autouse=True)
def no_plugins() -> Iterator[None]:
    """Each test starts and ends without plugin ops, failures or entry points read."""
    forget()
    yield
    forget()


def spec(tmp_path: Path, op: str, text: str = NET) -> Path:
    path = tmp_path / f"{op.replace(':', '_').replace('.', '_')}.yaml"
    path.write_text(text.replace("OPNAME", op))
    return path


def messages(res: netdsl.CheckResult) -> str:
    return "\n".join(e.render() for e in res.errors)


def install_fake(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path,
    dist: str,
    entries: dict[str, dict[str, str]],
    files: dict[str, str] | None = None,
) -> None:
    """A distribution ``dist`` 1.0 with these entry points (group -> name -> value) and files,
    installed in ``folder`` (put on sys.path): what `pip install --target` leaves."""
    info = folder / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in named.items()) + "\n"
            for group, named in entries.items()
        )
    )
    for rel, text in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    monkeypatch.syspath_prepend(str(folder))
    forget()


# ---------------------------------------------------------------- netdsl.register_op


def test_register_op_makes_an_op_every_pass_uses(tmp_path: Path) -> None:
    op = netdsl.register_op(op_def())
    assert REGISTRY["test_double"] is op and op.plugin == "register_op in tests.test_plugins"
    res = netdsl.check(spec(tmp_path, "test_double"), concrete=True)
    assert res.ok, messages(res)
    gm = netdsl.build(spec(tmp_path, "test_double"))
    x = torch.randn(2, 4)
    assert torch.equal(gm(x), 2 * x)
    assert LOWERINGS["test_double"] is double_lowering


def test_an_op_is_registered_once(tmp_path: Path) -> None:
    netdsl.register_op(op_def())
    with pytest.raises(netdsl.PluginError, match="'test_double' is already registered"):
        netdsl.register_op(op_def())


def test_an_op_named_like_one_of_netdsls_is_refused() -> None:
    before = REGISTRY["relu"]
    with pytest.raises(netdsl.PluginError, match="'relu' is one of netdsl's own ops") as info:
        netdsl.register_op(op_def("relu"))
    assert "a name of its own" in info.value.render()
    assert REGISTRY["relu"] is before


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"name": "squared-relu"}, "op name 'squared-relu' is not an identifier"),
        ({"name": "2x"}, "op name '2x' is not an identifier"),
        ({"name": "output"}, "op name 'output' is reserved"),
        ({"family": "activations"}, "unknown family 'activations'"),
        ({"doc": "  "}, "`doc` is empty"),
        ({"attrs": dict}, "`attrs` is not a subclass of netdsl.ops.base.Attrs"),
        ({"lowering": None}, "it has no lowering"),
        ({"lowering": "tests/test_plugins.py"}, "is not an import path `package.module:function`"),
        ({"lowering": 3}, "`lowering` is neither an import path nor a function"),
        ({"inputs": ("x", "x")}, "`inputs` must be a tuple of distinct identifiers"),
        ({"optional_inputs": 2}, "`optional_inputs` must be from 0 to 1"),
        ({"dtypes": ("float8",)}, "`dtypes` must be a non-empty tuple of"),
        ({"input_dtypes": {"y": ("bool",)}}, "`input_dtypes` names 'y', which is not an input"),
        ({"infer": None}, "`infer` is not a function"),
        ({"macs": 1}, "`macs` is neither None nor a function"),
    ],
)
def test_a_bad_op_definition_is_a_clear_error(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(netdsl.PluginError, match="register_op") as info:
        netdsl.register_op(op_def(**changes))
    assert error in info.value.message
    assert not {n for n, o in REGISTRY.items() if o.plugin}


def test_register_op_takes_an_op_definition_only() -> None:
    with pytest.raises(netdsl.PluginError, match=r"expected a netdsl\.ops\.OpDef, got a dict"):
        netdsl.register_op({"name": "x"})  # type: ignore[arg-type]


def test_the_lowering_is_imported_only_when_the_op_is_lowered(tmp_path: Path) -> None:
    """Checking never imports it; building reports a missing one at the node, as a clean error."""
    netdsl.register_op(op_def(lowering="tests_no_such_lowering_module:fn"))
    path = spec(tmp_path, "test_double")
    res = netdsl.check(path, concrete=True)
    assert res.ok, messages(res)
    assert "tests_no_such_lowering_module" not in sys.modules
    with pytest.raises(NetdslError) as info:
        netdsl.build(path)
    text = info.value.render()
    assert "the lowering of op 'test_double' (from register_op in tests.test_plugins)" in text
    assert "cannot import 'tests_no_such_lowering_module:fn': ModuleNotFoundError" in text
    assert f"{path.name}:5:" in text  # at the node that uses the op


def test_a_lowering_may_be_the_function_itself(tmp_path: Path) -> None:
    netdsl.register_op(op_def(lowering=double_lowering))
    gm = netdsl.build(spec(tmp_path, "test_double"))
    assert torch.equal(gm(torch.ones(2, 4)), torch.full((2, 4), 2.0))


def test_register_op_keeps_validate_torch_free(tmp_path: Path) -> None:
    path = spec(tmp_path, "test_double")
    code = textwrap.dedent(
        f"""
        import sys
        import netdsl
        from netdsl.ops.base import NoAttrs, OpDef, same_type

        netdsl.register_op(OpDef(name="test_double", family="elementwise", doc="2 * x", attrs=NoAttrs,
                                 infer=same_type, lowering="tests.test_plugins:double_lowering"))
        res = netdsl.check({str(path)!r}, concrete=True)
        assert res.ok, res.errors
        assert "torch" not in sys.modules, "validating a spec with a plugin op imported torch"
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- entry points (fake distributions)


def test_an_entry_point_op_is_loaded_when_a_spec_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake(
        monkeypatch,
        tmp_path / "site",
        "fake-dist",
        {"netdsl.ops": {"fake_double": "tests.test_plugins:FAKE_OP"}},
    )
    assert not dict.__contains__(REGISTRY, "fake_double")  # nothing loaded before it is named
    res = netdsl.check(spec(tmp_path, "fake_double"), concrete=True)
    assert res.ok, messages(res)
    assert REGISTRY["fake_double"].plugin == "fake-dist 1.0"
    gm = netdsl.build(spec(tmp_path, "fake_double"))
    assert torch.equal(gm(torch.ones(2, 4)), torch.full((2, 4), 2.0))


def test_a_factory_entry_point_and_a_misnamed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {
        "fake_factory_mod.py": (
            "from tests.test_plugins import op_def\n"
            "def make():\n    return op_def('made_double')\n"
            "def wrong():\n    return op_def('other_name')\n"
        )
    }
    entries = {"netdsl.ops": {"made_double": "fake_factory_mod:make", "misnamed": "fake_factory_mod:wrong"}}
    install_fake(monkeypatch, tmp_path / "site", "fake-factory", entries, files)
    assert REGISTRY.get("made_double") is not None
    with pytest.raises(netdsl.PluginError, match="the entry point is named 'misnamed' but the op it names"):
        REGISTRY.get("misnamed")


def test_a_broken_plugin_is_a_clean_error_and_breaks_no_other_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = {
        "netdsl.ops": {
            "boom": "tests.test_plugins:explode",
            "gone": "fake_no_such_module:OP",
            "fake_double": "tests.test_plugins:FAKE_OP",
        }
    }
    install_fake(monkeypatch, tmp_path / "site", "broken-dist", entries)
    # a spec of netdsl's own ops, and one of the plugin's op that loads, are fine
    assert netdsl.check(spec(tmp_path, "relu"), concrete=True).ok
    assert netdsl.check(spec(tmp_path, "fake_double"), concrete=True).ok
    # one of an op whose entry point fails names the distribution and the entry point, every time
    for _ in range(2):
        res = netdsl.check(spec(tmp_path, "boom"))
        text = messages(res)
        assert "plugin entry point `netdsl.ops`: boom = tests.test_plugins:explode of broken-dist 1.0" in text
        assert "failed to load: RuntimeError: the plugin is broken" in text
        assert "Traceback" not in text
        (err,) = res.errors  # located at the node's `op:`
        assert err.loc.file.endswith(".yaml") and err.loc.line > 0 and err.loc.dotted.endswith(".op")
    assert main(["validate", str(spec(tmp_path, "gone"))]) == 1
    err = capsys.readouterr().err
    assert "gone = fake_no_such_module:OP of broken-dist 1.0: failed to load: ModuleNotFoundError" in err
    assert "pip uninstall broken-dist" in err and "Traceback" not in err
    # `netdsl ops` lists what loads, then the errors
    assert main(["ops"]) == 1
    out, err = capsys.readouterr()
    assert "fake_double" in out and "[plugin: broken-dist 1.0]" in out and "relu" in out
    assert "boom = tests.test_plugins:explode" in err and "gone = fake_no_such_module:OP" in err
    assert "Traceback" not in err


def test_plugin_op_name_clashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """Named like one of netdsl's: netdsl's is used (`netdsl ops` says so); two plugins: an error."""
    install_fake(
        monkeypatch,
        tmp_path / "a",
        "plugin-a",
        {"netdsl.ops": {"relu": "tests.test_plugins:RELU_OP", "fake_double": "tests.test_plugins:FAKE_OP"}},
    )
    install_fake(
        monkeypatch, tmp_path / "b", "plugin-b", {"netdsl.ops": {"fake_double": "tests.test_plugins:FAKE_OP"}}
    )
    assert REGISTRY["relu"].plugin is None
    with pytest.raises(netdsl.PluginError, match="op 'fake_double' is defined by 2 plugins") as info:
        REGISTRY.get("fake_double")
    assert "plugin-a 1.0" in info.value.message and "plugin-b 1.0" in info.value.message
    assert main(["ops"]) == 1
    err = capsys.readouterr().err
    assert "relu = tests.test_plugins:RELU_OP of plugin-a 1.0: op 'relu' is one of netdsl's own ops" in err


def test_specs_of_netdsls_own_ops_never_read_the_entry_points(tmp_path: Path) -> None:
    """Discovery is lazy: checking and building a spec of netdsl's ops reads no entry point."""
    path = spec(tmp_path, "relu")
    assert netdsl.check(path, concrete=True).ok
    netdsl.build(path)
    assert entry_points.entries.cache_info().currsize == 0


def test_a_spec_never_names_code_to_import(tmp_path: Path) -> None:
    """Ops are found by name among the installed distributions' entry points, never imported from
    what a spec writes."""
    for op in ("os:system", "tests.test_plugins:FAKE_OP", "zz_plugin_probe_module"):
        res = netdsl.check(spec(tmp_path, op))
        assert f"unknown op {op!r}" in messages(res)
    assert "zz_plugin_probe_module" not in sys.modules


# ---------------------------------------------------------------- block folders


BLOCK = """block: BNAME
description: A plugin block (test).
inputs: {x: [B, 4]}
nodes:
  a: {op: relu, in: x}
outputs: {y: a}
"""

USES_BLOCK = """network: uses
inputs: {x: [B, 4]}
dims: {B: 2}
blocks:
  inline_one:
    inputs: {x: [B, 4]}
    nodes: {r: {op: relu, in: x}}
    outputs: {y: r}
nodes:
  a: {block: inline_one, in: x}
  b: {block: OPNAME, in: a}
outputs: {y: b}
"""


def block_plugin(monkeypatch: pytest.MonkeyPatch, folder: Path, package: str, *names: str) -> None:
    files = {f"{package}/__init__.py": ""}
    files.update({f"{package}/{n}.yaml": BLOCK.replace("BNAME", n) for n in names})
    install_fake(
        monkeypatch, folder, package.replace("_", "-"), {"netdsl.blocks": {"blocks": package}}, files
    )


def test_a_plugin_block_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    block_plugin(monkeypatch, tmp_path / "site", "fake_blocks_pkg", "plugin_relu")
    res = netdsl.check(spec(tmp_path, "plugin_relu", USES_BLOCK), concrete=True)
    assert res.ok, messages(res)
    library = BlockLibrary()
    assert "plugin_relu" in library and library.get("plugin_relu").origin == "plugin"
    assert library.distributions == {"plugin_relu": "fake-blocks-pkg 1.0"}
    assert "plugin_relu" not in BlockLibrary(use_env=False)  # (docs/blocks.md: netdsl's own blocks)
    assert main(["blocks"]) == 0
    out = capsys.readouterr().out
    assert "plugin_relu" in out and "[plugin: fake-blocks-pkg 1.0]" in out and "cbam" in out
    assert main(["blocks", "plugin_relu"]) == 0
    assert "From the plugin fake-blocks-pkg 1.0." in capsys.readouterr().out


def test_a_block_folder_named_by_an_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data" / "my_blocks"
    folder.mkdir(parents=True)
    (folder / "attr_relu.yaml").write_text(BLOCK.replace("BNAME", "attr_relu"))
    files = {"fake_attr_mod.py": f"FOLDER = {str(folder)!r}\n"}
    install_fake(
        monkeypatch, tmp_path / "site", "attr-dist", {"netdsl.blocks": {"b": "fake_attr_mod:FOLDER"}}, files
    )
    res = netdsl.check(spec(tmp_path, "attr_relu", USES_BLOCK), concrete=True)
    assert res.ok, messages(res)


def test_a_plugin_block_never_replaces_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    block_plugin(monkeypatch, tmp_path / "site", "fake_clash_pkg", "cbam", "plugin_relu")
    library = BlockLibrary()
    assert "plugin_relu" in library
    assert library.get("cbam").origin == "library"
    assert main(["blocks"]) == 1
    out, err = capsys.readouterr()
    assert "plugin_relu" in out
    assert "block 'cbam'" in err and "the library block is used" in err and "fake-clash-pkg 1.0" in err


def test_a_broken_block_plugin_breaks_only_specs_that_miss_a_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    install_fake(
        monkeypatch, tmp_path / "site", "broken-blocks", {"netdsl.blocks": {"b": "fake_no_such_pkg"}}
    )
    # inline blocks are found (looking for them lists the plugin folders: the broken one is skipped)
    res = netdsl.check(spec(tmp_path, "inline_one", USES_BLOCK))
    assert res.ok, messages(res)
    # a block not found: its plugin may have had it
    res = netdsl.check(spec(tmp_path, "no_such_block", USES_BLOCK))
    text = messages(res)
    assert "plugin entry point `netdsl.blocks`: b = fake_no_such_pkg of broken-blocks 1.0" in text
    assert "there is no package 'fake_no_such_pkg'" in text
    assert main(["blocks"]) == 1
    out, err = capsys.readouterr()
    assert "cbam" in out and "b = fake_no_such_pkg of broken-blocks 1.0" in err and "Traceback" not in err


# ---------------------------------------------------------------- the example plugin, pip-installed


EXAMPLE_NET = """network: plugin_net
inputs: {x: [B, N, 16]}
dims: {B: 2, N: 5}
nodes:
  mlp: {block: squared_relu_mlp, in: x, in_features: 16, hidden_features: 32}
  act: {op: squared_relu, in: mlp, scale: 0.5}
outputs: {y: act}
"""


def _setuptools_builds_wheels() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(p) for p in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)  # bdist_wheel in setuptools itself


def _install_by_hand(src: Path, target: Path) -> None:
    """What pip installs, written from the example's pyproject.toml (no build backend at hand)."""
    import tomllib

    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    shutil.copytree(src / "netdsl_example_plugin", target / "netdsl_example_plugin")
    info = target / f"netdsl_example_plugin-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in named.items()) + "\n"
            for group, named in project["entry-points"].items()
        )
    )


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed into a temporary folder (pip, offline, no build isolation)."""
    base = tmp_path_factory.mktemp("example_plugin")
    src, target = base / "src", base / "site"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    if _setuptools_builds_wheels():
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        cmd += ["--no-index", "--disable-pip-version-check", "--target", str(target), str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=base)
        assert r.returncode == 0, r.stdout + r.stderr
    else:
        _install_by_hand(src, target)
    assert (target / "netdsl_example_plugin" / "blocks" / "squared_relu_mlp.yaml").is_file()
    (base / "net.yaml").write_text(EXAMPLE_NET)
    return target


def _netdsl(site: Path, *code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("NETDSL_BLOCKS_PATH", None)
    return subprocess.run(
        [sys.executable, "-c", "\n".join(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=site.parent,
        env=env,
    )


def test_the_example_plugin_validates_torch_free(example_site: Path) -> None:
    r = _netdsl(
        example_site,
        "import sys",
        "from netdsl.cli import main",
        "rc = main(['validate', 'net.yaml'])",
        "assert 'torch' not in sys.modules, 'validate imported torch'",
        "assert 'netdsl_example_plugin.ops' in sys.modules",
        "assert 'netdsl_example_plugin.lowering' not in sys.modules, 'validate imported the lowering'",
        "assert main(['ops']) == 0 and main(['blocks']) == 0",
        "sys.exit(rc)",
    )
    assert r.returncode == 0, r.stderr
    assert "1 of 1 spec file(s) valid" in r.stderr
    ops = [line for line in r.stdout.splitlines() if line.startswith("squared_relu ")]
    assert ops and ops[0].endswith("[plugin: netdsl-example-plugin 0.1.0]")
    assert "squared_relu_mlp" in r.stdout and "cbam" in r.stdout


def test_the_example_plugin_builds(example_site: Path) -> None:
    r = _netdsl(
        example_site,
        "import sys, torch, netdsl",
        "gm = netdsl.build('net.yaml')",
        "x = torch.randn(2, 5, 16)",
        "mlp = gm.mlp",
        "h = torch.relu(mlp.fc1(x)) ** 2",
        "want = 0.5 * torch.relu(mlp.fc2(h)) ** 2",
        "torch.testing.assert_close(gm(x), want)",
        "from netdsl.cli import main",
        "sys.exit(main(['build', 'net.yaml']))",
    )
    assert r.returncode == 0, r.stderr
    assert "squared_relu" in r.stdout and "symbolic: 1088*B*N" in r.stdout

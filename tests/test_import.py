"""`netdsl import` / `netdsl.import_module`: a spec from an nn.Module whose built module has the
same state_dict keys (a strict load of the module's state_dict works) and the same outputs.

netdsl/backend/trace_import/ traces (torch.fx) and maps every call to an op (one table by target);
netdsl/tools/importer/ writes the spec: symbolic B, H, W, repeated module classes as blocks."""

from __future__ import annotations

import inspect
import runpy
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netdsl
from netdsl.backend.trace_import import TABLE, supported_targets
from netdsl.cli import main
from netdsl.core.errors import NetdslError

from .conftest import ROOT
from .zoo.tv import import_torchvision, torchvision_reason

# ----------------------------------------------------------------------------------------------------
# helpers


def build_text(text: str, blocks_path: Sequence[Path] | None = None) -> torch.fx.GraphModule:
    gm = netdsl.build(netdsl.load("imported.yaml", text=text), seed=1, blocks_path=blocks_path)
    return gm.eval()


def assert_same(
    original: nn.Module,
    built: nn.Module,
    *inputs: Sequence[torch.Tensor],
    key_order: bool = True,
) -> None:
    """Same state_dict keys, the original's state_dict loads strictly, outputs close (float32: atol 1e-5
    relative to the outputs' scale) for each tuple of ``inputs``."""
    want_keys, got_keys = list(original.state_dict()), list(built.state_dict())
    assert (want_keys if key_order else sorted(want_keys)) == (got_keys if key_order else sorted(got_keys))
    built.load_state_dict(original.state_dict(), strict=True)
    original.eval()
    built.eval()
    with torch.no_grad():
        for xs in inputs:
            want, got = original(*xs), built(*xs)
            scale = max(1.0, float(want.abs().max()))
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * scale)


# ----------------------------------------------------------------------------------------------------
# a hand-written module: a repeated submodule class (with and without a downsample), sizes read
# from tensors


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn(self.conv(x)))
        identity = x if self.down is None else self.down(x)
        y += identity
        return self.relu(y)


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layers = nn.Sequential(ResBlock(8, 8), ResBlock(8, 8), ResBlock(8, 16, 2), ResBlock(16, 16))
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        b, c, h, w = x.shape
        x = x.view(b, c, h * w).mean(-1)
        return self.fc(x)


def _randomize_bn(module: nn.Module) -> None:
    """Running statistics that are not 0 / 1, so that the comparison sees them."""
    g = torch.Generator().manual_seed(3)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_hand_written_module_with_a_repeated_class() -> None:
    torch.manual_seed(0)
    net = SmallNet().eval()
    _randomize_bn(net)
    x = torch.randn(2, 3, 16, 16)
    text = netdsl.import_module(net, [x])
    # the repeated class is one block, parameterised by what differs between its instances
    assert "res_block:" in text
    assert "has_down: {type: bool, default: false}" in text
    assert "\"${'down.1' if has_down else 'x'}\"" in text
    assert "layers: {block: res_block, in: stem, repeat: 2}" in text  # layers.0, layers.1: identical
    assert "layers.2: {block: res_block" in text and "has_down: true" in text
    # symbolic dims: B, H, W with their example sizes; the view reads them
    assert "x: [B, 3, H, W]" in text and "dims: {B: 2, H: 16, W: 16}" in text
    assert '"((H - 1)//2 + 1)*((W - 1)//2 + 1)"' in text
    built = build_text(text)
    assert_same(net, built, (x,), (torch.randn(3, 3, 20, 12),))  # another batch and image size too


def test_blocks_false_writes_every_node_inline() -> None:
    torch.manual_seed(0)
    net = SmallNet().eval()
    x = torch.randn(2, 3, 16, 16)
    text = netdsl.import_module(net, [x], blocks=False)
    assert "blocks:" not in text and "layers.2.down.0: {op: conv2d" in text
    assert_same(net, build_text(text), (x,))


def test_the_specs_own_built_module_round_trips() -> None:
    """specs/tiny_cnn.yaml built by netdsl, then imported back: the same keys and outputs."""
    gm = netdsl.build(ROOT / "specs" / "tiny_cnn.yaml", seed=0).eval()
    _randomize_bn(gm)
    x = torch.randn(2, 3, 32, 32)
    text = netdsl.import_module(gm, [x], name="tiny_cnn_again")
    assert "network: tiny_cnn_again" in text and "image: [B, 3, H, W]" in text
    assert_same(gm, build_text(text), (x,), (torch.randn(1, 3, 24, 40),))


# ----------------------------------------------------------------------------------------------------
# the mapping: functions and methods, sizes, parameters, in-place ops


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: F.layer_norm on the module's own weight and bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        a = a.softmax(dim=-1)
        y = (a @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(y)


class ManyOps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.norm = LayerNorm2d(16)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.register_buffer("scale", torch.rand(16) + 0.5)
        self.blocks = nn.ModuleList([Attention(16, 4) for _ in range(2)])
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm(self.conv(x)))
        skip = x.clone()
        x.mul_(2.0)  # in place: `skip` keeps the value before
        x = 2.0 - (x + 1.0) + skip
        y = x.flatten(2).transpose(1, 2)
        cls = self.cls.expand(y.size(0), -1, -1)
        y = torch.cat([cls, y], dim=1)
        for block in self.blocks:
            y = y + block(y)
        first = y[:, 0] * self.scale
        a, c = y[:, 1:].chunk(2, dim=-1)
        m = torch.cat([a.mean(1), c.amax(dim=1)], -1)
        z = torch.cat([first, m], -1)
        z = z.sigmoid() + torch.tanh(z)
        z = z.view(z.size(0), 2, -1).sum(1)
        z = F.gelu(z.unsqueeze(1)).squeeze(1)
        return self.head(torch.cat([z, z], 1))


def test_functions_methods_sizes_parameters_and_in_place_ops() -> None:
    torch.manual_seed(0)
    net = ManyOps().eval()
    x = torch.randn(2, 3, 8, 8)
    text = netdsl.import_module(net, [x])
    assert "attention:" in text  # the repeated Attention class
    assert "shape: [B, N, 3, 4, 4]" in text  # reshape(b, n, 3, heads, c // heads) in the block's dims
    assert "norm: {op: layer_norm" in text  # F.layer_norm on LayerNorm2d's weight and bias
    assert "cls: {op: parameter, shape: [1, 1, 16]}" in text and "scale: {op: buffer" in text
    assert_same(net, build_text(text), (x,), (torch.randn(3, 3, 6, 10),))


def test_the_table_is_one_mapping_by_target() -> None:
    targets = supported_targets()
    assert "torch.nn.modules.conv.Conv2d" in targets["module"]
    assert "torch.nn.modules.batchnorm.BatchNorm2d" in targets["module"]
    assert {"view", "reshape", "permute", "flatten", "transpose", "mean", "size"} <= set(targets["method"])
    assert {torch.flatten, torch.cat, F.relu} <= set(TABLE)


class DefaultsAndNames(nn.Module):
    """A submodule named like forward's argument; an argument left at its default; two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.x = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.x(x)
        if mask is not None:
            y = y * mask
        return y, y.sum(-1)


def test_arguments_left_at_their_defaults_and_clashing_names() -> None:
    net = DefaultsAndNames()
    x = torch.randn(2, 4)
    text = netdsl.import_module(net, [x])
    assert "x_in: [B, 4]" in text and "x: {op: linear, in: x_in" in text
    built = build_text(text)
    built.load_state_dict(net.state_dict(), strict=True)
    with torch.no_grad():
        for got, want in zip(built(x), net(x), strict=True):
            torch.testing.assert_close(got, want)


# ----------------------------------------------------------------------------------------------------
# what cannot be imported: named, with its line; nothing written


class UsesFFT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return torch.fft.fft(y).real


def test_an_unsupported_call_is_named_with_its_source_line() -> None:
    lines, start = inspect.getsourcelines(UsesFFT.forward)
    line = start + next(i for i, text in enumerate(lines) if "torch.fft.fft" in text)
    with pytest.raises(NetdslError) as info:
        netdsl.import_module(UsesFFT(), [torch.randn(2, 8)])
    err = info.value
    assert "fft" in err.message and "torch.fft.fft(y)" in err.message
    assert err.loc.file == __file__ and err.loc.line == line
    assert f"test_import.py:{line}:" in str(err)


class SharesWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


def test_a_module_called_twice_with_weights_is_refused() -> None:
    with pytest.raises(NetdslError, match="called more than once"):
        netdsl.import_module(SharesWeights(), [torch.randn(2, 4)])


def test_the_command_without_torch_names_the_extra(tmp_path: Path) -> None:
    from .test_torch_extra import no_torch

    proc = no_torch("import", "m:f", "-o", str(tmp_path / "o.yaml"), "--input", "x=1x2")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "netdsl import needs PyTorch, which is not installed" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_the_writer_and_the_command_do_not_import_torch() -> None:
    code = (
        "import sys, netdsl.tools.importer, netdsl.cli.importer, netdsl.cli; netdsl.cli.make_parser(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------------------------------
# the command

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Unit(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc1 = nn.Linear(c, c)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(c, c)

        def forward(self, x):
            return x + self.fc2(self.act(self.fc1(x)))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(6, 12)
            self.units = nn.Sequential(Unit(12), Unit(12), Unit(12))
            self.out = nn.Linear(12, 3)

        def forward(self, x):
            return self.out(self.units(self.inp(x)))


    def make():
        torch.manual_seed(0)
        return Net()


    class Broken(nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).real
    """
)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "my_models.py"
    path.write_text(MODELS)
    return path


def test_cli_writes_a_spec_that_builds_to_the_same_module(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "net.yaml"
    rc = main(["import", f"{models}:make", "-o", str(out), "--input", "x=4x6"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    assert f"wrote {out}" in stdout and "blocks unit" in stdout
    text = out.read_text()
    assert "units: {block: unit, in: inp, repeat: 3}" in text and "x: [B, 6]" in text
    made = runpy.run_path(str(models))["make"]()
    assert_same(made, netdsl.build(out, seed=1), (torch.randn(4, 6),), (torch.randn(7, 6),))


def test_cli_blocks_dir_writes_block_files(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, blocks = tmp_path / "net.yaml", tmp_path / "blocks"
    blocks.mkdir()
    argv = ["import", f"{models}:make", "-o", str(out), "--input", "x=4x6", "--blocks-dir", str(blocks)]
    assert main(argv) == 0, capsys.readouterr().err
    assert sorted(p.name for p in blocks.iterdir()) == ["unit.yaml"]
    assert "blocks:" not in out.read_text() and "block: unit" in (blocks / "unit.yaml").read_text()
    made = runpy.run_path(str(models))["make"]()
    assert_same(made, netdsl.build(out, seed=1, blocks_path=[blocks]).eval(), (torch.randn(4, 6),))
    assert main(["validate", str(blocks)]) == 0  # the block file checks on its own


def test_cli_dotted_module_found_like_python_dash_m(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "my_models", raising=False)
    try:
        assert main(["import", "my_models:Net", "-o", "n.yaml", "--input", "x=2x6", "-q"]) == 0
    finally:
        sys.modules.pop("my_models", None)
    assert (tmp_path / "n.yaml").is_file()


def test_cli_unsupported_call_exits_1_and_writes_nothing(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "broken.yaml"
    rc = main(["import", f"{models}:Broken", "-o", str(out), "--input", "x=2x8"])
    err = capsys.readouterr().err
    line = MODELS.splitlines().index("        return torch.fft.fft(x).real") + 1
    assert rc == 1
    assert f"{models}:{line}:1: error: cannot import function" in err and "torch.fft.fft(x)" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [models]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{m}:make", "-o", "o.yaml"], "give the example inputs"),
        (["{m}", "-o", "o.yaml", "--input", "x=2x6"], "expected MODULE:FACTORY"),
        (["{m}:nothing", "-o", "o.yaml", "--input", "x=2x6"], "has no 'nothing'"),
        (["{m}:make", "-o", "o.yaml", "--input", "x=2xq"], "expected a positive integer"),
        (["{m}:make", "-o", "o.yaml", "--input", "x=2x6:int8"], "unknown dtype"),
        (["no_such_module_xyz:f", "-o", "o.yaml", "--input", "x=2x6"], "no Python module"),
        (["{m}:make", "-o", "o.yaml", "--input", "x=2x7"], "does not run on the example inputs"),
    ],
)
def test_cli_usage_errors_exit_2(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.replace("{m}", str(models)).replace("o.yaml", str(tmp_path / "o.yaml")) for a in argv]
    assert main(["import", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.yaml").exists()


# ----------------------------------------------------------------------------------------------------
# torchvision

TORCHVISION = [
    pytest.param("resnet18", "basic_block", id="resnet18"),
    pytest.param("mobilenet_v2", "inverted_residual", id="mobilenet_v2", marks=pytest.mark.slow),
    pytest.param("resnet50", "bottleneck", id="resnet50", marks=pytest.mark.slow),
    pytest.param("convnext_tiny", "cn_block", id="convnext_tiny", marks=pytest.mark.slow),
]


@pytest.mark.skipif(torchvision_reason() is not None, reason=str(torchvision_reason()))
@pytest.mark.parametrize(("builder", "block"), TORCHVISION)
def test_torchvision_models(builder: str, block: str) -> None:
    tv = import_torchvision()
    torch.manual_seed(0)
    model = tv.models.get_model_builder(builder)(weights=None).eval()
    _randomize_bn(model)
    x = torch.randn(1, 3, 32, 32)
    text = netdsl.import_module(model, [x], verify=False)  # (compared here instead)
    assert f"  {block}:" in text
    assert_same(model, build_text(text), (x,), (torch.randn(2, 3, 40, 48),))

"""`netdsl import MODULE:FACTORY -o spec.yaml --input x=1x3x224x224`: a spec from a
``torch.nn.Module``, traced with torch.fx (docs/toolbox.md). Light at import: torch and the user's
module are imported when the command runs."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from netdsl.cli.args import _seed, _size
from netdsl.cli.output import EXIT_OK, _name, safe_text, show
from netdsl.core.errors import UsageError

_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
_TARGET = re.compile(r"^(?P<module>[^:]+):(?P<factory>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        metavar="MODULE:FACTORY",
        help="a Python module (dotted, as for `python -m`, or a .py file) and a torch.nn.Module in it, or a "
        "function or class that makes one when called without arguments: torchvision.models:resnet18",
    )
    p.add_argument("-o", "--output", required=True, metavar="SPEC", help="the spec file to write (.yaml)")
    p.add_argument(
        "--input",
        action="append",
        metavar="NAME=AxBxC[:DTYPE]",
        help="an example input of forward(), in order (repeatable): x=2x3x224x224; DTYPE float32 (default), "
        "int64, ...",
    )
    p.add_argument(
        "--blocks-dir",
        metavar="DIR",
        help="write each block to DIR/<block>.yaml (build the spec with --blocks-path DIR); default: the "
        "blocks are written inline, in the spec's `blocks:`",
    )
    p.add_argument("--no-blocks", action="store_true", help="write every node inline (no blocks)")
    p.add_argument("--name", help="the network's name (default: the module's class, snake_case)")
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="do not build the spec and compare its outputs with the module's before writing it",
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed of the random example inputs (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes")


def _inputs(items: list[str] | None) -> list[tuple[str, tuple[int, ...], str]]:
    if not items:
        raise UsageError(
            "import: give the example inputs of forward(), in order: --input NAME=AxBxC",
            hint="e.g. --input x=1x3x224x224",
        )
    out: list[tuple[str, tuple[int, ...], str]] = []
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"--input expects NAME=AxBxC[:DTYPE], got {show(item)}")
        if any(name == n for n, _, _ in out):
            raise UsageError(f"--input {_name(name)}: given twice")
        sizes, _, dtype = value.partition(":")
        dtype = dtype.strip() or "float32"
        if dtype not in _DTYPES:
            raise UsageError(f"--input {_name(name)}: unknown dtype {show(dtype)}", expected=_DTYPES)
        parts = sizes.lower().replace(",", "x").split("x")
        if not sizes.strip():
            raise UsageError(f"--input {_name(name)}: expected sizes like 1x3x224x224, got {show(value)}")
        shape = tuple(_size(s.strip(), f"--input {_name(name)}={show(value)}") for s in parts)
        out.append((name, shape, dtype))
    return out


def _python_module(name: str) -> ModuleType:
    """The user's module named on the command line: a dotted module found from the current folder
    (as `python -m` finds it), or a .py file. (The one place netdsl imports a module by name: never
    a name written in a spec.)"""
    import importlib
    import importlib.util

    if name.endswith(".py") or os.sep in name:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"import: no such file: {show(name)}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"import: cannot load {show(name)} as a Python module")
        module = importlib.util.module_from_spec(spec)
        added = sys.modules.setdefault(path.stem, module) is module  # (while it runs, as an import)
        try:
            spec.loader.exec_module(module)
        finally:
            if added:
                del sys.modules[path.stem]
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(name)


def _factory(target: str) -> tuple[Any, str]:
    m = _TARGET.match(target)
    if m is None:
        raise UsageError(
            f"import: expected MODULE:FACTORY, got {show(target)}",
            hint="e.g. torchvision.models:resnet18, or my_models.py:Net",
        )
    module_name, factory = m["module"], m["factory"]
    try:
        module = _python_module(module_name)
    except UsageError:
        raise
    except ModuleNotFoundError as e:
        raise UsageError(f"import: no Python module {show(module_name)} ({e})") from None
    except Exception as e:  # the user's module failed while being imported
        raise UsageError(f"import: importing {show(module_name)} failed: {type(e).__name__}: {e}") from None
    obj: Any = module
    for part in factory.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"import: {show(module_name)} has no {show(factory)}")
        obj = getattr(obj, part)
    return obj, f"{module_name}:{factory}"


def cmd_import(args: argparse.Namespace) -> int:
    from netdsl.api import import_spec
    from netdsl.backend.torch_extra import require_torch
    from netdsl.core.outfile import atomic_write

    require_torch("netdsl import")
    from netdsl.backend.trace_import import as_module, random_input

    inputs = _inputs(args.input)
    out = Path(args.output)
    blocks_dir = Path(args.blocks_dir) if args.blocks_dir else None
    if blocks_dir is not None and not blocks_dir.is_dir():
        raise UsageError(f"--blocks-dir {show(args.blocks_dir)}: no such folder")
    obj, what = _factory(args.target)
    module = as_module(obj, what)
    examples = [random_input(shape, dtype, args.seed + i) for i, (_, shape, dtype) in enumerate(inputs)]
    spec = import_spec(
        module,
        examples,
        input_names=[n for n, _, _ in inputs],
        name=args.name,
        blocks=not args.no_blocks,
        verify=not args.no_verify,
    )
    # everything is known before the first file is written: a failure above writes nothing
    if blocks_dir is not None:
        for block, text in spec.blocks.items():
            atomic_write(blocks_dir / f"{block}.yaml", text, flag="--blocks-dir")
        atomic_write(out, spec.network, flag="--output")
    else:
        atomic_write(out, spec.text, flag="--output")
    blocks = f", blocks {', '.join(spec.block_names)}" if spec.block_names else ""
    checked = (
        f"; built and compared: largest output difference {spec.max_difference:.3g}"
        if spec.max_difference is not None
        else ""
    )
    print(safe_text(f"wrote {out} (network {spec.name}{blocks}){checked}"))
    if blocks_dir is not None and spec.blocks:
        print(
            safe_text(
                f"wrote {len(spec.blocks)} block file(s) to {blocks_dir}: build with "
                f"--blocks-path {blocks_dir}"
            )
        )
    if not args.quiet:
        for note in spec.notes:
            print(safe_text(f"note: {note}"), file=sys.stderr)
    return EXIT_OK


__all__ = ["add_arguments", "cmd_import"]

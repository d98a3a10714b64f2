"""netdsl.compile of the Shunted Transformer against its peers, on CPU, side by side in one process.

    python benchmarks/compile_shunted.py                     # Shunted-T, every peer, batch 1 and 8
    python benchmarks/compile_shunted.py --variant b --peers netdsl.compile

Same weights (the reference rule of tests/data) and inputs for every model, float32, 224 x 224:

- ``reference eager``: the hand-written eager reference of tests/test_shunted.py (the official
  architecture), the baseline of every ratio;
- ``netdsl eager``: the built GraphModule;
- ``netdsl.compile``: as shipped (inference: the graph rewrites, regional compilation, dynamic batch
  and image size); ``netdsl.compile static``: the same, specialised to each size (dynamic=False,
  recompiles for a new size); ``netdsl.compile whole``: one graph (regional=False);
  ``netdsl.compile frozen``: one graph with inductor freezing;
- ``torch.compile(reference)`` with and without ``freezing``;
- ``onnxruntime``: the reference exported by torch.onnx (dynamo exporter, dynamic batch), run by
  onnxruntime with 2 intra-op threads and spinning off (so that it does not slow down the models
  timed after it).

Each compile's first call is timed (a fresh inductor cache: cold compiles; netdsl.compile first, so
that it builds its kernels itself; later compiles may reuse some). Then every model takes turns, round
by round (each round runs each model for about 0.2 s), and the table gives the median time per call
and the median of the per-round ratios to the reference eager (above 1 is faster). ``--warm`` also
times netdsl.compile's first call in a second process that reuses this one's inductor cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or tempfile.mkdtemp(prefix="compile_shunted_")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = CACHE

import torch  # noqa: E402

import netdsl  # noqa: E402
from tests.blockref import reference_state_dict  # noqa: E402
from tests.test_shunted import CONFIGS, ShuntedReference, official_layout, spec_path  # noqa: E402

PEERS = (
    "netdsl eager",
    "netdsl.compile",
    "netdsl.compile static",
    "netdsl.compile whole",
    "netdsl.compile frozen",
    "torch.compile(reference)",
    "torch.compile(reference, freezing)",
    "onnxruntime",
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def weights(variant: str) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in reference_state_dict(official_layout(variant)).items()}


def reference(variant: str) -> torch.nn.Module:
    ref = ShuntedReference(CONFIGS[variant]).eval()
    ref.load_state_dict(weights(variant), strict=True)
    return ref


def built(variant: str) -> Any:
    gm = netdsl.build(spec_path(variant)).eval()
    gm.load_state_dict(weights(variant), strict=True)
    return gm


def onnx_session(variant: str, threads: int) -> Callable[[torch.Tensor], Any]:
    import onnxruntime as ort

    folder = Path(tempfile.mkdtemp(prefix="compile_shunted_onnx_"))
    path = folder / f"shunted_{variant}.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    x = torch.randn(2, 3, 224, 224)
    torch.onnx.export(
        reference(variant), (x,), str(path), dynamo=True, dynamic_shapes=({0: batch},), verbose=False
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    shutil.rmtree(folder, ignore_errors=True)
    return lambda t: torch.from_numpy(session.run(None, {name: t.numpy()})[0])


def make(peer: str, variant: str, threads: int) -> Callable[[torch.Tensor], Any]:
    if peer == "netdsl eager":
        gm = built(variant)
        return lambda x: gm(x)
    if peer == "netdsl.compile":
        return netdsl.compile(built(variant))  # type: ignore[no-any-return]
    if peer == "netdsl.compile static":
        return netdsl.compile(built(variant), dynamic=False)  # type: ignore[no-any-return]
    if peer == "netdsl.compile whole":
        return netdsl.compile(built(variant), regional=False)  # type: ignore[no-any-return]
    if peer == "netdsl.compile frozen":
        return netdsl.compile(built(variant), freeze=True)  # type: ignore[no-any-return]
    if peer == "torch.compile(reference)":
        return torch.compile(reference(variant))  # type: ignore[return-value]
    if peer == "torch.compile(reference, freezing)":
        return torch.compile(reference(variant), options={"freezing": True})  # type: ignore[return-value]
    if peer == "onnxruntime":
        return onnx_session(variant, threads)
    raise ValueError(peer)


def per_call(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - start) / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="t", choices=sorted(CONFIGS))
    ap.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warm", action="store_true", help="time netdsl.compile again in a second process")
    ap.add_argument("--first-call-only", action="store_true", help=argparse.SUPPRESS)  # the --warm child
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.first_call_only:
        model = make("netdsl.compile", args.variant, args.threads)
        start = time.perf_counter()
        with torch.no_grad():
            model(torch.randn(args.batches[0], 3, 224, 224))
        print(f"{time.perf_counter() - start:.1f}")
        return 0
    ref = reference(args.variant)
    models: dict[str, Callable[[torch.Tensor], Any]] = {"reference eager": ref}
    first: dict[str, dict[int, float]] = {}
    diffs: dict[str, float] = {}
    xs = {b: torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(b)) for b in args.batches}
    with torch.no_grad():
        want = {b: ref(x) for b, x in xs.items()}
        for peer in args.peers:
            start = time.perf_counter()
            model = make(peer, args.variant, args.threads)
            made = time.perf_counter() - start
            first[peer] = {}
            for b in sorted(args.batches, reverse=True):  # the larger batch first: a dynamic compile
                start = time.perf_counter()
                y = model(xs[b])
                first[peer][b] = time.perf_counter() - start + (made if b == max(args.batches) else 0.0)
                diffs[peer] = max(diffs.get(peer, 0.0), float((y - want[b]).abs().max()))
            log(f"{peer}: first calls {first[peer]}, max |difference| {diffs[peer]:.1e}")
            models[peer] = model
        rows: dict[str, dict[int, tuple[float, float]]] = {k: {} for k in models}
        for b, x in xs.items():
            for fn in models.values():
                fn(x)
            calls = max(1, round(0.2 / per_call(ref, x, 1)))
            times: dict[str, list[float]] = {k: [] for k in models}
            for r in range(args.rounds):
                names = list(models) if r % 2 == 0 else list(reversed(models))
                for k in names:
                    times[k].append(per_call(models[k], x, calls))
            for k in models:
                ratios = [base / t for base, t in zip(times["reference eager"], times[k], strict=True)]
                rows[k][b] = (statistics.median(times[k]), statistics.median(ratios))
    warm = None
    if args.warm:
        cmd = [sys.executable, __file__, "--variant", args.variant, "--first-call-only", "--batches", "8"]
        cmd += ["--threads", str(args.threads)]
        warm = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
    print(
        f"Shunted-{args.variant.upper()}, 224 x 224, float32, CPU, torch {torch.__version__}, "
        f"{args.threads} threads; {args.rounds} rounds of ~0.2 s per model: median ms per call, median of "
        "the per-round speed-ups over the reference eager"
    )
    head = "| model | first call (s) |" + "".join(f" batch {b}: ms | speed-up |" for b in args.batches)
    head += " max abs diff |"
    print(head)
    print("|" + "---|" * (3 + 2 * len(args.batches)))
    for k, per_batch in rows.items():
        order = sorted(args.batches, reverse=True)
        compile_s = " / ".join(f"{first[k][b]:.0f}" for b in order) if k in first else ""
        cells = "".join(f" {per_batch[b][0] * 1e3:.1f} | {per_batch[b][1]:.2f}x |" for b in args.batches)
        diff = f"{diffs[k]:.1e}" if k in diffs else "0"
        print(f"| {k} | {compile_s} |{cells} {diff} |")
    if warm is not None:
        print(f"\nnetdsl.compile, first call at batch 8 in a second process (warm cache): {warm:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

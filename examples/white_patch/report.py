"""The outputs: the results table (Markdown + JSON) beside the seed's numbers, loss / accuracy
curves, and per attention network its attention block's output map (channels 1-3, as the seed
plots) and, where the block has one, its spatial attention map, read with ``netdsl.capturing``.

How much a map "highlights the patch" is also measured, over the test images with a patch: for
each image and channel, ``z = (mean inside the patch's cells - mean outside) / std of the map``;
reported as the mean |z| over channels 1-3 (the seed's plot) and the largest |mean z| of any
channel, beside the same numbers for the convolutional features ``conv`` that feed the block (a
baseline: what the CNN alone already shows)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import fx

import netdsl

from .data import PATCH, Split
from .nets import BY_NAME, SEED_RESULTS, Run

#: the convolutional features every network computes (the attention block's input)
CONV = "conv"


def _cells(r: int, c: int, size: int, h: int) -> tuple[slice, slice]:
    """The cells of an (h, h) map that the patch at (r, c) of a (size, size) image covers."""
    s = h / size
    return (
        slice(math.floor(r * s), math.ceil((r + PATCH) * s)),
        slice(math.floor(c * s), math.ceil((c + PATCH) * s)),
    )


def patch_z(maps: torch.Tensor, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """(N, C): how far each channel's mean inside the patch lies above the mean outside, in the
    map's standard deviations."""
    n, ch, h, _ = maps.shape
    out = np.zeros((n, ch))
    m = maps.detach().double().numpy()
    for i in range(n):
        rs, cs = _cells(int(rows[i]), int(cols[i]), size, h)
        inside = np.zeros((h, h), dtype=bool)
        inside[rs, cs] = True
        a = m[i].reshape(ch, -1)
        flat = inside.reshape(-1)
        std = a.std(axis=1) + 1e-12
        out[i] = (a[:, flat].mean(axis=1) - a[:, ~flat].mean(axis=1)) / std
    return out


def map_scores(gm: fx.GraphModule, run: Run, test: Split, limit: int, batch: int = 50) -> dict[str, Any]:
    """``patch_z`` summaries of the run's maps and of ``conv``, over up to ``limit`` test images with
    a patch."""
    names = [CONV, *(n for n, _ in run.maps)]
    model = netdsl.capturing(gm, names).eval()
    which = np.flatnonzero(test.labels == 1)[:limit]
    zs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    with torch.no_grad():
        for lo in range(0, len(which), batch):
            idx = which[lo : lo + batch]
            xs, _ = zip(*(test.batch(int(i), int(i) + 1) for i in idx), strict=True)
            _, got = model(torch.cat(xs))
            for n in names:
                zs[n].append(patch_z(got[n], test.rows[idx], test.cols[idx], test.images.shape[-1]))
    out: dict[str, Any] = {"images": len(which)}
    for n in names:
        z = np.concatenate(zs[n]) if zs[n] else np.zeros((0, 1))
        channels = [1, 2, 3] if z.shape[1] > 3 else [0]
        out[n] = {
            "channels_shown": channels,
            "mean_abs_z_shown": float(np.abs(z[:, channels]).mean()) if len(z) else float("nan"),
            "mean_z_shown": [float(v) for v in z[:, channels].mean(axis=0)] if len(z) else [],
            "best_channel": int(np.abs(z.mean(axis=0)).argmax()) if len(z) else -1,
            "best_abs_mean_z": float(np.abs(z.mean(axis=0)).max()) if len(z) else float("nan"),
        }
    return out


def summary(run: Run, params: int, hist: dict[str, Any]) -> dict[str, Any]:
    """The results of one run: the table's numbers and the history."""
    seed = SEED_RESULTS.get(run.seed_row or "")
    return {
        "run": run.name,
        "title": run.title,
        "spec": f"specs/{run.spec}",
        "variant": run.variant,
        "overrides": run.overrides,
        "params": params,
        "min_train_loss": min(hist["train_loss"]),
        "min_test_loss": min(hist["test_loss"]),
        "final_train_loss": hist["train_loss"][-1],
        "final_test_loss": hist["test_loss"][-1],
        "final_test_acc": hist["test_acc"][-1],
        "best_test_acc": max(hist["test_acc"]),
        "seed_row": run.seed_row,
        "seed_min_train_loss": seed[0] if seed else None,
        "seed_min_test_loss": seed[1] if seed else None,
        "seconds": hist["seconds"],
        "train_ms_per_image": hist["train_ms_per_image"],
        "history": {k: hist[k] for k in ("train_loss", "test_loss", "train_acc", "test_acc")},
    }


def _num(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}g}"


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [
        "# White-patch classification, seed 003 reproduced with netdsl",
        "",
        f"Made by `{results['command']}` ({results['data']}; {cfg['train']} training / {cfg['test']} test "
        f"images, {cfg['epochs']} epochs, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, "
        f"seed {cfg['seed']}{', the seed`s labels (np.random.seed(i + 10))' if cfg['as_seed'] else ''}; "
        f"{results['processes']} process(es), {results['threads']} thread(s) each, "
        f'{results["seconds"] / 60:.1f} min). Loss = the seed\'s per-epoch mean BCE (its "error").',
        "",
        "| run | network | params | min train loss | min test loss | final test acc | best test acc "
        "| seed: min train | seed: min test | s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"].values():
        lines.append(
            f"| `{r['run']}` | {r['title']} | {r['params']:,} | {_num(r['min_train_loss'])} "
            f"| {_num(r['min_test_loss'])} | {r['final_test_acc']:.3f} | {r['best_test_acc']:.3f} "
            f"| {_num(r['seed_min_train_loss'])} | {_num(r['seed_min_test_loss'])} | {r['seconds']:.0f} |"
        )
    scored = [r for r in results["runs"].values() if r.get("maps")]
    if scored:
        lines += [
            "",
            "Does a map highlight the patch? z = (mean over the patch's cells - mean elsewhere) / the map's "
            "std, over the test images with a patch: mean |z| of channels 1-3 (what the figures show) and "
            "the largest |mean z| of any channel (which channel), beside the same for `conv`, the "
            "convolutional features the attention block reads.",
            "",
            "| run | map | images | mean abs z, ch 1-3 (spatial: mean z) | best channel abs mean z "
            "| `conv`: ch 1-3 | `conv`: best |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in scored:
            m, conv = r["maps"], r["maps"][CONV]
            for name in (n for n in m if n not in (CONV, "images")):
                s = m[name]
                spatial = s["channels_shown"] == [0]
                shown = f"{s['mean_z_shown'][0]:+.2f}" if spatial else f"{s['mean_abs_z_shown']:.2f}"
                lines.append(
                    f"| `{r['run']}` | `{name}` | {m['images']} | {shown} "
                    f"| {s['best_abs_mean_z']:.2f} (ch {s['best_channel']}) | {conv['mean_abs_z_shown']:.2f} "
                    f"| {conv['best_abs_mean_z']:.2f} (ch {conv['best_channel']}) |"
                )
    if results.get("figures", True):
        lines += [
            "",
            "Figures: [curves.png](curves.png)"
            + "".join(f", [maps_{r['run']}.png](maps_{r['run']}.png)" for r in scored),
        ]
    return "\n".join([*lines, ""])


def write_tables(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(results), encoding="utf-8")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(results: dict[str, Any], out: Path) -> Path:
    """Per run: train / test loss (log scale) and accuracy per epoch."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    runs = list(results["runs"].values())
    fig, axs = plt.subplots(len(runs), 2, figsize=(10, 2.4 * len(runs)), squeeze=False)
    for row, r in zip(axs, runs, strict=True):
        h = r["history"]
        epochs = range(1, len(h["train_loss"]) + 1)
        row[0].semilogy(epochs, h["train_loss"], label="train")
        row[0].semilogy(epochs, h["test_loss"], label="test")
        if r["seed_min_test_loss"] is not None:
            row[0].axhline(r["seed_min_test_loss"], color="grey", ls=":", label="seed: min test")
        row[0].set_ylabel("BCE loss")
        row[0].set_title(r["title"], fontsize=9)
        row[0].legend(fontsize=7)
        row[1].plot(epochs, h["train_acc"], label="train")
        row[1].plot(epochs, h["test_acc"], label="test")
        row[1].set_ylim(0.4, 1.02)
        row[1].set_ylabel("accuracy")
        row[1].legend(fontsize=7)
    for a in axs.flat:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    for a in axs[-1]:
        a.set_xlabel("epoch")
    fig.tight_layout()
    path = out / "curves.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def pick_images(test: Split, count: int) -> list[int]:
    """``count`` test images to show: with a patch, and one without when there is room."""
    with_patch = [int(i) for i in np.flatnonzero(test.labels == 1)]
    without = [int(i) for i in np.flatnonzero(test.labels == 0)]
    n_clean = 1 if count >= 3 and without else 0
    return sorted(with_patch[: count - n_clean] + without[:n_clean])


def plot_maps(gm: fx.GraphModule, run: Run, test: Split, out: Path, count: int = 4) -> Path:
    """The run's maps on ``count`` test images: the image, channels 1-3 of the attention block's
    output and its spatial attention map (if any); the patch outlined in red."""
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    idx = pick_images(test, count)
    xs = [test.batch(i, i + 1)[0] for i in idx]
    names = [n for n, _ in run.maps]
    with torch.no_grad():
        outs, got = netdsl.capturing(gm, names).eval()(torch.cat(xs))
    p = outs[0] if isinstance(outs, tuple) else outs
    columns: list[tuple[str, str, int]] = []
    main, main_title = run.maps[0]
    columns += [(main, f"{main_title}, ch {c}", c) for c in (1, 2, 3)]
    columns += [(n, t, 0) for n, t in run.maps[1:]]
    size = test.images.shape[-1]
    fig, axs = plt.subplots(len(idx), 1 + len(columns), figsize=(2.3 * (1 + len(columns)), 2.3 * len(idx)))
    axs = np.atleast_2d(axs)
    for row, (i, x) in enumerate(zip(idx, xs, strict=True)):
        ax = axs[row, 0]
        ax.imshow(np.clip(x[0].numpy().transpose(1, 2, 0) * 0.5 + 0.5, 0, 1))
        label = int(test.labels[i])
        ax.set_title(f"test {test.indices[i]}: y={label}, p={float(p[row]):.2f}", fontsize=8)
        if label:
            r, c = int(test.rows[i]), int(test.cols[i])
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), PATCH, PATCH, fill=False, ec="red", lw=1.2))
        for col, (name, title, ch) in enumerate(columns, start=1):
            m = got[name][row, ch].numpy()
            ax = axs[row, col]
            ax.imshow(m)
            if row == 0:
                ax.set_title(f"{title}\n`{name}`", fontsize=8)
            if label:
                s = m.shape[0] / size
                ax.add_patch(
                    Rectangle((c * s - 0.5, r * s - 0.5), PATCH * s, PATCH * s, fill=False, ec="red", lw=1.2)
                )
    for ax in axs.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(BY_NAME[run.name].title, fontsize=10)
    fig.tight_layout()
    path = out / f"maps_{run.name}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

"""Training and evaluation as seed 003 does it, in one process or under ``torchrun`` (DDP, gloo).

Per epoch: ``train // batch_size`` batches in a fixed order (no shuffling) in ``train()`` mode with
Adam, then ``test // batch_size`` batches in ``eval()`` mode. The loss is the seed's
``-mean(y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8))``, the accuracy ``mean(round(p) == y)``; an
epoch's loss is the mean of its batches' (the seed's "error").

Under DDP each of the W processes takes its share of every global batch (the same global batch and
order as one process; batch_size % W == 0); gradients are averaged, which is the gradient of the
global batch's mean loss. Batch norm normalises each process's share with its own statistics
(SyncBatchNorm needs CUDA), and its running statistics are rank 0's (DDP broadcasts buffers at
each forward), so the numbers differ slightly from one process's.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import fx, nn

from .data import Split
from .nets import Run, build
from .progress import Progress


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    seed: int


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: training steps' time per image (forward + backward + step), per process
    train_ms_per_image: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def share(self, lo: int, hi: int) -> tuple[int, int]:
        """This process's part of the global batch ``lo:hi``."""
        n = (hi - lo) // self.world
        return lo + self.rank * n, lo + (self.rank + 1) * n

    def sum(self, values: list[float]) -> list[float]:
        """``values`` summed over the processes."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return [float(v) for v in t]

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The seed's loss."""
    return -torch.mean(y * torch.log(p + 1e-8) + (1 - y) * torch.log(1 - p + 1e-8))


def probabilities(out: Any) -> torch.Tensor:
    """p of a network's outputs: (p,) or (p, attention map)."""
    p: torch.Tensor = out[0] if isinstance(out, tuple) else out
    return p


def _epoch(
    model: nn.Module,
    split: Split,
    batch_size: int,
    ctx: Dist,
    opt: torch.optim.Optimizer | None,
    progress: Progress,
) -> tuple[float, float, float]:
    """One pass over ``split`` (training when ``opt`` is given): mean loss, accuracy, seconds in
    the model."""
    batches = len(split) // batch_size
    loss_sum = correct = count = 0.0
    busy = 0.0
    for b in range(batches):
        lo, hi = ctx.share(b * batch_size, (b + 1) * batch_size)
        x, y = split.batch(lo, hi)
        t = time.perf_counter()
        if opt is not None:
            p = probabilities(model(x))
            loss = bce(p, y)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        else:
            with torch.no_grad():
                p = probabilities(model(x))
                loss = bce(p, y)
        busy += time.perf_counter() - t
        loss_sum += float(loss.detach())
        correct += float((torch.round(p.detach()) == y).sum())
        count += len(y)
        progress.step()
    loss_sum, correct, count = ctx.sum([loss_sum, correct, count])
    return loss_sum / (batches * ctx.world), correct / count, busy


def train(
    run: Run, train_split: Split, test_split: Split, cfg: TrainConfig, ctx: Dist, *, quiet: bool = False
) -> tuple[fx.GraphModule, History]:
    """Build ``run``'s network from ``cfg.seed`` and train it: the module (on rank 0, its trained
    weights) and the per-epoch history."""
    if cfg.batch_size % ctx.world:
        raise ValueError(f"batch size {cfg.batch_size} is not a multiple of the {ctx.world} processes")
    torch.manual_seed(cfg.seed)  # (dropout's draws; the initialisation has the build's seed)
    gm = build(run, cfg.seed)
    model: nn.Module = gm
    if ctx.world > 1:
        model = nn.parallel.DistributedDataParallel(gm)
    opt = torch.optim.Adam(gm.parameters(), lr=cfg.lr)
    steps = cfg.epochs * (len(train_split) // cfg.batch_size + len(test_split) // cfg.batch_size)
    progress = Progress(steps, f"{run.name:>22}", enabled=ctx.main and not quiet)
    hist = History()
    start = time.perf_counter()
    busy = 0.0
    for epoch in range(cfg.epochs):
        model.train()
        loss, acc, t = _epoch(model, train_split, cfg.batch_size, ctx, opt, progress)
        busy += t
        hist.train_loss.append(loss)
        hist.train_acc.append(acc)
        model.eval()
        loss, acc, _ = _epoch(model, test_split, cfg.batch_size, ctx, None, progress)
        hist.test_loss.append(loss)
        hist.test_acc.append(acc)
        progress.note(
            f"epoch {epoch + 1}: train {hist.train_loss[-1]:.4f} / {hist.train_acc[-1]:.3f}  "
            f"test {hist.test_loss[-1]:.4f} / {hist.test_acc[-1]:.3f}",
            line=True,
        )
    progress.close()
    hist.seconds = time.perf_counter() - start
    seen = cfg.epochs * (len(train_split) // cfg.batch_size) * cfg.batch_size // ctx.world
    hist.train_ms_per_image = 1000 * busy / max(1, seen)
    gm.eval()
    return gm, hist

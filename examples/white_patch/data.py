"""The white-patch data of seed 003: images, labels and patch positions.

Images are uint8 (N, 3, S, S), S = 96, either generated here (:func:`synthetic_images`: natural-image
statistics made procedurally, image ``i`` a function of ``(seed, i)`` alone) or read from STL10's
binary file (:func:`read_stl10`, the seed's data when a user has it). A batch is preprocessed as the
seed does: ``x = (pixel - 128) / 128`` and, for label 1, ``x[:, r:r+16, c:c+16] = 1.0``.

Labels and positions: by default each image draws its own (:func:`own_patches`, fixed per image, so
every epoch sees the same data); ``as_seed`` reproduces the seed's ``np.random.seed(i + 10)`` with
``i`` the position in the batch (:func:`seed_patches`), so every batch has the same labels and
positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

#: side of the white square, as in the seed
PATCH = 16
#: STL10's image side
STL10_SIZE = 96
#: the seed's split of STL10's 5000 `train` images: 0-3999 train, 4000-4999 test
SEED_TEST_OFFSET = 4000


# ---------------------------------------------------------------------------------------------- images


@lru_cache(maxsize=4)
def _frequencies(size: int) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f: np.ndarray = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    return f


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return ys / size, xs / size


def smooth_field(rng: np.random.Generator, size: int, beta: float) -> np.ndarray:
    """A random field with a 1/f^beta power spectrum (natural images: beta about 2), zero mean and
    unit standard deviation."""
    f = _frequencies(size)
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = amp * (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape))
    field: np.ndarray = np.fft.irfft2(spec, s=(size, size))
    field = (field - field.mean()) / (field.std() + 1e-12)
    return field


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A colour of natural scenes: a grey level pulled partly towards a random hue; now and then
    near white (bright sky, paper, highlights), so that white is not the patch's alone."""
    c: np.ndarray
    if rng.random() < 0.08:
        c = np.full(3, rng.uniform(0.88, 1.0)) - rng.uniform(0.0, 0.05, 3)
        return c
    grey = rng.uniform(0.15, 0.85)
    hue = rng.uniform(0.0, 1.0, 3)
    c = grey + rng.uniform(0.05, 0.45) * (hue - hue.mean())
    return c


def _shape_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """The soft-edged mask (0..1) of an ellipse, a rotated rectangle or a blob."""
    ys, xs = _grid(size)
    cy, cx = rng.uniform(-0.1, 1.1, 2)
    theta = rng.uniform(0.0, np.pi)
    u = (xs - cx) * np.cos(theta) + (ys - cy) * np.sin(theta)
    v = -(xs - cx) * np.sin(theta) + (ys - cy) * np.cos(theta)
    a, b = rng.uniform(0.05, 0.45, 2)
    edge = rng.uniform(0.004, 0.03)  # blur of the outline, in image widths
    kind = rng.integers(3)
    if kind == 0:  # ellipse
        d = (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * min(a, b)
    elif kind == 1:  # rectangle
        d = np.maximum(np.abs(u) - a, np.abs(v) - b)
    else:  # blob: a level set of a smooth field
        field = smooth_field(rng, size, rng.uniform(2.5, 3.5))
        d = (rng.uniform(0.3, 1.2) - field) * 0.05
    mask: np.ndarray = 1.0 / (1.0 + np.exp(np.clip(d / edge, -50.0, 50.0)))
    return mask


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A texture (mean 0): fine 1/f noise or a grating (stripes, fabric, bricks of a kind)."""
    if rng.random() < 0.75:
        return smooth_field(rng, size, rng.uniform(1.5, 2.5)) * rng.uniform(0.02, 0.08)
    ys, xs = _grid(size)
    theta = rng.uniform(0.0, np.pi)
    freq = rng.uniform(3.0, 20.0)
    wave = np.sin(2 * np.pi * freq * (xs * np.cos(theta) + ys * np.sin(theta)) + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        wave = np.sign(wave) * np.abs(wave) ** 0.3  # sharper stripes
    out: np.ndarray = wave * rng.uniform(0.03, 0.15)
    return out


def _blur(img: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] / 4 blur along both image axes (edges repeated)."""
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    img = (p[:, :-2, 1:-1] + 2 * p[:, 1:-1, 1:-1] + p[:, 2:, 1:-1]) / 4
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    out: np.ndarray = (p[:, 1:-1, :-2] + 2 * p[:, 1:-1, 1:-1] + p[:, 1:-1, 2:]) / 4
    return out


def synthetic_image(seed: int, index: int, size: int = STL10_SIZE) -> np.ndarray:
    """Image ``index`` of the data set ``seed``: uint8 (3, size, size). A background of 1/f noise
    (luminance and weaker colour fields) and sometimes a horizon, 1-6 objects (ellipses, rectangles,
    blobs) of natural colours with texture and shading, global gain (over-exposed parts clip to
    white), blur, and sensor noise."""
    rng = np.random.default_rng([seed, index])
    ys, _ = _grid(size)
    base = _colour(rng)
    lum = smooth_field(rng, size, rng.uniform(2.0, 3.0)) * rng.uniform(0.05, 0.18)
    chroma = np.stack([smooth_field(rng, size, rng.uniform(2.0, 3.0)) for _ in range(2)])
    mix = rng.normal(0.0, 0.04, (3, 2))
    img = base[:, None, None] + lum[None] + np.einsum("ck,kyx->cyx", mix, chroma)
    if rng.random() < 0.5:  # a horizon: sky above, ground below
        horizon = rng.uniform(0.2, 0.8) + 0.1 * smooth_field(rng, size, 3.0)[0][None, :] * rng.random()
        ground = 1.0 / (1.0 + np.exp(-(ys - horizon) / rng.uniform(0.005, 0.05)))
        img = img * (1 - ground) + (_colour(rng)[:, None, None] + lum[None] * 0.5) * ground
    for _ in range(rng.integers(1, 7)):
        mask = _shape_mask(rng, size)
        shade = 1.0 + rng.uniform(-0.25, 0.25) * (ys - 0.5) * 2
        colour = _colour(rng)[:, None, None] * shade[None] + _texture(rng, size)[None]
        img = img * (1 - mask[None]) + colour * mask[None]
    img = img * rng.uniform(0.75, 1.2) + rng.uniform(-0.08, 0.08)
    if rng.random() < 0.6:
        img = _blur(img)
    img = img + rng.normal(0.0, rng.uniform(0.003, 0.02), img.shape)
    out: np.ndarray = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out


def synthetic_images(seed: int, indices: range | list[int], size: int = STL10_SIZE) -> np.ndarray:
    """Images ``indices`` of the data set ``seed``: uint8 (N, 3, size, size)."""
    out = np.empty((len(indices), 3, size, size), dtype=np.uint8)
    for k, i in enumerate(indices):
        out[k] = synthetic_image(seed, i, size)
    return out


def stl10_file(path: Path) -> Path:
    """STL10's ``train_X.bin`` given the file, its folder or the folder holding ``stl10_binary/``
    (what ``torchvision.datasets.STL10(root, download=True)`` makes)."""
    for candidate in (path, path / "train_X.bin", path / "stl10_binary" / "train_X.bin"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no STL10 train_X.bin at {path} (nor {path}/train_X.bin, {path}/stl10_binary/)")


def read_stl10(path: Path, indices: range | list[int]) -> np.ndarray:
    """Images ``indices`` of STL10's binary file (uint8, each image 3 x 96 x 96 column-major, as
    ``train_X.bin``): uint8 (N, 3, 96, 96), rows first (torchvision's STL10 reads them the same way)."""
    file = stl10_file(path)
    per_image = 3 * STL10_SIZE * STL10_SIZE
    count = file.stat().st_size // per_image
    wanted = list(indices)
    if wanted and max(wanted) >= count:
        raise ValueError(f"{file} holds {count} images; image {max(wanted)} was asked for")
    raw = np.memmap(file, dtype=np.uint8, mode="r", shape=(count, 3, STL10_SIZE, STL10_SIZE))
    return np.ascontiguousarray(raw[wanted].transpose(0, 1, 3, 2))


# ------------------------------------------------------------------------------------ labels, patches


def seed_patches(count: int, batch_size: int, size: int = STL10_SIZE) -> tuple[np.ndarray, ...]:
    """The seed's labels and positions: image ``j`` of a batch (``j = index % batch_size``) draws
    ``np.random.seed(j + 10); label = randint(2); r = randint(size - 16); c = randint(size - 16)``."""
    labels, rows, cols = (np.full(count, -1, dtype=np.int64) for _ in range(3))
    for k in range(count):
        rs = np.random.RandomState(k % batch_size + 10)  # (the seed's np.random.seed(i + 10))
        labels[k] = rs.randint(2)
        if labels[k]:
            rows[k] = rs.randint(size - PATCH)
            cols[k] = rs.randint(size - PATCH)
    return labels, rows, cols


def own_patches(seed: int, indices: range | list[int], size: int = STL10_SIZE) -> tuple[np.ndarray, ...]:
    """A label and a position of its own for each image (fixed per image and ``seed``)."""
    labels, rows, cols = (np.full(len(indices), -1, dtype=np.int64) for _ in range(3))
    for k, i in enumerate(indices):
        rng = np.random.default_rng([seed, 1_000_003, i])
        label, r, c = int(rng.integers(2)), int(rng.integers(size - PATCH)), int(rng.integers(size - PATCH))
        labels[k] = label
        if label:
            rows[k], cols[k] = r, c
    return labels, rows, cols


@dataclass
class Split:
    """Images (uint8) with their labels and patch positions (-1 without a patch)."""

    images: np.ndarray
    labels: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    #: the data set's index of each image (the synthetic generator's or STL10's)
    indices: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``lo:hi`` preprocessed as the seed does, and their labels (float)."""
        x = (self.images[lo:hi].astype(np.float32) - 128.0) / 128.0
        for k in range(hi - lo):
            if self.labels[lo + k]:
                r, c = self.rows[lo + k], self.cols[lo + k]
                x[k, :, r : r + PATCH, c : c + PATCH] = 1.0
        return torch.from_numpy(x), torch.from_numpy(self.labels[lo:hi].astype(np.float32))


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are labelled."""

    train: int
    test: int
    seed: int = 0
    as_seed: bool = False
    batch_size: int = 100
    stl10: str | None = None
    size: int = STL10_SIZE

    def test_offset(self) -> int:
        """The test images follow the training ones from index 4000 on (the seed's split)."""
        return max(SEED_TEST_OFFSET, self.train)


def make_split(cfg: DataConfig, indices: list[int]) -> Split:
    if cfg.stl10 is not None:
        if cfg.size != STL10_SIZE:
            raise ValueError(f"STL10 images are {STL10_SIZE}x{STL10_SIZE}")
        images = read_stl10(Path(cfg.stl10), indices)
    else:
        images = synthetic_images(cfg.seed, indices, cfg.size)
    if cfg.as_seed:
        labels, rows, cols = seed_patches(len(indices), cfg.batch_size, cfg.size)
    else:
        labels, rows, cols = own_patches(cfg.seed, indices, cfg.size)
    return Split(images, labels, rows, cols, indices)


def make_data(cfg: DataConfig) -> tuple[Split, Split]:
    """The training and test splits of ``cfg``."""
    train = list(range(cfg.train))
    test = list(range(cfg.test_offset(), cfg.test_offset() + cfg.test))
    return make_split(cfg, train), make_split(cfg, test)

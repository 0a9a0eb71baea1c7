"""Offline image data for search: an ImageFolder directory, an .npz file, or scikit-learn's digits.

Nothing is ever downloaded. Every source becomes float32 NCHW tensors at the search resolution with 3
channels, standardized with the training split's per-channel statistics, and split deterministically
into a train part (supernet weights) and a held-out part (architecture parameters / accuracy
estimates), as DARTS-style bilevel search (FBNet, ProxylessNAS) requires.

- ``digits`` (built in): `sklearn.datasets.load_digits`, 1797 8x8 grey images shipped with
  scikit-learn, upsampled to the resolution.
- ``PATH.npz``: arrays ``x`` (N,H,W | N,H,W,C | N,C,H,W; C in 1 or 3) and ``y`` (N integer labels),
  read with ``allow_pickle=False`` so a user file can never run code while unpickling.
- ``DIR/``: ImageFolder layout ``DIR/<class>/<image>``; read with Pillow, classes sorted by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lutnas.errors import LutnasError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_SEED = 0
MIN_BATCH = 2  # train-mode BatchNorm needs two values per channel


class DataError(LutnasError):
    """A data source is missing, unreadable or malformed."""


@dataclass(frozen=True)
class SearchData:
    """Train and held-out splits as tensors (x float32 [N,3,R,R], y int64 [N])."""

    name: str
    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any
    num_classes: int
    resolution: int

    def batches(self, split: str, batch_size: int, rng: np.random.Generator, limit: int | None = None):
        """Shuffled (x, y) mini-batches of one split (`fold_batches`: none smaller than 2); at most `limit`."""
        x, y = (self.train_x, self.train_y) if split == "train" else (self.val_x, self.val_y)
        order = rng.permutation(len(y))
        chunks = fold_batches(len(order), batch_size, what=f"{self.name} {split} split")
        for chunk in chunks if limit is None else chunks[:limit]:
            idx = order[chunk]
            yield x[idx], y[idx]


def fold_batches(count: int, batch_size: int, what: str = "data") -> list[slice]:
    """Consecutive batches of `batch_size` over `count` items, none smaller than MIN_BATCH.

    BatchNorm in train mode needs more than one value per channel: a final batch of one image meets a
    1x1 feature map late in the network and fails (or, at larger maps, normalizes one image by its own
    statistics). A remainder smaller than MIN_BATCH is folded into the batch before it, so every item is
    still seen once an epoch.
    """
    if batch_size < MIN_BATCH:
        raise DataError(f"batch size must be at least {MIN_BATCH} (train-mode BatchNorm), got {batch_size}")
    if count < MIN_BATCH:
        raise DataError(f"{what} holds {count} image(s); a search needs at least {MIN_BATCH} per split")
    starts = list(range(0, count, batch_size))
    if count - starts[-1] < MIN_BATCH:
        starts.pop()
    ends = starts[1:] + [count]
    return [slice(a, b) for a, b in zip(starts, ends)]


def load_data(source: str, resolution: int, val_fraction: float = 0.2, max_samples: int | None = None):
    """`digits`, an .npz file or an ImageFolder directory -> SearchData at `resolution`."""
    if source == "digits":
        images, labels = _digits()
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"data source {source!r} not found (use 'digits', an .npz file or a directory)")
        if path.is_dir():
            images, labels = _image_folder(path, resolution)
        elif path.suffix == ".npz":
            images, labels = _npz(path)
        else:
            raise DataError(f"data source {source!r} is neither an .npz file nor an ImageFolder directory")
    return _prepare(str(source), images, labels, resolution, val_fraction, max_samples)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None] / 16.0  # N,1,8,8
    return images, bunch.target.astype(np.int64)


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz.files or "y" not in npz.files:
                raise DataError(f"{path}: .npz needs arrays 'x' and 'y', found {sorted(npz.files)}")
            x, y = npz["x"], npz["y"]
    except ValueError as err:  # object arrays need pickle, which is refused
        raise DataError(f"{path}: refusing pickled (object) arrays in .npz ({err})") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    if x.dtype.kind not in "uif" or y.dtype.kind not in "iu":
        raise DataError(f"{path}: x must be numeric and y integer, got {x.dtype} and {y.dtype}")
    if y.ndim != 1 or len(y) != len(x) or len(y) == 0:
        raise DataError(f"{path}: y must be 1-D with one label per image, got x{x.shape} y{y.shape}")
    return _to_nchw(x.astype(np.float32), path), y.astype(np.int64)


def _to_nchw(x: np.ndarray, where: object) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: images must be N,H,W or N,H,W,C / N,C,H,W with C in 1 or 3; got {x.shape}")


def _image_folder(root: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading an ImageFolder directory needs Pillow (pip install pillow)") from None
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root}: no class subdirectories (expected DIR/<class>/<image>)")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    rgb = img.convert("RGB").resize((size, size))
            except OSError as err:
                raise DataError(f"{file}: unreadable image ({err})") from None
            images.append(np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0)
            labels.append(label)
    if not images:
        raise DataError(f"{root}: no images with suffixes {', '.join(IMAGE_SUFFIXES)}")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _prepare(name, images, labels, resolution, val_fraction, max_samples) -> SearchData:
    import torch
    import torch.nn.functional as F

    if not 0 < val_fraction < 1:
        raise DataError(f"validation fraction must be in (0, 1), got {val_fraction}")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    if max_samples is not None:
        order = order[:max_samples]
    n_val = max(MIN_BATCH, round(len(order) * val_fraction))
    if len(order) - n_val < MIN_BATCH:
        raise DataError(f"{name}: {len(order)} images are too few to search: the train and validation splits "
                        f"need at least {MIN_BATCH} each")
    x = torch.from_numpy(np.ascontiguousarray(images[order]))
    x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x.contiguous()
    y = torch.from_numpy(labels[order])
    train_x, val_x = x[n_val:], x[:n_val]
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    num_classes = int(labels.max()) + 1
    return SearchData(
        name=name,
        train_x=(train_x - mean) / std,
        train_y=y[n_val:],
        val_x=(val_x - mean) / std,
        val_y=y[:n_val],
        num_classes=num_classes,
        resolution=resolution,
    )

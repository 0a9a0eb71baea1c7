"""Image data for search: an ImageFolder directory (streamed), an .npz file, or scikit-learn's digits.

Nothing is ever downloaded. Every source is split deterministically into a train part (supernet
weights; FBNet's 80%) and a held-out part (architecture parameters, accuracy estimates; 20%), as the
bilevel searches require, and served as shuffled mini-batches of float32 NCHW images with 3 channels
at the search resolution, standardized with the train split's per-channel statistics.

- ``digits`` (built in): `sklearn.datasets.load_digits`, 1797 8x8 grey images shipped with
  scikit-learn, upsampled to the resolution and held in memory (as are .npz arrays, which are read
  whole anyway); no augmentation (a flipped digit is another digit).
- ``PATH.npz``: arrays ``x`` (N,H,W | N,H,W,C | N,C,H,W; C in 1 or 3) and ``y`` (N integer labels),
  read with ``allow_pickle=False`` so a user file can never run code while unpickling.
- ``DIR/``: ImageFolder layout ``DIR/<class>/<image>``, classes sorted by name, streamed through a torch
  DataLoader with worker processes and ImageNet-style transforms (`image_folder`).

No train-mode pass may see a batch of one image (`fold_batches`), so a split needs at least two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lutnas.search.base import DataError
from lutnas.search.image_folder import FolderImages, channel_statistics, list_image_folder

SPLIT_SEED = 0
MIN_BATCH = 2  # train-mode BatchNorm needs two values per channel


class TensorImages(torch.utils.data.Dataset):
    """A split held in memory at the search resolution, standardized (digits, .npz)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])

    def load(self, i: int, augment: bool) -> torch.Tensor:
        return self.images[i]


class FoldedBatches(torch.utils.data.Sampler):
    """A DataLoader batch sampler: a fresh permutation from `rng` each pass, cut by `fold_batches`,
    at most `limit` batches. Runs in the main process, so `rng` and `limit` may change between passes."""

    def __init__(self, count: int, batch_size: int, what: str) -> None:
        self.chunks = fold_batches(count, batch_size, what)
        self.count = count
        self.rng: np.random.Generator = np.random.default_rng(0)
        self.limit: int | None = None

    def __iter__(self) -> Iterator[list[int]]:
        order = self.rng.permutation(self.count)
        for chunk in self.chunks[: self.limit]:
            yield order[chunk].tolist()

    def __len__(self) -> int:
        return len(self.chunks[: self.limit])


@dataclass
class SearchData:
    """Train and held-out splits (torch Datasets; `.labels` int64 [N]) with how to batch them."""

    name: str
    train: TensorImages | FolderImages
    val: TensorImages | FolderImages
    num_classes: int
    resolution: int
    workers: int = 0
    pin_memory: bool = False
    _loaders: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def train_y(self) -> torch.Tensor:
        return self.train.labels

    @property
    def val_y(self) -> torch.Tensor:
        return self.val.labels

    def batches(self, split: str, batch_size: int, rng: np.random.Generator,
                limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled (x, y) mini-batches of one split (`fold_batches`: none smaller than 2); at most `limit`.
        The train split is augmented where the source is (image folders)."""
        images = self.train if split == "train" else self.val
        what = f"{self.name} {split} split"
        if isinstance(images, TensorImages):   # in memory: index it, no worker processes
            order = rng.permutation(len(images))
            for chunk in fold_batches(len(images), batch_size, what)[:limit]:
                idx = torch.from_numpy(order[chunk])
                yield images.images[idx], images.labels[idx]
            return
        loader = self._loader(split, images, batch_size, what)
        loader.batch_sampler.rng, loader.batch_sampler.limit = rng, limit
        try:
            yield from loader
        except DataError as err:   # re-raised from a worker with its traceback in the message
            raise DataError(str(err).strip().splitlines()[-1].split("Error: ", 1)[-1]) from None

    def images(self, split: str, indices: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Images `indices` of a split as one batch (x, y), never augmented (proxies, tests)."""
        images = self.train if split == "train" else self.val
        index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        if isinstance(images, TensorImages):
            return images.images[index], images.labels[index]
        return torch.stack([images.load(int(i), augment=False) for i in index]), images.labels[index]

    def _loader(self, split: str, images: FolderImages, batch_size: int, what: str) -> Any:
        key = (split, batch_size)
        if key not in self._loaders:
            self._loaders[key] = torch.utils.data.DataLoader(
                images, batch_sampler=FoldedBatches(len(images), batch_size, what), num_workers=self.workers,
                pin_memory=self.pin_memory, persistent_workers=self.workers > 0)
        return self._loaders[key]


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


def split_counts(count: int, val_fraction: float, max_samples: int | None = None) -> tuple[int, int]:
    """(train, held-out) sizes of a source of `count` images: the first round(n * fraction) of a fixed
    permutation are held out, n = min(count, max_samples)."""
    if not 0 < val_fraction < 1:
        raise DataError(f"validation fraction must be in (0, 1), got {val_fraction}")
    if max_samples is not None and max_samples < 2 * MIN_BATCH:
        raise DataError(f"max samples must be at least {2 * MIN_BATCH} (two per split), got {max_samples}")
    n = count if max_samples is None else min(count, max_samples)
    n_val = max(MIN_BATCH, round(n * val_fraction))
    if n - n_val < MIN_BATCH:
        raise DataError(f"{n} images are too few to search: the train and validation splits need at least "
                        f"{MIN_BATCH} each")
    return n - n_val, n_val


def load_data(source: str, resolution: int, val_fraction: float = 0.2, max_samples: int | None = None,
              workers: int = 0, pin_memory: bool = False) -> SearchData:
    """`digits`, an .npz file or an ImageFolder directory -> SearchData at `resolution`.

    `workers`: DataLoader worker processes decoding an image folder (in-memory sources need none).
    """
    path = Path(source)
    if source != "digits" and not path.exists():
        raise DataError(f"data source {source!r} not found (use 'digits', an .npz file or a directory)")
    if source != "digits" and path.is_dir():
        return _folder_data(path, resolution, val_fraction, max_samples, workers, pin_memory)
    if source == "digits":
        images, labels = _digits()
    elif path.suffix == ".npz":
        images, labels = _npz(path)
    else:
        raise DataError(f"data source {source!r} is neither an .npz file nor an ImageFolder directory")
    return _tensor_data(str(source), images, labels, resolution, val_fraction, max_samples)


def _split(name: str, count: int, val_fraction: float, max_samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices) of a fixed permutation of `count` images."""
    try:
        n_train, n_val = split_counts(count, val_fraction, max_samples)
    except DataError as err:
        raise DataError(f"{name}: {err}") from None
    order = np.random.default_rng(SPLIT_SEED).permutation(count)[: n_train + n_val]
    return order[n_val:], order[:n_val]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, read from the CSV file it ships (64 pixels 0-16, then the label):
    `sklearn.datasets.load_digits` would import scikit-learn itself, ~2 s of every search's start."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")          # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the built-in 'digits' data needs scikit-learn installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = rows[:, :64].reshape(-1, 1, 8, 8) / 16.0  # N,1,8,8
    return images, rows[:, 64].astype(np.int64)


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
    if y.min() < 0:
        raise DataError(f"{path}: labels must be >= 0, got {int(y.min())}")
    return _to_nchw(x.astype(np.float32), path), y.astype(np.int64)


def _to_nchw(x: np.ndarray, where: object) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: images must be N,H,W or N,H,W,C / N,C,H,W with C in 1 or 3; got {x.shape}")


def _folder_data(root: Path, resolution: int, val_fraction: float, max_samples: int | None, workers: int,
                 pin_memory: bool) -> SearchData:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise DataError("reading an ImageFolder directory needs Pillow (pip install pillow)") from None
    paths, labels, classes = list_image_folder(root)
    train_idx, val_idx = _split(str(root), len(paths), val_fraction, max_samples)
    train = FolderImages([paths[i] for i in train_idx], labels[train_idx], resolution, augment=True)
    val = FolderImages([paths[i] for i in val_idx], labels[val_idx], resolution, augment=False)
    mean, std = channel_statistics(train)
    train.set_statistics(mean, std)
    val.set_statistics(mean, std)
    return SearchData(str(root), train, val, len(classes), resolution, workers, pin_memory)


def _tensor_data(name: str, images: np.ndarray, labels: np.ndarray, resolution: int, val_fraction: float,
                 max_samples: int | None) -> SearchData:
    import torch.nn.functional as F

    train_idx, val_idx = _split(name, len(labels), val_fraction, max_samples)

    def at_resolution(idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images[idx]))
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
        return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x.contiguous()

    train_x, val_x = at_resolution(train_idx), at_resolution(val_idx)
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    train = TensorImages((train_x - mean) / std, torch.from_numpy(labels[train_idx]))
    val = TensorImages((val_x - mean) / std, torch.from_numpy(labels[val_idx]))
    return SearchData(name, train, val, int(labels.max()) + 1, resolution)

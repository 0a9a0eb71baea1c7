"""A streaming ImageFolder split (``DIR/<class>/<image>``) for search: files are decoded per item, in
DataLoader workers, so memory holds the file list and the batches in flight, never the data set.

Transforms (Pillow and plain torch; torchvision is not a dependency) follow ImageNet practice, as
FBNet and ProxylessNAS train: weight steps see a random-resized crop (area 8-100% of the image,
aspect 3/4-4/3) scaled to the resolution and a random horizontal flip; architecture steps,
accuracy estimates and statistics see the image resized so its short side is resolution / 0.875,
then centre-cropped. Pixels are standardized per channel with the train split's statistics, taken
from a bounded sample of it (`STATS_SAMPLE` images).

Random draws use torch's generator of the process that decodes: DataLoader seeds each worker from
the search's seed, so a search is reproducible for a given seed and worker count.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lutnas.search.base import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
CROP_AREA = (0.08, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)
CENTRE_SHARE = 0.875  # resize to resolution / 0.875, crop the centre
STATS_SAMPLE = 256


def list_image_folder(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """(file paths, labels int64, class names): classes are the subdirectories, sorted by name."""
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise DataError(f"{root}: no class subdirectories (expected DIR/<class>/<image>)")
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(e.path for e in os.scandir(root / name)
                       if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)
        paths.extend(files)
        labels.extend([label] * len(files))
    if not paths:
        raise DataError(f"{root}: no images with suffixes {', '.join(IMAGE_SUFFIXES)}")
    return paths, np.asarray(labels, dtype=np.int64), classes


class PackedPaths:
    """File paths in one byte string plus offsets: no per-path Python objects, whose reference counts
    would copy the list's memory into every forked DataLoader worker as it is read."""

    def __init__(self, paths: Sequence[str]) -> None:
        encoded = [os.fsencode(p) for p in paths]
        self.blob = b"".join(encoded)
        self.ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> str:
        start = int(self.ends[i - 1]) if i > 0 else 0
        return os.fsdecode(self.blob[start:int(self.ends[i])])


class FolderImages(torch.utils.data.Dataset):
    """One split of an image folder; item i = (float32 [3, R, R] standardized, label)."""

    def __init__(self, paths: Sequence[str], labels: np.ndarray, resolution: int, augment: bool) -> None:
        self.paths = PackedPaths(paths)
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.resolution, self.augment = resolution, augment
        self.mean = torch.zeros(3, 1, 1)
        self.std = torch.ones(3, 1, 1)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.load(i, self.augment), int(self.labels[i])

    def load(self, i: int, augment: bool) -> torch.Tensor:
        from PIL import Image

        rgb = _open(self.paths[i])
        out = random_resized_crop(rgb, self.resolution) if augment else centre_crop(rgb, self.resolution)
        if augment and float(torch.rand(())) < 0.5:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return (to_tensor(out) - self.mean) / self.std

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean, self.std = mean.reshape(3, 1, 1), std.reshape(3, 1, 1)


def channel_statistics(images: FolderImages, count: int = STATS_SAMPLE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the first `count` images of a split, centre-cropped, unstandardized."""
    n = min(count, len(images))
    pixels = torch.stack([to_tensor(centre_crop(_open(images.paths[i]), images.resolution)) for i in range(n)])
    return pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3)).clamp_min(1e-6)


def _open(path: str):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except OSError as err:
        raise DataError(f"{path}: unreadable image ({err})") from None


def random_resized_crop(img, size: int):
    """A random crop of CROP_AREA of the image's area and CROP_ASPECT aspect, scaled to size x size.

    Ten draws; if none fits inside the image, the largest centred crop within the aspect range.
    """
    from PIL import Image

    width, height = img.size
    area = width * height
    log_low, log_high = math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1])
    for _ in range(10):
        target = area * float(torch.empty(()).uniform_(*CROP_AREA))
        aspect = math.exp(float(torch.empty(()).uniform_(log_low, log_high)))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(torch.randint(0, width - w + 1, ()))
            top = int(torch.randint(0, height - h + 1, ()))
            return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
    ratio = width / height
    if ratio < CROP_ASPECT[0]:
        w, h = width, round(width / CROP_ASPECT[0])
    elif ratio > CROP_ASPECT[1]:
        w, h = round(height * CROP_ASPECT[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))


def centre_crop(img, size: int):
    """Resize so the short side is size / CENTRE_SHARE, then the centre size x size (one resample)."""
    from PIL import Image

    width, height = img.size
    scale = size / CENTRE_SHARE / min(width, height)
    crop_w, crop_h = min(width, size / scale), min(height, size / scale)
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h))


def to_tensor(img) -> torch.Tensor:
    """An RGB Pillow image as float32 [3, H, W] in [0, 1]."""
    array = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)

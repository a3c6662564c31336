"""Image-folder data for classifiers: layout discovery, class order, seeded stratified splits, decoding.

Layouts: ``ROOT/{train,val,test}/{class}/*`` (split folders) or ``ROOT/{class}/*`` (split here, stratified
by class with a seed: ``test_fraction`` of every class to test, then ``val_fraction`` of the rest to val;
a split layout without ``val`` gets its val carved out of train the same way). Class order: ``chips.yaml``'s
``class_names``/``class_folders`` when present, else sorted folder names; empty class folders are allowed.
Images up to :data:`MAX_IMAGE_PIXELS` are decoded as the detectors see scenes (:mod:`tiledet.pixels`:
8-bit RGB) and resized to the model input (``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when
growing); a larger one is refused from its header, before decoding.
Unreadable images are skipped and counted.

With ``chips.yaml``/``chips.csv`` (from ``tiledet convert --to chips``), the chip geometry and, per chip,
the object box inside its window ``(x0, y0, x1, y1) / side`` clipped to [0, 1] (box-head targets) are read;
``background`` chips never get a box target.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tiledet.convert.chips_manifest import ChipsManifest
from tiledet.errors import ConfigError, InputError
from tiledet.ioutil import IMAGE_SUFFIXES, image_size
from tiledet.progress import Progress, as_progress
from tiledet.scene import read_scene_rgb

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
BACKGROUND = "background"

#: Largest classifier image decoded, in pixels (8192 x 8192, the bound of ``tiledet synth`` scenes). Chips
#: are small: a larger image is a mistake that would take gigabytes to decode (20000² RGB: 1.2 GB).
MAX_IMAGE_PIXELS = 8192 * 8192


@dataclass
class Samples:
    """The images of one split.

    Attributes:
        paths: image files, (N,).
        labels: (N,) int64 class indices.
        boxes: (N, 4) float32 object box inside the window, ``xyxy / side`` in [0, 1]; NaN when unknown
            (background chips, or no ``chips.csv``).
        images: (N, S, S, 3) uint8 RGB when decoded in memory, else None (streamed).
    """

    paths: list[Path]
    labels: np.ndarray
    boxes: np.ndarray
    images: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> Samples:
        """The samples at ``index`` (an int array)."""
        return Samples(
            [self.paths[i] for i in index.tolist()],
            self.labels[index],
            self.boxes[index],
            None if self.images is None else self.images[index],
        )


@dataclass
class DataSet:
    """A discovered data set.

    Attributes:
        root: the data folder.
        class_names: class names in label order.
        splits: split name -> its samples (``train`` and ``val`` always; ``test`` when available).
        chip_size: from ``chips.yaml`` (None without it).
        context: from ``chips.yaml`` (None without it).
        skipped: unreadable image path -> reason.
        split_source: ``folders`` (the layout had split folders) or ``seeded`` (split here).
    """

    root: Path
    class_names: list[str]
    splits: dict[str, Samples]
    chip_size: int | None = None
    context: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    split_source: str = "folders"

    def counts(self, split: str) -> list[int]:
        """Samples per class in ``split``."""
        labels = self.splits[split].labels
        return np.bincount(labels, minlength=len(self.class_names)).tolist()


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_chips_yaml(root: Path) -> ChipsManifest | None:
    """``ROOT/chips.yaml`` (:class:`~tiledet.convert.chips_manifest.ChipsManifest`), or None when absent.

    Raises:
        InputError: unreadable, or without ``class_names``, ``chip_size`` or ``context``.
    """
    return ChipsManifest.load(root)


def _class_order(
    root: Path, class_dirs: Sequence[Path], chips: ChipsManifest | None
) -> tuple[list[str], dict[str, int]]:
    """Class names and folder name -> class index."""
    if chips is not None:
        names = list(chips.class_names)
        folders = chips.class_folders
        to_index = {str(folders.get(n, n)): i for i, n in enumerate(names)}
        unknown = sorted({d.name for d in class_dirs} - set(to_index))
        if unknown:
            raise InputError(
                f"{root}: folder {unknown[0]!r} is not a class of chips.yaml (classes: {', '.join(names)})"
            )
        return names, to_index
    names = sorted({d.name for d in class_dirs})
    return names, {n: i for i, n in enumerate(names)}


def _list_split(folder: Path, to_index: dict[str, int]) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    for class_dir in _subdirs(folder):
        files = sorted(p for p in class_dir.iterdir() if _is_image(p))
        paths += files
        labels += [to_index[class_dir.name]] * len(files)
    return paths, labels


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(rest, taken)``: ``round(fraction * n_c)`` samples of every class ``c`` go to ``taken``.

    Classes with at least 2 samples give at least one to each side when ``fraction > 0``. Deterministic
    for a seed; both index arrays sorted.
    """
    rng = np.random.default_rng(seed)
    taken: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        k = round(fraction * len(idx))
        if fraction > 0 and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        taken.append(idx[:k])
    take = np.sort(np.concatenate(taken)) if taken else np.zeros(0, np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), take)
    return rest, take


def _box_targets(root: Path, paths: Sequence[Path]) -> np.ndarray:
    """(N, 4) box targets from ``chips.csv`` (NaN where no box is known)."""
    boxes = np.full((len(paths), 4), np.nan, np.float32)
    path = root / "chips.csv"
    if not path.is_file():
        return boxes
    where = {p.resolve(): i for i, p in enumerate(paths)}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if not row.get("box_x0"):
                    continue
                i = where.get((root / row["chip"]).resolve())
                if i is None:
                    continue
                box = np.array([float(row[f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")])
                win = np.array([float(row[f"window_{k}"]) for k in ("x0", "y0", "x1", "y1")])
                side = win[2] - win[0]
                if side > 0:
                    boxes[i] = np.clip((box - win[[0, 1, 0, 1]]) / side, 0.0, 1.0)
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{path}: cannot read chip boxes ({e})") from e
    return boxes


def discover(
    root: str | Path, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0
) -> DataSet:
    """Find the images, classes and splits of ``root`` (nothing decoded yet).

    Raises:
        InputError: missing folder, no class folders, no images, a single class with images.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found")
    chips = read_chips_yaml(root)
    top = _subdirs(root)
    split_dirs = [d for d in top if d.name in SPLITS]
    has_splits = any(d.name == "train" for d in split_dirs)
    class_dirs = [c for d in split_dirs for c in _subdirs(d)] if has_splits else top
    if not class_dirs:
        raise InputError(f"{root}: no class folders (expected ROOT/CLASS/* or ROOT/train/CLASS/*)")
    names, to_index = _class_order(root, class_dirs, chips)
    lists = {d.name: _list_split(d, to_index) for d in split_dirs} if has_splits else {}
    if not has_splits:
        lists["all"] = _list_split(root, to_index)
    all_paths = [p for ps, _ in lists.values() for p in ps]
    boxes = _box_targets(root, all_paths)
    if BACKGROUND in names:  # negatives may name a nearby object's box: background has no box target
        all_labels = np.asarray([c for _, ls in lists.values() for c in ls], np.int64)
        boxes[all_labels == names.index(BACKGROUND)] = np.nan
    raw: dict[str, Samples] = {}
    start = 0
    for split, (paths, labels) in lists.items():
        raw[split] = Samples(paths, np.asarray(labels, np.int64), boxes[start : start + len(paths)])
        start += len(paths)
    splits = _make_splits(raw, val_fraction, test_fraction, seed)
    train = splits["train"]
    if len(train) == 0:
        raise InputError(f"{root}: no training images (looked for {', '.join(IMAGE_SUFFIXES)})")
    if len(np.unique(train.labels)) < 2:
        raise InputError(f"{root}: training images of a single class; a classifier needs at least 2")
    return DataSet(
        root, names, splits,
        chip_size=None if chips is None else chips.chip_size,
        context=None if chips is None else chips.context,
        split_source="folders" if has_splits else "seeded",
    )  # fmt: skip


def _make_splits(
    raw: dict[str, Samples], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, Samples]:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    out: dict[str, Samples] = {}
    if "all" in raw:
        rest, test = stratified_split(raw["all"].labels, test_fraction, seed)
        out["test"] = raw["all"].subset(test)
        remaining = raw["all"].subset(rest)
    else:
        remaining = raw["train"]
        if "test" in raw:
            out["test"] = raw["test"]
    if "all" in raw or "val" not in raw:
        train, val = stratified_split(remaining.labels, val_fraction, seed + 1)
        out["train"], out["val"] = remaining.subset(train), remaining.subset(val)
    else:
        out["train"], out["val"] = remaining, raw["val"]
    return {k: out[k] for k in SPLITS if k in out and (k != "test" or len(out[k]))}


def _over_limit(path: Path, size: str) -> InputError:
    return InputError(
        f"{path}: image is {size}, over the limit of {MAX_IMAGE_PIXELS:,} pixels (8192 x 8192) for "
        "classifier images"
    )


def header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the header of a classifier image (nothing decoded); None when unreadable.

    Raises:
        InputError: the header gives more than :data:`MAX_IMAGE_PIXELS`; one line naming the file, its
            size and the limit.
    """
    from PIL import Image

    try:
        width, height = image_size(path)
    except InputError as e:
        if isinstance(e.__cause__, Image.DecompressionBombError):  # Pillow refuses over 2x its own limit
            count = re.search(r"\((\d+) pixels\)", str(e.__cause__))
            pixels = int(count.group(1)) if count else 2 * (Image.MAX_IMAGE_PIXELS or 0)
            size = f"{pixels:,} pixels" if count else f"over {pixels:,} pixels"
            raise _over_limit(path, size) from e
        return None
    if width * height > MAX_IMAGE_PIXELS:
        raise _over_limit(path, f"{width}x{height} ({width * height:,} pixels)")
    return width, height


def read_rgb(path: Path, size: int) -> np.ndarray | None:
    """Decode ``path`` as the detectors see scenes and resize to ``size``²; None when it cannot be read.

    The pixels are :func:`tiledet.pixels.read_scene_rgb`'s (16-bit by the high byte, grey repeated,
    alpha dropped), so a classifier trains on the values the sliding detector feeds it. An image whose
    header Pillow cannot read, or that cannot be decoded completely, is not read.

    Returns:
        (size, size, 3) uint8 RGB, or None.

    Raises:
        InputError: the image header gives more than :data:`MAX_IMAGE_PIXELS` (checked before decoding).
    """
    import cv2

    if not path.is_file():
        return None
    size_wh = header_size(path)
    if size_wh is None:
        return None
    try:
        image = read_scene_rgb(path)
    except InputError:
        return None
    if image.shape[:2] != (size, size):
        shrink = image.shape[0] > size or image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return image


def decode_samples(
    samples: Samples, size: int, skipped: dict[str, str], workers: int = 2, progress: Progress | None = None
) -> Samples:
    """Decode every image of ``samples`` into one ``(N, size, size, 3)`` uint8 array.

    Unreadable images are dropped and recorded in ``skipped`` (path -> reason). ``progress`` is
    advanced by 1 after each image (the caller starts the phase).

    Raises:
        InputError: an image over :data:`MAX_IMAGE_PIXELS` (the images not started yet are not decoded).
    """
    images = np.empty((len(samples), size, size, 3), np.uint8)
    keep = np.ones(len(samples), bool)
    progress = as_progress(progress)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        try:
            for i, image in enumerate(pool.map(lambda p: read_rgb(p, size), samples.paths)):
                if image is None:
                    keep[i] = False
                    skipped[str(samples.paths[i])] = "cannot decode image"
                else:
                    images[i] = image
                progress.advance(1)
        except InputError:
            pool.shutdown(cancel_futures=True)
            raise
    samples.images = images
    if not keep.all():
        log.warning("skipped %d unreadable images", int((~keep).sum()))
        return samples.subset(np.flatnonzero(keep))
    return samples


def decoded_bytes(data: DataSet, size: int) -> int:
    """Bytes of all splits decoded at ``size``² RGB uint8."""
    return sum(len(s) for s in data.splits.values()) * size * size * 3


def check_streamable(samples: Samples, skipped: dict[str, str]) -> Samples:
    """For streamed splits: drop images whose header cannot be read (recorded in ``skipped``).

    Raises:
        InputError: an image over :data:`MAX_IMAGE_PIXELS`.
    """
    keep = []
    for i, path in enumerate(samples.paths):
        if header_size(path) is None:
            skipped[str(path)] = "cannot read image header"
        else:
            keep.append(i)
    return samples if len(keep) == len(samples) else samples.subset(np.asarray(keep, np.int64))


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0-1 scale) of ``(N, H, W, 3)`` uint8 images (std floored at 1e-3)."""
    flat = images.reshape(-1, 3)
    mean = np.zeros(3)
    sq = np.zeros(3)
    step = 1 << 22
    for start in range(0, len(flat), step):
        chunk = flat[start : start + step].astype(np.float64) / 255.0
        mean += chunk.sum(0)
        sq += (chunk**2).sum(0)
    n = max(len(flat), 1)
    mean /= n
    std = np.sqrt(np.maximum(sq / n - mean**2, 1e-6))
    return mean.tolist(), np.maximum(std, 1e-3).tolist()

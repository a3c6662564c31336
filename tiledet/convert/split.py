"""Train/validation split by source image, deterministic for a seed.

The split happens on whole source images (scenes) before any tiling or chipping, so no scene can
contribute to both splits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tiledet.errors import ConfigError
from tiledet.label_records import ImageLabels

#: The split names, in the order they are written.
SPLITS = ("train", "val")


def val_count(num_images: int, val_fraction: float) -> int:
    """Number of validation images for ``num_images`` source images.

    ``round(num_images * val_fraction)``, but at least one when ``val_fraction > 0`` and there are
    at least two images, and never all of them (at least one image stays in ``train``). A single
    image always goes to ``train``.

    Raises:
        ConfigError: when ``val_fraction`` is outside ``[0, 1)``.
    """
    if not (0.0 <= float(val_fraction) < 1.0):
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}", field="val_fraction")
    if num_images < 2 or val_fraction == 0:
        return 0
    return int(min(max(1, round(num_images * val_fraction)), num_images - 1))


def split_names(names: Sequence[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Assign each image name to ``"train"`` or ``"val"``.

    The names are sorted first, then a permutation drawn from ``numpy.random.default_rng(seed)``
    picks the :func:`val_count` validation images, so the result depends only on the set of names,
    the fraction and the seed (not on the order of the labels in the source).

    Args:
        names: distinct image names (file names relative to the images folder).
        val_fraction: share of images that go to ``val``, in ``[0, 1)``.
        seed: random seed.

    Returns:
        ``name -> split`` for every name.
    """
    ordered = sorted(set(names))
    if len(ordered) != len(names):
        raise ConfigError("split_names needs distinct image names")
    n_val = val_count(len(ordered), val_fraction)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    val_idx = set(perm[:n_val].tolist())
    return {name: ("val" if i in val_idx else "train") for i, name in enumerate(ordered)}


def split_images(
    images: Sequence[ImageLabels], val_fraction: float, seed: int
) -> dict[str, list[ImageLabels]]:
    """Split images by source image (see :func:`split_names`).

    Returns:
        ``{"train": [...], "val": [...]}``; each list sorted by ``file_name``.
    """
    assignment = split_names([im.file_name for im in images], val_fraction, seed)
    out: dict[str, list[ImageLabels]] = {split: [] for split in SPLITS}
    for image in sorted(images, key=lambda im: im.file_name):
        out[assignment[image.file_name]].append(image)
    return out


#: ``--split`` choices: keep the source's own splits, or draw a new random split.
SPLIT_MODES = ("keep", "random")


def kept_splits(images: Sequence[ImageLabels], image_splits: dict[str, str]) -> dict[str, list[ImageLabels]]:
    """The source's own split of every image (``--split keep``).

    Args:
        images: the usable images.
        image_splits: ``file_name -> split`` as the source declares it (e.g. a YOLO ``data.yaml``).

    Returns:
        ``{"train": [...], "val": [...]}`` plus ``"test"`` when the source has one; each list sorted
        by ``file_name``. Images the source assigns to no split go to ``train``.
    """
    out: dict[str, list[ImageLabels]] = {split: [] for split in SPLITS}
    for image in sorted(images, key=lambda im: im.file_name):
        out.setdefault(image_splits.get(image.file_name, "train"), []).append(image)
    return out

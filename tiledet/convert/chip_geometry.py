"""Pure chip geometry: class folder names, chip windows, IoU, background placement, padded crops."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

#: Background chips must have an IoU below this with every box of their scene.
BACKGROUND_MAX_IOU = 0.1
#: Candidates drawn per requested background chip before giving up.
BACKGROUND_TRIES = 50


def class_folders(class_names: Sequence[str]) -> dict[str, str]:
    """Folder name of each class: runs of characters other than letters, digits, ``.``, ``-`` become ``_``.

    ``"Truck w/Box"`` -> ``"Truck_w_Box"``. Names that collide after sanitising get ``_2``, ``_3``...;
    an empty result becomes ``class_{index}``.
    """
    folders: dict[str, str] = {}
    taken: set[str] = set()
    for index, name in enumerate(class_names):
        base = re.sub(r"[^A-Za-z0-9.-]+", "_", str(name)).strip("_.") or f"class_{index}"
        folder, k = base, 1
        while folder.casefold() in taken:
            k += 1
            folder = f"{base}_{k}"
        taken.add(folder.casefold())
        folders[str(name)] = folder
    return folders


def _round_half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def object_windows(xyxy: np.ndarray, context: float) -> np.ndarray:
    """Square chip windows centred on boxes.

    Args:
        xyxy: (N, 4) boxes in scene pixels.
        context: margin; window side = longer box side × (1 + context).

    Returns:
        (N, 4) int64 windows ``x0, y0, x1, y1`` in scene pixels (may reach outside the scene); side
        ``round(max(w, h) * (1 + context))`` (at least 1), ``x0 = round(cx - side / 2)``, halves rounded up.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(
        1, _round_half_up(np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) * (1 + context))
    )
    x0 = _round_half_up((xyxy[:, 0] + xyxy[:, 2]) / 2 - side / 2)
    y0 = _round_half_up((xyxy[:, 1] + xyxy[:, 3]) / 2 - side / 2)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """(M, N) IoU of every box of ``a`` (M, 4) with every box of ``b`` (N, 4); 0 where the union is empty."""
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = (
        (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
        + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        - inter
    )
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def background_windows(
    rng: np.random.Generator, size_wh: tuple[int, int], xyxy: np.ndarray, sides: np.ndarray, count: int
) -> np.ndarray:
    """Up to ``count`` square windows inside the scene with IoU < :data:`BACKGROUND_MAX_IOU` with every box.

    Draws ``count * BACKGROUND_TRIES`` candidates at once (sides from ``sides``, capped at the scene's
    shorter side; uniform positions) and keeps the first ``count`` that qualify.

    Returns:
        (M, 4) int64 windows, ``M <= count``.
    """
    if count <= 0:
        return np.zeros((0, 4), np.int64)
    width, height = size_wh
    n = count * BACKGROUND_TRIES
    side = np.minimum(rng.choice(np.asarray(sides, dtype=np.int64), size=n), min(width, height))
    x0 = np.floor(rng.random(n) * (width - side + 1)).astype(np.int64)
    y0 = np.floor(rng.random(n) * (height - side + 1)).astype(np.int64)
    candidates = np.stack([x0, y0, x0 + side, y0 + side], axis=1)
    if len(xyxy):
        candidates = candidates[iou_matrix(candidates, xyxy).max(axis=1) < BACKGROUND_MAX_IOU]
    return candidates[:count]


def cut_chip(pixels: np.ndarray, window: np.ndarray, chip_size: int) -> np.ndarray:
    """Crop ``window`` (x0, y0, x1, y1; may leave the scene) padded with the visible part's mean; resize.

    Returns:
        (chip_size, chip_size[, C]) array of the scene's dtype.
    """
    import cv2

    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in window)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    crop = pixels[cy0:cy1, cx0:cx1]
    if crop.size == 0:  # the window misses the scene entirely (never for boxes inside it)
        return np.zeros((chip_size, chip_size, *pixels.shape[2:]), pixels.dtype)
    pads = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
    if any(pads):
        mean = crop.reshape(-1, 1 if crop.ndim == 2 else crop.shape[2]).mean(axis=0)
        fill = [float(v) for v in np.round(mean)] + [0.0] * (4 - mean.size)
        crop = cv2.copyMakeBorder(crop, *pads, borderType=cv2.BORDER_CONSTANT, value=fill)
    side = x1 - x0
    if side == chip_size:
        return np.ascontiguousarray(crop)
    interpolation = cv2.INTER_AREA if side > chip_size else cv2.INTER_LINEAR
    return cv2.resize(crop, (chip_size, chip_size), interpolation=interpolation)

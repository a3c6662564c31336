"""Pure chip geometry: class folder names, chip windows, IoU, background placement, padded crops."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from tiledet.boxes import iou_xyxy as iou_matrix  # the one IoU: (M, N), 0 where the union is empty

#: Background chips must have an IoU below this with every box of their scene.
BACKGROUND_MAX_IOU = 0.1
#: ... and may contain at most this fraction of any box's area (a big chip around a small car has a
#: low IoU with it but still shows the whole car).
BACKGROUND_MAX_CONTAINED = 0.1
#: Structured negatives: window scales relative to an object's own chip window (object too small /
#: too large in the window) and off-centre shifts in units of the window side (dx, dy).
STRUCTURED_SCALES = (("large", 0.5), ("small", 2.0))
STRUCTURED_SHIFTS = (("left", -0.5, 0.0), ("right", 0.5, 0.0), ("up", 0.0, -0.5), ("down", 0.0, 0.5))
#: Structured negatives must have at least this share of their area inside the scene.
STRUCTURED_MIN_INSIDE = 0.5
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


def contained_fraction(windows_xyxy: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
    """(M, N) share of each box's area (N, 4) inside each window (M, 4); empty boxes: 1 if centred inside."""
    a = np.asarray(windows_xyxy, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    area = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    centre_in = (
        (a[..., 0] <= (b[..., 0] + b[..., 2]) / 2) & ((b[..., 0] + b[..., 2]) / 2 <= a[..., 2])
        & (a[..., 1] <= (b[..., 1] + b[..., 3]) / 2) & ((b[..., 1] + b[..., 3]) / 2 <= a[..., 3])
    )  # fmt: skip
    return np.where(
        area > 0, np.divide(iw * ih, area, out=np.zeros_like(iw), where=area > 0), centre_in * 1.0
    )


def is_clean_background(windows_xyxy: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
    """(M,) True where a window has IoU < 0.1 with every box and holds at most 10 % of any box's area."""
    windows = np.asarray(windows_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(np.asarray(boxes_xyxy).reshape(-1, 4)) == 0:
        return np.ones(len(windows), bool)
    return (iou_matrix(windows, boxes_xyxy).max(axis=1) < BACKGROUND_MAX_IOU) & (
        contained_fraction(windows, boxes_xyxy).max(axis=1) <= BACKGROUND_MAX_CONTAINED
    )


def structured_windows(
    xyxy: np.ndarray, context: float, size_wh: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Negative windows around every object: wrong scale (object too large / too small) and off-centre.

    For an object whose chip window has side ``s`` (:func:`object_windows`), the candidates are the
    windows of side ``s * 0.5`` and ``s * 2`` centred on it (the object over- or under-fills the
    window) and one window of side ``s`` shifted by ``s / 2`` (the object off-centre; left, right, up,
    down in turn for objects 0, 1, 2, 3, 4...: three negatives per object keep background from
    swamping the object classes). A candidate is kept when at least half of it lies inside the scene
    and it holds at most :data:`BACKGROUND_MAX_CONTAINED` of the area of every *other* box (it must not
    show another object); its own object is what makes it a lesson.

    Returns:
        ``(windows (M, 4) int64, owner (M,) int64 object index, tags)`` with tags like ``"small"``.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    base = object_windows(xyxy, context).astype(np.float64)
    side = base[:, 2] - base[:, 0]
    cx, cy = (base[:, 0] + base[:, 2]) / 2, (base[:, 1] + base[:, 3]) / 2
    n = len(xyxy)
    turn = np.arange(n) % len(STRUCTURED_SHIFTS)
    shifts = np.array([[dx, dy] for _, dx, dy in STRUCTURED_SHIFTS], np.float64)[turn]
    specs = [(f, np.zeros(n), np.zeros(n), [tag] * n) for tag, f in STRUCTURED_SCALES]
    specs.append((1.0, shifts[:, 0], shifts[:, 1], [STRUCTURED_SHIFTS[t][0] for t in turn]))
    windows, owners, tags = [], [], []
    for factor, dx, dy, names in specs:
        s = np.maximum(1, _round_half_up(side * factor))
        x0 = _round_half_up(cx + dx * side - s / 2)
        y0 = _round_half_up(cy + dy * side - s / 2)
        windows.append(np.stack([x0, y0, x0 + s, y0 + s], axis=1))
        owners.append(np.arange(n))
        tags += names
    if not len(xyxy):
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64), []
    all_windows, all_owners = np.concatenate(windows), np.concatenate(owners)
    inside = contained_fraction(np.array([[0, 0, *size_wh]], np.float64), all_windows)[0]
    held = contained_fraction(all_windows, xyxy)
    held[np.arange(len(all_owners)), all_owners] = 0.0
    keep = (inside >= STRUCTURED_MIN_INSIDE) & (held.max(axis=1) <= BACKGROUND_MAX_CONTAINED)
    order = np.lexsort((np.arange(len(all_owners)), all_owners))  # object by object, in spec order
    order = order[keep[order]]
    return all_windows[order].astype(np.int64), all_owners[order], [tags[i] for i in order]


#: Jittered object chips: centre shift up to this fraction of the window side, scale up to 2^(±this).
JITTER_SHIFT = 0.125
JITTER_LOG2_SCALE = 0.125


def jitter_windows(rng: np.random.Generator, xyxy: np.ndarray, context: float, copies: int) -> np.ndarray:
    """``copies`` jittered chip windows per object, as a sliding window sees it: slightly off-centre and
    off-scale. Side ``s * 2^u``, ``u ~ U(±JITTER_LOG2_SCALE)``; centre shifted by ``s * U(±JITTER_SHIFT)``
    in x and y; ``s`` is the object's chip window side.

    Returns:
        (N * copies, 4) int64 windows, object by object (object ``i`` owns rows ``i * copies ...``).
    """
    base = object_windows(xyxy, context).astype(np.float64)
    if copies <= 0 or not len(base):
        return np.zeros((0, 4), np.int64)
    base = np.repeat(base, copies, axis=0)
    side = base[:, 2] - base[:, 0]
    n = len(base)
    new = np.maximum(1, _round_half_up(side * 2.0 ** rng.uniform(-JITTER_LOG2_SCALE, JITTER_LOG2_SCALE, n)))
    cx = (base[:, 0] + base[:, 2]) / 2 + side * rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, n)
    cy = (base[:, 1] + base[:, 3]) / 2 + side * rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, n)
    x0, y0 = _round_half_up(cx - new / 2), _round_half_up(cy - new / 2)
    return np.stack([x0, y0, x0 + new, y0 + new], axis=1)


def background_windows(
    rng: np.random.Generator, size_wh: tuple[int, int], xyxy: np.ndarray, sides: np.ndarray, count: int
) -> np.ndarray:
    """Up to ``count`` square windows inside the scene that show no object (:func:`is_clean_background`).

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
        candidates = candidates[is_clean_background(candidates, xyxy)]
    return candidates[:count]


def cut_chip(pixels: Any, window: np.ndarray, chip_size: int) -> np.ndarray:
    """Crop ``window`` (x0, y0, x1, y1; may leave the scene) padded with the visible part's mean; resize.

    Args:
        pixels: the scene: an (H, W[, C]) array, or anything with ``shape``, ``dtype`` and
            ``pixels[y0:y1, x0:x1]`` (a :class:`~tiledet.convert.scene_io.ScenePixels` reads only the
            window from the file).
        window: the chip window in scene pixels.
        chip_size: side of the chip returned, px.

    Returns:
        (chip_size, chip_size[, C]) array of the scene's dtype.
    """
    import cv2

    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in window)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx0 >= cx1 or cy0 >= cy1:  # the window misses the scene entirely (never for boxes inside it)
        return np.zeros((chip_size, chip_size, *pixels.shape[2:]), pixels.dtype)
    crop = pixels[cy0:cy1, cx0:cx1]
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

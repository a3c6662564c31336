"""Small scenes of solid shapes on noisy ground: a quick, controlled detection task for tests and benchmarks.

Three classes (``square``: filled rectangles of aspect 1–2, ``disc``: filled ellipses of aspect 1–1.5,
``triangle``: filled isosceles triangles), longer side uniform in ``size_px``, random colours that
differ from the ground, placed without overlap on a textured, noisy ground. Boxes are the tight
extent of each shape's painted pixels. Scene ``i`` uses ``numpy.random.default_rng([seed, i])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.formats.coco import write_coco_json
from tiledet.label_records import ImageLabels, LabeledDataset

SOLID_CLASSES = ("square", "disc", "triangle")


def _shape_mask(rng: np.random.Generator, kind: int, side: int) -> np.ndarray:
    """(h, w) bool mask of one shape whose longer side is ``side`` px (random aspect and orientation)."""
    import cv2

    aspect = rng.uniform(1.0, 2.0 if kind == 0 else 1.5)
    short = max(3, round(side / aspect))
    h, w = (side, short) if rng.random() < 0.5 else (short, side)
    mask = np.zeros((h, w), np.uint8)
    if kind == 0:
        mask[:] = 1
    elif kind == 1:
        cv2.ellipse(mask, (((w - 1) / 2, (h - 1) / 2), (float(w), float(h)), 0.0), 1, -1)
    else:
        points = {0: [(w // 2, 0), (0, h - 1), (w - 1, h - 1)], 1: [(w // 2, h - 1), (0, 0), (w - 1, 0)]}[
            int(rng.integers(2))
        ]
        cv2.fillPoly(mask, [np.array(points, np.int32)], 1)
    return mask.astype(bool)


def _ground(
    rng: np.random.Generator, size_wh: tuple[int, int], noise: float, ground_rgb: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    width, height = size_wh
    base = rng.uniform(ground_rgb[0], ground_rgb[1], 3)
    coarse = cv2.resize(rng.normal(0, 18, (max(2, height // 64), max(2, width // 64), 3)), (width, height))
    image = base + coarse + rng.normal(0, noise, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), base


def render_solid_scene(
    rng: np.random.Generator,
    size_wh: tuple[int, int] = (512, 512),
    count: int = 20,
    size_px: tuple[int, int] = (14, 64),
    noise: float = 12.0,
    gap_px: int = 4,
    ground_rgb: tuple[float, float] = (70, 150),
) -> tuple[np.ndarray, Boxes]:
    """One scene: (H, W, 3) uint8 RGB image and its boxes (class ids index :data:`SOLID_CLASSES`).

    The ground's mean colour is drawn per channel from ``ground_rgb``; objects differ from it by
    50-100 grey levels per channel.
    """
    image, base = _ground(rng, size_wh, noise, ground_rgb)
    taken = np.zeros(image.shape[:2], bool)
    xyxy, ids = [], []
    for _ in range(count * 20):
        if len(ids) == count:
            break
        kind = int(rng.integers(len(SOLID_CLASSES)))
        mask = _shape_mask(rng, kind, int(rng.integers(size_px[0], size_px[1] + 1)))
        h, w = mask.shape
        if w >= size_wh[0] or h >= size_wh[1]:
            continue
        x0, y0 = int(rng.integers(0, size_wh[0] - w)), int(rng.integers(0, size_wh[1] - h))
        g0, g1 = max(0, y0 - gap_px), max(0, x0 - gap_px)
        if taken[g0 : y0 + h + gap_px, g1 : x0 + w + gap_px].any():
            continue
        colour = base + rng.choice([-1, 1], 3) * rng.uniform(50, 100, 3)
        region = image[y0 : y0 + h, x0 : x0 + w]
        region[mask] = np.clip(colour + rng.normal(0, 6, (int(mask.sum()), 3)), 0, 255).astype(np.uint8)
        taken[y0 : y0 + h, x0 : x0 + w] = True
        ys, xs = np.nonzero(mask)
        xyxy.append([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1])
        ids.append(kind)
    return image, Boxes(np.array(xyxy, float).reshape(-1, 4), np.array(ids, np.int64))


def write_solid_dataset(
    out: Path,
    scenes: int,
    size_wh: tuple[int, int] = (512, 512),
    seed: int = 0,
    count: int = 20,
    size_px: tuple[int, int] = (14, 64),
    names: Sequence[str] | None = None,
    ground_rgb: tuple[float, float] = (70, 150),
) -> LabeledDataset:
    """Write ``OUT/images/solid_{i:03d}.png`` and ``OUT/labels.json`` (COCO); return the dataset."""
    import cv2

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(scenes):
        image, boxes = render_solid_scene(
            np.random.default_rng([seed, i]), size_wh, count, size_px, ground_rgb=ground_rgb
        )
        name = f"solid_{i:03d}.png" if names is None else names[i]
        cv2.imwrite(str(out / "images" / name), image[..., ::-1])
        images.append(ImageLabels(name, size_wh, boxes))
    dataset = LabeledDataset(SOLID_CLASSES, tuple(images))
    write_coco_json(out / "labels.json", dataset)
    return dataset

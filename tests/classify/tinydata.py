"""Tiny generated image-folder data sets for the classifier tests (seconds to train on)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

SHAPES = ("square", "hbar", "vbar")


def draw(kind: str, rng: np.random.Generator, size: int = 16) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One noisy RGB image of ``kind`` and the drawn object's box (x0, y0, x1, y1) in pixels."""
    image = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    cx, cy = rng.integers(size // 2 - 2, size // 2 + 3, 2)
    w, h = {"square": (6, 6), "hbar": (12, 4), "vbar": (4, 12), "background": (0, 0)}.get(kind, (6, 6))
    box = (int(cx - w // 2), int(cy - h // 2), int(cx - w // 2 + w), int(cy - h // 2 + h))
    if w:
        image[box[1] : box[3], box[0] : box[2]] = rng.integers(180, 255, 3)
    return image, box


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def make_folder(
    root: Path, per_class: int = 20, classes: tuple[str, ...] = SHAPES, splits: tuple[str, ...] = (),
    size: int = 16, seed: int = 0, chips: bool = False,
) -> Path:  # fmt: skip
    """Write ``root/{class}/*.png`` (or ``root/{split}/{class}/*.png``); with ``chips`` also a
    ``chips.yaml`` and a ``chips.csv`` whose windows are the images themselves."""
    rng = np.random.default_rng(seed)
    rows = []
    for split in splits or ("",):
        for cls in classes:
            n = per_class if split in ("", "train") else max(per_class // 3, 2)
            for i in range(n):
                image, box = draw(cls, rng, size)
                rel = Path(split, cls, f"{cls}_{i:03d}.png") if split else Path(cls, f"{cls}_{i:03d}.png")
                write(root / rel, image)
                has = cls != "background"
                rows.append([rel.as_posix(), split, cls, "scene.png", *(box if has else [""] * 4),
                             0, 0, size, size, "object" if has else "background"])  # fmt: skip
    if chips:
        header = ("chip,split,class,scene,box_x0,box_y0,box_x1,box_y1,"
                  "window_x0,window_y0,window_x1,window_y1,kind\n")  # fmt: skip
        (root / "chips.csv").write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows))
        meta = {"chip_size": size, "context": 0.5, "class_names": list(classes),
                "class_folders": {c: c for c in classes}}  # fmt: skip
        (root / "chips.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return root

"""Training augmentation pipelines (albumentations), selected by name; evaluation uses none.

``--augment`` takes a comma-separated list of names:

- ``none``: no augmentation.
- ``flip``: horizontal and vertical flips (p 0.5 each).
- ``rot90``: a random multiple of 90° (p 1).
- ``shift``: small affine jitter (p 0.7): shift ±8 % of the side, scale 0.92-1.08, rotation ±8°,
  borders mirrored (for centred objects and digits, where flips and 90° turns change the class).
- ``color``: brightness/contrast (±0.2, p 0.5), hue/saturation/value shift (p 0.5), RGB channel shift
  (±15, p 0.5).
- ``aerial``: ``flip,rot90,color`` (views from above have no up).

Geometric transforms move the box-head target with the image (albumentations' normalised
``(x0, y0, x1, y1)`` boxes; exact for flips and 90° turns, the rotated box's extent for ``shift``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tiledet.errors import ConfigError

AUGMENT_NAMES = ("none", "flip", "rot90", "shift", "color", "aerial")
_PRESETS = {"aerial": ("flip", "rot90", "color")}


def parse_augment(text: str | Sequence[str]) -> tuple[str, ...]:
    """Normalised tuple of augmentation names from ``"flip,rot90"`` (or a list); ``()`` for none.

    Raises:
        ConfigError: an unknown name.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in (str(i).strip().lower() for i in items):
        if not item or item == "none":
            continue
        if item not in AUGMENT_NAMES:
            raise ConfigError(
                f"unknown augmentation {item!r} (`augment`); choose from {', '.join(AUGMENT_NAMES)}",
                field="augment",
            )
        for name in _PRESETS.get(item, (item,)):
            if name not in names:
                names.append(name)
    return tuple(names)


class Augmenter:
    """Applies a named albumentations pipeline to uint8 images and their box targets.

    Args:
        names: from :func:`parse_augment`.
        seed: seed of the pipeline's random draws (re-seeded per epoch with :meth:`reseed`).
    """

    def __init__(self, names: Sequence[str], seed: int = 0) -> None:
        import albumentations as A

        self.names = tuple(names)
        transforms: list[Any] = []
        if "flip" in self.names:
            transforms += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
        if "rot90" in self.names:
            transforms.append(A.RandomRotate90(p=1.0))
        if "shift" in self.names:
            import cv2

            transforms.append(
                A.Affine(translate_percent=(-0.08, 0.08), scale=(0.92, 1.08), rotate=(-8, 8),
                         border_mode=cv2.BORDER_REFLECT_101, p=0.7)
            )  # fmt: skip
        if "color" in self.names:
            transforms += [
                A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
                A.HueSaturationValue(p=0.5),
                A.RGBShift(r_shift_limit=15, g_shift_limit=15, b_shift_limit=15, p=0.5),
            ]
        bbox = A.BboxParams(format="albumentations", label_fields=["labels"], clip=True)
        self.pipeline = A.Compose(transforms, bbox_params=bbox, seed=seed) if transforms else None

    @property
    def active(self) -> bool:
        """Whether any transform is applied."""
        return self.pipeline is not None

    def reseed(self, seed: int) -> None:
        """Restart the pipeline's random draws from ``seed`` (deterministic epochs, resumable)."""
        if self.pipeline is not None:
            self.pipeline.set_random_seed(seed)

    def __call__(self, images: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Augment a batch.

        Args:
            images: (N, S, S, 3) uint8.
            boxes: (N, 4) float32 ``xyxy / S`` in [0, 1], NaN rows where unknown.

        Returns:
            New ``(images, boxes)`` of the same shapes (the inputs are not modified).
        """
        if self.pipeline is None:
            return images, boxes
        out_images = np.empty_like(images)
        out_boxes = boxes.copy()
        for i in range(len(images)):
            known = not np.isnan(boxes[i]).any() and boxes[i, 2] > boxes[i, 0] and boxes[i, 3] > boxes[i, 1]
            bb = boxes[i : i + 1].astype(np.float64) if known else np.zeros((0, 4))
            result = self.pipeline(image=images[i], bboxes=bb, labels=[0] * len(bb))
            out_images[i] = result["image"]
            if known and len(result["bboxes"]):
                out_boxes[i] = np.asarray(result["bboxes"], np.float32)[0, :4]
        return out_images, out_boxes

"""The settings of ``tiledet draw`` (:class:`DrawConfig`; the drawing is :mod:`tiledet.visualize`).

Light on purpose (no label readers, no image code): the CLI states its defaults from this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tiledet.errors import ConfigError


@dataclass(frozen=True)
class DrawConfig:
    """What ``tiledet draw`` draws and where.

    Attributes:
        source: a label source (ground truth) or a COCO results JSON (detections).
        out: output folder for the drawn pictures.
        images_dir: folder the image names are relative to; None uses the folder the labels declare
            (:func:`tiledet.formats.layout.declared_images_dir`).
        gt: ground truth to draw under the detections when ``source`` is a detections file.
        fmt: ground-truth format (a key of :data:`tiledet.formats.READERS`); None detects it.
        classes: class map for label sources (``"xview"`` or a class file).
        split: YOLO ``data.yaml`` ground truth: the split to draw.
        score_threshold: detections scoring below this are not drawn.
        thickness: outline width in pixels.
        labels: write class names (and scores) next to the boxes.
        limit: draw at most this many images (in file-name order); 0 draws all.
        force: write into a non-empty folder tiledet did not create.
    """

    source: Path
    out: Path
    images_dir: Path | None = None
    gt: Path | None = None
    fmt: str | None = None
    classes: str | None = None
    split: str = "val"
    score_threshold: float = 0.25
    thickness: int = 2
    labels: bool = True
    limit: int = 0
    force: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError(
                f"score_threshold must be in [0, 1], got {self.score_threshold}", field="score_threshold"
            )
        if self.thickness < 1:
            raise ConfigError(f"thickness must be at least 1 px, got {self.thickness}", field="thickness")
        if self.limit < 0:
            raise ConfigError(f"limit must be >= 0, got {self.limit}", field="limit")

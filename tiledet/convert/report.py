"""The conversion report (``OUT/report.json``); its terminal table lives in :mod:`tiledet.cli.tables`.

Accounting: every input box (or unparseable record) is either written or dropped with one reason,
so ``input_boxes == written_boxes + sum(dropped.values())``. Images that cannot be used and carry no
box (e.g. a missing image without labels) are listed in ``drops`` too, with location ``"image"``,
and counted in ``skipped_images``; they are not boxes, so they are not in ``dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiledet.label_records import DROP_REASONS, Drop

#: ``Drop.location`` of an image-level record (no box involved), as written by ``convert.load.resolve``.
IMAGE_LOCATION = "image"


@dataclass(frozen=True, eq=False)
class ConvertReport:
    """What one conversion read, wrote and dropped.

    Attributes:
        fmt: the source format (after auto-detection).
        to: the output kind (``yolo``, ``coco`` or ``chips``).
        class_names: the class names, index = class id.
        input_boxes: boxes and unparseable records found in the source.
        written_boxes: source boxes written (when tiling: kept in at least one tile).
        drops: every dropped box, record or unusable image.
        images_per_split: source images per split.
        boxes_per_split: source boxes per split (before tiling or chipping).
        tiling: the tiling report (``TileReport.to_dict()``) when tiling, else None.
        chips: the chips report (``ChipReport.to_dict()``) when writing chips, else None.
        out: the output folder.
        tiled: whether images were cut into tiles.
        notes: the label reader's findings that are no drop, by topic (``geo_vector``: features in
            several rasters, invalid polygons; ``xview_geometry``: geometries that disagree with
            ``bounds_imcoords``); in ``report.json`` when there are any.
    """

    fmt: str
    to: str
    class_names: tuple[str, ...]
    input_boxes: int
    written_boxes: int
    drops: list[Drop] = field(default_factory=list)
    images_per_split: dict[str, int] = field(default_factory=dict)
    boxes_per_split: dict[str, int] = field(default_factory=dict)
    tiling: dict | None = None
    chips: dict | None = None
    out: Path = Path()
    tiled: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> dict[str, int]:
        """Dropped boxes by reason (every reason of ``DROP_REASONS``, zeros included)."""
        counts = dict.fromkeys(DROP_REASONS, 0)
        for drop in self.drops:
            if drop.location != IMAGE_LOCATION:
                counts[drop.reason] = counts.get(drop.reason, 0) + 1
        return counts

    @property
    def skipped_images(self) -> dict[str, int]:
        """Unusable images without boxes, by reason (only reasons that occur)."""
        counts: dict[str, int] = {}
        for drop in self.drops:
            if drop.location == IMAGE_LOCATION:
                counts[drop.reason] = counts.get(drop.reason, 0) + 1
        return counts

    def to_dict(self) -> dict:
        """JSON-ready form written to ``report.json`` (deterministic: no times, stable order)."""
        out: dict = {
            "format": self.fmt,
            "to": self.to,
            "tiled": self.tiled,
            "class_names": list(self.class_names),
            "input_boxes": self.input_boxes,
            "written_boxes": self.written_boxes,
            "dropped_boxes": sum(self.dropped.values()),
            "dropped": self.dropped,
            "skipped_images": self.skipped_images,
            "images": dict(self.images_per_split),
            "boxes": dict(self.boxes_per_split),
        }
        if self.tiling is not None:
            out["tiling"] = self.tiling
        if self.chips is not None:
            out["chips"] = self.chips
        if self.notes:
            out["notes"] = self.notes
        out["drops"] = [d.to_dict() for d in self.drops]
        return out

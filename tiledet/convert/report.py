"""The conversion report (``OUT/report.json``) and its terminal summary table.

Accounting: every input box (or unparseable record) is either written or dropped with one reason,
so ``input_boxes == written_boxes + sum(dropped.values())``. Images that cannot be used and carry no
box (e.g. a missing image without labels) are listed in ``drops`` too, with location ``"image"``,
and counted in ``skipped_images``; they are not boxes, so they are not in ``dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tiledet.labels import DROP_REASONS, Drop

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
        out["drops"] = [d.to_dict() for d in self.drops]
        return out


def summary_table(report: ConvertReport) -> object:
    """A ``rich`` table: boxes in / written / dropped by reason, images and boxes per split."""
    from rich.table import Table

    tiled = " (tiled)" if report.tiled else ""
    table = Table(title=f"tiledet convert: {report.fmt} -> {report.to}{tiled}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("boxes in", str(report.input_boxes))
    table.add_row("boxes written", str(report.written_boxes))
    for reason, count in report.dropped.items():
        if count:
            table.add_row(f"dropped: {reason}", str(count))
    for reason, count in report.skipped_images.items():
        table.add_row(f"images skipped: {reason}", str(count))
    for split, count in report.images_per_split.items():
        table.add_row(f"images {split}", f"{count} ({report.boxes_per_split.get(split, 0)} boxes)")
    for label, extra in (("tiling", report.tiling), ("chips", report.chips)):
        for key, value in _flat_counts(extra or {}):
            table.add_row(f"{label}: {key}", str(value))
    table.add_row("output", str(report.out))
    return table


def _flat_counts(obj: dict, prefix: str = "") -> list[tuple[str, int]]:
    """``(dotted key, int)`` pairs of a report dict, two levels deep, for the summary table."""
    rows: list[tuple[str, int]] = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool) or key == "seed":
            continue
        if isinstance(value, int):
            rows.append((name, value))
        elif isinstance(value, dict) and not prefix:
            rows.extend(_flat_counts(value, prefix=f"{name}."))
    return rows


def print_summary(report: ConvertReport) -> None:
    """Print :func:`summary_table` to stderr."""
    from rich.console import Console

    Console(stderr=True).print(summary_table(report))

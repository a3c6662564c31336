"""What a chips run wrote: :class:`ChipReport`, ``chips.csv`` and ``chips.yaml``.

Split from :mod:`tiledet.convert.chips`; ``ChipReport`` and ``BACKGROUND`` are still importable from there.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tiledet.convert.chips_manifest import ChipsManifest
from tiledet.ioutil import atomic_write_text, atomic_write_yaml
from tiledet.label_records import Drop, ImageLabels
from tiledet.radiometry import AUTO, Radiometry

if TYPE_CHECKING:
    from tiledet.convert.blocks import BlockSplit
    from tiledet.convert.config import ChipConfig

BACKGROUND = "background"
CSV_COLUMNS = (
    "chip", "split", "class", "scene", "box_x0", "box_y0", "box_x1", "box_y1",
    "window_x0", "window_y0", "window_x1", "window_y1", "kind",
)  # fmt: skip



@dataclass(eq=False)
class ChipReport:
    """What :func:`write_chips_dataset` wrote and what it left out.

    Attributes:
        cfg: the chip settings.
        folders: class name -> folder name (``background`` included when requested).
        counts: per split, chips per class folder.
        background_requested: per split, background chips asked for (scenes × ``cfg.background``).
        background_placed: per split, background chips actually placed.
        drops: one record per box whose scene could not be read (``unreadable_image``).
        unreadable: scene file name -> why it could not be read.
        kinds: background chips by kind (``background``, ``structured``, ``hard_negative``).
        hard_negatives: what reading ``cfg.negatives`` found (detections, matched scenes, kept...).
        object_size_px: longer box side over all scenes (:func:`object_sizes`).
        radiometry: how stored values became the chips' 8-bit values.
        blocks: the spatial split, when chips were assigned by blocks.
        nodata: background chips not written because their window is pure nodata, by kind.
        scenes, boxes: per split, the scenes with chips in it and the objects whose chips it holds.
    """

    cfg: ChipConfig
    folders: dict[str, str]
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    background_requested: Counter[str] = field(default_factory=Counter)
    background_placed: Counter[str] = field(default_factory=Counter)
    drops: list[Drop] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    hard_negatives: dict[str, int] = field(default_factory=dict)
    object_size_px: dict[str, float] = field(default_factory=dict)
    radiometry: Radiometry = AUTO
    blocks: BlockSplit | None = None
    nodata: Counter[str] = field(default_factory=Counter)
    scenes: Counter[str] = field(default_factory=Counter)
    boxes: Counter[str] = field(default_factory=Counter)

    def placed(self) -> tuple[dict[str, int], dict[str, int]]:
        """Scenes with chips in each split, and the objects of each split (``scenes``, ``boxes``)."""
        return ({s: int(self.scenes[s]) for s in self.counts}, {s: int(self.boxes[s]) for s in self.counts})

    def to_dict(self) -> dict:
        """JSON-ready summary: settings, folders, chips per split and class, background placement, skips."""
        return {
            "chip_size": self.cfg.chip_size,
            "context": self.cfg.context,
            "background": self.cfg.background,
            "seed": self.cfg.seed,
            "class_folders": dict(self.folders),
            "counts": {s: {f: int(c[f]) for f in self.folders.values()} for s, c in self.counts.items()},
            "object_chips": sum(n for c in self.counts.values() for f, n in c.items() if f != BACKGROUND),
            "background_requested": dict(self.background_requested),
            "background_placed": dict(self.background_placed),
            "background_by_kind": {
                k: int(self.kinds[k]) for k in ("background", "structured", "hard_negative")
            },
            "structured_negatives": self.cfg.structured,
            "hard_negatives": dict(self.hard_negatives),
            "nodata_chips": {k: int(self.nodata[k]) for k in ("background", "structured", "hard_negative")},
            "radiometry": self.radiometry.to_dict(),
            "split": None if self.blocks is None else self.blocks.to_dict(),
            "drops_by_reason": dict(Counter(d.reason for d in self.drops)),
            "unreadable_scenes": dict(self.unreadable),
        }



def write_csv(path: Path, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def write_yaml(path: Path, report: ChipReport, class_names: tuple[str, ...]) -> None:
    """``chips.yaml`` (:class:`~tiledet.convert.chips_manifest.ChipsManifest`) at ``path``."""
    summary = report.to_dict()
    with_bg = BACKGROUND in report.folders and report.cfg.with_background
    manifest = ChipsManifest(
        chip_size=report.cfg.chip_size,
        context=report.cfg.context,
        class_names=(*class_names, BACKGROUND) if with_bg else tuple(class_names),
        class_folders=summary["class_folders"],
        seed=report.cfg.seed,
        background_per_scene=report.cfg.background,
        object_size_px=report.object_size_px,
        extra={
            "padding": "constant: per-channel mean of the visible part of the chip window",
            "counts": summary["counts"],
            "background_requested": summary["background_requested"],
            "background_placed": summary["background_placed"],
            "background_by_kind": summary["background_by_kind"],
            "structured_negatives": report.cfg.structured,
        },
    )
    atomic_write_yaml(path, manifest.to_dict())


def object_sizes(splits: Mapping[str, Sequence[ImageLabels]]) -> dict[str, float]:
    """Longer box side over all scenes: min, 2nd percentile, median, 98th percentile, max (px)."""
    sides = [np.maximum(im.boxes.width, im.boxes.height) for ims in splits.values() for im in ims]
    all_sides = np.concatenate(sides) if sides else np.zeros(0)
    if all_sides.size == 0:
        return {}
    q = np.quantile(all_sides, [0.0, 0.02, 0.5, 0.98, 1.0])
    return dict(zip(("min", "p02", "median", "p98", "max"), (round(float(v), 2) for v in q), strict=True))

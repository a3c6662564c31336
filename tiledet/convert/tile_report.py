"""What tiling wrote and left out: one scene's tiles and counts (:class:`SceneTiles`), the whole run's
:class:`TileReport`, and the per-box accounting (every source box gets exactly one outcome).

Split from :mod:`tiledet.convert.tiling`; ``TileReport``, ``TileEntry`` and ``BOX_OUTCOMES`` are still
importable from there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tiledet.boxes import Boxes
from tiledet.convert.config import TileConfig
from tiledet.convert.tile_geometry import VISIBILITY_EPS, TileAssignment
from tiledet.label_records import Drop, ImageLabels
from tiledet.radiometry import AUTO, Radiometry

if TYPE_CHECKING:
    from tiledet.convert.blocks import BlockSplit

#: Per-box outcomes counted in :class:`TileReport` (each source box gets exactly one).
BOX_OUTCOMES = ("kept_whole", "kept_clipped_only", "outside_tiles", "nodata", "unreadable_image")

#: Tile counts per split in :class:`TileReport` (``scenes``: scenes with a tile laid out in the split).
COUNT_KEYS = (
    "scenes", "scenes_unreadable", "tiles", "tiles_with_boxes", "empty_tiles_kept",
    "empty_tiles_skipped", "nodata_tiles", "box_pieces", "pairs_below_visibility", "pieces_too_small",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class TileEntry:
    """One written tile: file name relative to ``OUT/images/{split}``, size and boxes in tile pixels."""

    file_name: str
    size_wh: tuple[int, int]
    boxes: Boxes
    split: str = "train"


@dataclass(frozen=True, eq=False)
class TileLayout:
    """One scene's tiles: what each holds and what became of it.

    Attributes:
        found: the boxes kept in each laid-out window.
        keep: (K,) bool, a window to write (it holds a box, or its empty-tile draw kept it).
        nodata: (K,) bool, a kept window of pure nodata (not written).
        splits: (K,) the split of each window.
        home: the split scene-level counts go to (the scene's own; with blocks, its centre's).
        box_splits: (N,) the split of each box (with blocks, the split of its centre's block).
    """

    found: TileAssignment
    keep: np.ndarray
    nodata: np.ndarray
    splits: np.ndarray
    home: str
    box_splits: np.ndarray


@dataclass(eq=False)
class SceneTiles:
    """What one scene gave (a worker's result)."""

    split: str
    image: ImageLabels
    readable: bool = True
    error: str = ""
    tiles: list[TileEntry] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)
    stretch: dict | None = None


def box_drops(image: ImageLabels, idx: np.ndarray, reason: str, details: Sequence[str]) -> list[Drop]:
    """One drop record per box ``idx`` of ``image`` (location ``box {index in the scene}``)."""
    xyxy = image.boxes.xyxy
    return [
        Drop(
            image.file_name, f"box {i}", reason, f"{d}; box xyxy {xyxy[i].round(3).tolist()}", image.file_name
        )
        for i, d in zip(idx.tolist(), details, strict=True)
    ]


def unreadable_scene(split: str, image: ImageLabels, error: str) -> SceneTiles:
    """The result of a scene that could not be read: every box an ``unreadable_image`` drop."""
    n = len(image.boxes)
    result = SceneTiles(split, image, readable=False, error=error)
    result.counts[split] = Counter(scenes=1, scenes_unreadable=1)
    result.outcomes[split] = Counter(unreadable_image=n)
    result.drops = box_drops(image, np.arange(n), "unreadable_image", [error] * n)
    return result


def count_tiles(result: SceneTiles, layout: TileLayout, cfg: TileConfig) -> None:
    """Fill the tile counts per split, the per-box outcomes and the drops of one scene."""
    found, keep, nodata, splits = layout.found, layout.keep, layout.nodata, layout.splits
    per_tile = np.bincount(found.tile_idx, minlength=len(keep))
    written = keep & ~nodata
    piece_written = written[found.tile_idx]
    for split in dict.fromkeys(splits.tolist()):
        here = splits == split
        result.counts.setdefault(split, Counter()).update(
            scenes=1,
            tiles=int((written & here).sum()),
            tiles_with_boxes=int((written & here & (per_tile > 0)).sum()),
            empty_tiles_kept=int((written & here & (per_tile == 0)).sum()),
            empty_tiles_skipped=int((~keep & here).sum()),
            nodata_tiles=int((nodata & here).sum()),
            box_pieces=int((piece_written & here[found.tile_idx]).sum()),
        )
    result.counts.setdefault(layout.home, Counter()).update(
        pairs_below_visibility=found.below_visibility, pieces_too_small=found.too_small
    )
    _count_boxes(result, layout, piece_written, cfg)


def _count_boxes(result: SceneTiles, layout: TileLayout, piece_written: np.ndarray, cfg: TileConfig) -> None:
    """Per-box outcomes (by the split of each box) and the drops of boxes written in no tile."""
    found, n = layout.found, len(result.image.boxes)
    kept = np.zeros(n, bool)
    kept[found.box_idx[piece_written]] = True
    placed = np.zeros(n, bool)  # kept in a tile that was laid out for it, written or not
    placed[found.box_idx] = True
    whole = kept & (found.visibility >= 1.0 - VISIBILITY_EPS)
    outcome = np.select(
        [whole, kept, placed], ["kept_whole", "kept_clipped_only", "nodata"], "outside_tiles"
    )
    for split, name in zip(layout.box_splits.tolist(), outcome.tolist(), strict=True):
        result.outcomes.setdefault(split, Counter())[name] += 1
    lost = np.flatnonzero(~placed)
    details = [
        f"best visibility {v:.4f} (min {cfg.min_visibility:g}; pieces under 1 px are dropped)"
        for v in found.visibility[lost].tolist()
    ]
    result.drops = box_drops(result.image, lost, "outside_tiles", details)
    blank = np.flatnonzero(placed & ~kept)
    pieces = np.bincount(found.box_idx, minlength=n)
    details = [f"its {k} tile(s) hold only nodata pixels (not written)" for k in pieces[blank].tolist()]
    result.drops += box_drops(result.image, blank, "nodata", details)


@dataclass(eq=False)
class TileReport:
    """What :func:`~tiledet.convert.tiling.write_tiled_dataset` wrote and what it left out.

    Attributes:
        cfg: the tiling settings.
        to: label format written (``yolo`` or ``coco``).
        splits: per split, the counts of :data:`COUNT_KEYS`.
        box_outcomes: per split, count of source boxes per outcome in :data:`BOX_OUTCOMES`.
        drops: exactly one record per source box that is in no written tile: kept in no tile
            (``outside_tiles``), only in tiles of pure nodata (``nodata``) or its scene could not be read
            (``unreadable_image``).
        unreadable: scene file name -> why it could not be read (scenes skipped, with or without boxes).
        radiometry: how stored values became the tiles' 8-bit values.
        blocks: the spatial split, when tiles were assigned by blocks.
        stretches: scene file name -> its per-scene stretch (scenes that were stretched).
    """

    cfg: TileConfig
    to: str
    splits: dict[str, Counter[str]] = field(default_factory=dict)
    box_outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    radiometry: Radiometry = AUTO
    blocks: BlockSplit | None = None
    stretches: dict[str, dict] = field(default_factory=dict)

    def add(self, result: SceneTiles) -> None:
        """Add one scene's result."""
        if not result.readable:
            self.unreadable[result.image.file_name] = result.error
        for split, counts in result.counts.items():
            self.splits.setdefault(split, Counter()).update(counts)
        for split, outcomes in result.outcomes.items():
            self.box_outcomes.setdefault(split, Counter()).update(outcomes)
        self.drops.extend(result.drops)
        if result.stretch is not None:
            self.stretches[result.image.file_name] = result.stretch

    def placed(self) -> tuple[dict[str, int], dict[str, int]]:
        """Scenes with a tile laid out in each split, and the boxes of each split (by their outcomes)."""
        scenes = {s: int(c["scenes"]) for s, c in self.splits.items()}
        return scenes, {s: int(sum(self.box_outcomes.get(s, Counter()).values())) for s in self.splits}

    def to_dict(self) -> dict:
        """JSON-ready summary: settings, counts per split and in total, per-box outcomes, drop reasons."""
        splits = {s: {k: int(c[k]) for k in COUNT_KEYS} for s, c in self.splits.items()}
        outcomes = {s: {k: int(c[k]) for k in BOX_OUTCOMES} for s, c in self.box_outcomes.items()}
        return {
            "tile": self.cfg.tile,
            "overlap": self.cfg.overlap,
            "min_visibility": self.cfg.min_visibility,
            "empty_fraction": self.cfg.empty_fraction,
            "seed": self.cfg.seed,
            "format": self.to,
            "radiometry": self.radiometry.to_dict(),
            "split": None if self.blocks is None else self.blocks.to_dict(),
            "splits": splits,
            "totals": {k: sum(c[k] for c in splits.values()) for k in COUNT_KEYS},
            "box_outcomes": outcomes,
            "box_outcome_totals": {k: sum(c[k] for c in outcomes.values()) for k in BOX_OUTCOMES},
            "drops_by_reason": dict(Counter(d.reason for d in self.drops)),
            "unreadable_scenes": dict(self.unreadable),
            "scene_stretch": dict(self.stretches),
        }

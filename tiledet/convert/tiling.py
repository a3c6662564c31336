"""Cut scenes into overlapping training tiles with their boxes clipped to each tile.

Layout written under ``OUT`` (``{split}`` is each key of ``splits``):

- ``images/{split}/{stem}__x{x0}_y{y0}.png`` (``.jpg``, quality 95, for JPEG sources); a scene in a
  sub-folder of the images folder keeps that sub-folder.
- ``labels/{split}/{stem}__x{x0}_y{y0}.txt`` (``to="yolo"``) or ``annotations/{split}.json``
  (``to="coco"``), boxes in tile pixels.
- ``annotations/val_full.json``: COCO ground truth of the untiled ``val`` scenes, file names relative to
  the source images folder (``info.images_dir``), for scoring detectors on whole scenes.

Tiles keep the scene's pixels (a 16-bit scene gives lossless 16-bit tiles) where the tile format holds
them, else the 8-bit pixels the models see (:mod:`tiledet.pixels`); either way a training loader
decodes a tile to the very pixels the detector is fed for that part of the scene.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from tiledet.boxes import Boxes
from tiledet.convert.config import TileConfig
from tiledet.convert.scene_io import map_scenes, output_suffix, scene_seed, storable_pixels, write_image
from tiledet.convert.tile_geometry import (
    VISIBILITY_EPS,
    TileAssignment,
    assign_boxes_to_tiles,
    check_tile_count,
)
from tiledet.convert.write import (
    WorkerOutput,
    check_unique_outputs,
    output_dir,
    output_relpath,
    record_results,
)
from tiledet.decode import UnreadableImage, read_scene
from tiledet.errors import ConfigError, InputError
from tiledet.formats.coco import write_coco_json
from tiledet.geometry import tile_offsets, tile_stem
from tiledet.labels import Drop, ImageLabels, LabeledDataset
from tiledet.progress import Progress

if TYPE_CHECKING:
    from tiledet.convert.write import WorkerOutput
    from tiledet.outdir import OutputDir

TILE_FORMATS = ("yolo", "coco")

#: Per-box outcomes counted in :class:`TileReport` (each source box gets exactly one).
BOX_OUTCOMES = ("kept_whole", "kept_clipped_only", "outside_tiles", "unreadable_image")


@dataclass(frozen=True, eq=False)
class TileEntry:
    """One written tile: file name relative to ``OUT/images/{split}``, size and boxes in tile pixels."""

    file_name: str
    size_wh: tuple[int, int]
    boxes: Boxes


@dataclass(frozen=True)
class _SceneTask:
    split: str
    image: ImageLabels
    images_dir: Path
    out: WorkerOutput
    cfg: TileConfig
    to: str


@dataclass(eq=False)
class _SceneResult:
    split: str
    image: ImageLabels
    readable: bool = True
    error: str = ""
    tiles: list[TileEntry] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    drops: list[Drop] = field(default_factory=list)


@dataclass(eq=False)
class TileReport:
    """What :func:`write_tiled_dataset` wrote and what it left out.

    Attributes:
        cfg: the tiling settings.
        to: label format written (``yolo`` or ``coco``).
        splits: per split: ``scenes``, ``scenes_unreadable``, ``tiles`` (written), ``tiles_with_boxes``,
            ``empty_tiles_kept``, ``empty_tiles_skipped``, ``box_pieces`` (box pieces written),
            ``pairs_below_visibility``, ``pieces_too_small``.
        box_outcomes: per split, count of source boxes per outcome in :data:`BOX_OUTCOMES`.
        drops: exactly one record per source box that is in no written tile: kept in no tile
            (``outside_tiles``) or its scene could not be read (``unreadable_image``).
        unreadable: scene file name -> why it could not be read (scenes skipped, with or without boxes).
    """

    cfg: TileConfig
    to: str
    splits: dict[str, Counter[str]] = field(default_factory=dict)
    box_outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    def _add(self, result: _SceneResult) -> None:
        if not result.readable:
            self.unreadable[result.image.file_name] = result.error
        self.splits.setdefault(result.split, Counter()).update(result.counts)
        self.box_outcomes.setdefault(result.split, Counter()).update(result.outcomes)
        self.drops.extend(result.drops)

    def to_dict(self) -> dict:
        """JSON-ready summary: settings, counts per split and in total, per-box outcomes, drop reasons."""
        count_keys = (
            "scenes", "scenes_unreadable", "tiles", "tiles_with_boxes", "empty_tiles_kept",
            "empty_tiles_skipped", "box_pieces", "pairs_below_visibility", "pieces_too_small",
        )  # fmt: skip
        splits = {s: {k: int(c[k]) for k in count_keys} for s, c in self.splits.items()}
        outcomes = {s: {k: int(c[k]) for k in BOX_OUTCOMES} for s, c in self.box_outcomes.items()}
        return {
            "tile": self.cfg.tile,
            "overlap": self.cfg.overlap,
            "min_visibility": self.cfg.min_visibility,
            "empty_fraction": self.cfg.empty_fraction,
            "seed": self.cfg.seed,
            "format": self.to,
            "splits": splits,
            "totals": {k: sum(c[k] for c in splits.values()) for k in count_keys},
            "box_outcomes": outcomes,
            "box_outcome_totals": {k: sum(c[k] for c in outcomes.values()) for k in BOX_OUTCOMES},
            "drops_by_reason": dict(Counter(d.reason for d in self.drops)),
            "unreadable_scenes": dict(self.unreadable),
        }


def tile_file_name(file_name: str, x0: int, y0: int) -> str:
    """Tile file name (relative, ``/`` separators) of scene ``file_name`` at origin ``(x0, y0)``."""

    scene = PurePosixPath(output_relpath(file_name))
    return str(scene.parent / (tile_stem(scene.stem, x0, y0) + output_suffix(file_name)))


def _box_drops(image: ImageLabels, idx: np.ndarray, reason: str, details: Sequence[str]) -> list[Drop]:
    """One drop record per box ``idx`` of ``image`` (location ``box {index in the scene}``)."""
    xyxy = image.boxes.xyxy
    return [
        Drop(
            image.file_name, f"box {i}", reason, f"{d}; box xyxy {xyxy[i].round(3).tolist()}", image.file_name
        )
        for i, d in zip(idx.tolist(), details, strict=True)
    ]


def _label_name(tile_name: str) -> str:
    return PurePosixPath(tile_name).with_suffix(".txt").as_posix()


def _unreadable(task: _SceneTask, error: str) -> _SceneResult:
    image = task.image
    result = _SceneResult(task.split, image, readable=False)
    result.counts.update(scenes=1, scenes_unreadable=1)
    n = len(image.boxes)
    result.outcomes["unreadable_image"] += n
    result.drops = _box_drops(image, np.arange(n), "unreadable_image", [error] * n)
    result.error = error
    return result


def _tile_scene(task: _SceneTask) -> _SceneResult:
    """Worker: read one scene, write its kept tiles (and YOLO labels), return what was written."""
    image, cfg = task.image, task.cfg
    windows = tile_offsets(image.size_wh, cfg.tile, cfg.overlap)
    found = assign_boxes_to_tiles(image.boxes.xyxy, windows, cfg.min_visibility)
    path = task.images_dir / image.file_name
    try:
        pixels = storable_pixels(read_scene(path, image.size_wh), output_suffix(image.file_name), path)
    except UnreadableImage as e:
        return _unreadable(task, str(e))
    draws = np.random.default_rng(scene_seed(cfg.seed, image.file_name)).random(len(windows))
    per_tile = np.bincount(found.tile_idx, minlength=len(windows))
    keep = (per_tile > 0) | (draws < cfg.empty_fraction)
    starts = np.searchsorted(found.tile_idx, np.arange(len(windows) + 1))
    result = _SceneResult(task.split, image)
    for k in np.flatnonzero(keep).tolist():
        x0, y0, x1, y1 = (int(v) for v in windows[k])
        piece = slice(starts[k], starts[k + 1])
        boxes = Boxes(found.xyxy[piece], image.boxes.class_ids[found.box_idx[piece]])
        entry = TileEntry(tile_file_name(image.file_name, x0, y0), (x1 - x0, y1 - y0), boxes)
        write_image(task.out.path(f"images/{task.split}/{entry.file_name}"), pixels[y0:y1, x0:x1])
        if task.to == "yolo":
            from tiledet.formats.yolo import write_label_file

            label_path = task.out.path(f"labels/{task.split}/{_label_name(entry.file_name)}")
            try:
                write_label_file(label_path, boxes, entry.size_wh)
            except OSError as e:
                raise InputError(f"{label_path}: cannot write labels ({e})") from e
        result.tiles.append(entry)
    _count(result, found, per_tile, keep, cfg)
    return result


def _count(
    result: _SceneResult, found: TileAssignment, per_tile: np.ndarray, keep: np.ndarray, cfg: TileConfig
) -> None:
    """Fill the tile counts, per-box outcomes and ``outside_tiles`` drops of one scene."""
    n = len(result.image.boxes)
    result.counts.update(
        scenes=1,
        tiles=int(keep.sum()),
        tiles_with_boxes=int((per_tile > 0).sum()),
        empty_tiles_kept=int((keep & (per_tile == 0)).sum()),
        empty_tiles_skipped=int((~keep).sum()),
        box_pieces=len(found),
        pairs_below_visibility=found.below_visibility,
        pieces_too_small=found.too_small,
    )
    kept = np.zeros(n, dtype=bool)
    kept[found.box_idx] = True
    whole = kept & (found.visibility >= 1.0 - VISIBILITY_EPS)
    result.outcomes.update(
        kept_whole=int(whole.sum()),
        kept_clipped_only=int((kept & ~whole).sum()),
        outside_tiles=int((~kept).sum()),
    )
    lost = np.flatnonzero(~kept)
    details = [
        f"best visibility {v:.4f} (min {cfg.min_visibility:g}; pieces under 1 px are dropped)"
        for v in found.visibility[lost].tolist()
    ]
    result.drops = _box_drops(result.image, lost, "outside_tiles", details)


def write_tiled_dataset(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    out: Path | OutputDir,
    class_names: Sequence[str],
    cfg: TileConfig,
    to: str = "yolo",
    progress: Progress | None = None,
) -> TileReport:
    """Cut every scene of every split into tiles and write tiles, labels and ``val_full.json``.

    Scenes are processed one at a time per worker process (``cfg.workers``); results are gathered in
    scene order, so the output does not depend on the number of workers. A scene that cannot be read
    is skipped and each of its boxes reported as an ``unreadable_image`` drop.

    Args:
        splits: split name -> its scenes (boxes in scene pixels, already clipped to the scene).
        images_dir: folder the scenes' ``file_name`` are relative to.
        out: output folder (layout in the module docstring), or an open ``OutputDir``.
            ``data.yaml``/``report.json`` are not written.
        class_names: class names, index = class id.
        cfg: tiling settings.
        to: ``"yolo"`` (a label file per tile) or ``"coco"`` (``annotations/{split}.json``).
        progress: advanced by 1 after each scene (the caller starts the phase).

    Returns:
        A :class:`TileReport` with counts, per-box outcomes and drops.

    Raises:
        ConfigError: absurd tile counts (:func:`check_tile_count`); an output over a file tiledet
            did not write.
    """
    if to not in TILE_FORMATS:
        raise ConfigError(f"tiles can be written as {' or '.join(TILE_FORMATS)}, not {to!r}")

    check_unique_outputs(splits, lambda name: tile_file_name(name, 0, 0), "tile names")
    check_tile_count([im.size_wh for images in splits.values() for im in images], cfg.tile, cfg.overlap)
    with output_dir(out) as od:
        return _write_tiles(splits, Path(images_dir).resolve(), od, tuple(class_names), cfg, to, progress)


def _write_tiles(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    od: OutputDir,
    class_names: tuple[str, ...],
    cfg: TileConfig,
    to: str,
    progress: Progress | None,
) -> TileReport:
    """:func:`write_tiled_dataset` inside an open output folder; records every file written."""

    folders = ("images", "labels") if to == "yolo" else ("images",)
    target = WorkerOutput.of(od, folders)
    try:
        for split in splits:
            for folder in folders:
                target.path(f"{folder}/{split}/.keep").parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{od.root}: cannot create the output folders ({e})") from e
    tasks = [_SceneTask(s, im, images_dir, target, cfg, to) for s, images in splits.items() for im in images]
    report = TileReport(cfg, to, {s: Counter() for s in splits}, {s: Counter() for s in splits})
    tiles: dict[str, list[ImageLabels]] = {s: [] for s in splits}
    readable_val: list[ImageLabels] = []

    def written(result: _SceneResult) -> list[str]:
        names = [f"images/{result.split}/{t.file_name}" for t in result.tiles]
        if to == "yolo":
            names += [f"labels/{result.split}/{_label_name(t.file_name)}" for t in result.tiles]
        return names

    pixels = [t.image.size_wh[0] * t.image.size_wh[1] for t in tasks]
    results = map_scenes(_tile_scene, tasks, cfg.workers, progress, pixels=pixels)
    for result in record_results(od, target, folders, results, written):
        report._add(result)
        tiles[result.split].extend(ImageLabels(t.file_name, t.size_wh, t.boxes) for t in result.tiles)
        if result.split == "val" and result.readable:
            readable_val.append(result.image)
    _write_annotations(
        od, images_dir, class_names, tiles if to == "coco" else {}, readable_val, "val" in splits
    )
    return report


def _write_annotations(
    od: OutputDir,
    images_dir: Path,
    class_names: Sequence[str],
    tiles: Mapping[str, list[ImageLabels]],
    val_scenes: list[ImageLabels],
    has_val: bool,
) -> None:
    """Write COCO ``annotations/{split}.json`` of ``tiles``, and ``val_full.json`` if there is a val split."""

    names = tuple(class_names)
    for split, entries in tiles.items():
        info = {
            "description": f"tiledet tiles, split {split}",
            "images_dir": str((od.root / "images" / split).resolve()),
        }
        path = od.path(f"annotations/{split}.json")
        write_coco_json(path, LabeledDataset(names, tuple(entries)), info=info)
    if has_val:
        info = {"description": "tiledet untiled val scenes", "images_dir": str(images_dir)}
        path = od.path("annotations/val_full.json")
        write_coco_json(path, LabeledDataset(names, tuple(val_scenes)), info=info)

"""Cut scenes into overlapping training tiles with their boxes clipped to each tile.

Layout written under ``OUT`` (``{split}`` is each key of ``splits``; with a block split, ``train`` and
``val``, each tile in the split of the block holding its centre: :mod:`tiledet.convert.blocks`):

- ``images/{split}/{stem}__x{x0}_y{y0}.png`` (``.jpg``, quality 95, for JPEG sources); a scene in a
  sub-folder of the images folder keeps that sub-folder.
- ``labels/{split}/{stem}__x{x0}_y{y0}.txt`` (``to="yolo"``) or ``annotations/{split}.json``
  (``to="coco"``), boxes in tile pixels.
- ``annotations/val_full.json``: COCO ground truth of the untiled ``val`` scenes, file names relative to
  the source images folder (``info.images_dir``), for scoring detectors on whole scenes (not with a
  block split: no scene is wholly ``val`` then).

Each worker opens its scene with :func:`tiledet.scene.open_scene` and reads only the windows of the
tiles it writes (a 20 000² COG is never decoded whole; PNG/JPEG scenes are, as those formats cannot be
read by window). Tiles hold the models' 8-bit RGB under the scene's radiometry (what both detectors
are fed for that part of the scene); under ``fixed``, 16-bit scenes give lossless 16-bit PNG tiles,
which a training loader reads by their high byte, as ``fixed`` does. A kept tile whose window is pure
nodata is not written (``nodata_tiles``); a box only in such tiles is a ``nodata`` drop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from tiledet.boxes import Boxes
from tiledet.convert.config import TileConfig
from tiledet.convert.scene_io import (
    ScenePixels,
    map_scenes,
    open_source,
    output_suffix,
    read_ahead,
    scene_seed,
    write_image,
)
from tiledet.convert.tile_geometry import assign_boxes_to_tiles, check_tile_count
from tiledet.convert.tile_report import (
    BOX_OUTCOMES,
    SceneTiles,
    TileEntry,
    TileLayout,
    TileReport,
    count_tiles,
    unreadable_scene,
)
from tiledet.convert.write import (
    WorkerOutput,
    check_unique_outputs,
    output_dir,
    output_relpath,
    record_results,
)
from tiledet.decode import UnreadableImage
from tiledet.errors import ConfigError, InputError
from tiledet.formats.coco import write_coco_json
from tiledet.geometry import tile_offsets, tile_stem
from tiledet.labels import ImageLabels, LabeledDataset
from tiledet.progress import Progress
from tiledet.radiometry import AUTO, Radiometry

if TYPE_CHECKING:
    from tiledet.convert.blocks import BlockSplit
    from tiledet.outdir import OutputDir
    from tiledet.scene_base import Scene

__all__ = ["BOX_OUTCOMES", "TILE_FORMATS", "TileEntry", "TileReport", "tile_file_name", "write_tiled_dataset"]

TILE_FORMATS = ("yolo", "coco")


@dataclass(frozen=True)
class _SceneTask:
    split: str
    image: ImageLabels
    images_dir: Path
    out: WorkerOutput
    cfg: TileConfig
    to: str
    radiometry: Radiometry = AUTO
    blocks: BlockSplit | None = None


def tile_file_name(file_name: str, x0: int, y0: int) -> str:
    """Tile file name (relative, ``/`` separators) of scene ``file_name`` at origin ``(x0, y0)``."""

    scene = PurePosixPath(output_relpath(file_name))
    return str(scene.parent / (tile_stem(scene.stem, x0, y0) + output_suffix(file_name)))


def _label_name(tile_name: str) -> str:
    return PurePosixPath(tile_name).with_suffix(".txt").as_posix()


def _tile_scene(task: _SceneTask) -> SceneTiles:
    """Worker: open one scene, write its kept tiles (and YOLO labels), return what was written."""
    try:
        with open_source(task.images_dir / task.image.file_name, task.radiometry) as scene:
            return _cut_scene(task, scene)
    except UnreadableImage as e:
        return unreadable_scene(task.split, task.image, str(e))


def _splits_of(task: _SceneTask, scene: Scene, centres_xy: np.ndarray) -> np.ndarray:
    """(N,) split of each (N, 2) pixel centre: the task's, or its block's (``task.blocks``)."""
    if task.blocks is None:
        return np.full(len(centres_xy), task.split, dtype=object)
    return task.blocks.splits(scene, task.image.file_name, centres_xy)


def _layout(task: _SceneTask, scene: Scene, windows: np.ndarray) -> TileLayout:
    """Which windows to write (boxes, empty-tile draws), their splits and the boxes' splits."""
    image, cfg = task.image, task.cfg
    found = assign_boxes_to_tiles(image.boxes.xyxy, windows, cfg.min_visibility)
    draws = np.random.default_rng(scene_seed(cfg.seed, image.file_name)).random(len(windows))
    keep = (np.bincount(found.tile_idx, minlength=len(windows)) > 0) | (draws < cfg.empty_fraction)
    xyxy = image.boxes.xyxy
    centres = np.concatenate([
        (windows[:, :2] + windows[:, 2:]) / 2.0,
        (xyxy[:, :2] + xyxy[:, 2:]) / 2.0,
        [[image.size_wh[0] / 2.0, image.size_wh[1] / 2.0]],
    ])  # fmt: skip
    splits = _splits_of(task, scene, centres)
    k, n = len(windows), len(xyxy)
    nodata = np.zeros(len(windows), bool)
    return TileLayout(found, keep, nodata, splits[:k], str(splits[-1]), splits[k : k + n])


def _cut_scene(task: _SceneTask, scene: Scene) -> SceneTiles:
    """Write the kept tiles of an open scene that hold data; count the rest."""
    image = task.image
    windows = tile_offsets(image.size_wh, task.cfg.tile, task.cfg.overlap)
    layout = _layout(task, scene, windows)
    found = layout.found
    pixels = ScenePixels.tiles(scene, output_suffix(image.file_name))
    starts = np.searchsorted(found.tile_idx, np.arange(len(windows) + 1))
    result = SceneTiles(task.split, image, stretch=None if scene.stretch is None else scene.stretch.to_dict())
    todo = np.flatnonzero(layout.keep).tolist()

    def load(k: int) -> np.ndarray | None:  # None: a window of pure nodata
        return pixels(tuple(windows[k])) if pixels.valid_fraction(windows[k]) > 0 else None

    written: list[Path] = []
    try:
        for k, tile in zip(todo, read_ahead(load, todo), strict=True):
            if tile is None:
                layout.nodata[k] = True
                continue
            piece = slice(starts[k], starts[k + 1])
            boxes = Boxes(found.xyxy[piece], image.boxes.class_ids[found.box_idx[piece]])
            x0, y0, x1, y1 = (int(v) for v in windows[k])
            entry = TileEntry(tile_file_name(image.file_name, x0, y0), (x1 - x0, y1 - y0), boxes,
                              str(layout.splits[k]))  # fmt: skip
            written += _write_tile(task, entry, tile, pixels.rgb)
            result.tiles.append(entry)
    except UnreadableImage as e:  # the file broke part-way: none of its tiles stays
        for path in written:
            path.unlink(missing_ok=True)
        return unreadable_scene(task.split, image, str(e))
    count_tiles(result, layout, task.cfg)
    return result


def _write_tile(task: _SceneTask, entry: TileEntry, tile: np.ndarray, rgb: bool) -> list[Path]:
    """Write one tile image (and its YOLO label file); returns the paths written."""
    image_path = task.out.path(f"images/{entry.split}/{entry.file_name}")
    write_image(image_path, tile, rgb=rgb)
    if task.to != "yolo":
        return [image_path]
    from tiledet.formats.yolo import write_label_file

    label_path = task.out.path(f"labels/{entry.split}/{_label_name(entry.file_name)}")
    try:
        write_label_file(label_path, entry.boxes, entry.size_wh)
    except OSError as e:
        raise InputError(f"{label_path}: cannot write labels ({e})") from e
    return [image_path, label_path]


def write_tiled_dataset(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    out: Path | OutputDir,
    class_names: Sequence[str],
    cfg: TileConfig,
    to: str = "yolo",
    progress: Progress | None = None,
    *,
    radiometry: Radiometry = AUTO,
    blocks: BlockSplit | None = None,
) -> TileReport:
    """Cut every scene of every split into tiles and write tiles, labels and ``val_full.json``.

    Scenes are processed one at a time per worker process (``cfg.workers``), each opened there and
    read window by window; results are gathered in scene order, so the output does not depend on the
    number of workers. A scene that cannot be read is skipped and each of its boxes reported as an
    ``unreadable_image`` drop; a kept tile of pure nodata is not written (``nodata_tiles``).

    Args:
        splits: split name -> its scenes (boxes in scene pixels, already clipped to the scene).
        images_dir: folder the scenes' ``file_name`` are relative to.
        out: output folder (layout in the module docstring), or an open ``OutputDir``.
            ``data.yaml``/``report.json`` are not written.
        class_names: class names, index = class id.
        cfg: tiling settings.
        to: ``"yolo"`` (a label file per tile) or ``"coco"`` (``annotations/{split}.json``).
        progress: advanced by 1 after each scene (the caller starts the phase).
        radiometry: how the scenes' values become the tiles' 8-bit values (per scene).
        blocks: a spatial split: every tile goes to the split of the block holding its centre (the
            split names of ``splits`` are then ignored; tiles go to ``train`` and ``val``, and no
            ``val_full.json`` is written, as no scene is wholly ``val``).

    Returns:
        A :class:`TileReport` with counts, per-box outcomes and drops.

    Raises:
        ConfigError: absurd tile counts (:func:`check_tile_count`); an output over a file tiledet
            did not write; blocks in metres on a scene without a projected CRS.
    """
    if to not in TILE_FORMATS:
        raise ConfigError(f"tiles can be written as {' or '.join(TILE_FORMATS)}, not {to!r}")
    if blocks is not None:  # one pool of scenes, every tile drawn by its block
        splits = {"train": [im for images in splits.values() for im in images], "val": []}
    check_unique_outputs(splits, lambda name: tile_file_name(name, 0, 0), "tile names")
    check_tile_count([im.size_wh for images in splits.values() for im in images], cfg.tile, cfg.overlap)
    report = TileReport(cfg, to, {s: Counter() for s in splits}, {s: Counter() for s in splits},
                        radiometry=radiometry, blocks=blocks)  # fmt: skip
    with output_dir(out) as od:
        _write_tiles(splits, Path(images_dir).resolve(), od, tuple(class_names), report, progress)
    return report


def _write_tiles(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    od: OutputDir,
    class_names: tuple[str, ...],
    report: TileReport,
    progress: Progress | None,
) -> None:
    """:func:`write_tiled_dataset` inside an open output folder; records every file written."""
    to, cfg, split_names = report.to, report.cfg, list(splits)
    folders = ("images", "labels") if to == "yolo" else ("images",)
    target = WorkerOutput.of(od, folders)
    try:
        for split in split_names:
            for folder in folders:
                target.path(f"{folder}/{split}/.keep").parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{od.root}: cannot create the output folders ({e})") from e
    tasks = [
        _SceneTask(s, im, images_dir, target, cfg, to, report.radiometry, report.blocks)
        for s, images in splits.items()
        for im in images
    ]
    tiles: dict[str, list[ImageLabels]] = {s: [] for s in split_names}
    readable_val: list[ImageLabels] = []

    def written(result: SceneTiles) -> list[str]:
        names = [f"images/{t.split}/{t.file_name}" for t in result.tiles]
        if to == "yolo":
            names += [f"labels/{t.split}/{_label_name(t.file_name)}" for t in result.tiles]
        return names

    pixels = [t.image.size_wh[0] * t.image.size_wh[1] for t in tasks]
    results = map_scenes(_tile_scene, tasks, cfg.workers, progress, pixels=pixels)
    for result in record_results(od, target, folders, results, written):
        report.add(result)
        for t in result.tiles:
            tiles[t.split].append(ImageLabels(t.file_name, t.size_wh, t.boxes))
        if result.split == "val" and result.readable:
            readable_val.append(result.image)
    has_val = "val" in split_names and report.blocks is None
    _write_annotations(od, images_dir, class_names, tiles if to == "coco" else {}, readable_val, has_val)


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

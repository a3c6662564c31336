"""Object and background chips for classifiers: an ImageFolder dataset ``OUT/{split}/{class_folder}/*.png``.

Chips are 8-bit RGB PNGs cut from the pixels the detectors see (:mod:`tiledet.scene`: each chip window
read from the scene under its per-scene radiometry, grey repeated, alpha dropped), so a classifier
trains on the values the sliding detector feeds it. A GeoTIFF/COG is read window by window, never whole.

Every object gets one square chip centred on its box, of side ``round(max(w, h) * (1 + context))``
scene pixels, resized to ``chip_size``² (``cv2.INTER_AREA`` when shrinking, ``INTER_LINEAR`` when
growing), so every object fills the same fraction of its chip. Where the chip window reaches beyond
the scene, the missing pixels are filled with the per-channel mean of the visible part of the window
(constant padding: no mirrored copies of objects appear at the border).

``background`` chips per scene are drawn at uniform random positions, fully inside the scene, with
sides drawn from the dataset's object chip sides (their 257 quantiles; ``[chip_size, 4 * chip_size]``
when the dataset has no objects), capped at the scene's shorter side. A candidate is kept only when its
IoU with every box of the scene is below ``chip_geometry.BACKGROUND_MAX_IOU`` (0.1) and it holds at
most ``chip_geometry.BACKGROUND_MAX_CONTAINED`` (10 %) of any box's area; at most
``chip_geometry.BACKGROUND_TRIES`` (50) candidates per requested chip are tried; the report says how
many were placed.

Structured negatives (default on) teach a classifier used as a sliding window to fire only for a
centred object at its trained size: around every object, the windows at 0.5× and 2× its chip window
(object too large / too small) and shifted by half a window left, right, up and down (object
off-centre) become ``background`` chips, unless they show more than 10 % of another box or lie mostly
outside the scene (:func:`~tiledet.convert.chip_geometry.structured_windows`).

Hard negatives (``negatives``: a COCO results JSON from a detector run on these scenes): detections
whose IoU with every box of their scene is below 0.1 become ``background`` chips (window as for an
object of the detection's box), most confident first, at most ``negatives_per_scene`` per scene.

Class folders exist only for classes with chips in that split (torchvision's ``ImageFolder`` rejects
empty ones); ``chips.yaml`` keeps the full class list in index order.

``OUT/chips.yaml`` records chip_size, context, seed, the class names (+ ``background``), the class ->
folder mapping and the counts; ``OUT/chips.csv`` maps every chip to its scene, box and window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from tiledet.convert.chip_geometry import (
    background_windows,
    class_folders,
    cut_chip,
    jitter_windows,
    object_windows,
    structured_windows,
)
from tiledet.convert.chips_report import (
    BACKGROUND,
    ChipReport,
    object_sizes,
    write_csv,
    write_yaml,
)
from tiledet.convert.config import ChipConfig
from tiledet.convert.negatives import hard_negative_windows
from tiledet.convert.scene_io import ScenePixels, map_scenes, open_source, scene_seed, write_image
from tiledet.convert.write import WorkerOutput, check_unique_outputs, output_dir, record_results
from tiledet.decode import UnreadableImage
from tiledet.errors import ConfigError
from tiledet.labels import Drop, ImageLabels
from tiledet.progress import Progress
from tiledet.radiometry import AUTO, Radiometry

if TYPE_CHECKING:
    from tiledet.convert.blocks import BlockSplit
    from tiledet.outdir import OutputDir


@dataclass(frozen=True)
class _ChipTask:
    split: str
    image: ImageLabels
    images_dir: Path
    out: WorkerOutput
    cfg: ChipConfig
    folders: tuple[str, ...]  # folder of each class index
    class_names: tuple[str, ...]
    bg_sides: np.ndarray  # background chip sides to draw from (px)
    hard: np.ndarray  # (K, 4) hard-negative windows of this scene
    radiometry: Radiometry = AUTO
    blocks: BlockSplit | None = None


@dataclass(eq=False)
class _ChipResult:
    split: str  # where scene-level counts go (the task's split; with blocks, the scene centre's)
    rows: list[tuple] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    background_placed: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    nodata: Counter[str] = field(default_factory=Counter)
    boxes: Counter[str] = field(default_factory=Counter)  # objects per split
    drops: list[Drop] = field(default_factory=list)
    error: str = ""


def _flat_stem(file_name: str) -> str:
    """Scene name without suffix, sub-folders joined with ``__`` (ImageFolder classes are flat)."""
    path = PurePosixPath(file_name)
    return "__".join([*path.parent.parts, path.stem]) if str(path.parent) != "." else path.stem


@dataclass(frozen=True, eq=False)
class _Scene:
    """One open scene as the chip writers see it: pixels by window and the split of a window."""

    task: _ChipTask
    pixels: ScenePixels
    stem: str

    def splits(self, windows: np.ndarray) -> list[str]:
        """The split of each (M, 4) window: the task's, or the block holding the window's centre."""
        windows = np.asarray(windows, np.float64).reshape(-1, 4)
        if self.task.blocks is None:
            return [self.task.split] * len(windows)
        centres = (windows[:, :2] + windows[:, 2:]) / 2.0
        return self.task.blocks.splits(self.pixels.scene, self.task.image.file_name, centres).tolist()


def _chip_scene(task: _ChipTask) -> _ChipResult:
    """Worker: open one scene, write its object and background chips, return the csv rows and counts."""
    result = _ChipResult(task.split)
    try:
        with open_source(task.images_dir / task.image.file_name, task.radiometry) as scene:
            _cut_chips(_Scene(task, ScenePixels(scene), _flat_stem(task.image.file_name)), result)
    except UnreadableImage as e:  # unreadable, or broken part-way: none of its chips stays
        for row in result.rows:
            task.out.path(row[0]).unlink(missing_ok=True)
        result = _ChipResult(task.split, error=str(e), boxes=Counter({task.split: len(task.image.boxes)}))
        xyxy = task.image.boxes.xyxy
        result.drops = [
            Drop(task.image.file_name, f"box {i}", "unreadable_image",
                 f"{e}; box xyxy {xyxy[i].round(3).tolist()}", task.image.file_name)
            for i in range(len(task.image.boxes))
        ]  # fmt: skip
    return result


def _cut_chips(at: _Scene, result: _ChipResult) -> None:
    """Object, jitter, structured, random background and hard-negative chips of one open scene."""
    task, image, cfg = at.task, at.task.image, at.task.cfg
    width, height = image.size_wh
    result.split = at.splits(np.array([[0, 0, width, height]]))[0]
    windows = object_windows(image.boxes.xyxy, cfg.context)
    splits = at.splits(windows)  # an object's chips (object, jitter) follow the object's own window
    result.boxes.update(splits)
    for i, (window, cls) in enumerate(zip(windows, image.boxes.class_ids.tolist(), strict=True)):
        chip = f"{splits[i]}/{task.folders[cls]}/{at.stem}__{i:05d}.png"
        _write_object_chip(at, chip, i, cls, window, "object", result)
    if cfg.jitter:
        rng = np.random.default_rng([*scene_seed(cfg.seed, image.file_name), 1])
        jittered = jitter_windows(rng, image.boxes.xyxy, cfg.context, cfg.jitter)
        for j, window in enumerate(jittered):
            i, cls = j // cfg.jitter, int(image.boxes.class_ids[j // cfg.jitter])
            chip = f"{splits[i]}/{task.folders[cls]}/{at.stem}__{i:05d}_j{j % cfg.jitter}.png"
            _write_object_chip(at, chip, i, cls, window, "jitter", result)
        result.kinds["jitter"] += len(jittered)
    if cfg.structured:
        negatives, owners, tags = structured_windows(image.boxes.xyxy, cfg.context, image.size_wh)
        names = [f"{at.stem}__{i:05d}_{tag}" for i, tag in zip(owners.tolist(), tags, strict=True)]
        _write_background(at, negatives, names, "structured", result, [splits[i] for i in owners.tolist()])
    rng = np.random.default_rng(scene_seed(cfg.seed, image.file_name))
    background = background_windows(rng, image.size_wh, image.boxes.xyxy, task.bg_sides, cfg.background)
    names = [f"{at.stem}__bg{j:03d}" for j in range(len(background))]
    _write_background(at, background, names, "background", result)
    names = [f"{at.stem}__hn{j:03d}" for j in range(len(task.hard))]
    _write_background(at, task.hard, names, "hard_negative", result)


def _write_object_chip(
    at: _Scene, chip: str, i: int, cls: int, window: np.ndarray, kind: str, result: _ChipResult
) -> None:
    """Write one chip of object ``i`` (class ``cls``) and add its csv row and count."""
    task = at.task
    write_image(task.out.path(chip), cut_chip(at.pixels, window, task.cfg.chip_size), rgb=True)
    box = [round(v, 3) for v in task.image.boxes.xyxy[i].tolist()]
    split = chip.split("/", 1)[0]
    result.rows.append(
        (chip, split, task.class_names[cls], task.image.file_name, *box, *window.tolist(), kind)
    )
    result.counts.setdefault(split, Counter())[task.folders[cls]] += 1


def _write_background(
    at: _Scene, windows: np.ndarray, names: list[str], kind: str, result: _ChipResult,
    splits: list[str] | None = None,
) -> None:
    """Write the background chips of ``windows`` that show data, named ``names``; add rows and counts.

    ``splits``: the split of each chip (default: the block holding its centre, or the task's split).
    """
    task = at.task
    splits = at.splits(windows) if splits is None else splits
    for window, name, split in zip(windows, names, splits, strict=True):
        if at.pixels.valid_fraction(window) == 0:
            result.nodata[kind] += 1  # pure nodata: nothing to learn from
            continue
        chip = f"{split}/{BACKGROUND}/{name}.png"
        write_image(task.out.path(chip), cut_chip(at.pixels, window, task.cfg.chip_size), rgb=True)
        row = (chip, split, BACKGROUND, task.image.file_name, "", "", "", "", *window.tolist(), kind)
        result.rows.append(row)
        result.counts.setdefault(split, Counter())[BACKGROUND] += 1
        result.kinds[kind] += 1
        if kind == "background":
            result.background_placed[split] += 1


def _background_sides(splits: Mapping[str, Sequence[ImageLabels]], cfg: ChipConfig) -> np.ndarray:
    """Sides to draw background chips from: 257 quantiles of all object chip sides, or a fixed range."""
    if cfg.background == 0:
        return np.array([cfg.chip_size], np.int64)
    windows = [object_windows(im.boxes.xyxy, cfg.context) for images in splits.values() for im in images]
    sides = np.concatenate([w[:, 2] - w[:, 0] for w in windows]) if windows else np.zeros(0, np.int64)
    if sides.size == 0:
        return np.arange(cfg.chip_size, 4 * cfg.chip_size + 1, dtype=np.int64)
    return np.quantile(sides, np.linspace(0, 1, 257), method="nearest").astype(np.int64)


def write_chips_dataset(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    out: Path | OutputDir,
    class_names: Sequence[str],
    cfg: ChipConfig,
    progress: Progress | None = None,
    *,
    radiometry: Radiometry = AUTO,
    blocks: BlockSplit | None = None,
) -> ChipReport:
    """Write object (and background) chips of every scene as ``OUT/{split}/{class_folder}/*.png``.

    A class folder exists in a split only when that split has chips of the class (``chips.yaml`` keeps
    the full class list and order). Scenes are processed one at a time per worker process, each opened
    there and read chip window by chip window; results gathered in scene order (output independent of
    ``cfg.workers``). A scene that cannot be read is skipped and each of its boxes reported as
    ``unreadable_image``. Background chips whose window is pure nodata are not written (counted).

    Args:
        splits: split name -> its scenes (boxes in scene pixels).
        images_dir: folder the scenes' ``file_name`` are relative to.
        out: output folder, or an open ``OutputDir``; also receives ``chips.yaml`` and ``chips.csv``.
        class_names: class names, index = class id.
        cfg: chip settings.
        progress: advanced by 1 after each scene (the caller starts the phase).
        radiometry: how the scenes' values become the chips' 8-bit values (per scene).
        blocks: a spatial split: an object's chips go to the split of the block holding its object
            chip's centre, every other chip to the block holding its own centre (the split names of
            ``splits`` are then ignored; chips go to ``train`` and ``val``).

    Returns:
        A :class:`ChipReport`.

    Raises:
        ConfigError: when a class is named ``background`` (after sanitising) and background chips
            (``--background``, structured negatives, ``--negatives``) are asked for.
        InputError: when two scenes of a split would write chips with the same names, or the
            negatives file cannot be read.
    """
    names = tuple(str(n) for n in class_names)
    folders = class_folders(names)
    if cfg.with_background and BACKGROUND in {f.casefold() for f in folders.values()}:
        raise ConfigError(
            f"a class is named {BACKGROUND!r}, which background chips (--background, structured negatives, "
            "--negatives) need for themselves; use --no-structured-negatives"
        )
    if cfg.with_background:
        folders[BACKGROUND] = BACKGROUND

    if blocks is not None:  # one pool of scenes, every chip drawn by its block
        splits = {"train": [im for images in splits.values() for im in images], "val": []}
    check_unique_outputs(splits, _flat_stem, "chip names")
    report = ChipReport(cfg, folders, {s: Counter() for s in splits}, radiometry=radiometry, blocks=blocks)
    with output_dir(out) as od:
        return _write_chips(splits, Path(images_dir).resolve(), od, names, report, progress)


def _write_chips(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    od: OutputDir,
    names: tuple[str, ...],
    report: ChipReport,
    progress: Progress | None,
) -> ChipReport:
    """:func:`write_chips_dataset` inside an open output folder; records every file written."""
    cfg, folders = report.cfg, report.folders
    out = WorkerOutput.of(od, list(splits))
    sides = _background_sides(splits, cfg)
    per_class = tuple(folders[n] for n in names)
    hard, hard_summary = (
        ({}, {})
        if cfg.negatives is None
        else hard_negative_windows(splits, cfg.negatives, cfg.context, cfg.negatives_per_scene)
    )
    none = np.zeros((0, 4), np.int64)
    tasks = [
        _ChipTask(
            s, im, images_dir, out, cfg, per_class, names, sides, hard.get(im.file_name, none),
            report.radiometry, report.blocks,
        )
        for s, ims in splits.items()
        for im in ims
    ]
    report.hard_negatives = hard_summary
    rows: list[tuple] = []
    results = map_scenes(_chip_scene, tasks, cfg.workers, progress)
    recorded = record_results(od, out, list(splits), results, lambda r: [row[0] for row in r.rows])
    for task, result in zip(tasks, recorded, strict=True):
        rows.extend(result.rows)
        for split, counts in result.counts.items():
            report.counts.setdefault(split, Counter()).update(counts)
        report.background_requested[result.split] += cfg.background
        report.background_placed[result.split] += 0  # every split with scenes is listed
        report.background_placed.update(result.background_placed)
        report.kinds.update(result.kinds)
        report.nodata.update(result.nodata)
        report.scenes.update({result.split, *result.counts})
        report.boxes.update(result.boxes)
        report.drops.extend(result.drops)
        if result.error:
            report.unreadable[task.image.file_name] = result.error
    report.object_size_px = object_sizes(splits)
    write_csv(od.path("chips.csv"), rows)
    write_yaml(od.path("chips.yaml"), report, names)
    return report

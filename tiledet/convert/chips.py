"""Object and background chips for classifiers: an ImageFolder dataset ``OUT/{split}/{class_folder}/*.png``.

Chips are 8-bit RGB PNGs cut from the pixels the detectors see (:func:`tiledet.pixels.read_scene_rgb`:
16-bit scenes by their high byte, grey repeated, alpha dropped), so a classifier trains on the values
the sliding detector feeds it.

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
from tiledet.convert.scene_io import map_scenes, scene_seed, write_image
from tiledet.convert.write import WorkerOutput, check_unique_outputs, output_dir, record_results
from tiledet.errors import ConfigError, InputError
from tiledet.labels import Drop, ImageLabels
from tiledet.progress import Progress
from tiledet.scene import read_scene_rgb

if TYPE_CHECKING:
    from tiledet.convert.write import WorkerOutput
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


@dataclass(eq=False)
class _ChipResult:
    split: str
    rows: list[tuple] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    background_placed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    drops: list[Drop] = field(default_factory=list)
    error: str = ""


def _flat_stem(file_name: str) -> str:
    """Scene name without suffix, sub-folders joined with ``__`` (ImageFolder classes are flat)."""
    path = PurePosixPath(file_name)
    return "__".join([*path.parent.parts, path.stem]) if str(path.parent) != "." else path.stem


def _chip_scene(task: _ChipTask) -> _ChipResult:
    """Worker: read one scene, write its object and background chips, return the csv rows and counts."""
    image, cfg = task.image, task.cfg
    result = _ChipResult(task.split)
    path = task.images_dir / image.file_name
    try:  # the 8-bit pixels the models see (tiledet.pixels), in OpenCV's order for writing
        pixels = read_scene_rgb(path, bgr=True)
    except InputError as e:
        result.error = str(e)
        xyxy = image.boxes.xyxy
        result.drops = [
            Drop(
                image.file_name,
                f"box {i}",
                "unreadable_image",
                f"{e}; box xyxy {xyxy[i].round(3).tolist()}",
                image.file_name,
            )
            for i in range(len(image.boxes))
        ]
        return result
    stem = _flat_stem(image.file_name)
    windows = object_windows(image.boxes.xyxy, cfg.context)
    for i, (window, cls) in enumerate(zip(windows, image.boxes.class_ids.tolist(), strict=True)):
        chip = f"{task.split}/{task.folders[cls]}/{stem}__{i:05d}.png"
        write_image(task.out.path(chip), cut_chip(pixels, window, cfg.chip_size))
        box = [round(v, 3) for v in image.boxes.xyxy[i].tolist()]
        result.rows.append(
            (chip, task.split, task.class_names[cls], image.file_name, *box, *window.tolist(), "object")
        )
        result.counts[task.folders[cls]] += 1
    if cfg.jitter:
        _write_jitter(task, pixels, stem, result)
    if cfg.structured:
        negatives, owners, tags = structured_windows(image.boxes.xyxy, cfg.context, image.size_wh)
        names = [f"{stem}__{i:05d}_{tag}" for i, tag in zip(owners.tolist(), tags, strict=True)]
        _write_background(task, pixels, negatives, names, "structured", result)
    rng = np.random.default_rng(scene_seed(cfg.seed, image.file_name))
    background = background_windows(rng, image.size_wh, image.boxes.xyxy, task.bg_sides, cfg.background)
    _write_background(task, pixels, background, [f"{stem}__bg{j:03d}" for j in range(len(background))],
                      "background", result)  # fmt: skip
    result.background_placed = len(background)
    names = [f"{stem}__hn{j:03d}" for j in range(len(task.hard))]
    _write_background(task, pixels, task.hard, names, "hard_negative", result)
    return result


def _write_jitter(task: _ChipTask, pixels: np.ndarray, stem: str, result: _ChipResult) -> None:
    """Jittered object chips (``cfg.jitter`` per object), seeded per scene independently of background."""
    image, cfg = task.image, task.cfg
    rng = np.random.default_rng([*scene_seed(cfg.seed, image.file_name), 1])
    windows = jitter_windows(rng, image.boxes.xyxy, cfg.context, cfg.jitter)
    for j, window in enumerate(windows):
        i, cls = j // cfg.jitter, int(image.boxes.class_ids[j // cfg.jitter])
        chip = f"{task.split}/{task.folders[cls]}/{stem}__{i:05d}_j{j % cfg.jitter}.png"
        write_image(task.out.path(chip), cut_chip(pixels, window, cfg.chip_size))
        box = [round(v, 3) for v in image.boxes.xyxy[i].tolist()]
        result.rows.append(
            (chip, task.split, task.class_names[cls], image.file_name, *box, *window.tolist(), "jitter")
        )
        result.counts[task.folders[cls]] += 1
    result.kinds["jitter"] += len(windows)


def _write_background(
    task: _ChipTask, pixels: np.ndarray, windows: np.ndarray, names: list[str], kind: str, result: _ChipResult
) -> None:
    """Write background chips of ``windows`` named ``names`` and add their csv rows and counts."""
    for window, name in zip(windows, names, strict=True):
        chip = f"{task.split}/{BACKGROUND}/{name}.png"
        write_image(task.out.path(chip), cut_chip(pixels, window, task.cfg.chip_size))
        row = (chip, task.split, BACKGROUND, task.image.file_name, "", "", "", "", *window.tolist(), kind)
        result.rows.append(row)
    result.counts[BACKGROUND] += len(windows)
    result.kinds[kind] += len(windows)


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
) -> ChipReport:
    """Write object (and background) chips of every scene as ``OUT/{split}/{class_folder}/*.png``.

    A class folder exists in a split only when that split has chips of the class (``chips.yaml`` keeps
    the full class list and order). Scenes are processed one at a time per worker process, results
    gathered in scene order (output independent of ``cfg.workers``).
    A scene that cannot be read is skipped and each of its boxes reported as ``unreadable_image``.

    Args:
        splits: split name -> its scenes (boxes in scene pixels).
        images_dir: folder the scenes' ``file_name`` are relative to.
        out: output folder, or an open ``OutputDir``; also receives ``chips.yaml`` and ``chips.csv``.
        class_names: class names, index = class id.
        cfg: chip settings.
        progress: advanced by 1 after each scene (the caller starts the phase).

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

    check_unique_outputs(splits, _flat_stem, "chip names")

    with output_dir(out) as od:
        return _write_chips(splits, Path(images_dir).resolve(), od, names, folders, cfg, progress)


def _write_chips(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    od: OutputDir,
    names: tuple[str, ...],
    folders: dict[str, str],
    cfg: ChipConfig,
    progress: Progress | None,
) -> ChipReport:
    """:func:`write_chips_dataset` inside an open output folder; records every file written."""

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
        _ChipTask(s, im, images_dir, out, cfg, per_class, names, sides, hard.get(im.file_name, none))
        for s, ims in splits.items()
        for im in ims
    ]
    report = ChipReport(cfg, folders, {s: Counter() for s in splits}, hard_negatives=hard_summary)
    rows: list[tuple] = []
    results = map_scenes(_chip_scene, tasks, cfg.workers, progress)
    recorded = record_results(od, out, list(splits), results, lambda r: [row[0] for row in r.rows])
    for task, result in zip(tasks, recorded, strict=True):
        rows.extend(result.rows)
        report.counts[result.split].update(result.counts)
        report.background_requested[result.split] += cfg.background
        report.background_placed[result.split] += result.background_placed
        report.kinds.update(result.kinds)
        report.drops.extend(result.drops)
        if result.error:
            report.unreadable[task.image.file_name] = result.error
    report.object_size_px = object_sizes(splits)
    write_csv(od.path("chips.csv"), rows)
    write_yaml(od.path("chips.yaml"), report, names)
    return report

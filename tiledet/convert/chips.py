"""Object and background chips for classifiers: an ImageFolder dataset ``OUT/{split}/{class_folder}/*.png``.

Every object gets one square chip centred on its box, of side ``round(max(w, h) * (1 + context))``
scene pixels, resized to ``chip_size``² (``cv2.INTER_AREA`` when shrinking, ``INTER_LINEAR`` when
growing), so every object fills the same fraction of its chip. Where the chip window reaches beyond
the scene, the missing pixels are filled with the per-channel mean of the visible part of the window
(constant padding: no mirrored copies of objects appear at the border).

``background`` chips per scene are drawn at uniform random positions, fully inside the scene, with
sides drawn from the dataset's object chip sides (their 257 quantiles; ``[chip_size, 4 * chip_size]``
when the dataset has no objects), capped at the scene's shorter side. A candidate is kept only when its
IoU with every box of the scene is below ``chip_geometry.BACKGROUND_MAX_IOU`` (0.1); at most
``chip_geometry.BACKGROUND_TRIES`` (50) candidates per requested chip are tried; the report says how
many were placed.

``OUT/chips.yaml`` records chip_size, context, seed, the class names (+ ``background``), the class ->
folder mapping and the counts; ``OUT/chips.csv`` maps every chip to its scene, box and window.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from tiledet.convert.chip_geometry import (
    background_windows,
    class_folders,
    cut_chip,
    object_windows,
)
from tiledet.convert.scene_io import (
    UnreadableImage,
    check_encodable,
    map_scenes,
    read_scene,
    scene_seed,
    write_image,
)
from tiledet.errors import ConfigError, InputError
from tiledet.ioutil import atomic_write_text
from tiledet.labels import Drop, ImageLabels

BACKGROUND = "background"
CSV_COLUMNS = (
    "chip", "split", "class", "scene", "box_x0", "box_y0", "box_x1", "box_y1",
    "window_x0", "window_y0", "window_x1", "window_y1", "kind",
)  # fmt: skip


@dataclass(frozen=True)
class ChipConfig:
    """How chips are cut.

    Attributes:
        chip_size: side of every written chip in pixels (> 0).
        context: margin around the object: chip window side = longer box side × (1 + context); >= 0.
        background: background chips requested per scene (>= 0).
        seed: seed of the background draws (per scene, independent of ``workers``).
        workers: worker processes (>= 0); 0 means ``os.cpu_count()``.
    """

    chip_size: int = 64
    context: float = 0.5
    background: int = 0
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        def whole(value: object) -> bool:
            return (
                not isinstance(value, bool)
                and isinstance(value, (int, np.integer, float))
                and int(value) == value
            )

        if not whole(self.chip_size) or self.chip_size <= 0:
            raise ConfigError(
                f"chip_size (--chip-size) must be a positive whole number of pixels, got {self.chip_size!r}"
            )
        if not np.isfinite(self.context) or self.context < 0:
            raise ConfigError(f"context (--context) must be >= 0, got {self.context!r}")
        if not whole(self.background) or self.background < 0:
            raise ConfigError(
                f"background (--background) must be a whole number >= 0, got {self.background!r}"
            )
        if not whole(self.workers) or self.workers < 0:
            raise ConfigError(f"workers (--workers) must be a whole number >= 0, got {self.workers!r}")
        if not whole(self.seed):
            raise ConfigError(f"seed (--seed) must be a whole number, got {self.seed!r}")
        for name in ("chip_size", "background", "workers", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))


@dataclass(frozen=True)
class _ChipTask:
    split: str
    image: ImageLabels
    images_dir: Path
    out: Path
    cfg: ChipConfig
    folders: tuple[str, ...]  # folder of each class index
    class_names: tuple[str, ...]
    bg_sides: np.ndarray  # background chip sides to draw from (px)


@dataclass(eq=False)
class _ChipResult:
    split: str
    rows: list[tuple] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    background_placed: int = 0
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
    try:
        pixels = read_scene(path, image.size_wh)
        check_encodable(pixels, ".png", path)
    except UnreadableImage as e:
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
        write_image(task.out / chip, cut_chip(pixels, window, cfg.chip_size))
        box = [round(v, 3) for v in image.boxes.xyxy[i].tolist()]
        result.rows.append(
            (chip, task.split, task.class_names[cls], image.file_name, *box, *window.tolist(), "object")
        )
        result.counts[task.folders[cls]] += 1
    rng = np.random.default_rng(scene_seed(cfg.seed, image.file_name))
    background = background_windows(rng, image.size_wh, image.boxes.xyxy, task.bg_sides, cfg.background)
    for j, window in enumerate(background):
        chip = f"{task.split}/{BACKGROUND}/{stem}__bg{j:03d}.png"
        write_image(task.out / chip, cut_chip(pixels, window, cfg.chip_size))
        result.rows.append(
            (chip, task.split, BACKGROUND, image.file_name, "", "", "", "", *window.tolist(), "background")
        )
    result.counts[BACKGROUND] += len(background)
    result.background_placed = len(background)
    return result


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
    """

    cfg: ChipConfig
    folders: dict[str, str]
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    background_requested: Counter[str] = field(default_factory=Counter)
    background_placed: Counter[str] = field(default_factory=Counter)
    drops: list[Drop] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

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
            "drops_by_reason": dict(Counter(d.reason for d in self.drops)),
            "unreadable_scenes": dict(self.unreadable),
        }


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
    out: Path,
    class_names: Sequence[str],
    cfg: ChipConfig,
    progress: Callable[[int], None] | None = None,
) -> ChipReport:
    """Write object (and background) chips of every scene as ``OUT/{split}/{class_folder}/*.png``.

    Every class folder (and ``background`` when ``cfg.background > 0``) exists in every split, even
    when empty, so ImageFolder loaders see the same classes in each split. Scenes are processed one at a
    time per worker process, results gathered in scene order (output independent of ``cfg.workers``).
    A scene that cannot be read is skipped and each of its boxes reported as ``unreadable_image``.

    Args:
        splits: split name -> its scenes (boxes in scene pixels).
        images_dir: folder the scenes' ``file_name`` are relative to.
        out: output folder; also receives ``chips.yaml`` and ``chips.csv``.
        class_names: class names, index = class id.
        cfg: chip settings.
        progress: called with the number of scenes just finished.

    Returns:
        A :class:`ChipReport`.

    Raises:
        ConfigError: when a class is named ``background`` (after sanitising) and background chips are
            asked for.
        InputError: when two scenes of a split would write chips with the same names.
    """
    names = tuple(str(n) for n in class_names)
    folders = class_folders(names)
    if cfg.background > 0 and BACKGROUND in {f.casefold() for f in folders.values()}:
        raise ConfigError(f"a class is named {BACKGROUND!r}, which --background chips need for themselves")
    if cfg.background > 0:
        folders[BACKGROUND] = BACKGROUND
    from tiledet.convert.write import check_unique_outputs

    check_unique_outputs(splits, _flat_stem, "chip names")
    images_dir, out = Path(images_dir).resolve(), Path(out)
    try:
        for split in splits:
            for folder in folders.values():
                (out / split / folder).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the chip folders ({e})") from e
    sides = _background_sides(splits, cfg)
    per_class = tuple(folders[n] for n in names)
    tasks = [
        _ChipTask(s, im, images_dir, out, cfg, per_class, names, sides)
        for s, ims in splits.items()
        for im in ims
    ]
    report = ChipReport(cfg, folders, {s: Counter() for s in splits})
    rows: list[tuple] = []
    for task, result in zip(tasks, map_scenes(_chip_scene, tasks, cfg.workers, progress), strict=True):
        rows.extend(result.rows)
        report.counts[result.split].update(result.counts)
        report.background_requested[result.split] += cfg.background
        report.background_placed[result.split] += result.background_placed
        report.drops.extend(result.drops)
        if result.error:
            report.unreadable[task.image.file_name] = result.error
    _write_csv(out / "chips.csv", rows)
    _write_yaml(out / "chips.yaml", report, names)
    return report


def _write_csv(path: Path, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _write_yaml(path: Path, report: ChipReport, class_names: tuple[str, ...]) -> None:
    import yaml

    summary = report.to_dict()
    with_bg = BACKGROUND in report.folders and report.cfg.background > 0
    data = {
        "chip_size": report.cfg.chip_size,
        "context": report.cfg.context,
        "seed": report.cfg.seed,
        "background_per_scene": report.cfg.background,
        "padding": "constant: per-channel mean of the visible part of the chip window",
        "class_names": [*class_names, BACKGROUND] if with_bg else list(class_names),
        "class_folders": summary["class_folders"],
        "counts": summary["counts"],
        "background_requested": summary["background_requested"],
        "background_placed": summary["background_placed"],
    }
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))

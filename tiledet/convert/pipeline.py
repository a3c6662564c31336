"""``tiledet convert``: labels of any supported format -> a YOLO, COCO, tiled or chips dataset.

Steps: detect the format, read and resolve the labels (class map, image sizes from headers,
clipping, drops), split by source image (see :mod:`tiledet.convert.split`), write the dataset, and
write ``OUT/report.json`` (see :mod:`tiledet.convert.report`). Re-running into the same ``OUT`` gives
identical files; files of a previous run that this run does not produce are removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiledet.convert.report import IMAGE_LOCATION, ConvertReport
from tiledet.errors import ConfigError, FormatError, InputError
from tiledet.formats import READERS
from tiledet.ioutil import atomic_write_json
from tiledet.labels import Drop, ImageLabels

if TYPE_CHECKING:
    from tiledet.convert.load import LoadResult

#: Output kinds of ``--to``.
OUTPUT_KINDS = ("yolo", "coco", "chips")
#: Roles a ``--csv-columns`` override may name.
CSV_ROLES = frozenset({"image", "xmin", "ymin", "xmax", "ymax", "bounds", "class"})

Splits = Mapping[str, list[ImageLabels]]
Advance = Callable[[int], None]


@dataclass(frozen=True)
class ConvertConfig:
    """Everything one conversion needs.

    Attributes:
        src: label source (file or folder).
        images_dir: folder the labels' image names are relative to.
        out: output folder.
        fmt: source format, a key of ``tiledet.formats.READERS`` or ``"auto"`` (detect).
        to: ``"yolo"``, ``"coco"`` or ``"chips"``.
        classes: ``"xview"``, a class file, or None (the default of ``load.class_map_for``).
        val_fraction: share of source images in the validation split, ``[0, 1)``.
        seed: seed of the split (and of tiling/chips sampling when their configs keep seed 0).
        copy: copy images instead of symlinking them.
        strict: the first problem (malformed record, unknown class, missing or unreadable image,
            degenerate box) is an error instead of a reported drop.
        csv_columns: CSV column override, role -> header name.
        tile: tiling options; None writes whole images.
        chips: chips options for ``to="chips"`` (None uses ``ChipConfig()`` defaults).
        workers: worker processes for tiling/chips when their own ``workers`` is 0 (0 = CPU count).
    """

    src: Path
    images_dir: Path
    out: Path
    fmt: str = "auto"
    to: str = "yolo"
    classes: str | None = None
    val_fraction: float = 0.2
    seed: int = 0
    copy: bool = False
    strict: bool = False
    csv_columns: Mapping[str, str] = field(default_factory=dict)
    tile: Any | None = None
    chips: Any | None = None
    workers: int = 0

    def __post_init__(self) -> None:
        for name in ("src", "images_dir", "out"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        object.__setattr__(self, "csv_columns", dict(self.csv_columns))
        if self.fmt != "auto" and self.fmt not in READERS:
            raise ConfigError(f"--from must be auto or one of {', '.join(READERS)}, got {self.fmt!r}")
        if self.to not in OUTPUT_KINDS:
            raise ConfigError(f"--to must be one of {', '.join(OUTPUT_KINDS)}, got {self.to!r}")
        if not (0.0 <= float(self.val_fraction) < 1.0):
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be >= 0 (0 = CPU count), got {self.workers}")
        unknown = set(self.csv_columns) - CSV_ROLES
        if unknown:
            raise ConfigError(
                f"--csv-columns: unknown role(s) {', '.join(sorted(unknown))}; roles are "
                f"{', '.join(sorted(CSV_ROLES))}"
            )
        if self.tile is not None and self.to == "chips":
            raise ConfigError("--tile cannot be combined with --to chips")
        if self.chips is not None and self.to != "chips":
            raise ConfigError("chip options (--chip-size, --context, --background) need --to chips")
        if self.classes is not None and not str(self.classes).strip():
            raise ConfigError("--classes must be 'xview' or a class file path")
        if self.out.resolve() == self.images_dir.resolve():
            raise ConfigError(f"--out must differ from --images ({self.out})")


def _check_inputs(cfg: ConvertConfig) -> None:
    """One-line errors for a missing label source, missing image folder or empty label file."""
    if not cfg.src.exists():
        raise InputError(f"{cfg.src}: label source not found")
    if cfg.src.is_file() and cfg.src.stat().st_size == 0:
        raise InputError(f"{cfg.src}: label file is empty")
    if not cfg.images_dir.is_dir():
        raise InputError(f"{cfg.images_dir}: image folder not found")


def _load(cfg: ConvertConfig, fmt: str) -> LoadResult:
    """Read and resolve the labels (:func:`tiledet.convert.load.load_labels`: one-line errors)."""
    from tiledet.convert.load import load_labels

    return load_labels(
        cfg.src, fmt, cfg.images_dir, cfg.classes, strict=cfg.strict, csv_columns=cfg.csv_columns
    )


def _detect(cfg: ConvertConfig) -> str:
    from tiledet.convert.load import source_format

    return source_format(cfg.src, cfg.fmt)


def _check_loaded(cfg: ConvertConfig, result: LoadResult) -> None:
    """Reject empty input, input where no image could be used, and (strict) any drop."""
    if cfg.strict and result.drops:
        first = result.drops[0]
        detail = f"{first.reason}: {first.detail}" if first.detail else first.reason
        raise FormatError(first.source, first.location, detail)
    if not result.dataset.images:
        if result.input_boxes == 0 and not result.drops:
            raise InputError(f"{cfg.src}: no labels found (empty input)")
        raise InputError(
            f"{cfg.src}: none of the images named in the labels could be used under {cfg.images_dir} "
            f"({len(result.drops)} drops, first: {result.drops[0].reason} {result.drops[0].detail})"
        )


@contextlib.contextmanager
def _progress(show: bool, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A ``rich`` progress bar on stderr; yields ``advance(n)``."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _split_dataset(result: LoadResult, cfg: ConvertConfig) -> dict[str, list[ImageLabels]]:
    from tiledet.convert.split import split_images

    return split_images(result.dataset.images, cfg.val_fraction, cfg.seed)


def convert(cfg: ConvertConfig, show_progress: bool = True) -> ConvertReport:
    """Run one conversion and write ``cfg.out/report.json``.

    Args:
        cfg: the conversion options.
        show_progress: draw a progress bar on stderr.

    Returns:
        The report (also written as ``report.json``).

    Raises:
        InputError: missing source or image folder, empty or unreadable labels, unknown format.
        FormatError: in strict mode, the first problem, naming its file and line/feature.
    """
    _check_inputs(cfg)
    fmt = _detect(cfg)
    if show_progress:
        from rich.console import Console

        with Console(stderr=True).status(f"reading {fmt} labels from {cfg.src}"):
            result = _load(cfg, fmt)
    else:
        result = _load(cfg, fmt)
    _check_loaded(cfg, result)
    splits = _split_dataset(result, cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    class_names = tuple(result.dataset.class_names)
    total = len(result.dataset.images)
    with _progress(show_progress, f"writing {cfg.to}", total) as advance:
        if cfg.to == "chips":
            extra = _write_chips(cfg, splits, class_names, advance)
        elif cfg.tile is not None:
            extra = _write_tiles(cfg, splits, class_names, advance)
        else:
            extra = _write_plain(cfg, splits, class_names, advance)
    if extra is not None:
        _check_unreadable_scenes(cfg, extra)
    report = _make_report(cfg, fmt, result, splits, extra)
    atomic_write_json(cfg.out / "report.json", report.to_dict())
    return report


def _write_plain(cfg: ConvertConfig, splits: Splits, class_names: tuple[str, ...], advance: Advance) -> None:
    from tiledet.convert.write import remove_stale, remove_top_level, write_plain_dataset

    if (cfg.out / "chips.yaml").is_file():  # a previous chips run: its class folders are stale
        remove_stale(cfg.out, (), ("train", "val"))
    written = write_plain_dataset(splits, cfg.images_dir, cfg.out, class_names, cfg.to, cfg.copy, advance)
    if cfg.to == "yolo":
        written.add(_write_yaml(cfg.out, splits, class_names))
    remove_stale(cfg.out, written)
    remove_top_level(cfg.out, ["data.yaml"] if cfg.to == "yolo" else [])


def _write_yaml(out: Path, splits: Splits, class_names: tuple[str, ...]) -> Path:
    """``data.yaml``; with no validation images, ``val`` points at the train images."""
    from tiledet.formats.yolo import write_data_yaml

    folders = {split: f"images/{split}" for split in splits}
    if not splits.get("val"):
        folders["val"] = "images/train"
    return write_data_yaml(out, folders, list(class_names))


def _with_workers(sub_cfg: Any, workers: int) -> Any:
    if workers and getattr(sub_cfg, "workers", 0) == 0:
        return replace(sub_cfg, workers=workers)
    return sub_cfg


def _write_tiles(cfg: ConvertConfig, splits: Splits, class_names: tuple[str, ...], advance: Advance) -> Any:
    from tiledet.convert.tiling import write_tiled_dataset
    from tiledet.convert.write import clear_outputs

    clear_outputs(cfg.out)
    tile_cfg = _with_workers(cfg.tile, cfg.workers)
    report = write_tiled_dataset(splits, cfg.images_dir, cfg.out, class_names, tile_cfg, cfg.to, advance)
    if cfg.to == "yolo":
        _write_yaml(cfg.out, splits, class_names)
    return report


def _write_chips(cfg: ConvertConfig, splits: Splits, class_names: tuple[str, ...], advance: Advance) -> Any:
    from tiledet.convert.chips import ChipConfig, write_chips_dataset
    from tiledet.convert.write import clear_outputs

    clear_outputs(cfg.out)
    chip_cfg = _with_workers(cfg.chips if cfg.chips is not None else ChipConfig(seed=cfg.seed), cfg.workers)
    return write_chips_dataset(splits, cfg.images_dir, cfg.out, class_names, chip_cfg, advance)


def _check_unreadable_scenes(cfg: ConvertConfig, extra: Any) -> None:
    """Strict mode: a scene whose header was fine but whose pixels could not be read is an error."""
    unreadable = getattr(extra, "unreadable", {})
    if cfg.strict and unreadable:
        name, why = next(iter(unreadable.items()))
        raise FormatError(str(cfg.images_dir / name), "", f"unreadable_image: {why}")


def _scene_drops(extra: Any) -> list[Drop]:
    """Tiling/chips drops plus one image-level record per unreadable scene that had no boxes."""
    drops = list(extra.drops)
    with_boxes = {d.image for d in drops}
    for name, why in getattr(extra, "unreadable", {}).items():
        if name not in with_boxes:
            drops.append(Drop(name, IMAGE_LOCATION, "unreadable_image", why, name))
    return drops


def _make_report(
    cfg: ConvertConfig,
    fmt: str,
    result: LoadResult,
    splits: Splits,
    extra: Any,
) -> ConvertReport:
    """Assemble the report; tiling/chips drops (boxes kept nowhere) join the load drops."""
    drops = list(result.drops)
    kept = result.dataset.num_boxes
    extra_dict = None
    if extra is not None:
        drops.extend(_scene_drops(extra))
        kept -= len(extra.drops)
        extra_dict = extra.to_dict()
    return ConvertReport(
        fmt=fmt,
        to=cfg.to,
        class_names=tuple(result.dataset.class_names),
        input_boxes=result.input_boxes,
        written_boxes=kept,
        drops=drops,
        images_per_split={split: len(images) for split, images in splits.items()},
        boxes_per_split={split: sum(len(im.boxes) for im in images) for split, images in splits.items()},
        tiling=extra_dict if cfg.tile is not None else None,
        chips=extra_dict if cfg.to == "chips" else None,
        out=cfg.out,
        tiled=cfg.tile is not None,
    )

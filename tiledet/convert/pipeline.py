"""``tiledet convert``: labels of any supported format -> a YOLO, COCO, tiled or chips dataset.

Steps: detect the format, read and resolve the labels (class map, image sizes from headers,
clipping, drops), split by source image (see :mod:`tiledet.convert.split`), write the dataset, and
write ``OUT/report.json`` last (see :mod:`tiledet.convert.report`). ``OUT`` is a
:class:`tiledet.outdir.OutputDir`: refused when it overlaps the inputs or holds files tiledet did not
write (unless ``force``); re-running into it gives identical files, and files listed in the previous
run's manifest that this run does not produce are removed (nothing else is ever touched).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tiledet.convert.blocks import BlockSplit, check_georeferenced
from tiledet.convert.chips import write_chips_dataset
from tiledet.convert.config import ChipConfig, ConvertConfig
from tiledet.convert.report import IMAGE_LOCATION, ConvertReport
from tiledet.convert.split import kept_splits, split_images
from tiledet.convert.tiling import write_tiled_dataset
from tiledet.convert.write import check_unique_outputs, label_relpath, output_relpath, write_plain_dataset
from tiledet.errors import ConfigError, FormatError, InputError
from tiledet.formats.layout import declared_images_dir
from tiledet.formats.yolo import write_data_yaml
from tiledet.label_records import INTENDED_DROPS, Drop, ImageLabels
from tiledet.labels.load import load_labels, source_format
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, as_progress

if TYPE_CHECKING:
    from tiledet.convert.chips import ChipReport
    from tiledet.convert.config import TileConfig
    from tiledet.convert.tiling import TileReport
    from tiledet.labels.load import LoadResult

Splits = Mapping[str, list[ImageLabels]]
_SubConfig = TypeVar("_SubConfig", "TileConfig", "ChipConfig")


def _class_file(cfg: ConvertConfig) -> Path | None:
    """The ``--classes`` file, when one is given (an input like the others)."""
    return Path(cfg.classes) if cfg.classes not in (None, "xview") else None


def _check_inputs(cfg: ConvertConfig) -> None:
    """One-line errors for a missing label source, missing image folder or empty label file."""
    if not cfg.src.exists():
        raise InputError(f"{cfg.src}: label source not found")
    if cfg.src.is_file() and cfg.src.stat().st_size == 0:
        raise InputError(f"{cfg.src}: label file is empty")
    if not cfg.images_dir.is_dir():
        raise InputError(f"{cfg.images_dir}: image folder not found")


def _load(cfg: ConvertConfig, fmt: str) -> LoadResult:
    """Read and resolve the labels (:func:`tiledet.labels.load.load_labels`: one-line errors)."""

    return load_labels(
        cfg.src, fmt, cfg.images_dir, cfg.classes, strict=cfg.strict, csv_columns=cfg.csv_columns,
        skip_difficult=cfg.skip_difficult, geo=cfg.geo,
    )


def _detect(cfg: ConvertConfig) -> str:

    return source_format(cfg.src, cfg.fmt)


def _check_loaded(cfg: ConvertConfig, result: LoadResult) -> None:
    """Reject empty input, input where no image could be used, and (strict) any drop."""
    problems = [d for d in result.drops if d.reason not in INTENDED_DROPS]
    if cfg.strict and problems:
        first = problems[0]
        detail = f"{first.reason}: {first.detail}" if first.detail else first.reason
        raise FormatError(first.source, first.location, detail)
    if not result.dataset.images:
        if result.input_boxes == 0 and not result.drops:
            raise InputError(f"{cfg.src}: no labels found (empty input)")
        raise InputError(
            f"{cfg.src}: none of the images named in the labels could be used under {cfg.images_dir} "
            f"({len(result.drops)} drops, first: {result.drops[0].reason} {result.drops[0].detail})"
        )


def _split_dataset(result: LoadResult, cfg: ConvertConfig) -> dict[str, list[ImageLabels]]:
    """The source's own splits (``split="keep"``, the default when it declares some), else random;
    ``split="blocks"``: every image in ``train`` for now, its tiles or chips drawn by block later."""
    if cfg.split == "blocks":
        return {"train": sorted(result.dataset.images, key=lambda im: im.file_name), "val": []}

    if cfg.split == "keep" and not result.image_splits:
        raise ConfigError(
            f"split=keep: {cfg.src} declares no train/val splits; use split=random", field="split"
        )
    if cfg.split == "keep" or (cfg.split is None and result.image_splits):
        return kept_splits(result.dataset.images, result.image_splits)
    return split_images(result.dataset.images, cfg.val_fraction, cfg.seed)


def _with_images_dir(cfg: ConvertConfig) -> ConvertConfig:
    """``cfg`` with ``images_dir`` filled from the source's own layout when it was not given."""
    if cfg.images_dir is not None:
        return cfg

    found = declared_images_dir(cfg.src)
    if found is None:
        raise ConfigError(
            f"images_dir is needed: {cfg.src} does not say where its images are", field="images_dir"
        )
    return replace(cfg, images_dir=found)


def convert(cfg: ConvertConfig, progress: Progress | None = None) -> ConvertReport:
    """Run one conversion and write ``cfg.out/report.json`` (``tiledet.convert_labels``). Prints nothing.

    Args:
        cfg: the conversion options.
        progress: two phases: ``reading {fmt} labels`` (total None), then ``writing {to}`` (one item
            per source image); closed at the end.

    Returns:
        The report (also written as ``report.json``).

    Raises:
        InputError: missing source or image folder, empty or unreadable labels, unknown format; no
            box written at all from a non-empty input (``report.json`` is written first).
        FormatError: in strict mode, the first problem, naming its file and line/feature.
        ConfigError: ``out`` overlaps the source or the images folder, or is a non-empty folder not
            written by tiledet (without ``force``); absurd tile counts.
    """
    progress = as_progress(progress)
    try:
        return _convert(cfg, progress)
    finally:
        progress.close()


def _convert(cfg: ConvertConfig, progress: Progress) -> ConvertReport:
    """:func:`convert` with its progress (closed by the caller)."""
    cfg = _with_images_dir(cfg)
    _check_inputs(cfg)
    negatives = cfg.chips.negatives if cfg.chips is not None else None
    od = OutputDir(cfg.out, command="convert", force=cfg.force,
                   sources=[cfg.src, cfg.images_dir, negatives, _class_file(cfg)])
    od.check_target()  # before reading: fail fast, write nothing
    fmt = _detect(cfg)
    progress.start(f"reading {fmt} labels", None)
    result = _load(cfg, fmt)
    _check_loaded(cfg, result)
    splits = _split_dataset(result, cfg)
    _check_outputs(cfg, splits)
    if cfg.block_size is not None and cfg.block_size.unit == "m":
        check_georeferenced([cfg.images_dir / im.file_name for ims in splits.values() for im in ims])
    progress.start(f"writing {cfg.to}", len(result.dataset.images))
    with od:  # the manifest says "incomplete" until this block ends normally
        od.remove("report.json")  # an interrupted run must not leave the previous report behind
        report = _write(cfg, od, fmt, result, splits, progress)
    _check_written(cfg, report)
    return report


def _check_outputs(cfg: ConvertConfig, splits: Splits) -> None:
    """Before anything is written: no two images write the same file, tile counts within limits.

    (The writers check names again for library callers; here it happens before ``OUT`` is touched.)
    """

    if cfg.to == "chips":
        from tiledet.convert.chips import _flat_stem

        check_unique_outputs(splits, _flat_stem, "chip names")
    elif cfg.tile is not None:
        from tiledet.convert.tile_geometry import check_tile_count
        from tiledet.convert.tiling import tile_file_name

        check_unique_outputs(splits, lambda name: tile_file_name(name, 0, 0), "tile names")
        sizes = [im.size_wh for images in splits.values() for im in images]
        check_tile_count(sizes, cfg.tile.tile, cfg.tile.overlap)
    else:
        check_unique_outputs(splits, output_relpath, "image")
        if cfg.to == "yolo":
            check_unique_outputs(splits, label_relpath, "label file")


def _write(
    cfg: ConvertConfig, od: OutputDir, fmt: str, result: LoadResult, splits: Splits, progress: Progress
) -> ConvertReport:
    """Write the dataset, remove stale files of the previous run, then write ``report.json`` last."""
    class_names = tuple(result.dataset.class_names)
    extra: TileReport | ChipReport | None
    if cfg.to == "chips":
        extra = _write_chips(cfg, od, splits, class_names, progress)
    elif cfg.tile is not None:
        extra = _write_tiles(cfg, od, cfg.tile, splits, class_names, progress)
    else:
        extra = _write_plain(cfg, od, splits, class_names, progress)
    od.remove_stale()  # only files the previous run's manifest lists
    if extra is not None:
        _check_unreadable_scenes(cfg, extra)
    report = _make_report(cfg, fmt, result, splits, extra)
    od.write_json("report.json", report.to_dict())
    return report


def _check_written(cfg: ConvertConfig, report: ConvertReport) -> None:
    """A run that wrote no box at all from an input that had boxes is a failure, not a success.

    Boxes left out on purpose (:data:`~tiledet.labels.INTENDED_DROPS`: VisDrone ignored regions, DOTA
    difficult boxes with ``skip_difficult``) do not count as boxes the input had.
    """
    intended = sum(n for reason, n in report.dropped.items() if reason in INTENDED_DROPS)
    if report.input_boxes - intended > 0 and report.written_boxes == 0:
        reasons = ", ".join(f"{n} {r}" for r, n in report.dropped.items() if n) or "none"
        raise InputError(
            f"{cfg.src}: no box was written: all {report.input_boxes} input boxes were dropped "
            f"({reasons}); see {cfg.out / 'report.json'}"
        )


def _write_plain(
    cfg: ConvertConfig, od: OutputDir, splits: Splits, class_names: tuple[str, ...], progress: Progress
) -> None:

    write_plain_dataset(splits, cfg.images_dir, od, class_names, cfg.to, cfg.copy, progress)
    if cfg.to == "yolo":
        _write_yaml(od, splits, class_names)


def _write_yaml(od: OutputDir, splits: Mapping[str, list | int], class_names: tuple[str, ...]) -> Path:
    """``data.yaml``; with no validation images (``splits``: split -> its images, or their count),
    ``val`` points at the train images."""

    folders = {split: f"images/{split}" for split in splits}
    if not splits.get("val"):
        folders["val"] = "images/train"
    od.path("data.yaml")  # checked and recorded; written by write_data_yaml
    return write_data_yaml(od.root, folders, list(class_names))


def _with_workers(sub_cfg: _SubConfig, workers: int) -> _SubConfig:
    if workers and sub_cfg.workers == 0:
        return replace(sub_cfg, workers=workers)
    return sub_cfg


def _write_tiles(
    cfg: ConvertConfig,
    od: OutputDir,
    tile: TileConfig,
    splits: Splits,
    class_names: tuple[str, ...],
    progress: Progress,
) -> TileReport:

    tile_cfg = _with_workers(tile, cfg.workers)
    report = write_tiled_dataset(splits, cfg.images_dir, od, class_names, tile_cfg, cfg.to, progress,
                                 radiometry=cfg.radiometry, blocks=_blocks(cfg))  # fmt: skip
    if cfg.to == "yolo":
        written = {s: c["tiles"] for s, c in report.splits.items()} if cfg.split == "blocks" else splits
        _write_yaml(od, written, class_names)
    return report


def _blocks(cfg: ConvertConfig) -> BlockSplit | None:
    """The spatial split of ``split="blocks"``, else None."""
    if cfg.block_size is None:
        return None
    return BlockSplit(cfg.block_size, cfg.val_fraction, cfg.seed)


def _write_chips(
    cfg: ConvertConfig, od: OutputDir, splits: Splits, class_names: tuple[str, ...], progress: Progress
) -> ChipReport:

    chip_cfg = _with_workers(cfg.chips if cfg.chips is not None else ChipConfig(seed=cfg.seed), cfg.workers)
    return write_chips_dataset(splits, cfg.images_dir, od, class_names, chip_cfg, progress,
                               radiometry=cfg.radiometry, blocks=_blocks(cfg))  # fmt: skip


def _check_unreadable_scenes(cfg: ConvertConfig, extra: TileReport | ChipReport) -> None:
    """Strict mode: a scene whose header was fine but whose pixels could not be read is an error."""
    unreadable = getattr(extra, "unreadable", {})
    if cfg.strict and unreadable:
        name, why = next(iter(unreadable.items()))
        raise FormatError(str(cfg.images_dir / name), "", f"unreadable_image: {why}")


def _scene_drops(extra: TileReport | ChipReport) -> list[Drop]:
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
    extra: TileReport | ChipReport | None,
) -> ConvertReport:
    """Assemble the report; tiling/chips drops (boxes kept nowhere) join the load drops."""
    drops = list(result.drops)
    kept = result.dataset.num_boxes
    extra_dict = None
    if extra is not None:
        drops.extend(_scene_drops(extra))
        kept -= len(extra.drops)
        extra_dict = extra.to_dict()
    images_per_split = {split: len(images) for split, images in splits.items()}
    boxes_per_split = {split: sum(len(im.boxes) for im in images) for split, images in splits.items()}
    if cfg.split == "blocks" and extra is not None:  # where the tiles or chips went
        images_per_split, boxes_per_split = extra.placed()
    return ConvertReport(
        fmt=fmt,
        to=cfg.to,
        class_names=tuple(result.dataset.class_names),
        input_boxes=result.input_boxes,
        written_boxes=kept,
        drops=drops,
        images_per_split=images_per_split,
        boxes_per_split=boxes_per_split,
        tiling=extra_dict if cfg.tile is not None else None,
        chips=extra_dict if cfg.to == "chips" else None,
        out=cfg.out,
        tiled=cfg.tile is not None,
        notes=dict(result.notes),
    )

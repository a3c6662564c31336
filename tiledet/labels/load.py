"""From a label source to a :class:`~tiledet.labels.LabeledDataset`, accounting for every box.

Box semantics (also in the README): boxes are clipped to ``[0, W] x [0, H]``; a box whose clipped
width or height is below 1 px is dropped as ``degenerate``; a box with a coordinate more than one image
size outside the image (beyond ``[-W, 2W] x [-H, 2H]``) is dropped as ``out_of_bounds``; image sizes
come from image headers. Image names are made safe first (:func:`safe_names`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.boxes import Boxes
from tiledet.errors import ConfigError, FormatError, InputError, TiledetError
from tiledet.formats import READERS, XVIEW_FORMATS, ReadOptions, get_reader
from tiledet.formats.geo_options import GeoOptions, check_geo_options
from tiledet.label_records import INTENDED_DROPS, Drop, ImageLabels, LabeledDataset, RawLabels
from tiledet.labels.classes import ClassMap
from tiledet.labels.names import UnsafeName, safe_image_name
from tiledet.scene import scene_size

#: Boxes whose clipped width or height is below this many pixels are dropped as ``degenerate``.
MIN_SIDE_PX = 1.0


@dataclass(frozen=True)
class LoadResult:
    """A resolved dataset and everything that did not make it in.

    Attributes:
        dataset: images with clipped boxes and the class names.
        drops: one record per dropped box (or unparseable record, or missing box-less image).
        input_boxes: boxes (and malformed records) found in the source.
        fmt: the source format read (detected when asked for ``"auto"``); empty when not known.
        image_splits: ``file_name -> split`` of the usable images, for sources that declare their
            splits (a YOLO ``data.yaml``); empty otherwise.
        notes: the reader's findings that are no drop (:attr:`RawLabels.notes`), by topic.
    """

    dataset: LabeledDataset
    drops: list[Drop]
    input_boxes: int
    fmt: str = ""
    image_splits: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def class_map_for(raw: RawLabels, fmt: str, classes: str | None) -> ClassMap:
    """Choose the class map: ``classes`` (``"xview"`` or a file path) or the source's own classes.

    Without ``classes``: xView formats use the xView map; sources that declare class names (COCO,
    YOLO) use them; integer keys without names become classes "0".."K-1"; otherwise (DOTA, CSV
    with names) the sorted distinct names found.
    """
    if classes == "xview" or (classes is None and fmt in XVIEW_FORMATS and raw.class_names is None):
        return ClassMap.xview()
    if classes:
        return ClassMap.from_file(classes)
    if raw.class_names is not None:
        return ClassMap(raw.class_names, raw.class_ids)
    if raw.class_keys and all(isinstance(k, int) for k in raw.class_keys):
        # integer indices without names (e.g. a YOLO label folder without classes.txt): name them "0".."K-1"
        return ClassMap.from_names([str(i) for i in range(max(raw.class_keys) + 1)])
    names = sorted({str(k).strip() for k in raw.class_keys}, key=str.casefold)
    if not names:
        raise InputError("the source declares no classes and has no boxes; pass --classes")
    return ClassMap.from_names(names)


def safe_names(raw: RawLabels, images_dir: Path | None) -> tuple[RawLabels, dict[str, str]]:
    """Rename images to their safe relative form (see :mod:`tiledet.labels.names`).

    Only done when there is an images folder (names are then used as file paths); without one,
    names are only matched, never opened, and stay as they are.

    Returns:
        ``raw`` with renamed images, and ``name -> why`` of the names that cannot be used
        (``unsafe_name``; those keep their original name).

    Raises:
        InputError: when two names of the source refer to the same file (e.g. ``a.png`` and
            ``./a.png``), naming both.
    """

    if images_dir is None:
        return raw, {}
    rename: dict[str, str] = {}
    unsafe: dict[str, str] = {}
    owner: dict[str, str] = {}
    for name in raw.images:
        try:
            safe = safe_image_name(name, images_dir)
        except UnsafeName as e:
            unsafe[name] = str(e)
            continue
        if safe in owner:
            raise InputError(
                f"image names {owner[safe]!r} and {name!r} both refer to {safe!r} under {images_dir}; "
                "use one spelling"
            )
        owner[safe] = name
        if safe != name:
            rename[name] = safe
    if not rename:
        return raw, unsafe
    images = {rename.get(n, n): size for n, size in raw.images.items()}
    box_images = [rename.get(n, n) for n in raw.box_images]
    drops = [replace(d, image=rename.get(d.image, d.image)) for d in raw.drops]
    splits = {rename.get(n, n): split for n, split in raw.image_splits.items()}
    return replace(raw, images=images, box_images=box_images, drops=drops, image_splits=splits), unsafe


def _image_sizes(
    raw: RawLabels, images_dir: Path | None, unsafe: dict[str, str] | None = None
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[str, str]]]:
    """Sizes of the images that can be used, and ``name -> (reason, detail)`` of those that cannot."""
    sizes: dict[str, tuple[int, int]] = {}
    bad: dict[str, tuple[str, str]] = {name: ("unsafe_name", why) for name, why in (unsafe or {}).items()}
    for name, declared in raw.images.items():
        if name in bad:
            continue
        if images_dir is None:
            if declared is None:
                raise InputError(f"the size of image {name!r} is not in the labels; pass the image folder")
            sizes[name] = declared
            continue
        path = images_dir / name
        try:
            found = path.is_file()
        except OSError as e:  # e.g. a path longer than the system allows
            bad[name] = ("unreadable_image", f"{path}: {e.strerror or e}")
            continue
        if not found:
            bad[name] = ("missing_image", str(path))
            continue
        try:
            sizes[name] = scene_size(path)  # from the header: any size (a 50 000² GeoTIFF too)
        except InputError as e:
            bad[name] = ("unreadable_image", str(e))
    return sizes, bad


def resolve(raw: RawLabels, class_map: ClassMap, images_dir: Path | None) -> LoadResult:
    """Map classes, look up image sizes, clip and drop; every input box is kept or in ``drops``.

    Args:
        raw: boxes as read from the source.
        class_map: maps ``raw.class_keys`` to class indices; unknown keys are dropped (``unknown_class``).
        images_dir: folder the image names are relative to; sizes are read from image headers.
            None uses the sizes the source declares (COCO) and checks no files.
    """
    raw, unsafe = safe_names(raw, images_dir)
    drops = list(raw.drops)
    n = len(raw)
    class_ids = class_map.lookup(raw.class_keys) if n else np.zeros(0, np.int64)
    sizes, bad_images = _image_sizes(raw, images_dir, unsafe)
    xyxy = raw.xyxy
    finite = np.isfinite(xyxy).all(axis=1)
    ordered = finite & (xyxy[:, 2] >= xyxy[:, 0]) & (xyxy[:, 3] >= xyxy[:, 1])
    names = [name for name in raw.images if name in sizes]  # the usable images, in source order
    code_of = {name: j for j, name in enumerate(names)}
    codes = np.array([code_of.get(im, -1) for im in raw.box_images], dtype=np.int64)  # -1: unusable image
    size_table = np.array([sizes[name] for name in names] + [(0, 0)], dtype=np.float64).reshape(-1, 2)
    wh = size_table[codes]  # code -1 picks the (0, 0) row
    with np.errstate(invalid="ignore"):  # inside [-W, 2W] x [-H, 2H]: at most one image size outside
        in_bounds = (
            (xyxy[:, 0] >= -wh[:, 0]) & (xyxy[:, 2] <= 2 * wh[:, 0])
            & (xyxy[:, 1] >= -wh[:, 1]) & (xyxy[:, 3] <= 2 * wh[:, 1])
        )  # fmt: skip
    clipped = np.where(finite[:, None], xyxy, 0.0)
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0.0, wh[:, :1])
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0.0, wh[:, 1:])
    big = ((clipped[:, 2] - clipped[:, 0]) >= MIN_SIDE_PX) & ((clipped[:, 3] - clipped[:, 1]) >= MIN_SIDE_PX)
    keep = ordered & (class_ids >= 0) & (codes >= 0) & in_bounds & big
    for i in np.flatnonzero(~keep):
        reason, detail = _drop_reason(
            raw, int(i), class_ids[i], ordered[i], bad_images, (bool(in_bounds[i]), wh[i]), clipped[i]
        )
        source, location = raw.location(int(i))
        drops.append(Drop(source, location, reason, detail, raw.box_images[i]))
    images_with_boxes = set(raw.box_images)
    for name, (reason, detail) in bad_images.items():
        if name not in images_with_boxes:  # account for box-less images that cannot be used, too
            drops.append(Drop(raw.sources[0] if raw.sources else "", "image", reason, detail, name))
    dataset = _group(names, sizes, codes, clipped, class_ids, keep, class_map)
    splits = {name: raw.image_splits[name] for name in names if name in raw.image_splits}
    records = sum(d.location != "image" for d in raw.drops)  # a reader's image-level drop is no box
    return LoadResult(dataset, drops, n + records, image_splits=splits, notes=dict(raw.notes))


def _drop_reason(
    raw: RawLabels,
    i: int,
    class_id: int,
    ordered: bool,
    bad_images: dict[str, tuple[str, str]],
    bounds: tuple[bool, np.ndarray],
    clipped_xyxy: np.ndarray,
) -> tuple[str, str]:
    """Reason and detail of dropping box ``i``, checked in a fixed order.

    ``bounds`` is (whether the box lies within one image size of the image, the image's ``(W, H)``);
    ``clipped_xyxy`` the box clipped to the image, which the degenerate rule judges.
    """
    if not ordered:
        return "malformed", f"box {raw.xyxy[i].tolist()} is not finite or has max < min"
    if class_id < 0:
        return "unknown_class", f"class {raw.class_keys[i]!r} is not in the class map"
    bad = bad_images.get(raw.box_images[i])
    if bad is not None:
        return bad
    in_bounds, (width, height) = bounds
    if not in_bounds:
        return "out_of_bounds", (
            f"box {raw.xyxy[i].tolist()} reaches more than one image size outside the "
            f"{int(width)}x{int(height)} image"
        )
    clipped = [round(float(v), 3) for v in clipped_xyxy]
    return "degenerate", (
        f"box {raw.xyxy[i].tolist()} clipped to the image is {clipped}, narrower or lower than "
        f"{MIN_SIDE_PX:g} px"
    )


def _group(
    names: list[str],
    sizes: dict[str, tuple[int, int]],
    codes: np.ndarray,
    clipped: np.ndarray,
    class_ids: np.ndarray,
    keep: np.ndarray,
    class_map: ClassMap,
) -> LabeledDataset:
    """Group kept boxes by image code (index into ``names``, the usable images in source order)."""
    kept = np.flatnonzero(keep)
    order = kept[np.argsort(codes[kept], kind="stable")]
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    images = []
    for j, name in enumerate(names):
        idx = order[bounds[j] : bounds[j + 1]]
        images.append(ImageLabels(name, sizes[name], Boxes(clipped[idx], class_ids[idx])))
    return LabeledDataset(tuple(class_map.names), tuple(images))


def source_format(src: str | Path, fmt: str = "auto") -> str:
    """The format of label source ``src``: ``fmt`` itself, or detected from the content when ``"auto"``.

    Raises:
        ConfigError: ``fmt`` is neither ``"auto"`` nor a key of :data:`tiledet.formats.READERS`.
        InputError: ``"auto"`` and the format cannot be recognised (see
            :func:`tiledet.formats.detect.detect_format`).
    """
    if fmt == "auto":
        from tiledet.formats.detect import detect_format

        return detect_format(Path(src))
    if fmt not in READERS:
        raise ConfigError(f"label format must be auto or one of {', '.join(READERS)}, got {fmt!r}")
    return fmt


def load_dataset(
    src: Path,
    fmt: str,
    images_dir: Path | None,
    classes: str | None = None,
    options: ReadOptions | None = None,
) -> LoadResult:
    """Read a label source of format ``fmt`` (``"auto"``: detected) and resolve it (see :func:`resolve`).

    Raises:
        InputError: the source cannot be read (one line naming it and the reason).
    """
    fmt = source_format(src, fmt)
    options = options or ReadOptions(images_dir=images_dir)
    check_geo_options(fmt, options.geo)
    if options.images_dir is None and images_dir is not None:
        options = replace(options, images_dir=images_dir)
    try:
        raw = get_reader(fmt)(Path(src), options)
        class_map = class_map_for(raw, fmt, classes)
        return replace(resolve(raw, class_map, images_dir), fmt=fmt)
    except TiledetError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{src}: cannot read {fmt} labels ({type(e).__name__}: {e})") from e


def load_labels(
    src: str | Path,
    fmt: str = "auto",
    images_dir: str | Path | None = None,
    classes: str | None = None,
    *,
    strict: bool = False,
    split: str | None = None,
    csv_columns: Mapping[str, str] | None = None,
    skip_difficult: bool = False,
    geo: GeoOptions | None = None,
) -> LoadResult:
    """Read labels of any supported format into absolute ``xyxy`` boxes per image (``tiledet.load_labels``).

    Boxes are clipped to their image; boxes that cannot be used (unknown class, missing image,
    degenerate after clipping, malformed record) are listed in ``drops`` instead.

    Args:
        src: label file or folder (xView GeoJSON, CSV, semicolon, DOTA, COCO JSON, YOLO folder or
            ``data.yaml``).
        fmt: a key of :data:`tiledet.formats.READERS`, or ``"auto"`` to detect it from the content.
        images_dir: the image folder (image sizes are read from the files' headers); None uses the
            sizes the labels declare (COCO, YOLO with images beside the labels).
        classes: ``"xview"``, a class file, or None for the source's own classes.
        strict: the first problem is an error (:class:`~tiledet.errors.FormatError`) instead of a drop.
        split: YOLO ``data.yaml`` only: read just this split.
        csv_columns: CSV only: column override, role -> header name.
        skip_difficult: DOTA only: leave out boxes flagged difficult (``difficult`` drops).
        geo: ``geo-vector`` only (labels in map coordinates): layer, class/image/size fields, point size.

    Returns:
        :class:`LoadResult`: ``.dataset`` (images with :class:`~tiledet.boxes.Boxes`, class names),
        ``.drops``, ``.input_boxes`` and the format read, ``.fmt``.
    """
    src = Path(src)
    if not src.exists():
        raise InputError(f"{src}: label source not found")
    if src.is_file() and src.stat().st_size == 0:
        raise InputError(f"{src}: label file is empty")
    images = None if images_dir is None else Path(images_dir)
    if images is not None and not images.is_dir():
        raise InputError(f"{images}: image folder not found")
    options = ReadOptions(
        strict=strict, csv_columns=dict(csv_columns or {}), split=split, images_dir=images,
        skip_difficult=skip_difficult, geo=geo or GeoOptions(),
    )
    result = load_dataset(src, fmt, images, classes, options)
    problems = [d for d in result.drops if d.reason not in INTENDED_DROPS] if strict else []
    if problems:
        raise_drop(problems[0])
    return result


def raise_drop(drop: Drop) -> None:
    """Raise ``drop`` as a :class:`~tiledet.errors.FormatError` naming its file and location (strict mode)."""
    detail = f"{drop.reason}: {drop.detail}" if drop.detail else drop.reason
    raise FormatError(drop.source, drop.location, detail)

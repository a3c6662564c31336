"""From a label source to a :class:`~tiledet.labels.LabeledDataset`, accounting for every box.

Box semantics (also in the README): boxes are clipped to ``[0, W] x [0, H]``; a box whose clipped
width or height is below 1 px is dropped as ``degenerate``; image sizes come from image headers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.classes import ClassMap
from tiledet.errors import InputError
from tiledet.formats import XVIEW_FORMATS, ReadOptions, get_reader
from tiledet.ioutil import image_size
from tiledet.labels import Drop, ImageLabels, LabeledDataset, RawLabels

#: Boxes whose clipped width or height is below this many pixels are dropped as ``degenerate``.
MIN_SIDE_PX = 1.0


@dataclass(frozen=True)
class LoadResult:
    """A resolved dataset and everything that did not make it in.

    Attributes:
        dataset: images with clipped boxes and the class names.
        drops: one record per dropped box (or unparseable record, or missing box-less image).
        input_boxes: boxes (and malformed records) found in the source.
    """

    dataset: LabeledDataset
    drops: list[Drop]
    input_boxes: int


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


def _image_sizes(
    raw: RawLabels, images_dir: Path | None
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[str, str]]]:
    """Sizes of the images that can be used, and ``name -> (reason, detail)`` of those that cannot."""
    sizes: dict[str, tuple[int, int]] = {}
    bad: dict[str, tuple[str, str]] = {}
    for name, declared in raw.images.items():
        if images_dir is None:
            if declared is None:
                raise InputError(f"the size of image {name!r} is not in the labels; pass the image folder")
            sizes[name] = declared
            continue
        path = images_dir / name
        if not path.is_file():
            bad[name] = ("missing_image", str(path))
            continue
        try:
            sizes[name] = image_size(path)
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
    drops = list(raw.drops)
    n = len(raw)
    class_ids = class_map.lookup(raw.class_keys) if n else np.zeros(0, np.int64)
    sizes, bad_images = _image_sizes(raw, images_dir)
    xyxy = raw.xyxy
    finite = np.isfinite(xyxy).all(axis=1)
    ordered = finite & (xyxy[:, 2] >= xyxy[:, 0]) & (xyxy[:, 3] >= xyxy[:, 1])
    names = [name for name in raw.images if name in sizes]  # the usable images, in source order
    code_of = {name: j for j, name in enumerate(names)}
    codes = np.array([code_of.get(im, -1) for im in raw.box_images], dtype=np.int64)  # -1: unusable image
    size_table = np.array([sizes[name] for name in names] + [(0, 0)], dtype=np.float64).reshape(-1, 2)
    wh = size_table[codes]  # code -1 picks the (0, 0) row
    clipped = np.where(finite[:, None], xyxy, 0.0)
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0.0, wh[:, :1])
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0.0, wh[:, 1:])
    big = ((clipped[:, 2] - clipped[:, 0]) >= MIN_SIDE_PX) & ((clipped[:, 3] - clipped[:, 1]) >= MIN_SIDE_PX)
    keep = ordered & (class_ids >= 0) & (codes >= 0) & big
    for i in np.flatnonzero(~keep):
        reason, detail = _drop_reason(raw, int(i), class_ids[i], ordered[i], bad_images, big[i])
        source, location = raw.location(int(i))
        drops.append(Drop(source, location, reason, detail, raw.box_images[i]))
    images_with_boxes = set(raw.box_images)
    for name, (reason, detail) in bad_images.items():
        if name not in images_with_boxes:  # account for box-less images that cannot be used, too
            drops.append(Drop(raw.sources[0] if raw.sources else "", "image", reason, detail, name))
    dataset = _group(names, sizes, codes, clipped, class_ids, keep, class_map)
    return LoadResult(dataset, drops, n + len(raw.drops))


def _drop_reason(
    raw: RawLabels,
    i: int,
    class_id: int,
    ordered: bool,
    bad_images: dict[str, tuple[str, str]],
    big: bool,
) -> tuple[str, str]:
    """Reason and detail of dropping box ``i``, checked in a fixed order."""
    if not ordered:
        return "malformed", f"box {raw.xyxy[i].tolist()} is not finite or has max < min"
    if class_id < 0:
        return "unknown_class", f"class {raw.class_keys[i]!r} is not in the class map"
    bad = bad_images.get(raw.box_images[i])
    if bad is not None:
        return bad
    return "degenerate", f"clipped box {raw.xyxy[i].tolist()} is narrower or lower than {MIN_SIDE_PX:g} px"


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


def load_dataset(
    src: Path,
    fmt: str,
    images_dir: Path | None,
    classes: str | None = None,
    options: ReadOptions | None = None,
) -> LoadResult:
    """Read a label source of format ``fmt`` and resolve it (see :func:`resolve`)."""
    options = options or ReadOptions(images_dir=images_dir)
    if options.images_dir is None and images_dir is not None:
        options = replace(options, images_dir=images_dir)
    raw = get_reader(fmt)(Path(src), options)
    class_map = class_map_for(raw, fmt, classes)
    return resolve(raw, class_map, images_dir)

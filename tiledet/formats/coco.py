"""COCO detection JSON: ``images``, ``annotations`` (``bbox = [x, y, w, h]`` pixels), ``categories``.

Writing (:func:`to_coco_dict`): image ids and annotation ids count from 1 in dataset order,
``category_id = class index + 1``, ``bbox`` floats, ``area = w * h``, ``iscrowd = 0``, one category per
class.

Reading (:func:`parse_coco_dict`): class keys are the category ids; ``class_names`` are the categories
sorted by id. Image sizes come from each image's ``width``/``height``. An annotation is dropped as
``malformed`` (location ``annotation id N``) when its bbox is not 4 finite numbers or has a negative
width/height, when its ``image_id`` or ``category_id`` is unknown, and when it is a crowd region
(``iscrowd = 1``, detail "iscrowd annotation (not a box target)"): crowd regions mark groups that
COCO evaluation ignores, not objects to learn, so they are reported rather than silently kept or lost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tiledet.errors import FormatError
from tiledet.formats import ReadOptions
from tiledet.ioutil import atomic_write_json, read_json_file
from tiledet.label_records import Drop, LabeledDataset, RawLabels, RawLabelsBuilder
from tiledet.numbers import is_finite_number, is_int

CROWD_DETAIL = "iscrowd annotation (not a box target)"


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) absolute ``xyxy`` pixels -> (N, 4) COCO ``x, y, w, h`` pixels (a new array)."""
    xywh = np.array(xyxy, dtype=np.float64).reshape(-1, 4)
    xywh[:, 2:] -= xywh[:, :2]
    return xywh


def to_coco_dict(dataset: LabeledDataset, info: dict | None = None) -> dict:
    """COCO detection dict of ``dataset`` (see the module docstring for the id conventions).

    Args:
        dataset: images with absolute ``xyxy`` pixel boxes.
        info: the ``info`` object (e.g. ``{"images_dir": ...}``); ``{}`` when None.

    Returns:
        A JSON-ready dict with ``info``, ``images``, ``annotations`` and ``categories``.
    """
    images = []
    annotations = []
    ann_id = 1
    for image_id, im in enumerate(dataset.images, start=1):
        width, height = (int(v) for v in im.size_wh)
        images.append({"id": image_id, "file_name": im.file_name, "width": width, "height": height})
        if len(im.boxes) == 0:
            continue
        xywh = xyxy_to_xywh(im.boxes.xyxy)
        areas = (xywh[:, 2] * xywh[:, 3]).tolist()
        rows = zip(xywh.tolist(), areas, im.boxes.class_ids.tolist(), strict=True)
        for (x, y, w, h), area, cls in rows:
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": int(cls) + 1,
                    "bbox": [x, y, w, h],
                    "area": area,
                    "iscrowd": 0,
                }
            )
            ann_id += 1
    categories = [{"id": i + 1, "name": str(name)} for i, name in enumerate(dataset.class_names)]
    return {"info": dict(info or {}), "images": images, "annotations": annotations, "categories": categories}


def write_coco_json(path: str | Path, dataset: LabeledDataset, info: dict | None = None) -> None:
    """Write :func:`to_coco_dict` of ``dataset`` to ``path`` atomically (compact JSON)."""
    atomic_write_json(path, to_coco_dict(dataset, info), indent=None)


# ----------------------------------------------------------------------------------------------------
# reading


def _record_problem(builder: RawLabelsBuilder, source: str, location: str, detail: str) -> None:
    """Record a malformed image/category/annotation entry that has no usable id."""
    if builder.strict:
        raise FormatError(source, location, detail)
    builder.drops.append(Drop(source, location, "malformed", detail))


def _categories(obj: dict, source: str, builder: RawLabelsBuilder) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """``(names, ids)`` of the categories, sorted by id; bad entries are recorded."""
    cats = obj.get("categories", [])
    if not isinstance(cats, list):
        raise FormatError(source, "categories", "expected a list")
    pairs: dict[int, str] = {}
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict) or not is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            detail = f"expected {{id: int, name: str}}, got {cat!r}"
            _record_problem(builder, source, f"categories[{i}]", detail[:300])
        elif cat["id"] in pairs:
            _record_problem(builder, source, f"categories[{i}]", f"duplicate category id {cat['id']}")
        else:
            pairs[cat["id"]] = cat["name"]
    ids = tuple(sorted(pairs))
    return tuple(pairs[i] for i in ids), ids


def _images(obj: dict, source: str, builder: RawLabelsBuilder) -> dict[int, str]:
    """Declare every image with its size; returns ``image id -> file_name``."""
    images = obj.get("images")
    if not isinstance(images, list):
        raise FormatError(source, "images", "expected a list of images")
    names: dict[int, str] = {}
    for i, im in enumerate(images):
        ok = isinstance(im, dict) and is_int(im.get("id")) and isinstance(im.get("file_name"), str)
        size = (im.get("width"), im.get("height")) if isinstance(im, dict) else (None, None)
        if not ok or not all(is_int(v) and v > 0 for v in size):
            detail = f"expected {{id: int, file_name: str, width: int > 0, height: int > 0}}, got {im!r}"
            _record_problem(builder, source, f"images[{i}]", detail[:300])
        elif im["id"] in names:
            _record_problem(builder, source, f"images[{i}]", f"duplicate image id {im['id']}")
        else:
            names[im["id"]] = im["file_name"]
            builder.add_image(im["file_name"], (int(size[0]), int(size[1])))
    return names


def _annotation_problem(ann: dict, image_names: dict[int, str], category_ids: set[int]) -> str:
    """Why annotation ``ann`` cannot be a box target ("" when it can)."""
    bbox = ann.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(is_finite_number(v) for v in bbox):
        return f"bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}"
    if bbox[2] < 0 or bbox[3] < 0:
        return f"bbox has a negative width or height: {bbox!r}"
    for key in ("image_id", "category_id"):  # True == 1 and 1.0 == 1 in Python: check the type first
        if not is_int(ann.get(key)):
            return f"{key} must be an integer, got {ann.get(key)!r}"
    if ann["image_id"] not in image_names:
        return f"unknown image_id {ann['image_id']!r}"
    if ann["category_id"] not in category_ids:
        return f"unknown category_id {ann['category_id']!r}"
    if ann.get("iscrowd", 0) not in (0, False):
        return CROWD_DETAIL
    return ""


def parse_coco_dict(obj: dict, source: str, strict: bool = False) -> RawLabels:
    """Parse a COCO detection dict (as loaded from JSON) into :class:`RawLabels`.

    Args:
        obj: the dict with ``images``, ``annotations`` and ``categories``.
        source: the file it came from, for drop records and errors.
        strict: raise :class:`~tiledet.errors.FormatError` on the first malformed entry.

    Returns:
        Boxes in absolute ``xyxy`` pixels keyed by category id, image sizes declared, locations in
        ``annotation id`` units.
    """
    if not isinstance(obj, dict):
        kind = "a list (a detection results file?)" if isinstance(obj, list) else type(obj).__name__
        raise FormatError(source, "", f"expected a COCO object with 'images' and 'annotations', got {kind}")
    builder = RawLabelsBuilder(location_unit="annotation id", strict=strict)
    src = builder.add_source(source)
    names, ids = _categories(obj, source, builder)
    image_names = _images(obj, source, builder)
    anns = obj.get("annotations", [])
    if not isinstance(anns, list):
        raise FormatError(source, "annotations", "expected a list")
    category_ids = set(ids)
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or not is_int(ann.get("id")):
            detail = f"annotation without an integer id: {ann!r}"
            _record_problem(builder, source, f"annotations[{i}]", detail[:300])
            continue
        problem = _annotation_problem(ann, image_names, category_ids)
        image = image_names.get(ann["image_id"], "") if is_int(ann.get("image_id")) else ""
        if problem:
            builder.drop(src, ann["id"], problem, image=image)
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        builder.add_box(image, (x, y, x + w, y + h), ann["category_id"], src, ann["id"])
    return builder.build(class_names=names or None, class_ids=ids or None)


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read a COCO detection JSON file (see :func:`parse_coco_dict`); ``options.strict`` applies."""
    path = Path(path)
    return parse_coco_dict(read_json_file(path, "COCO file"), str(path), strict=options.strict)

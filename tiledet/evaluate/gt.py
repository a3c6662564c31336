"""Ground truth for evaluation: a COCO JSON, a YOLO ``data.yaml`` split, or any label source.

Everything becomes one in-memory COCO dataset dict (``images``, ``annotations``, ``categories``); no
file is written. COCO JSON ground truth is used as is (its ids and areas), except that a missing
``area`` is filled with ``w * h`` of the box.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tiledet.errors import FormatError, InputError
from tiledet.evaluate.detections import GtLookup, _norm_path
from tiledet.formats import ReadOptions
from tiledet.formats.coco import to_coco_dict
from tiledet.ioutil import read_json_file
from tiledet.labels.load import load_dataset
from tiledet.numbers import is_finite_number, is_int


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Ground truth ready for pycocotools.

    Attributes:
        coco: COCO dataset dict with ``images``, ``annotations`` and ``categories``.
        source: the file it came from.
        kind: ``"coco"``, ``"yolo"`` or the label format it was converted from.
        drops: ``reason -> count`` of boxes the conversion dropped (empty for COCO JSON).
        unusable_images: ``file_name -> why`` of the images the conversion left out because they are
            missing, unreadable or unsafely named (empty for COCO JSON, which declares its sizes).
    """

    coco: dict
    source: str
    kind: str
    drops: dict[str, int] = field(default_factory=dict)
    unusable_images: dict[str, str] = field(default_factory=dict)

    @property
    def num_images(self) -> int:
        """Images in the ground truth (with or without boxes)."""
        return len(self.coco["images"])

    @property
    def num_annotations(self) -> int:
        """Ground-truth boxes."""
        return len(self.coco["annotations"])

    def lookup(self) -> GtLookup:
        """Image and category keys detections are matched against."""
        images = self.coco["images"]
        cats = self.coco["categories"]
        return GtLookup(
            image_ids=tuple(int(im["id"]) for im in images),
            file_names=tuple(str(im.get("file_name", "")) for im in images),
            category_ids=tuple(int(c["id"]) for c in cats),
            category_names=tuple(str(c.get("name", c["id"])) for c in cats),
        )

    def to_dict(self) -> dict:
        """JSON-ready description (no boxes)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "images": self.num_images,
            "annotations": self.num_annotations,
            "categories": len(self.coco["categories"]),
            "dropped": dict(self.drops),
        }


def _require_list(obj: dict, key: str, source: str) -> list:
    value = obj.get(key)
    if not isinstance(value, list):
        raise InputError(f"{source}: COCO ground truth needs a list '{key}'")
    return value


def validate_coco_gt(obj: object, source: str) -> dict:
    """Check a COCO ground-truth dict and fill missing ``area`` values in place.

    Raises:
        InputError: when a list is missing, ids are not unique integers, or there are no annotations.
        FormatError: for an annotation with an unknown image/category or a bad ``bbox``
            (location ``annotation <index>``).
    """
    if not isinstance(obj, dict):
        raise InputError(f"{source}: expected a COCO JSON object, got {type(obj).__name__}")
    images = _require_list(obj, "images", source)
    anns = _require_list(obj, "annotations", source)
    cats = _require_list(obj, "categories", source)
    image_ids = _unique_ids(images, "images", source)
    _check_unique_file_names(images, source)
    cat_ids = _unique_ids(cats, "categories", source)
    if not cats:
        raise InputError(f"{source}: the ground truth has no categories")
    if not _annotations_ok(anns, image_ids, cat_ids):
        for i, ann in enumerate(anns):  # slow path: find and name the first bad annotation
            _check_annotation(ann, i, image_ids, cat_ids, source)
    if not anns:
        raise InputError(f"{source}: the ground truth has no annotations, so AP is undefined")
    return obj


def _annotations_ok(anns: list, image_ids: set[int], cat_ids: set[int]) -> bool:
    """Vectorised check of every annotation (fills missing ``area``); False sends to the slow path."""
    import numpy as np

    try:
        ids = [(a["id"], a["image_id"], a["category_id"]) for a in anns]
        bbox = np.array([a["bbox"] for a in anns])
    except (KeyError, TypeError, ValueError):
        return False
    if bbox.dtype.kind not in "fi" or bbox.shape != (len(anns), 4) or not np.isfinite(bbox).all():
        return False
    if any(type(v) is bool for a in anns for v in a["bbox"]):  # numpy reads [True, 0, 5, 5] as ints
        return False
    if (bbox[:, 2:] < 0).any():
        return False
    if any(type(a) is not int or type(i) is not int or type(c) is not int for a, i, c in ids):
        return False
    if not {i for _, i, _ in ids} <= image_ids or not {c for _, _, c in ids} <= cat_ids:
        return False
    for j, ann in enumerate(anns):
        if "area" not in ann:
            ann["area"] = float(bbox[j, 2] * bbox[j, 3])
    return True


def _unique_ids(items: list, key: str, source: str) -> set[int]:
    ids = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not is_int(item.get("id")):
            raise FormatError(source, f"{key}[{i}]", "needs an integer 'id'")
        ids.add(item["id"])
    if len(ids) != len(items):
        raise InputError(f"{source}: '{key}' ids are not unique")
    return ids


def _check_unique_file_names(images: list, source: str) -> None:
    """Two images with one ``file_name`` would make matching detections by file name ambiguous.

    Names are compared as detections are matched (backslashes as ``/``, surrounding spaces dropped).

    Raises:
        InputError: naming the file name and both image ids.
    """

    seen: dict[str, object] = {}
    for im in images:
        name = im.get("file_name")
        if not isinstance(name, str) or not name:
            continue
        key = _norm_path(name)
        if key in seen:
            raise InputError(
                f"{source}: images {seen[key]} and {im['id']} have the same file_name {name!r}; "
                "detections matched by file name would be ambiguous (make file names unique)"
            )
        seen[key] = im["id"]


def _check_annotation(ann: object, i: int, image_ids: set[int], cat_ids: set[int], source: str) -> None:
    where = f"annotation {i}"
    if not isinstance(ann, dict):
        raise FormatError(source, where, "not an object")
    for key in ("id", "image_id", "category_id"):  # True == 1 and 1.0 == 1 in Python: check the type first
        if key in ann and not is_int(ann[key]):
            raise FormatError(source, where, f"{key} must be an integer, got {ann[key]!r}")
    if ann.get("image_id") not in image_ids:
        raise FormatError(source, where, f"image_id {ann.get('image_id')!r} is not in 'images'")
    if ann.get("category_id") not in cat_ids:
        raise FormatError(source, where, f"category_id {ann.get('category_id')!r} is not in 'categories'")
    bbox = ann.get("bbox")
    ok = isinstance(bbox, list) and len(bbox) == 4
    ok = ok and all(is_finite_number(v) for v in bbox)
    if not ok or bbox[2] < 0 or bbox[3] < 0:
        raise FormatError(source, where, f"bbox {bbox!r} is not [x, y, w, h] with finite w, h >= 0")
    if "id" not in ann:
        raise FormatError(source, where, "needs an 'id'")
    if "area" not in ann:
        ann["area"] = float(bbox[2]) * float(bbox[3])


def load_ground_truth(
    path: Path,
    split: str = "val",
    images_dir: Path | None = None,
    fmt: str | None = None,
    classes: str | None = None,
) -> GroundTruth:
    """Load ground truth from a COCO JSON, a YOLO ``data.yaml`` (one split) or another label source.

    Args:
        path: the ground-truth file.
        split: YOLO only: the split of ``data.yaml`` to evaluate on.
        images_dir: image folder, needed by label sources that do not declare image sizes.
        fmt: source format (a key of :data:`tiledet.formats.READERS`); None guesses it: ``.yaml``/``.yml``
            is YOLO, a JSON object with ``images`` is COCO, else :func:`tiledet.formats.detect.detect_format`.
        classes: class map for label sources (``"xview"`` or a class file), as in ``tiledet convert``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: ground truth not found")
    if fmt is None and path.suffix.lower() in {".yaml", ".yml"}:
        fmt = "yolo"
    if fmt in (None, "coco") and path.suffix.lower() == ".json":
        obj = read_json_file(path, "ground truth")
        if fmt == "coco" or (isinstance(obj, dict) and "images" in obj):
            return GroundTruth(validate_coco_gt(obj, str(path)), str(path), "coco")
    if fmt is None:
        from tiledet.formats.detect import detect_format

        fmt = detect_format(path)
    return _converted(path, fmt, split, images_dir, classes)


def _converted(path: Path, fmt: str, split: str, images_dir: Path | None, classes: str | None) -> GroundTruth:
    """Ground truth from a label source, converted in memory with the ``tiledet convert`` loader."""

    options = ReadOptions(split=split if fmt == "yolo" else None, images_dir=images_dir)
    result = load_dataset(path, fmt, images_dir, classes=classes, options=options)
    if not result.dataset.images:
        where = f" (split {split!r})" if fmt == "yolo" else ""
        raise InputError(f"{path}: the ground truth{where} has no usable images")
    coco = to_coco_dict(result.dataset, info={"source": str(path), "format": fmt})
    drops = dict(Counter(d.reason for d in result.drops))
    unusable = {d.image: _image_problem(d.reason, d.detail) for d in result.drops
                if d.image and d.reason in _IMAGE_REASONS}  # fmt: skip
    return GroundTruth(validate_coco_gt(coco, str(path)), str(path), fmt, drops, unusable)


#: Drop reasons that leave a whole image out.
_IMAGE_REASONS = ("missing_image", "unreadable_image", "unsafe_name")


def _image_problem(reason: str, detail: str) -> str:
    """Why an image was left out, in words (a missing image's detail is its path; an unreadable one's
    is ``"<path>: <why>"``)."""
    if reason == "missing_image":
        return "image not found"
    if reason == "unreadable_image":
        return detail.partition(": ")[2] or detail
    return f"unsafe name: {detail}" if detail else "unsafe name"

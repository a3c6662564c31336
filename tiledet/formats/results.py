"""The COCO results format (detections): a JSON list of entries, read, parsed and written here.

An entry is ``{"bbox": [x, y, w, h], "score": s, ...}`` (pixels, ``x, y`` the top-left corner) naming
its image by ``file_name`` or ``image_id`` and its class by ``category_name`` or ``category_id``.
Matching entries to a ground truth is :mod:`tiledet.evaluate.detections`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tiledet.boxes import Boxes
from tiledet.errors import InputError
from tiledet.formats.coco import xyxy_to_xywh
from tiledet.ioutil import atomic_write_json, parse_json_text, read_text_file


def detections_to_results(
    file_name: str, boxes: Boxes, class_names: Sequence[str], image_id: int | None = None
) -> list[dict]:
    """COCO results entries of one image's detections.

    Args:
        file_name: image path relative to the images folder (``/`` separators), as in the ground truth.
        boxes: detections in absolute ``xyxy`` pixels, with scores (missing scores count as 1.0).
        class_names: class names by index (``boxes.class_ids`` index into it).
        image_id: the ground-truth image id, when known; written in addition to ``file_name``.

    Returns:
        One dict per box with ``file_name``, ``category_name``, ``category_id`` (class index + 1),
        ``bbox`` (``[x, y, w, h]`` pixels), ``score`` and, when given, ``image_id``.
    """
    if len(boxes) and int(boxes.class_ids.max()) >= len(class_names):
        raise InputError(f"{file_name}: class id {int(boxes.class_ids.max())} has no name in class_names")
    xywh = xyxy_to_xywh(boxes.xyxy)
    scores = boxes.scores if boxes.scores is not None else np.ones(len(boxes))
    out = []
    for bbox, cid, score in zip(xywh.tolist(), boxes.class_ids.tolist(), scores.tolist(), strict=True):
        entry: dict = {"file_name": file_name}
        if image_id is not None:
            entry["image_id"] = int(image_id)
        entry.update(category_name=class_names[cid], category_id=cid + 1, bbox=bbox, score=score)
        out.append(entry)
    return out


def write_results_json(path: str | Path, entries: Sequence[Mapping]) -> None:
    """Write COCO results entries (e.g. from :func:`detections_to_results`) atomically, compact."""
    atomic_write_json(path, list(entries), indent=None)


def read_results_json(path: str | Path) -> list:
    """Parse a COCO results JSON file into its list of entries.

    A dict holding an ``annotations`` list (a COCO dataset file) is accepted too.

    Raises:
        InputError: when the file is missing, not UTF-8, not valid JSON (with line and column) or
            not a list.
    """
    path = Path(path)
    text = read_text_file(path, "detections file")
    return parse_results_text(text, str(path))


def parse_results_text(text: str, source: str) -> list:
    """Parse the text of a COCO results JSON file (see :func:`read_results_json`)."""
    obj = parse_json_text(text, source)
    if isinstance(obj, dict) and isinstance(obj.get("annotations"), list):
        obj = obj["annotations"]
    if not isinstance(obj, list):
        raise InputError(f"{source}: expected a JSON list of detections, got {type(obj).__name__}")
    return obj

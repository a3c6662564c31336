"""Hard negatives for chips: a detector's false positives on labelled scenes, as background windows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from tiledet.convert.chip_geometry import BACKGROUND_MAX_IOU, iou_matrix, object_windows
from tiledet.formats.results import read_results_json
from tiledet.label_records import ImageLabels


def _scene_lookup(splits: Mapping[str, Sequence[ImageLabels]]) -> Callable[[str], ImageLabels | None]:
    """file_name -> scene: exact path, then ``/``-normalised path, then a unique base name."""
    by_name = {im.file_name: im for ims in splits.values() for im in ims}
    by_norm = {PurePosixPath(n.replace("\\", "/")).as_posix(): im for n, im in by_name.items()}
    bases: dict[str, list[ImageLabels]] = {}
    for n, im in by_name.items():
        bases.setdefault(PurePosixPath(n.replace("\\", "/")).name, []).append(im)

    def find(name: str) -> ImageLabels | None:
        norm = PurePosixPath(name.replace("\\", "/")).as_posix()
        hit = by_name.get(name) or by_norm.get(norm)
        if hit is None and len(bases.get(PurePosixPath(norm).name, [])) == 1:
            hit = bases[PurePosixPath(norm).name][0]
        return hit

    return find


def hard_negative_windows(
    splits: Mapping[str, Sequence[ImageLabels]], path: Path, context: float, per_scene_cap: int
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Hard-negative chip windows per scene from a detections file, and a summary of what was read.

    A detection is a false positive when its IoU with every box of its scene is below
    ``chip_geometry.BACKGROUND_MAX_IOU`` (0.1); per scene the ``per_scene_cap`` most confident are
    kept and get the chip window an object of their box would get (:func:`object_windows`). Entries
    that are malformed or name no known scene are counted, not fatal.

    Args:
        splits: split -> scenes with their ground-truth boxes.
        path: COCO results JSON (``file_name``, ``bbox`` ``[x, y, w, h]``, ``score`` per entry).
        context: chip context.
        per_scene_cap: most hard negatives per scene.

    Returns:
        ``(scene file_name -> (K, 4) int64 windows, summary counts)``.

    Raises:
        InputError: when the file is missing or not a JSON list.
    """

    entries = read_results_json(path)
    find = _scene_lookup(splits)
    per_scene: dict[str, list[tuple[float, list[float]]]] = {}
    summary = Counter(detections=len(entries))
    for entry in entries:
        try:
            name, (x, y, w, h), score = str(entry["file_name"]), entry["bbox"], float(entry["score"])
            box = [float(x), float(y), float(x) + float(w), float(y) + float(h)]
        except (KeyError, TypeError, ValueError):
            summary["malformed"] += 1
            continue
        scene = find(name)
        if scene is None or not np.isfinite([*box, score]).all() or w < 0 or h < 0:
            summary["unmatched" if scene is None else "malformed"] += 1
            continue
        per_scene.setdefault(scene.file_name, []).append((score, box))
    windows: dict[str, np.ndarray] = {}
    gt = {im.file_name: im.boxes.xyxy for ims in splits.values() for im in ims}
    for name, dets in per_scene.items():
        dets.sort(key=lambda d: -d[0])
        xyxy = np.array([b for _, b in dets], np.float64).reshape(-1, 4)
        false = (
            iou_matrix(xyxy, gt[name]).max(axis=1) < BACKGROUND_MAX_IOU
            if len(gt[name])
            else np.ones(len(xyxy), bool)
        )
        summary["false_positives"] += int(false.sum())
        kept = xyxy[false][:per_scene_cap]
        summary["kept"] += len(kept)
        windows[name] = object_windows(kept, context)
    summary["scenes"] = len(per_scene)
    return windows, dict(summary)

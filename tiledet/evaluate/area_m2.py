"""AP by object size in square metres, when every ground-truth scene's ground sample distance is known.

COCO's small/medium/large split boxes by area in px² (< 32², 32²–96², > 96²), which says nothing about
object size on the ground when scenes differ in resolution. Here each scene's boxes, ground truth and
detections alike, are scaled by its GSD (m/px, :meth:`tiledet.scene_base.Scene.gsd_m`) into metres:
a box ``x, y, w, h`` becomes ``x·g, y·g, w·g, h·g``, and a ground-truth ``area`` becomes ``area·g²``.
IoU is unchanged by scaling one image's boxes together, so matching is exactly the pixel evaluation's;
only the areas, which decide which boxes each area range keeps (``COCOeval.params.areaRng``, the
ground truth's ``area`` and the detections' ``w·h``), are now in m². One evaluation covers scenes of
every GSD; pycocotools (or faster-coco-eval) does all the counting.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: pycocotools' "all" range, in m² here: 1e5² m² = 10 000 km², larger than any object.
ALL_M2 = 1e10


@dataclass(frozen=True)
class AreaMetrics:
    """AP of the ground truth in one area range (m²).

    Attributes:
        label: the range, e.g. ``"<10"``, ``"10-100"``, ``">100"`` (m²).
        range_m2: ``(low, high)`` m², both ends included as in pycocotools.
        num_gt: ground-truth boxes (not crowd) in the range.
        ap: AP@[.5:.95] at ``max_dets`` (NaN without ground truth in the range).
        ap50: AP at IoU 0.5.
        ar: recall at ``max_dets``, averaged over IoU 0.5:0.95.
    """

    label: str
    range_m2: tuple[float, float]
    num_gt: int
    ap: float
    ap50: float
    ar: float

    def to_dict(self) -> dict:
        """JSON-ready form (NaN -> None)."""
        out: dict = {"label": self.label, "range_m2": [self.range_m2[0], self.range_m2[1]],
                     "num_gt": self.num_gt}  # fmt: skip
        out.update({k: None if math.isnan(v) else float(v) for k, v in
                    (("AP", self.ap), ("AP50", self.ap50), ("AR", self.ar))})  # fmt: skip
        return out


def area_ranges(edges_m2: Sequence[float]) -> list[tuple[str, float, float]]:
    """``(label, low, high)`` m² of the ranges ``edges_m2`` cut.

    ``(10, 100)`` -> ``<10`` (0–10), ``10-100``, ``>100`` (100–:data:`ALL_M2`); an object of exactly an
    edge's area counts in both ranges beside it (pycocotools includes both ends).
    """
    edges = [float(e) for e in edges_m2]
    bounds = [0.0, *edges, ALL_M2]
    out = []
    for i, (low, high) in enumerate(itertools.pairwise(bounds)):
        if i == 0:
            label = f"<{high:g}"
        elif i == len(edges):
            label = f">{low:g}"
        else:
            label = f"{low:g}-{high:g}"
        out.append((label, low, high))
    return out


def scaled_ground_truth(coco: dict, gsd_by_file: Mapping[str, float]) -> tuple[dict, dict[int, float]]:
    """A copy of a COCO ground truth in metres, and the GSD of each image id.

    Args:
        coco: the ground truth (``images`` with ``file_name``, ``annotations``, ``categories``).
        gsd_by_file: metres per pixel of every image, by ``file_name``.

    Returns:
        ``(coco_m, gsd_by_id)``: ``bbox`` times the image's GSD, ``area`` times its square.
    """
    gsd_by_id = {int(im["id"]): float(gsd_by_file[im["file_name"]]) for im in coco["images"]}
    annotations = []
    for ann in coco["annotations"]:
        g = gsd_by_id[int(ann["image_id"])]
        bbox = [float(v) * g for v in ann["bbox"]]
        annotations.append({**ann, "bbox": bbox, "area": float(ann["area"]) * g * g})
    scaled = {**coco, "images": list(coco["images"]), "annotations": annotations}
    return scaled, gsd_by_id


def scaled_results(image_ids: np.ndarray, xywh: np.ndarray, category_ids: np.ndarray, scores: np.ndarray,
                   gsd_by_id: Mapping[int, float]) -> list[dict]:
    """COCO results entries (``image_id``, ``category_id``, ``bbox`` in metres, ``score``) for ``loadRes``."""
    g = np.array([gsd_by_id[i] for i in image_ids.tolist()], np.float64).reshape(-1, 1)
    return [
        {"image_id": i, "category_id": c, "bbox": b, "score": s}
        for i, c, b, s in zip(image_ids.tolist(), category_ids.tolist(), (xywh * g).tolist(), scores.tolist(),
                              strict=True)
    ]  # fmt: skip


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else math.nan


def area_table(
    precision: np.ndarray, recall: np.ndarray, params: object, max_dets: int, coco_m: dict
) -> tuple[AreaMetrics, ...]:
    """One :class:`AreaMetrics` per range of an evaluation run with :func:`area_ranges` (``"all"`` first).

    Args:
        precision: (T, R, K, A, M) ``COCOeval.eval["precision"]``.
        recall: (T, K, A, M) ``COCOeval.eval["recall"]``.
        params: its ``COCOeval.params``.
        max_dets: the cap to report at.
        coco_m: the ground truth in metres (for the counts).
    """
    labels = list(params.areaRngLbl)  # type: ignore[attr-defined]
    ranges = [tuple(map(float, r)) for r in params.areaRng]  # type: ignore[attr-defined]
    m = [int(x) for x in params.maxDets].index(max_dets)  # type: ignore[attr-defined]
    t50 = np.where(np.asarray(params.iouThrs) == 0.5)[0]  # type: ignore[attr-defined]
    areas = np.array([a["area"] for a in coco_m["annotations"] if not a.get("iscrowd", 0)], np.float64)
    out = []
    for a, (label, (low, high)) in enumerate(zip(labels, ranges, strict=True)):
        if label == "all":
            continue
        out.append(AreaMetrics(
            label=label, range_m2=(low, high), num_gt=int(((areas >= low) & (areas <= high)).sum()),
            ap=_mean_valid(precision[:, :, :, a, m]), ap50=_mean_valid(precision[t50][:, :, :, a, m]),
            ar=_mean_valid(recall[:, :, a, m]),
        ))  # fmt: skip
    return tuple(out)

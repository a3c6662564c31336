"""Merging detections of overlapping tiles: class-aware NMS and greedy non-maximum merging (NMM).

Both follow SAHI's postprocessing (``sahi.postprocess.combine``) so results can be compared:

- boxes are visited by score, highest first, ties broken by ``x0, y0, x1, y1`` (SAHI's order);
- two boxes *match* when their overlap is ``>= threshold``, the overlap being IoU (intersection over
  union) or IoS (intersection over the smaller box's area);
- ``nms`` keeps a box and drops every later box of its class that matches it;
- ``greedy-nmm`` keeps a box and merges into it every later unclaimed box of its class that matches
  it; each merge is re-checked against the grown box and takes the union of the two boxes and the
  higher score.

Each kept box asks a shapely ``STRtree`` for the boxes that touch it, so only touching boxes are
compared and memory stays linear in the number of boxes, however crowded (a young model at conf
0.001 gives thousands of large, overlapping boxes per scene).
"""

from __future__ import annotations

import numpy as np

from tiledet.boxes import Boxes
from tiledet.errors import ConfigError

MERGE_METHODS = ("nms", "greedy-nmm")
MATCH_METRICS = ("iou", "ios")


def check_merge_options(method: str, match: str, threshold: float) -> None:
    """Raise :class:`ConfigError` naming the option when a merge setting is out of range."""
    if method not in MERGE_METHODS:
        raise ConfigError(f"--merge must be one of {', '.join(MERGE_METHODS)}, got {method!r}")
    if match not in MATCH_METRICS:
        raise ConfigError(f"--match must be one of {', '.join(MATCH_METRICS)}, got {match!r}")
    if not 0.0 < float(threshold) <= 1.0:
        raise ConfigError(f"--merge-threshold must be in (0, 1], got {threshold}")


def pair_overlap(a_xyxy: np.ndarray, b_xyxy: np.ndarray, match: str) -> np.ndarray:
    """Elementwise IoU or IoS of two equally long box arrays.

    Args:
        a_xyxy: (N, 4) boxes, pixels.
        b_xyxy: (N, 4) boxes, pixels.
        match: ``"iou"`` or ``"ios"``.

    Returns:
        (N,) overlap in [0, 1]; 0 where the denominator is 0.
    """
    iw = np.minimum(a_xyxy[:, 2], b_xyxy[:, 2]) - np.maximum(a_xyxy[:, 0], b_xyxy[:, 0])
    ih = np.minimum(a_xyxy[:, 3], b_xyxy[:, 3]) - np.maximum(a_xyxy[:, 1], b_xyxy[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a_xyxy[:, 2] - a_xyxy[:, 0]) * (a_xyxy[:, 3] - a_xyxy[:, 1])
    area_b = (b_xyxy[:, 2] - b_xyxy[:, 0]) * (b_xyxy[:, 3] - b_xyxy[:, 1])
    denom = area_a + area_b - inter if match == "iou" else np.minimum(area_a, area_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


class _Touching:
    """Which boxes touch a given box: a shapely ``STRtree`` over the boxes (queried per kept box, so
    memory stays linear in the number of boxes however much they overlap)."""

    def __init__(self, xyxy: np.ndarray) -> None:
        import shapely

        self.geoms = shapely.box(xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3])
        self.tree = shapely.STRtree(self.geoms)

    def __call__(self, i: int) -> np.ndarray:
        """Indices of the boxes whose extent intersects box ``i``'s (``i`` included)."""
        return np.asarray(self.tree.query(self.geoms[i]), np.int64)


def matching(xyxy: np.ndarray, i: int, cand: np.ndarray, match: str, threshold: float) -> np.ndarray:
    """The ``cand`` indices whose overlap with box ``i`` is ``>= threshold``."""
    if len(cand) == 0:
        return cand
    ov = pair_overlap(xyxy[cand], np.broadcast_to(xyxy[i], (len(cand), 4)), match)
    return cand[ov >= threshold]


def score_order(xyxy: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices by score, highest first; ties by ``x0, y0, x1, y1`` ascending (as SAHI sorts)."""
    return np.lexsort((xyxy[:, 3], xyxy[:, 2], xyxy[:, 1], xyxy[:, 0], -scores))


def _nms_one_class(xyxy: np.ndarray, scores: np.ndarray, match: str, threshold: float) -> np.ndarray:
    """Kept indices (score order) of NMS over boxes of one class."""
    order = score_order(xyxy, scores)
    touching = _Touching(xyxy)
    suppressed = np.zeros(len(xyxy), bool)
    keep = []
    for idx in order.tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        suppressed[idx] = True  # decided; the query below returns idx itself too
        cand = touching(idx)
        suppressed[matching(xyxy, idx, cand[~suppressed[cand]], match, threshold)] = True
    return np.asarray(keep, np.int64)


def _nmm_one_class(
    xyxy: np.ndarray, scores: np.ndarray, match: str, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMM over boxes of one class: ``(merged (K, 4) boxes, (K,) scores)`` in score order."""
    order = score_order(xyxy, scores)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    touching = _Touching(xyxy)
    claimed = np.zeros(len(xyxy), bool)
    out_xyxy, out_scores = [], []
    for idx in order.tolist():
        if claimed[idx]:
            continue
        claimed[idx] = True
        cand = touching(idx)
        cand = matching(xyxy, idx, cand[~claimed[cand]], match, threshold)  # all rank after idx
        cand = cand[np.argsort(rank[cand])]
        claimed[cand] = True
        box, score = xyxy[idx].copy(), float(scores[idx])
        for j in cand:  # SAHI re-checks each merge against the grown box
            if pair_overlap(box[None], xyxy[j][None], match)[0] >= threshold:
                box[:2] = np.minimum(box[:2], xyxy[j, :2])
                box[2:] = np.maximum(box[2:], xyxy[j, 2:])
                score = max(score, float(scores[j]))
        out_xyxy.append(box)
        out_scores.append(score)
    return np.asarray(out_xyxy).reshape(-1, 4), np.asarray(out_scores)


def merge_boxes(
    boxes: Boxes, method: str = "greedy-nmm", match: str = "ios", threshold: float = 0.5
) -> Boxes:
    """Merge duplicate detections (e.g. of overlapping tiles), class by class.

    Args:
        boxes: detections with scores, scene pixels.
        method: ``"nms"`` or ``"greedy-nmm"`` (see the module docstring).
        match: ``"iou"`` or ``"ios"``.
        threshold: boxes match when their overlap is ``>= threshold``, in (0, 1].

    Returns:
        The merged detections, sorted by score (highest first), with scores.

    Raises:
        ConfigError: on an unknown method or metric, or a threshold outside (0, 1].
    """
    check_merge_options(method, match, threshold)
    scores = boxes.scores if boxes.scores is not None else np.ones(len(boxes))
    if len(boxes) == 0:
        return Boxes.empty(with_scores=True)
    parts_xyxy, parts_scores, parts_cls = [], [], []
    for cls in np.unique(boxes.class_ids):
        sel = np.flatnonzero(boxes.class_ids == cls)
        if method == "nms":
            keep = sel[_nms_one_class(boxes.xyxy[sel], scores[sel], match, threshold)]
            xyxy, sc = boxes.xyxy[keep], scores[keep]
        else:
            xyxy, sc = _nmm_one_class(boxes.xyxy[sel], scores[sel], match, threshold)
        parts_xyxy.append(xyxy)
        parts_scores.append(sc)
        parts_cls.append(np.full(len(sc), cls, np.int64))
    xyxy, sc, cls_ids = (np.concatenate(p) for p in (parts_xyxy, parts_scores, parts_cls))
    order = score_order(xyxy, sc)
    return Boxes(xyxy[order], cls_ids[order], sc[order])


def top_k(boxes: Boxes, k: int) -> Boxes:
    """The ``k`` highest-scoring boxes (all when there are fewer), highest first."""
    if len(boxes) <= k:
        return boxes
    scores = boxes.scores if boxes.scores is not None else np.ones(len(boxes))
    return boxes[score_order(boxes.xyxy, scores)[:k]]


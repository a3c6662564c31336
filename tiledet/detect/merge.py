"""Merging detections of overlapping tiles: class-aware NMS and greedy non-maximum merging (NMM).

Both follow SAHI's postprocessing (``sahi.postprocess.combine``) so results can be compared:

- boxes are visited by score, highest first, ties broken by ``x0, y0, x1, y1`` (SAHI's order);
- two boxes *match* when their overlap is ``>= threshold``, the overlap being IoU (intersection over
  union) or IoS (intersection over the smaller box's area);
- ``nms`` keeps a box and drops every later box of its class that matches it;
- ``greedy-nmm`` keeps a box and merges into it every later unclaimed box of its class that matches
  it; each merge is re-checked against the grown box and takes the union of the two boxes and the
  higher score.

The overlap pairs are found with a sweep over boxes sorted by ``x0`` (only boxes whose x ranges
overlap are compared), so memory grows with the number of overlapping pairs, not with N².
"""

from __future__ import annotations

import numpy as np

from tiledet.boxes import Boxes
from tiledet.errors import ConfigError

MERGE_METHODS = ("nms", "greedy-nmm")
MATCH_METRICS = ("iou", "ios")
#: Pairwise overlap values computed per sweep chunk (bounds the temporary memory, ~8 bytes each).
_CHUNK_VALUES = 1 << 22


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


def matching_pairs(xyxy: np.ndarray, match: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs ``(i, j)``, ``i != j``, whose overlap is ``>= threshold`` (both directions).

    Args:
        xyxy: (N, 4) boxes, pixels.
        match: ``"iou"`` or ``"ios"``.
        threshold: overlap threshold in (0, 1].

    Returns:
        Two (P,) int64 arrays ``rows, cols``.
    """
    n = len(xyxy)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(xyxy[:, 0], kind="stable")
    boxes = xyxy[order]
    x0 = boxes[:, 0]
    max_w = float((boxes[:, 2] - boxes[:, 0]).max())
    rows_out, cols_out = [], []
    start = 0
    while start < n:
        x_hi_guess = x0[start] + max_w
        span = int(np.searchsorted(x0, x_hi_guess, side="right")) - start
        # columns ~ rows + 2 * span, so rows * columns stays near _CHUNK_VALUES
        rows = max(1, min(int(_CHUNK_VALUES**0.5), _CHUNK_VALUES // (2 * span + 1)))
        stop = min(n, start + rows)
        chunk = boxes[start:stop]
        lo_col = int(np.searchsorted(x0, chunk[:, 0].min() - max_w, side="left"))
        hi_col = int(np.searchsorted(x0, chunk[:, 2].max(), side="right"))
        cols = np.arange(lo_col, hi_col)
        r, c = np.meshgrid(np.arange(start, stop), cols, indexing="ij")
        r, c = r.ravel(), c.ravel()
        keep = r != c
        r, c = r[keep], c[keep]
        ok = pair_overlap(boxes[r], boxes[c], match) >= threshold
        rows_out.append(order[r[ok]])
        cols_out.append(order[c[ok]])
        start = stop
    return np.concatenate(rows_out), np.concatenate(cols_out)


def score_order(xyxy: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices by score, highest first; ties by ``x0, y0, x1, y1`` ascending (as SAHI sorts)."""
    return np.lexsort((xyxy[:, 3], xyxy[:, 2], xyxy[:, 1], xyxy[:, 0], -scores))


def _neighbours(n: int, rows: np.ndarray, cols: np.ndarray) -> list[np.ndarray]:
    """Adjacency lists from pair arrays: ``result[i]`` = the ``cols`` paired with ``i``."""
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    bounds = np.searchsorted(rows, np.arange(n + 1))
    return [cols[bounds[i] : bounds[i + 1]] for i in range(n)]


def _nms_one_class(xyxy: np.ndarray, scores: np.ndarray, match: str, threshold: float) -> np.ndarray:
    """Kept indices (score order) of NMS over boxes of one class."""
    order = score_order(xyxy, scores)
    neighbours = _neighbours(len(xyxy), *matching_pairs(xyxy, match, threshold))
    suppressed = np.zeros(len(xyxy), bool)
    keep = []
    for idx in order:
        if suppressed[idx]:
            continue
        keep.append(idx)
        suppressed[neighbours[idx]] = True
    return np.asarray(keep, np.int64)


def _nmm_one_class(
    xyxy: np.ndarray, scores: np.ndarray, match: str, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMM over boxes of one class: ``(merged (K, 4) boxes, (K,) scores)`` in score order."""
    order = score_order(xyxy, scores)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    neighbours = _neighbours(len(xyxy), *matching_pairs(xyxy, match, threshold))
    claimed = np.zeros(len(xyxy), bool)
    out_xyxy, out_scores = [], []
    for idx in order:
        if claimed[idx]:
            continue
        claimed[idx] = True
        cand = neighbours[idx]
        cand = cand[(~claimed[cand]) & (rank[cand] > rank[idx])]
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


"""Merging duplicate detections (overlapping tiles, neighbouring windows): a registry of mergers.

A *merger* is a callable ``Boxes -> Boxes``; :func:`get_merger` builds one from a registered name,
an overlap metric and a threshold (:func:`register_merger` adds a name). The registry itself lives in
:mod:`tiledet.detect.merge_registry`, which the configs and the CLI read without this module; its
names (:func:`register_merger`, :func:`merger_names`, :func:`merger_help`, ...) import from here too.
Registered:

- ``nms``: keep a box, drop every later box of its class that matches it;
- ``greedy-nmm``: keep a box and merge into it every later unclaimed box of its class that matches it;
  each merge is re-checked against the grown box and takes the union of the two boxes and the higher
  score (SAHI's ``GreedyNMMPostprocess``);
- ``cluster-mean``: ``nms``, then each kept box moved to the score-weighted mean of the input boxes
  that match it (its cluster; the sliding window's merge: a window fires at several neighbouring
  positions and scales, and their mean box is centred and sized better than any one of them).

Boxes are visited by score, highest first. ``order`` says how equal scores are visited: ``"sahi"``
by ``x0, y0, x1, y1`` (SAHI's order; ``detect yolo``), ``"torchvision"`` in input order, NMS with IoU
then being ``torchvision.ops.batched_nms`` itself (what the sliding window has always run; ``detect
sliding``). ``class_agnostic`` matches boxes of any class (the kept box keeps its class).

**Threshold.** Two boxes *match* when their overlap is ``>= threshold``, the overlap being IoU
(intersection over union) or IoS (intersection over the smaller box's area), from
:func:`tiledet.boxes.paired_overlap_xyxy`. That is SAHI's rule (``has_match`` and the numpy, numba and
sparse backends of ``sahi.postprocess`` compare ``>=``) and ``detect yolo --merge-threshold``'s.
torchvision's ``nms``/``batched_nms`` drop IoU ``>`` their threshold, and so do ``detect sliding
--iou`` and its cluster IoU (``SlidingConfig.merge_iou``): that detector passes
:func:`above` of them (``x > t`` is ``x >= nextafter(t, inf)`` for every float ``x``, so nothing
changes), and :func:`below` turns a threshold back for torchvision. A threshold above 1 matches
nothing.

Each kept box asks a shapely ``STRtree`` for the boxes that touch it, so only touching boxes are
compared and memory stays linear in the number of boxes, however crowded (a young model at conf
0.001 gives thousands of large, overlapping boxes per scene).

Room to grow: weighted box fusion (``wbf``) would register as one more name, and polygon (OBB)
overlap as one more metric beside ``iou``/``ios``; neither exists yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tiledet.boxes import Boxes, paired_overlap_xyxy
from tiledet.detect.merge_registry import MATCH_METRICS as MATCH_METRICS
from tiledet.detect.merge_registry import (
    ORDERS,
    Merger,
    check_merge_options,
    check_name_and_metric,
    merger_factory,
)
from tiledet.detect.merge_registry import MergerFactory as MergerFactory
from tiledet.detect.merge_registry import merger_help as merger_help
from tiledet.detect.merge_registry import merger_names as merger_names
from tiledet.detect.merge_registry import register_merger as register_merger
from tiledet.errors import ConfigError


def get_merger(
    name: str, metric: str = "iou", threshold: float = 0.5, *, class_agnostic: bool = False,
    order: str = "sahi", **options: Any,
) -> Merger:  # fmt: skip
    """The merger registered as ``name``.

    Args:
        name: one of :func:`merger_names`.
        metric: ``"iou"`` or ``"ios"``.
        threshold: boxes match when their overlap is ``>= threshold`` (> 0; above 1 nothing matches).
        class_agnostic: match boxes of any class, not only of the same class.
        order: ``"sahi"`` or ``"torchvision"``: how equal scores are visited.
        **options: options of that merger (``cluster-mean``: ``cluster_threshold``, default
            ``threshold``).

    Returns:
        A callable ``Boxes -> Boxes``: the merged boxes with scores (all 1 when the input has none),
        highest score first.

    Raises:
        ConfigError: on an unknown name, metric or order, or a threshold <= 0.
    """
    check_name_and_metric(name, metric)
    if order not in ORDERS:
        raise ConfigError(f"merge order must be one of {', '.join(ORDERS)}, got {order!r}")
    if not float(threshold) > 0.0:
        raise ConfigError(f"merge threshold must be > 0, got {threshold}")
    factory = merger_factory(name)
    return factory(metric, float(threshold), class_agnostic=class_agnostic, order=order, **options)


def above(threshold: float) -> float:
    """The ``>=`` threshold of a ``>`` one: ``x > t`` exactly when ``x >= above(t)``."""
    return float(np.nextafter(float(threshold), np.inf))


def below(threshold: float) -> float:
    """The ``>`` threshold of a ``>=`` one: ``x >= t`` exactly when ``x > below(t)``."""
    return float(np.nextafter(float(threshold), -np.inf))


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
    ov = paired_overlap_xyxy(xyxy[cand], np.broadcast_to(xyxy[i], (len(cand), 4)), match)
    return cand[ov >= threshold]


def score_order(xyxy: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices by score, highest first; ties by ``x0, y0, x1, y1`` ascending (as SAHI sorts)."""
    return np.lexsort((xyxy[:, 3], xyxy[:, 2], xyxy[:, 1], xyxy[:, 0], -scores))


def _visit_order(xyxy: np.ndarray, scores: np.ndarray, order: str) -> np.ndarray:
    """Indices by score, highest first; equal scores by ``order`` (``"torchvision"``: input order)."""
    return score_order(xyxy, scores) if order == "sahi" else np.argsort(-scores, kind="stable")


def _nms_one_group(
    xyxy: np.ndarray, scores: np.ndarray, match: str, threshold: float, order: str
) -> np.ndarray:
    """Kept indices (visiting order) of NMS over boxes of one group."""
    touching = _Touching(xyxy)
    suppressed = np.zeros(len(xyxy), bool)
    keep = []
    for idx in _visit_order(xyxy, scores, order).tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        suppressed[idx] = True  # decided; the query below returns idx itself too
        cand = touching(idx)
        suppressed[matching(xyxy, idx, cand[~suppressed[cand]], match, threshold)] = True
    return np.asarray(keep, np.int64)


def _nmm_one_group(
    xyxy: np.ndarray, scores: np.ndarray, match: str, threshold: float, order: str
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMM over boxes of one group: ``(keeper indices (K,), merged (K, 4) boxes)``, visiting
    order; a merged box's score is its keeper's (the best of its cluster)."""
    visit = _visit_order(xyxy, scores, order)
    rank = np.empty(len(visit), np.int64)
    rank[visit] = np.arange(len(visit))
    touching = _Touching(xyxy)
    claimed = np.zeros(len(xyxy), bool)
    keepers, out_xyxy = [], []
    for idx in visit.tolist():
        if claimed[idx]:
            continue
        claimed[idx] = True
        cand = touching(idx)
        cand = matching(xyxy, idx, cand[~claimed[cand]], match, threshold)  # all rank after idx
        cand = cand[np.argsort(rank[cand])]
        claimed[cand] = True
        box = xyxy[idx].copy()
        for j in cand:  # SAHI re-checks each merge against the grown box
            if paired_overlap_xyxy(box[None], xyxy[j][None], match)[0] >= threshold:
                box[:2] = np.minimum(box[:2], xyxy[j, :2])
                box[2:] = np.maximum(box[2:], xyxy[j, 2:])
        keepers.append(idx)
        out_xyxy.append(box)
    return np.asarray(keepers, np.int64), np.asarray(out_xyxy).reshape(-1, 4)


def _with_scores(boxes: Boxes) -> Boxes:
    return boxes if boxes.scores is not None else Boxes(boxes.xyxy, boxes.class_ids, np.ones(len(boxes)))


#: One group's merge: ``indices -> (keeper indices (K,), merged (K, 4) boxes)``.
_OneGroup = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _by_group(boxes: Boxes, class_agnostic: bool, order: str, one_group: _OneGroup) -> Boxes:
    """Run ``one_group(indices) -> (keeper indices, merged xyxy)`` per class (or once) over ``boxes``
    (with scores), then sort: by score, equal scores by ``order`` (``"sahi"``: merged box, then class,
    then visiting order; ``"torchvision"``: keeper index)."""
    if len(boxes) == 0:
        return Boxes.empty(with_scores=True)
    groups = np.zeros(len(boxes), np.int64) if class_agnostic else boxes.class_ids
    parts = [one_group(np.flatnonzero(groups == g)) for g in np.unique(groups)]
    keep = np.concatenate([p[0] for p in parts])
    xyxy = np.concatenate([p[1] for p in parts])
    scores, cls = boxes.scores[keep], boxes.class_ids[keep]  # type: ignore[index]
    if order == "sahi":
        final = np.lexsort((cls, xyxy[:, 3], xyxy[:, 2], xyxy[:, 1], xyxy[:, 0], -scores))
    else:
        final = np.lexsort((keep, -scores))
    return Boxes(xyxy[final], cls[final], scores[final])


def nms_merger(metric: str, threshold: float, *, class_agnostic: bool = False, order: str = "sahi") -> Merger:
    """NMS (see the module docstring); with ``order="torchvision"`` and IoU, torchvision's own."""

    def merge(boxes: Boxes) -> Boxes:
        boxes = _with_scores(boxes)
        if order == "torchvision" and metric == "iou":  # torchvision drops IoU > its threshold
            return boxes.nms(min(below(threshold), 1.0), class_agnostic) if len(boxes) else boxes

        def one(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            scores: np.ndarray = boxes.scores  # type: ignore[assignment]
            keep = sel[_nms_one_group(boxes.xyxy[sel], scores[sel], metric, threshold, order)]
            return keep, boxes.xyxy[keep]

        return _by_group(boxes, class_agnostic, order, one)

    return merge


def greedy_nmm_merger(
    metric: str, threshold: float, *, class_agnostic: bool = False, order: str = "sahi"
) -> Merger:
    """Greedy NMM (see the module docstring)."""

    def merge(boxes: Boxes) -> Boxes:
        boxes = _with_scores(boxes)

        def one(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            scores: np.ndarray = boxes.scores  # type: ignore[assignment]
            keepers, xyxy = _nmm_one_group(boxes.xyxy[sel], scores[sel], metric, threshold, order)
            return sel[keepers], xyxy

        return _by_group(boxes, class_agnostic, order, one)

    return merge


def merge_clusters(
    candidates: Boxes, kept: Boxes, metric: str, threshold: float, class_agnostic: bool
) -> tuple[Boxes, np.ndarray]:
    """Each kept box replaced by the score-weighted mean of the candidates that match it.

    A candidate is in a kept box's cluster when their overlap is ``>= threshold`` (and it is of the kept
    box's class unless ``class_agnostic``); a candidate may be in several clusters. Only pairs whose
    boxes touch are compared (a shapely ``STRtree`` finds them), so the cost grows with the number of
    overlapping pairs, not with ``len(kept) * len(candidates)``.

    Args:
        candidates: all candidate boxes with scores, pixels.
        kept: the boxes a merger kept (e.g. NMS: a subset of ``candidates``), pixels.
        metric: ``"iou"`` or ``"ios"``.
        threshold: cluster membership threshold (``>=``).
        class_agnostic: clusters across classes.

    Returns:
        ``(merged boxes with the kept scores and classes, (K,) summed scores of each cluster)``.
    """
    import shapely

    k = len(kept)
    if k == 0 or len(candidates) == 0:
        return kept, np.zeros(k)
    candidates = _with_scores(candidates)
    tree = shapely.STRtree(shapely.box(*kept.xyxy.T))
    cand_idx, kept_idx = tree.query(shapely.box(*candidates.xyxy.T))
    b = candidates.xyxy[cand_idx]
    member = paired_overlap_xyxy(kept.xyxy[kept_idx], b, metric) >= threshold
    if not class_agnostic:
        member &= kept.class_ids[kept_idx] == candidates.class_ids[cand_idx]
    weight = np.where(member, candidates.scores[cand_idx], 0.0)  # type: ignore[index]
    mass = np.bincount(kept_idx, weights=weight, minlength=k)
    sums = np.stack([np.bincount(kept_idx, weights=weight * b[:, j], minlength=k) for j in range(4)], axis=1)
    merged = np.where(mass[:, None] > 0, sums / np.maximum(mass, 1e-12)[:, None], kept.xyxy)
    return Boxes(merged, kept.class_ids, kept.scores), mass


def cluster_mean(
    boxes: Boxes, metric: str, threshold: float, *, class_agnostic: bool = False, order: str = "sahi",
    cluster_threshold: float | None = None,
) -> tuple[Boxes, np.ndarray]:  # fmt: skip
    """``cluster-mean`` with the cluster masses: ``(merged boxes, (K,) summed scores of each cluster)``.

    Args:
        boxes: detections, pixels.
        metric, threshold, class_agnostic, order: as :func:`get_merger` (NMS and clusters).
        cluster_threshold: cluster membership threshold (``>=``); None: ``threshold``.
    """
    kept = nms_merger(metric, threshold, class_agnostic=class_agnostic, order=order)(boxes)
    ct = threshold if cluster_threshold is None else float(cluster_threshold)
    return merge_clusters(boxes, kept, metric, ct, class_agnostic)


def cluster_mean_merger(
    metric: str, threshold: float, *, class_agnostic: bool = False, order: str = "sahi",
    cluster_threshold: float | None = None,
) -> Merger:  # fmt: skip
    """NMS, then cluster means (see :func:`cluster_mean`)."""

    def merge(boxes: Boxes) -> Boxes:
        return cluster_mean(
            boxes, metric, threshold, class_agnostic=class_agnostic, order=order,
            cluster_threshold=cluster_threshold,
        )[0]  # fmt: skip

    return merge


def merge_boxes(
    boxes: Boxes, method: str = "greedy-nmm", match: str = "ios", threshold: float = 0.5
) -> Boxes:
    """Merge duplicate detections (e.g. of overlapping tiles) class by class, in SAHI's order.

    Args:
        boxes: detections with scores, scene pixels.
        method: a merger name (:func:`merger_names`: ``nms``, ``greedy-nmm``, ``cluster-mean``).
        match: ``"iou"`` or ``"ios"``.
        threshold: boxes match when their overlap is ``>= threshold``, in (0, 1].

    Returns:
        The merged detections, sorted by score (highest first), with scores.

    Raises:
        ConfigError: on an unknown method or metric, or a threshold outside (0, 1].
    """
    check_merge_options(method, match, threshold)
    return get_merger(method, match, threshold)(boxes)


def top_k(boxes: Boxes, k: int) -> Boxes:
    """The ``k`` highest-scoring boxes (all when there are fewer), highest first."""
    if len(boxes) <= k:
        return boxes
    scores = boxes.scores if boxes.scores is not None else np.ones(len(boxes))
    return boxes[score_order(boxes.xyxy, scores)[:k]]

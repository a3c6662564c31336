"""COCO mAP of detection runs against one ground truth, computed by pycocotools' ``COCOeval`` itself.

Every number is read from ``COCOeval.eval["precision"]`` (T, R, K, A, M) and ``eval["recall"]``
(T, K, A, M), averaged exactly as ``COCOeval.summarize`` does (the mean over entries > -1), but at
the user's ``max_dets`` (``params.maxDets = [1, 10, max_dets]``) rather than summarize's fixed 100.
pycocotools' -1 sentinel (e.g. a class absent from the ground truth) becomes NaN ("n/a").
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tiledet.errors import ConfigError
from tiledet.evaluate.area_m2 import AreaMetrics, area_ranges, area_table, scaled_ground_truth, scaled_results
from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.detections import (
    DetectionCounts,
    GtLookup,
    MatchedDetections,
    match_detections,
    read_results_json,
)
from tiledet.evaluate.geo_dets import is_geo_detections, read_geo_entries
from tiledet.evaluate.gt import GroundTruth, load_ground_truth
from tiledet.evaluate.scenes import SceneCatalog
from tiledet.label_records import LabeledDataset

#: Summary keys, in display order; ``AR@max`` is the recall at ``max_dets`` detections per image.
SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@1", "AR@10", "AR@max", "ARs", "ARm", "ARl")


@dataclass(frozen=True)
class ClassMetrics:
    """AP of one ground-truth category (NaN when the category has no ground-truth boxes).

    Attributes:
        name: category name.
        category_id: COCO category id in the ground truth.
        num_gt: ground-truth boxes of this category.
        num_det: evaluated detections of this category.
        ap: AP@[.5:.95] at ``max_dets``.
        ap50: AP at IoU 0.5 at ``max_dets``.
    """

    name: str
    category_id: int
    num_gt: int
    num_det: int
    ap: float
    ap50: float

    def to_dict(self) -> dict:
        """JSON-ready form (NaN -> None)."""
        return {
            "name": self.name,
            "category_id": self.category_id,
            "num_gt": self.num_gt,
            "num_det": self.num_det,
            "AP": _json_float(self.ap),
            "AP50": _json_float(self.ap50),
        }


@dataclass(frozen=True, eq=False)
class RunMetrics:
    """Metrics of one detection run.

    Attributes:
        name: run name (the results file's stem, made unique).
        source: the results file.
        max_dets: the detection cap per image the numbers are at.
        summary: :data:`SUMMARY_KEYS` -> value in [0, 1], NaN where pycocotools has no entry (-1).
        per_class: one entry per ground-truth category, in ground-truth order.
        counts: what happened to the entries of the results file.
        pr_recall: (R,) recall thresholds (pycocotools' 101 points 0, 0.01, ..., 1).
        pr_precision: (K, R) interpolated precision per category at IoU 0.5, area all, ``max_dets``;
            NaN rows for categories absent from the ground truth.
        backend: the evaluation backend.
        by_area_m2: AP by ground-truth area in m² (:mod:`tiledet.evaluate.area_m2`), one entry per
            range of ``EvalConfig.area_m2_edges``; empty when some scene's GSD is unknown.
        area_m2_note: why ``by_area_m2`` is empty (empty when it is not).
    """

    name: str
    source: str
    max_dets: int
    summary: dict[str, float]
    per_class: tuple[ClassMetrics, ...]
    counts: DetectionCounts
    pr_recall: np.ndarray
    pr_precision: np.ndarray
    backend: str = "faster"
    by_area_m2: tuple[AreaMetrics, ...] = ()
    area_m2_note: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (NaN -> None; PR curves left out)."""
        return {
            "name": self.name,
            "source": self.source,
            "backend": self.backend,
            "max_dets": self.max_dets,
            "summary": {k: _json_float(v) for k, v in self.summary.items()},
            "per_class": [c.to_dict() for c in self.per_class],
            "detections": self.counts.to_dict(),
            "by_area_m2": [a.to_dict() for a in self.by_area_m2] if self.by_area_m2 else None,
            "area_m2_note": self.area_m2_note or None,
        }


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _mean_valid(values: np.ndarray) -> float:
    """Mean over entries > -1, as COCOeval.summarize; NaN when there are none."""
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else math.nan


def summarize_eval(
    precision: np.ndarray, recall: np.ndarray, params: object, max_dets: int
) -> dict[str, float]:
    """The 12 summary numbers of an accumulated COCOeval at ``max_dets`` (see :data:`SUMMARY_KEYS`).

    Args:
        precision: (T, R, K, A, M) ``COCOeval.eval["precision"]``.
        recall: (T, K, A, M) ``COCOeval.eval["recall"]``.
        params: the evaluation's ``COCOeval.params`` (iouThrs, areaRngLbl, maxDets).
        max_dets: the cap to report AP/AR at (must be in ``params.maxDets``).
    """
    labels = list(params.areaRngLbl)  # type: ignore[attr-defined]
    caps = [int(m) for m in params.maxDets]  # type: ignore[attr-defined]
    iou = np.asarray(params.iouThrs)  # type: ignore[attr-defined]
    m, a = caps.index(max_dets), labels.index("all")
    t50, t75 = np.where(iou == 0.5)[0], np.where(iou == 0.75)[0]
    area = {"s": labels.index("small"), "m": labels.index("medium"), "l": labels.index("large")}
    out = {
        "AP": _mean_valid(precision[:, :, :, a, m]),
        "AP50": _mean_valid(precision[t50][:, :, :, a, m]),
        "AP75": _mean_valid(precision[t75][:, :, :, a, m]),
    }
    out.update({f"AP{k}": _mean_valid(precision[:, :, :, i, m]) for k, i in area.items()})
    out["AR@1"] = _mean_valid(recall[:, :, a, caps.index(1)])
    out["AR@10"] = _mean_valid(recall[:, :, a, caps.index(10)])
    out["AR@max"] = _mean_valid(recall[:, :, a, m])
    out.update({f"AR{k}": _mean_valid(recall[:, :, i, m]) for k, i in area.items()})
    return {k: out[k] for k in SUMMARY_KEYS}


class _Backend:
    """Builds the ground-truth COCO object once and evaluates result lists against it."""

    def __init__(self, gt: GroundTruth, backend: str) -> None:
        self.backend = backend
        with contextlib.redirect_stdout(io.StringIO()):
            if backend == "faster":
                try:
                    from faster_coco_eval import COCO
                except ImportError as e:
                    raise ConfigError(
                        f"backend=faster needs faster-coco-eval ({e}); pip install faster-coco-eval, "
                        "or use backend=pycocotools",
                        field="backend",
                    ) from e
            else:
                from pycocotools.coco import COCO
            self.coco_gt = COCO()
            self.coco_gt.dataset = gt.coco
            self.coco_gt.createIndex()

    def _results(self, results: list[dict]) -> object:
        if results:
            return self.coco_gt.loadRes(results)
        res = type(self.coco_gt)()  # pycocotools' loadRes cannot take an empty list
        res.dataset = {
            "images": list(self.coco_gt.dataset["images"]),
            "categories": copy.deepcopy(self.coco_gt.dataset["categories"]),
            "annotations": [],
        }
        res.createIndex()
        return res

    def evaluate(
        self, results: list[dict], max_dets: list[int], ranges: list[tuple[str, float, float]] | None = None
    ) -> tuple[np.ndarray, np.ndarray, object]:
        """``(precision, recall, params)`` of an evaluated and accumulated COCOeval.

        ``ranges``: ``(label, low, high)`` area ranges after ``"all"`` (default: COCO's small, medium, large).
        """
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = self._results(results)
            if self.backend == "faster":
                from faster_coco_eval import COCOeval_faster

                ev = COCOeval_faster(self.coco_gt, coco_dt, "bbox", print_function=lambda *a, **k: None)
            else:
                from pycocotools.cocoeval import COCOeval

                ev = COCOeval(self.coco_gt, coco_dt, "bbox")
            ev.params.maxDets = list(max_dets)
            if ranges is not None:
                ev.params.areaRng = [[0.0, ev.params.areaRng[0][1]]] + [[lo, hi] for _, lo, hi in ranges]
                ev.params.areaRngLbl = ["all"] + [label for label, _, _ in ranges]
            ev.evaluate()
            ev.accumulate()
        return np.asarray(ev.eval["precision"]), np.asarray(ev.eval["recall"]), ev.params


def run_names(sources: Sequence[str]) -> list[str]:
    """Unique, file-name-safe run names from results sources (stems; ``-2``, ``-3`` on repeats)."""
    names: list[str] = []
    for i, src in enumerate(sources):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(src).stem if src else "") or f"run{i + 1}"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def _per_class(
    gt: GroundTruth, matched: MatchedDetections, precision: np.ndarray, params: object, max_dets: int
) -> tuple[ClassMetrics, ...]:
    cat_ids = [int(c) for c in params.catIds]  # type: ignore[attr-defined]
    m = [int(x) for x in params.maxDets].index(max_dets)  # type: ignore[attr-defined]
    a = list(params.areaRngLbl).index("all")  # type: ignore[attr-defined]
    t50 = np.where(np.asarray(params.iouThrs) == 0.5)[0]  # type: ignore[attr-defined]
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in gt.coco["categories"]}
    gt_counts: dict[int, int] = {}
    for ann in gt.coco["annotations"]:
        gt_counts[ann["category_id"]] = gt_counts.get(ann["category_id"], 0) + 1
    det_ids, det_n = np.unique(matched.category_ids, return_counts=True)
    det_counts = dict(zip(det_ids.tolist(), det_n.tolist(), strict=True))
    return tuple(
        ClassMetrics(
            name=names[cid],
            category_id=cid,
            num_gt=gt_counts.get(cid, 0),
            num_det=det_counts.get(cid, 0),
            ap=_mean_valid(precision[:, :, k, a, m]),
            ap50=_mean_valid(precision[t50][:, :, k, a, m]),
        )
        for k, cid in enumerate(cat_ids)
    )


def _as_ground_truth(gt: GroundTruth | LabeledDataset | dict | str | Path, cfg: EvalConfig) -> GroundTruth:
    if isinstance(gt, GroundTruth):
        return gt
    if isinstance(gt, LabeledDataset):
        from tiledet.evaluate.gt import validate_coco_gt
        from tiledet.formats.coco import to_coco_dict

        return GroundTruth(validate_coco_gt(to_coco_dict(gt), "<dataset>"), "<dataset>", "dataset")
    if isinstance(gt, dict):
        from tiledet.evaluate.gt import validate_coco_gt

        return GroundTruth(validate_coco_gt(gt, "<dict>"), "<dict>", "coco")
    return load_ground_truth(Path(gt), cfg.split, cfg.images_dir, cfg.fmt, cfg.classes)


def evaluate(
    gt: GroundTruth | LabeledDataset | dict | str | Path,
    detections: Sequence[str | Path | list],
    cfg: EvalConfig | None = None,
    names: Sequence[str] | None = None,
) -> list[RunMetrics]:
    """Evaluate one or more detection runs against the same ground truth.

    Args:
        gt: ground truth: a loaded :class:`GroundTruth`, a :class:`~tiledet.labels.LabeledDataset`
            (e.g. ``tiledet.load_labels(...).dataset``), a COCO dict, or a file for
            :func:`~tiledet.evaluate.gt.load_ground_truth`.
        detections: per run, a COCO results JSON file or a list of results entries.
        cfg: settings (default :class:`EvalConfig`).
        names: run names; default the files' stems (``run1``, ... for lists), made unique.

    Returns:
        One :class:`RunMetrics` per run, in input order.
    """
    cfg = cfg or EvalConfig()
    ground = _as_ground_truth(gt, cfg)
    lookup = ground.lookup()
    catalog = SceneCatalog(cfg.images_dir, lookup.file_names)
    sources = [str(d) if isinstance(d, (str, Path)) else "" for d in detections]
    run_list = list(names) if names is not None else run_names(sources)
    if len(run_list) != len(sources):
        raise ConfigError(f"{len(run_list)} run names for {len(sources)} detection runs")
    backend = _Backend(ground, cfg.backend)
    by_area = _AreaM2(ground, catalog, cfg)
    out = []
    for det, src, name in zip(detections, sources, run_list, strict=True):
        entries = _entries(det, lookup, catalog)
        matched = match_detections(entries, lookup, src or f"<{name}>", cfg.strict)
        del entries  # the parsed JSON is not needed during evaluation (peak memory)
        out.append(by_area(_run_metrics(ground, backend, matched, name, cfg), matched))
    return out


def _entries(det: str | Path | list, lookup: GtLookup, catalog: SceneCatalog) -> list:
    """Results entries of one run: a list as given, a COCO results JSON, or a geo file turned into pixels."""
    if not isinstance(det, (str, Path)):
        return det
    return read_geo_entries(det, lookup, catalog) if is_geo_detections(det) else read_results_json(det)


class _AreaM2:
    """AP by area in m² (:mod:`tiledet.evaluate.area_m2`): the ground truth in metres, evaluated once
    per run; a no-op that notes why when some scene's GSD is unknown."""

    def __init__(self, ground: GroundTruth, catalog: SceneCatalog, cfg: EvalConfig) -> None:
        gsd, self.note = catalog.gsd_m()
        self.cfg, self.coco_m, self.gsd_by_id = cfg, None, {}
        if gsd is not None:
            self.coco_m, self.gsd_by_id = scaled_ground_truth(ground.coco, gsd)
            self.backend = _Backend(GroundTruth(self.coco_m, ground.source, ground.kind), cfg.backend)

    def __call__(self, run: RunMetrics, matched: MatchedDetections) -> RunMetrics:
        if self.coco_m is None:
            return replace(run, area_m2_note=self.note)
        results = scaled_results(matched.image_ids, matched.xywh, matched.category_ids, matched.scores,
                                 self.gsd_by_id)  # fmt: skip
        ranges = area_ranges(self.cfg.area_m2_edges)
        precision, recall, params = self.backend.evaluate(results, self.cfg.max_dets_list, ranges)
        return replace(run, by_area_m2=area_table(precision, recall, params, self.cfg.max_dets, self.coco_m))


def _run_metrics(
    ground: GroundTruth, backend: _Backend, matched: MatchedDetections, name: str, cfg: EvalConfig
) -> RunMetrics:
    """Evaluate one matched run and read every number from the accumulated arrays."""
    precision, recall, params = backend.evaluate(matched.to_coco_results(), cfg.max_dets_list)
    t50 = np.where(np.asarray(params.iouThrs) == 0.5)[0][0]  # type: ignore[attr-defined]
    a = list(params.areaRngLbl).index("all")  # type: ignore[attr-defined]
    m = [int(x) for x in params.maxDets].index(cfg.max_dets)  # type: ignore[attr-defined]
    pr = precision[t50, :, :, a, m].T.copy()
    pr[pr < 0] = np.nan
    return RunMetrics(
        name=name,
        source=matched.source,
        max_dets=cfg.max_dets,
        summary=summarize_eval(precision, recall, params, cfg.max_dets),
        per_class=_per_class(ground, matched, precision, params, cfg.max_dets),
        counts=matched.counts,
        pr_recall=np.asarray(params.recThrs, dtype=np.float64).copy(),  # type: ignore[attr-defined]
        pr_precision=pr,
        backend=cfg.backend,
    )

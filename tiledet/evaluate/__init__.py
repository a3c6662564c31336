"""COCO mAP evaluation of detections (``tiledet eval``), computed by pycocotools' ``COCOeval``.

Public API: :func:`evaluate` (runs -> :class:`RunMetrics`), :func:`run_evaluation` (what the CLI does,
including outputs), :class:`EvalConfig`, and the results writers :func:`detections_to_results` and
:func:`write_results_json` for detectors.
"""

from __future__ import annotations

from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.detections import (
    DetectionCounts,
    detections_to_results,
    match_detections,
    read_results_json,
    write_results_json,
)
from tiledet.evaluate.gt import GroundTruth, load_ground_truth
from tiledet.evaluate.metrics import ClassMetrics, RunMetrics, evaluate
from tiledet.evaluate.report import EvalReport, run_evaluation

__all__ = [
    "ClassMetrics",
    "DetectionCounts",
    "EvalConfig",
    "EvalReport",
    "GroundTruth",
    "RunMetrics",
    "detections_to_results",
    "evaluate",
    "load_ground_truth",
    "match_detections",
    "read_results_json",
    "run_evaluation",
    "write_results_json",
]

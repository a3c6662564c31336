"""Scoring trained weights the way they will be used: sliced inference over untiled scenes.

``tiledet convert --tile`` writes ``annotations/val_full.json``, the COCO ground truth of the untiled
validation scenes (``info.images_dir`` names their folder). The per-tile mAP Ultralytics prints
during training is not this number: objects cut by tile edges, duplicates across overlaps and the
merge all change it.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tiledet.detect.config import SliceConfig
from tiledet.detect.yolo_predict import YoloPredictor
from tiledet.detect.yolo_run import SceneRef, detect_scenes
from tiledet.errors import InputError
from tiledet.evaluate import detections_to_results, run_evaluation, write_results_json
from tiledet.evaluate.config import EvalConfig

if TYPE_CHECKING:
    from tiledet.detect.yolo_data import DatasetInfo
    from tiledet.outdir import OutputDir

#: Detections kept per image when scoring whole scenes (pycocotools ``maxDets``; dense scenes need many).
VAL_FULL_MAX_DETS = 1000
#: Score threshold when scoring whole scenes: mAP integrates the whole precision-recall curve, so low
#: scores count (Ultralytics' own validation uses 0.001 too; a young model's scores are all low).
VAL_FULL_CONF = 0.001
#: Merge of the windows' boxes when scoring: NMS. Greedy NMM replaces a box by its union with every box
#: it absorbs, so at conf 0.001 a car's box absorbs a loose low-score box around its neighbours and
#: grows (demo scenes: mAP50 0.21 with greedy NMM, 0.71 with NMS, same weights).
VAL_FULL_MERGE = "nms"


def val_full_scenes(gt_path: Path) -> list:
    """The scenes of a ``val_full.json`` as :class:`~tiledet.detect.yolo_run.SceneRef` (absolute paths).

    Raises:
        InputError: when the file is unreadable or its ``info.images_dir`` is missing.
    """

    try:
        coco = json.loads(Path(gt_path).read_text(encoding="utf-8"))
        images_dir = Path(coco["info"]["images_dir"])
        names = [str(im["file_name"]) for im in coco["images"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{gt_path}: cannot read the untiled validation ground truth ({e})") from e
    return [SceneRef(images_dir / name, name) for name in names]


def _clean(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def evaluate_val_full(weights: Path, info: DatasetInfo, imgsz: int, device: str, od: OutputDir,
                      trust_weights: bool = False) -> dict:
    """Sliced inference of ``weights`` on the dataset's untiled val scenes, scored with tiledet eval.

    Writes ``val_full/dets.json`` and ``val_full/metrics.json`` into ``od``. ``trust_weights``: load
    ``weights`` with full unpickling (``--trust-weights``), else safely.

    Returns:
        Summary: ``AP50``, ``AP``, the scene and box counts, seconds and the slicing settings.
    """

    assert info.val_full is not None  # caller checks; not user input
    scenes = val_full_scenes(info.val_full)
    slicing = SliceConfig(tile=info.tile or imgsz, overlap=info.overlap if info.overlap is not None else 0.2,
                          conf=VAL_FULL_CONF, merge=VAL_FULL_MERGE, device=device,
                          trust_weights=trust_weights)
    predictor = YoloPredictor(weights, slicing)
    entries: list[dict] = []
    t0 = time.perf_counter()
    for scene, boxes, _ in detect_scenes(predictor, scenes):
        entries.extend(detections_to_results(scene.file_name, boxes, predictor.class_names))
    seconds = time.perf_counter() - t0
    dets = od.path("val_full/dets.json")
    write_results_json(dets, entries)
    report = run_evaluation(info.val_full, [dets], EvalConfig(max_dets=VAL_FULL_MAX_DETS))
    od.write_json("val_full/metrics.json", report.to_dict())
    summary = report.runs[0].summary
    return {
        "AP50": _clean(summary.get("AP50")), "AP": _clean(summary.get("AP")),
        "scenes": len(scenes), "detections": len(entries), "seconds": round(seconds, 2),
        "max_dets": VAL_FULL_MAX_DETS, "ground_truth": str(info.val_full),
        "slicing": {"tile": predictor.tile, "overlap": slicing.overlap, "merge": slicing.merge,
                    "match": slicing.match, "merge_threshold": slicing.merge_threshold, "conf": slicing.conf},
    }

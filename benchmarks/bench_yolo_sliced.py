"""Benchmark: tiledet's batched sliced YOLO inference vs SAHI and patched_yolo_infer, in one run.

Same weights, same scenes, same tiles (320 px, overlap 0.2: stride 256 for all three tools; scenes of
2112 px are exactly 8 x 8 tiles, so patched_yolo_infer does not resize them), same per-tile settings
(conf 0.05, NMS IoU 0.7, Ultralytics fp32 on CPU), same merge:

- vs SAHI ``get_sliced_prediction`` (no standard full-image pass): greedy NMM, IoS >= 0.5, class-aware
  (SAHI's defaults, tiledet's defaults; ``force_postprocess_type`` keeps SAHI from switching itself to
  NMS/IoU at conf < 0.1). SAHI runs twice: as shipped (batch 1, torch on the ``cores - 1`` threads
  Ultralytics' ``select_device`` sets) -- the target's peer -- and at its best (``batch_size=16``,
  torch on every core, as tiledet's torch engine runs);
- vs patched_yolo_infer ``MakeCropsDetectThem(batch_inference=True)`` + ``CombineDetections``: it only
  offers NMS, so both run NMS, IoS >= 0.5, class-aware, its area sorter off.

Times cover detection on images already in memory (model loading and a warm-up excluded); mAP50 is
pycocotools' (``tiledet.evaluate``) against the scenes' ground truth. tiledet runs once per engine
(torch, torch-bf16, onnx, openvino). ``bench_yolo_default.py`` runs tiledet with no options at all
(engine auto) against SAHI at its best on these scenes.

Weights: ``--weights``, default the model ``bench_yolo_solid.py`` trains (trained here the same way
when missing). ``--quick`` without those weights uses an untrained yolo11n (timings only).

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_yolo_sliced.py [--weights best.pt] [--scenes 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _report import report

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORK = Path(tempfile.gettempdir()) / "tiledet-bench-sliced"
SOLID_WEIGHTS = Path(tempfile.gettempdir()) / "tiledet-bench-solid" / "full" / "run" / "weights" / "best.pt"
TILE, OVERLAP, CONF, IOU, THRESH = 320, 0.2, 0.05, 0.7, 0.5
REPEATS = [3]


def timed(fn: Callable[[], list]) -> tuple[float, list]:
    """Best wall time of ``REPEATS`` runs of ``fn`` (the machine is shared: the minimum is the signal)."""
    best, result = float("inf"), []
    for _ in range(REPEATS[0]):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def make_scenes(n: int, size: int) -> tuple[list[np.ndarray], Path]:
    """``n`` solid-object scenes (RGB) and their COCO ground truth file."""
    import cv2

    from tiledet.synth.solid import write_solid_dataset

    names = [f"scene_{i:02d}.png" for i in range(n)]
    count = int(20 * (size / 512) ** 2)
    write_solid_dataset(WORK / "scenes", n, (size, size), seed=2, count=count, names=names)
    images = [cv2.imread(str(WORK / "scenes" / "images" / name))[:, :, ::-1].copy() for name in names]
    return images, WORK / "scenes" / "labels.json"


def untrained_weights() -> Path:
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    path = WORK / "untrained.pt"
    model = YOLO("yolo11n.yaml")
    model.model.names = {0: "square", 1: "disc", 2: "triangle"}
    model.save(str(path))
    return path


def map50(gt: Path, per_scene: list[tuple[str, object]], tag: str) -> float:
    from tiledet.evaluate import detections_to_results, run_evaluation, write_results_json
    from tiledet.evaluate.config import EvalConfig

    entries = []
    for name, boxes in per_scene:
        entries.extend(detections_to_results(name, boxes, ["square", "disc", "triangle"]))
    path = WORK / f"dets_{tag}.json"
    write_results_json(path, entries)
    return float(run_evaluation(gt, [path], EvalConfig(max_dets=1000)).runs[0].summary["AP50"])


def run_tiledet(weights: Path, images: list[np.ndarray], engine: str, merge: str) -> tuple[float, list]:
    from tiledet.detect.config import SliceConfig
    from tiledet.detect.yolo_predict import YoloPredictor

    cfg = SliceConfig(tile=TILE, overlap=OVERLAP, conf=CONF, iou=IOU, merge=merge, match="ios",
                      merge_threshold=THRESH, batch_size=16, device="cpu", engine=engine)
    predictor = YoloPredictor(weights, cfg)
    predictor(images[0][:640, :640])  # warm-up
    return timed(lambda: [predictor(image) for image in images])


def sahi_predictor(weights: Path, batch_size: int = 1, all_cores: bool = False,
                   warm: np.ndarray | None = None) -> Callable[[np.ndarray], object]:
    """SAHI's ``get_sliced_prediction`` as ``predict(image) -> Boxes``; ``batch_size`` slices per model
    call (SAHI's default 1).

    ``all_cores``: after a warm-up on ``warm`` (where Ultralytics' ``select_device`` sets torch to
    ``cores - 1`` threads), give torch every core, as tiledet's torch engine has.
    """
    import torch
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    from tiledet.boxes import Boxes
    from tiledet.ultra import cpu_threads

    model = AutoDetectionModel.from_pretrained(model_type="ultralytics", model_path=str(weights),
                                               confidence_threshold=CONF, device="cpu", image_size=TILE)

    def predict(image: np.ndarray) -> Boxes:
        # force_postprocess_type: below conf 0.1 SAHI would otherwise switch itself to NMS/IoU
        pred = get_sliced_prediction(
            image, model, slice_height=TILE, slice_width=TILE, overlap_height_ratio=OVERLAP,
            overlap_width_ratio=OVERLAP, perform_standard_pred=False, postprocess_type="GREEDYNMM",
            postprocess_match_metric="IOS", postprocess_match_threshold=THRESH,
            postprocess_class_agnostic=False, verbose=0, batch_size=batch_size, force_postprocess_type=True,
        )
        ops = pred.object_prediction_list
        xyxy = np.array([p.bbox.to_xyxy() for p in ops], float).reshape(-1, 4)
        return Boxes(xyxy, [p.category.id for p in ops], [p.score.value for p in ops])

    if warm is not None:
        predict(warm)
    if all_cores:
        torch.set_num_threads(cpu_threads())
    return predict


def run_sahi(weights: Path, images: list[np.ndarray], batch_size: int = 1,
             all_cores: bool = False) -> tuple[float, list]:
    """Best time of SAHI over ``images`` (:func:`sahi_predictor`) and its boxes."""
    import torch

    predict = sahi_predictor(weights, batch_size, all_cores, warm=images[0][:640, :640])
    threads = torch.get_num_threads()
    seconds, results = timed(lambda: [predict(image) for image in images])
    if torch.get_num_threads() != threads:
        raise SystemExit("SAHI changed the torch thread count during the timed runs")
    print(f"  (SAHI ran with torch on {threads} thread(s), batch {batch_size})")
    return seconds, results


def run_patched(weights: Path, images: list[np.ndarray]) -> tuple[float, list] | None:
    try:
        from patched_yolo_infer import CombineDetections, MakeCropsDetectThem
    except ImportError:
        return None
    from ultralytics import YOLO

    from tiledet.boxes import Boxes

    model = YOLO(str(weights))

    def predict(image_bgr: np.ndarray) -> Boxes:
        crops = MakeCropsDetectThem(
            image=image_bgr, model=model, imgsz=TILE, conf=CONF, iou=IOU, shape_x=TILE, shape_y=TILE,
            overlap_x=int(OVERLAP * 100), overlap_y=int(OVERLAP * 100), batch_inference=True,
        )
        merged = CombineDetections(crops, nms_threshold=THRESH, match_metric="IOS", class_agnostic_nms=False,
                                   intelligent_sorter=False)
        xyxy = np.array(merged.filtered_boxes, float).reshape(-1, 4)
        return Boxes(xyxy, merged.filtered_classes_id, merged.filtered_confidences)

    bgr = [np.ascontiguousarray(image[:, :, ::-1]) for image in images]
    predict(bgr[0][:640, :640].copy())
    return timed(lambda: [predict(image) for image in bgr])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one scene (smoke test)")
    parser.add_argument("--weights", type=Path, default=SOLID_WEIGHTS,
                        help="YOLO .pt (default: the one bench_yolo_solid.py trains)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method, best kept (default 3)")
    parser.add_argument("--scenes", type=int, default=3, help="number of 2112 px scenes (default 3)")
    args = parser.parse_args()
    REPEATS[0] = max(1, 1 if args.quick else args.repeats)
    WORK.mkdir(parents=True, exist_ok=True)
    weights = args.weights
    if not weights.is_file():
        if args.quick:
            weights = untrained_weights()
        elif weights == SOLID_WEIGHTS:  # train them as bench_yolo_solid.py does (about 15 min on 2 cores)
            import bench_yolo_solid as solid

            data, _ = solid.build_data(SOLID_WEIGHTS.parents[2], 14, 4, 640)
            weights = Path(solid.train(data, SOLID_WEIGHTS.parents[2] / "run", 30)["best_weights"])
        else:
            raise SystemExit(f"{weights} not found")
    import torch

    print(f"weights {weights}; torch threads {torch.get_num_threads()}")
    images, gt = make_scenes(1 if args.quick else args.scenes, 2112)
    names = [f"scene_{i:02d}.png" for i in range(len(images))]
    tiles = len(images) * 64
    rows: dict[str, tuple[float, float]] = {}

    def record(tag: str, seconds: float, results: list) -> None:
        rows[tag] = (seconds, map50(gt, list(zip(names, results, strict=True)), tag))
        per_tile = seconds / tiles * 1000
        print(f"{tag:32s} {seconds:7.2f} s  ({per_tile:6.1f} ms/tile)  mAP50 {rows[tag][1]:.4f}", flush=True)

    record("sahi get_sliced_prediction", *run_sahi(weights, images))
    record("sahi batch 16, all cores", *run_sahi(weights, images, batch_size=16, all_cores=True))
    from tiledet.detect.engines import missing_packages

    for engine in ("torch", "torch-bf16", "onnx", "openvino"):
        if not missing_packages(engine):
            record(f"tiledet {engine} greedy-nmm", *run_tiledet(weights, images, engine, "greedy-nmm"))
    patched = run_patched(weights, images)
    if patched is not None:
        record("patched_yolo_infer batched nms", *patched)
        record("tiledet torch nms", *run_tiledet(weights, images, "torch", "nms"))
    sahi_s, sahi_map = rows["sahi get_sliced_prediction"]
    best_s, best_map = rows["sahi batch 16, all cores"]
    for tag, (seconds, m) in rows.items():
        if tag.startswith("tiledet") and "greedy" in tag:
            ratio = sahi_s / seconds
            ok = None if args.quick else (ratio >= 3 and abs(m - sahi_map) <= 0.01)
            report(f"sliced YOLO inference, {tag} ({len(images)} scenes, {tiles} tiles of {TILE} px)",
                   "SAHI get_sliced_prediction (its defaults: batch 1)", round(ratio, 2),
                   ">= 3x faster, |dmAP50| <= 0.01",
                   f"{seconds:.2f} s vs {sahi_s:.2f} s; mAP50 {m:.4f} vs {sahi_map:.4f}", ok)
            report(f"sliced YOLO inference, {tag} ({len(images)} scenes)",
                   "SAHI batch 16, torch on every core", round(best_s / seconds, 2), "(informative)",
                   f"{seconds:.2f} s vs {best_s:.2f} s; mAP50 {m:.4f} vs {best_map:.4f}", None)
    if patched is not None:
        p_s, p_map = rows["patched_yolo_infer batched nms"]
        t_s, t_map = rows["tiledet torch nms"]
        report(f"sliced YOLO inference, tiledet torch nms ({len(images)} scenes)",
               "patched_yolo_infer batched", round(p_s / t_s, 2), "faster, same mAP50",
               f"{t_s:.2f} s vs {p_s:.2f} s; mAP50 {t_map:.4f} vs {p_map:.4f}", None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

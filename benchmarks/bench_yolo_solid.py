"""Benchmark: YOLO trained on tiles reaches mAP50 >= 0.8 on unseen scenes with sliced inference.

Scenes of solid objects of three kinds (square, disc, triangle; 14-64 px) on noisy ground
(``tiledet.synth.solid``): 14 scenes of 640 px -> ``tiledet convert --tile 320`` (12 train, 2 val)
-> ``tiledet detect train-yolo`` (yolo11n from its YAML, 30 epochs, CPU, otherwise default settings:
AdamW lr 0.002, batch 16) -> ``tiledet detect yolo`` with default settings on 4 unseen 640 px scenes
-> ``tiledet eval`` (pycocotools). The trained weights are kept in ``--out`` for
``bench_yolo_sliced.py``.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_yolo_solid.py            # 30 epochs (~10 min, 2 cores)
    .venv/bin/python benchmarks/bench_yolo_solid.py --quick               # 2 epochs, smoke test
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _report import report

DEFAULT_OUT = Path(tempfile.gettempdir()) / "tiledet-bench-solid"


def build_data(out: Path, train_scenes: int, test_scenes: int, size: int) -> tuple[Path, Path]:
    """Solid-object scenes, tiled for training; returns (data.yaml, test folder with labels.json)."""
    from tiledet.cli import main
    from tiledet.synth.solid import write_solid_dataset

    write_solid_dataset(out / "train_scenes", train_scenes, (size, size), seed=0)
    names = [f"test_{i:03d}.png" for i in range(test_scenes)]
    write_solid_dataset(out / "test_scenes", test_scenes, (size, size), seed=1, names=names)
    code = main([
        "convert", str(out / "train_scenes" / "labels.json"), "--from", "coco",
        "--images", str(out / "train_scenes" / "images"), "--out", str(out / "tiles"), "--tile", "320",
        "--overlap", "0.2", "--val-fraction", str(2 / train_scenes), "--seed", "0", "--quiet",
    ])
    if code != 0:
        raise SystemExit(f"convert failed with exit code {code}")
    return out / "tiles" / "data.yaml", out / "test_scenes"


def train(data: Path, run: Path, epochs: int) -> dict:
    from tiledet.detect.config import TrainConfig
    from tiledet.detect.yolo_train import train_yolo

    t0 = time.perf_counter()
    result = train_yolo(TrainConfig(data=data, out=run, epochs=epochs, batch=16, workers=2, seed=0,
                                    device="cpu", force=True, plots=False))
    print(f"training: {epochs} epochs in {time.perf_counter() - t0:.0f} s; {result.batch_reason}")
    return result.to_dict()


def score(weights: Path, test: Path, out: Path) -> tuple[float, float, float]:
    """(mAP50, mAP50-95, seconds) of default sliced inference on the test scenes."""
    from tiledet.detect.config import DetectConfig, SliceConfig
    from tiledet.detect.yolo_run import run_detection
    from tiledet.evaluate import run_evaluation
    from tiledet.evaluate.config import EvalConfig

    dets = out / "test_dets.json"
    rep = run_detection(DetectConfig(weights=weights, images=(test / "images",), out=dets,
                                     slicing=SliceConfig(device="cpu"), force=True))
    metrics = run_evaluation(test / "labels.json", [dets], EvalConfig(max_dets=1000)).runs[0].summary
    return metrics["AP50"], metrics["AP"], rep.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs on 4 scenes (smoke test)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"work folder (default {DEFAULT_OUT})")
    args = parser.parse_args()
    epochs, train_scenes = (2, 4) if args.quick else (args.epochs, 14)
    out = args.out / ("quick" if args.quick else "full")
    out.mkdir(parents=True, exist_ok=True)
    data, test = build_data(out, train_scenes, 4, 640)
    run = train(data, out / "run", epochs)
    weights = Path(run["best_weights"])
    ap50, ap, seconds = score(weights, test, out)
    val = run.get("val_full") or {}
    print(json.dumps({"val_full_AP50": val.get("AP50"), "test_AP50": ap50, "test_AP": ap,
                      "test_seconds": round(seconds, 2), "weights": str(weights)}, indent=1))
    report("solid objects, YOLO on 320 px tiles, sliced inference mAP50 on 4 unseen 640 px scenes",
           "target", None, ">= 0.8", f"mAP50 {ap50:.3f}, mAP50-95 {ap:.3f} ({epochs} epochs)",
           None if args.quick else ap50 >= 0.8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

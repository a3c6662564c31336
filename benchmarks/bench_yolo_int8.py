"""Benchmark: OpenVINO INT8 (``tiledet detect export --int8``) vs OpenVINO fp32 on the solid bench.

Weights and data of ``bench_yolo_solid.py`` (yolo11n trained on 320 px tiles of solid-object scenes;
its ``data.yaml``'s val tiles calibrate INT8 through Ultralytics' exporter and NNCF). In one process:

- **speed**: the two engines' forward time on the same windows, cut into padded batches of 16
  beforehand (the 2112 px scenes of ``bench_yolo_sliced.py``), interleaved (the order alternating
  repeat by repeat), best of ``--repeats``;
- **accuracy**: mAP50 (pycocotools, ``tiledet.evaluate``) of ``detect yolo --engine openvino`` and
  ``--engine openvino-int8`` with every other setting at its default, on the solid bench's 4 unseen
  640 px scenes and on the 2112 px scenes.

Target: INT8 >= 1.5x faster, mAP50 at most 0.01 lower. Exports are made before timing (cached).

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_yolo_int8.py
    .venv/bin/python benchmarks/bench_yolo_int8.py --quick     # 1 scene, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _report import report
from bench_yolo_default import precut_batches, results_map50
from bench_yolo_sliced import SOLID_WEIGHTS, WORK, make_scenes

SOLID = SOLID_WEIGHTS.parents[2]  # bench_yolo_solid.py's work folder (full run)


def map50_of(weights: Path, engine: str, data: Path, scenes: Path, gt: Path, tag: str) -> float:
    """mAP50 of a default ``detect yolo`` run with ``engine`` over the images of ``scenes``."""
    from tiledet.detect.config import DetectConfig, SliceConfig
    from tiledet.detect.yolo_run import run_detection

    out = WORK / f"dets_{tag}_{engine}.json"
    slicing = SliceConfig(engine=engine, int8_data=data if engine.endswith("int8") else None)
    run_detection(DetectConfig(weights=weights, images=(scenes,), out=out, slicing=slicing, force=True))
    return results_map50(gt, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 scene of 2112 px, 1 repeat")
    parser.add_argument("--solid", type=Path, default=SOLID,
                        help=f"bench_yolo_solid.py's work folder (default {SOLID}; its quick run: .../quick)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="interleaved timed runs, best kept (default 5)")
    args = parser.parse_args()
    solid = args.solid
    weights, data = solid / "run" / "weights" / "best.pt", solid / "tiles" / "data.yaml"
    if not weights.is_file() or not data.is_file():
        raise SystemExit(f"{weights} or {data} not found: run benchmarks/bench_yolo_solid.py first")
    repeats = 1 if args.quick else max(1, args.repeats)
    images, gt = make_scenes(1 if args.quick else 3, 2112)
    from tiledet.detect.yolo_export import export_yolo

    t0 = time.perf_counter()
    export_yolo(weights, "openvino-int8", 320, 16, data=data)
    print(f"INT8 export (cached after the first run): {time.perf_counter() - t0:.1f} s")
    fp32, batches = precut_batches(weights, images, "openvino")
    int8, _ = precut_batches(weights, images[:1], "openvino-int8")
    print(f"OpenVINO CPU precision {fp32.precision}; {sum(len(b) for b in batches)} tiles in {len(batches)} "
          f"batches; load {os.getloadavg()[0]:.1f} (1-min) at start")
    best = {"fp32": float("inf"), "int8": float("inf")}
    for r in range(repeats):
        order = (("fp32", fp32), ("int8", int8))
        for name, engine in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            for batch in batches:
                engine(batch)
            best[name] = min(best[name], time.perf_counter() - t0)
        print(f"repeat {r + 1}: fp32 {best['fp32']:.2f} s, int8 {best['int8']:.2f} s (best so far); "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    speed = best["fp32"] / best["int8"]
    maps = {}
    for engine in ("openvino", "openvino-int8"):
        maps[engine] = (map50_of(weights, engine, data, solid / "test_scenes" / "images",
                                 solid / "test_scenes" / "labels.json", "solid"),
                        map50_of(weights, engine, data, WORK / "scenes" / "images", gt, "sliced"))
        print(f"{engine}: mAP50 {maps[engine][0]:.4f} (4 x 640 px), {maps[engine][1]:.4f} (2112 px scenes)")
    drop = maps["openvino"][0] - maps["openvino-int8"][0]
    report("OpenVINO INT8 vs fp32, forward on pre-cut 320 px batches of 16 (solid bench weights)",
           "OpenVINO fp32 (tiledet --engine openvino)", round(speed, 2), ">= 1.5x, mAP50 <= 0.01 lower",
           f"{best['int8']:.2f} s vs {best['fp32']:.2f} s; mAP50 {maps['openvino-int8'][0]:.4f} vs "
           f"{maps['openvino'][0]:.4f} (4 unseen 640 px scenes), {maps['openvino-int8'][1]:.4f} vs "
           f"{maps['openvino'][1]:.4f} (2112 px scenes)",
           None if args.quick else (speed >= 1.5 and drop <= 0.01))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

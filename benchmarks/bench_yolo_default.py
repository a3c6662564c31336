"""Benchmark: ``tiledet detect yolo`` with no options vs SAHI at its best, and vs the engine's own limit.

The scenes, weights and tiles of ``bench_yolo_sliced.py`` (2112 px solid-object scenes, 320 px tiles,
overlap 0.2; the weights ``bench_yolo_solid.py`` trains at imgsz 320, so tiledet's default tile is
320 and its defaults are the benchmark's settings: conf 0.05, NMS IoU 0.7, greedy NMM on IoS >= 0.5,
batch 16). In one process, interleaved repeat by repeat, best of ``--repeats``:

1. **defaults vs SAHI.** tiledet: ``run_detection`` with ``DetectConfig(weights, scene PNGs, out)``
   and nothing else (engine auto, device auto), as ``tiledet detect yolo best.pt scenes/ --out d.json``
   runs it; timed as the run's own detection seconds (scenes read from PNG, windows batched through
   the engine, merged; the figure the CLI prints), and also as the whole call (model load, engine
   choice, writing the JSON). SAHI: ``get_sliced_prediction`` at its best setting (batch 16, torch on
   both cores) on the scenes already in memory, model loaded beforehand. Target: >= 3x, mAP50 within
   0.01 (pycocotools through ``tiledet.evaluate``).
   Also SAHI as shipped (batch 1, torch on ``cores - 1`` threads), for information.
2. **limit ratio.** The same default run's detection seconds / the chosen engine's forward time alone
   on the same windows cut into padded batches beforehand (print both). Target: <= 1.2.

The first default run (a warm-up, untimed) exports the engines and probes them; later runs reuse
the export and the remembered choice. Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_yolo_default.py [--weights best.pt] [--scenes 3]
    .venv/bin/python benchmarks/bench_yolo_default.py --quick      # one scene, one repeat
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _report import report
from bench_yolo_sliced import SOLID_WEIGHTS, TILE, WORK, make_scenes, map50, sahi_predictor, untrained_weights


def default_run(weights: Path, scenes: list[Path], out: Path) -> tuple[float, float, dict]:
    """``(detection seconds, whole-call seconds, engine report)`` of a default run writing ``out``."""
    from tiledet.detect.config import DetectConfig
    from tiledet.detect.yolo_run import run_detection

    t0 = time.perf_counter()
    rep = run_detection(DetectConfig(weights=weights, images=tuple(scenes), out=out, force=True))
    return rep.seconds, time.perf_counter() - t0, rep.engine


def results_map50(gt: Path, dets: Path) -> float:
    """pycocotools' mAP50 of a COCO results JSON (``tiledet.evaluate``)."""
    from tiledet.evaluate import run_evaluation
    from tiledet.evaluate.config import EvalConfig

    return float(run_evaluation(gt, [dets], EvalConfig(max_dets=1000)).runs[0].summary["AP50"])


def precut_batches(weights: Path, images: list[np.ndarray], engine: str) -> tuple[object, list[np.ndarray]]:
    """The engine ``engine`` (as the default run built it, warmed up) and every window of ``images`` cut
    into padded batches of 16 beforehand."""
    from tiledet.detect.config import SliceConfig
    from tiledet.detect.yolo_decode import Letterbox, fill_batch
    from tiledet.detect.yolo_predict import YoloPredictor

    predictor = YoloPredictor(weights, SliceConfig(engine=engine))
    assert predictor.tile == TILE, f"the weights' default tile is {predictor.tile}, not {TILE}"
    batches = []
    for image in images:
        windows = predictor.windows((image.shape[1], image.shape[0]))
        box = Letterbox.for_window((TILE, TILE), predictor.stride)
        for i in range(0, len(windows), predictor.cfg.batch_size):
            batches.append(fill_batch(image, windows[i : i + predictor.cfg.batch_size], box))
    predictor.engine(batches[0])  # warm-up: OpenVINO compiles for the window size on its first call
    return predictor.engine, batches


def measure(weights: Path, images: list[np.ndarray], paths: list[Path], dets: Path, engine_name: str,
            repeats: int) -> tuple[dict, list]:
    """Best seconds of each variant over ``repeats`` interleaved rounds, and SAHI-best's boxes.

    Variants: ``tiledet`` (the default run's detection seconds), ``whole`` (the whole call),
    ``sahi`` (batch 16, torch on every core), ``sahi_shipped`` (SAHI's defaults: batch 1, torch on the
    ``cores - 1`` threads Ultralytics sets), ``forward`` (the engine alone on pre-cut batches).
    """
    import torch

    from tiledet.ultra import cpu_threads

    engine, batches = precut_batches(weights, images, engine_name)
    warm = images[0][:640, :640]
    shipped = sahi_predictor(weights, batch_size=1, warm=warm)
    shipped_threads = torch.get_num_threads()
    sahi = sahi_predictor(weights, batch_size=16, all_cores=True, warm=warm)
    best = {k: np.inf for k in ("tiledet", "whole", "sahi", "sahi_shipped", "forward")}
    theirs: list = []
    for r in range(repeats):
        seconds, whole, rep = default_run(weights, paths, dets)
        assert rep["engine"] == engine_name, "the default run changed its engine"
        times = {"tiledet": seconds, "whole": whole}
        variants = (("sahi", sahi, cpu_threads()), ("sahi_shipped", shipped, shipped_threads))
        for key, predict, threads in variants:
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            boxes = [predict(image) for image in images]
            times[key] = time.perf_counter() - t0
            theirs = boxes if key == "sahi" else theirs
        t0 = time.perf_counter()
        for batch in batches:
            engine(batch)
        times["forward"] = time.perf_counter() - t0
        for key, value in times.items():
            best[key] = min(best[key], value)
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
              + f"; load {os.getloadavg()[0]:.1f}", flush=True)
    best["tiles"] = sum(len(b) for b in batches)
    return best, theirs


def untrained_at_tile() -> Path:
    """``bench_yolo_sliced``'s untrained yolo11n, recorded as trained at imgsz 320 (the default tile)."""
    import torch

    path = WORK / "untrained_320.pt"
    ckpt = torch.load(untrained_weights(), weights_only=False)
    ckpt["train_args"] = {**(ckpt.get("train_args") or {}), "imgsz": TILE}
    torch.save(ckpt, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one scene, one repeat (smoke test)")
    parser.add_argument("--weights", type=Path, default=SOLID_WEIGHTS,
                        help="YOLO .pt trained at imgsz 320 (default: the one bench_yolo_solid.py trains)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved timed runs, best kept (default 3)")
    parser.add_argument("--scenes", type=int, default=3, help="number of 2112 px scenes (default 3)")
    args = parser.parse_args()
    repeats = 1 if args.quick else max(1, args.repeats)
    WORK.mkdir(parents=True, exist_ok=True)
    weights = args.weights
    if not weights.is_file():
        if not args.quick:
            raise SystemExit(f"{weights} not found: run benchmarks/bench_yolo_solid.py first")
        weights = untrained_at_tile()
    images, gt = make_scenes(1 if args.quick else args.scenes, 2112)
    paths = [WORK / "scenes" / "images" / f"scene_{i:02d}.png" for i in range(len(images))]
    print(f"weights {weights}; {len(images)} scenes; load {os.getloadavg()[0]:.1f} (1-min) at start")

    dets = WORK / "dets_default.json"
    _, _, engine_report = default_run(weights, paths, dets)  # exports, probes
    print(f"default engine: {engine_report['engine']} ({engine_report['reason']})")
    best, theirs = measure(weights, images, paths, dets, engine_report["engine"], repeats)
    names = [p.name for p in paths]
    m_ours = results_map50(gt, dets)
    m_sahi = map50(gt, list(zip(names, theirs, strict=True)), "sahi_best")
    tiles = best["tiles"]
    ratio = best["sahi"] / best["tiledet"]
    ok = None if args.quick else (ratio >= 3 and abs(m_ours - m_sahi) <= 0.01)
    report(f"sliced YOLO, tiledet detect yolo with no options (engine {engine_report['engine']}; "
           f"{len(images)} scenes, {tiles} tiles of {TILE} px)",
           "SAHI get_sliced_prediction, batch 16, both cores",
           round(ratio, 2), ">= 3x, |dmAP50| <= 0.01",
           f"{best['tiledet']:.2f} s vs {best['sahi']:.2f} s (whole call {best['whole']:.2f} s: "
           f"{best['sahi'] / best['whole']:.2f}x); mAP50 {m_ours:.4f} vs {m_sahi:.4f}", ok)
    report(f"sliced YOLO, tiledet detect yolo with no options ({len(images)} scenes)",
           "SAHI get_sliced_prediction as shipped (batch 1, torch on cores - 1 threads)",
           round(best["sahi_shipped"] / best["tiledet"], 2), "(informative)",
           f"{best['tiledet']:.2f} s vs {best['sahi_shipped']:.2f} s", None)
    limit = best["tiledet"] / best["forward"]
    report(f"sliced YOLO default run / {engine_report['engine']} forward alone on the same pre-cut batches",
           "the engine's forward time", round(limit, 2), "<= 1.2",
           f"{best['tiledet']:.2f} s vs {best['forward']:.2f} s ({tiles} tiles)",
           None if args.quick else limit <= 1.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

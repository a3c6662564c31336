"""Sliced YOLO time on a COG (read window by window) vs the same scene as a PNG decoded whole.

Issue 19's target: ``tiledet detect yolo`` on the COG takes <= 1.1x its time on the PNG of the same
pixels (same weights, same tiles: 640 px, overlap 0.2, batch 16, torch on CPU). The scene is an
8000 x 8000 x 3 uint8 COG from ``_cog.py`` with its PNG (cached under ``$TILEDET_BENCH_DIR``); the
weights an untrained ``yolo11n.yaml`` built offline (time only). Each run is a whole
``python -m tiledet detect yolo`` process (start-up, model loading and decoding included, as a user
sees it); both scenes run alternately ``--repeats`` times and the best of each is kept. The two runs'
detections are compared (same pixels, same boxes expected).

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_cog_time.py [--side 8000] [--repeats 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import _cog
from _report import report

TARGET = 1.1


def detect(scene_path: Path, weights: Path, out: Path, conf: float) -> float:
    """Wall seconds of one ``detect yolo`` process on ``scene_path`` (results to ``out``)."""
    cmd = [sys.executable, "-m", "tiledet", "detect", "yolo", str(weights), str(scene_path),
           "--out", str(out), "--tile", "640", "--overlap", "0.2", "--batch-size", "16", "--device", "cpu",
           "--engine", "torch", "--conf", str(conf), "--quiet"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"detect yolo failed on {scene_path} ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def _boxes(path: Path) -> list[tuple]:
    """The detections of a results file, scene name left out, sorted."""
    return sorted((tuple(round(v, 3) for v in e["bbox"]), e["category_id"], round(e["score"], 4))
                  for e in json.loads(path.read_text()))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8000, help="scene side, px (default 8000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per scene, best kept (default 3)")
    parser.add_argument("--conf", type=float, default=0.001, help="detect yolo --conf (default 0.001)")
    parser.add_argument("--quick", action="store_true", help="a 3000 x 3000 scene, one run each")
    args = parser.parse_args()
    side, repeats = (3000, 1) if args.quick else (args.side, max(1, args.repeats))
    scene = _cog.cached_cog(side, write_png=True)
    weights = _cog.tiny_yolo_weights()
    out = _cog.bench_dir() / "time-out"
    out.mkdir(parents=True, exist_ok=True)
    sizes = {p.suffix: p.stat().st_size / 2**20 for p in (scene.path, scene.png_path)}
    print(f"scene {side} x {side} x 3: COG {sizes['.tif']:.0f} MiB, PNG {sizes['.png']:.0f} MiB; "
          f"weights {weights.name}; {repeats} run(s) each, alternating")  # fmt: skip
    best = {"cog": float("inf"), "png": float("inf")}
    for _ in range(repeats):
        for kind, path in (("cog", scene.path), ("png", scene.png_path)):
            seconds = detect(path, weights, out / f"dets_{kind}.json", args.conf)
            best[kind] = min(best[kind], seconds)
            print(f"  {kind}: {seconds:.1f} s", flush=True)
    same = _boxes(out / "dets_cog.json") == _boxes(out / "dets_png.json")
    count = len(_boxes(out / "dets_cog.json"))
    ratio = best["cog"] / best["png"]
    agree = "identical" if same else "DIFFERENT"
    print(f"best: COG {best['cog']:.1f} s, PNG {best['png']:.1f} s, COG/PNG {ratio:.3f} "
          f"(target <= {TARGET}); {count} detections, {agree} on both")  # fmt: skip
    report(f"sliced YOLO time, {side}^2 COG vs PNG", "same scene as PNG, decoded whole", ratio,
           f"COG/PNG <= {TARGET}", f"{best['cog']:.1f} s vs {best['png']:.1f} s; detections "
           f"{'identical' if same else 'differ'} ({count})", ratio <= TARGET)  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: peak memory of YOLO training on 640 px tiles vs plain Ultralytics on untiled scenes.

Synthetic xView-style scenes (``tiledet synth``, vehicles ~20 px) of two sizes, S and 2S. Each
configuration trains yolo11n from its YAML for one epoch (batch 4, CPU, dataloader in-process so one
process holds everything) in its own child process; the figure is the child's peak resident memory
(``ru_maxrss``), or, on CUDA (``--device cuda``), its peak allocated GPU memory.

- tiled: ``tiledet convert --tile 640`` + ``tiledet detect train-yolo`` at imgsz 640;
- untiled: plain ``ultralytics.YOLO.train`` on the whole scenes at the smallest imgsz (multiple of 32)
  that keeps 20 px objects >= 8 px, i.e. imgsz >= 0.4 x scene side.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_yolo_train_memory.py          # S = 1600 px
    .venv/bin/python benchmarks/bench_yolo_train_memory.py --quick             # S = 800 px
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import report

WORK = Path(tempfile.gettempdir()) / "tiledet-bench-trainmem"

CHILD = r"""
import json, os, resource, sys
kind, data, run, imgsz, device = sys.argv[1:6]
os.environ.setdefault("YOLO_OFFLINE", "1")
peak_gpu = None
if kind == "tiled":
    from tiledet.detect.config import TrainConfig
    from tiledet.detect.yolo_train import train_yolo
    train_yolo(TrainConfig(data=data, out=run, epochs=1, batch=4, imgsz=int(imgsz), workers=0, device=device,
                           plots=False, evaluate_full=False, force=True))
else:
    from tiledet.detect.offline import offline_ultralytics
    offline_ultralytics()
    from ultralytics import YOLO
    YOLO("yolo11n.yaml").train(data=data, epochs=1, batch=4, imgsz=int(imgsz), workers=0, device=device,
                               plots=False, project=os.path.dirname(run), name=os.path.basename(run),
                               exist_ok=True, verbose=False, optimizer="AdamW", lr0=0.002)
if device != "cpu":
    import torch
    peak_gpu = torch.cuda.max_memory_allocated()
print("PEAK", json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "gpu": peak_gpu}))
"""


def make_dataset(size: int, tiled: bool) -> Path:
    from tiledet.cli import main

    synth = WORK / f"synth_{size}"
    if not (synth / "labels.csv").is_file():
        args = ["synth", "--out", str(synth), "--scenes", "3", "--size", str(size), str(size), "--seed", "0"]
        code = main(args)
        assert code == 0
    out = WORK / f"{'tiles' if tiled else 'whole'}_{size}"
    args = ["convert", str(synth / "labels.csv"), "--images", str(synth / "images"), "--out", str(out),
            "--val-fraction", "0.34", "--seed", "0", "--quiet", "--force"]
    if tiled:
        args += ["--tile", "640", "--overlap", "0.2"]
    assert main(args) == 0
    return out / "data.yaml"


def measure(kind: str, data: Path, imgsz: int, device: str) -> dict:
    run = WORK / f"run_{kind}_{data.parent.name}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(data), str(run), str(imgsz), device],
                          capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PEAK ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{kind} training failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][5:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="S = 800 px (smoke test)")
    parser.add_argument("--size", type=int, default=1600, help="scene side S in px (default 1600; also 2S)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    base = 800 if args.quick else args.size
    key = "rss" if args.device == "cpu" else "gpu"
    figures = {}
    for size in (base, 2 * base):
        untiled_imgsz = 32 * math.ceil(0.4 * size / 32)
        tiled = measure("tiled", make_dataset(size, True), 640, args.device)[key]
        untiled = measure("untiled", make_dataset(size, False), untiled_imgsz, args.device)[key]
        figures[size] = (tiled, untiled, untiled_imgsz)
        print(f"scenes {size} px: tiled (640) {tiled / 2**20:.0f} MiB, untiled (imgsz {untiled_imgsz}) "
              f"{untiled / 2**20:.0f} MiB, ratio {untiled / tiled:.2f}", flush=True)
    (t1, u1, _), (t2, u2, i2) = figures[base], figures[2 * base]
    what = "peak RSS" if key == "rss" else "peak CUDA allocated"
    report(f"YOLO training {what}, 640 px tiles vs untiled {2 * base} px scenes (imgsz {i2})",
           "plain Ultralytics on untiled scenes", round(u2 / t2, 2), "lower; tiled flat in scene size",
           f"tiled {t2 / 2**20:.0f} MiB vs untiled {u2 / 2**20:.0f} MiB; tiled at {base} px scenes "
           f"{t1 / 2**20:.0f} MiB (x{t2 / t1:.2f} for 4x the pixels), untiled {u1 / 2**20:.0f} MiB "
           f"(x{u2 / u1:.2f})",
           None if args.quick else bool(u2 > t2 and t2 / t1 < 1.15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

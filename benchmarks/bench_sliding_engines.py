"""Sliding window per 1600² scene: ``detect sliding --engine auto`` against ``--engine torch``, one run.

The default CNN classifier (``classify train --model cnn``, briefly trained on 32 px chips of
solid-shape scenes, ``tiledet.synth.solid``) scores unseen 1600² scenes with the default settings,
once per round on each engine, the order alternating (the machine may be shared: ``uptime`` printed
before and after). Each time is the whole :func:`~tiledet.detect.sliding_run.run_sliding`
(checkpoint load, ``auto``'s probe of every engine, scoring, merging, writing); the one-off export
runs in a warm-up ``auto`` run before the rounds and is printed apart. Also printed: the chosen
engine's forward pass alone against torch's on one default batch of full blocks (the engine's own
ratio, which bounds the run's). Reported: time ratio torch / auto (target >= 2x) and the largest
score difference between the two runs' detections, matched one to one (target <= 1e-4), with the
engine ``auto`` chose and every candidate's probe time.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_sliding_engines.py [--scenes 2] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from _report import report


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _train(root: Path, epochs: int) -> Path:
    from tiledet.cli import main
    from tiledet.synth.solid import write_solid_dataset

    write_solid_dataset(root / "train", 6, (512, 512), seed=1, count=30)
    steps = [
        ["convert", str(root / "train/labels.json"), "--images", str(root / "train/images"), "--to", "chips",
         "--chip-size", "32", "--background", "20", "--out", str(root / "chips"), "--quiet", "--force"],
        ["classify", "train", str(root / "chips"), "--model", "cnn", "--epochs", str(epochs), "--out",
         str(root / "clf"), "--device", "cpu", "--quiet", "--force"],
    ]  # fmt: skip
    for argv in steps:
        if main(argv) != 0:
            raise SystemExit(f"failed: tiledet {' '.join(argv)}")
    return root / "clf" / "best.pt"


def _detect(model: Path, scenes: Path, out: Path, engine: str) -> tuple[float, dict, list[dict]]:
    """``(wall seconds, report, results entries)`` of one run_sliding."""
    from tiledet.detect.config import SlidingRunConfig
    from tiledet.detect.sliding_run import run_sliding

    t0 = time.perf_counter()
    result = run_sliding(SlidingRunConfig(model=model, images=(scenes,), out=out, engine=engine))
    seconds = time.perf_counter() - t0
    return seconds, result.to_dict(), json.loads(out.read_text())


def _differences(reference: list[dict], other: list[dict]) -> tuple[int, float, float]:
    """``(unmatched entries, max score difference, max bbox difference px)`` matching in order."""
    key = lambda e: (e["file_name"], e["category_name"])  # noqa: E731
    unmatched = abs(len(reference) - len(other))
    score = bbox = 0.0
    for a, b in zip(reference, other, strict=False):
        if key(a) != key(b):
            unmatched += 1
            continue
        score = max(score, abs(a["score"] - b["score"]))
        bbox = max(bbox, *(abs(x - y) for x, y in zip(a["bbox"], b["bbox"], strict=True)))
    return unmatched, score, bbox


def _forward_ratio(model: Path, engine: str, rounds: int) -> tuple[float, float]:
    """Median seconds of torch and of ``engine`` on one default batch of full blocks (interleaved)."""
    import numpy as np
    import torch

    from tiledet.detect.config import SlidingConfig, SlidingRunConfig
    from tiledet.detect.fcn_engines import TorchFcn, make_fcn_engine
    from tiledet.detect.sliding_run import load_detector

    detector, _, _ = load_detector(SlidingRunConfig(model=model, images=(), out=model.with_suffix(".json")))
    cfg, fcn = SlidingConfig(), detector.fcn
    side = (cfg.block_px // fcn.stride - 1) * fcn.stride + fcn.window
    crops = np.random.default_rng(0).integers(0, 256, (cfg.batch_size, side, side, 3), dtype=np.uint8)
    with torch.inference_mode():
        x = detector.preprocess(crops)
    engines = {"torch": TorchFcn(fcn), engine: make_fcn_engine(engine, detector, model)}
    times: dict[str, list[float]] = {name: [] for name in engines}
    for run in engines.values():
        run(x)  # warm-up
    for _ in range(rounds):
        for name, run in engines.items():
            t0 = time.perf_counter()
            run(x)
            times[name].append(time.perf_counter() - t0)
    return statistics.median(times["torch"]), statistics.median(times[engine])


def _rounds(
    model: Path, scenes: Path, root: Path, rounds: int, count: int
) -> tuple[dict[str, list[float]], dict[str, list[tuple[dict, list[dict]]]]]:
    """Seconds and ``(report, entries)`` of every run of each engine, the order alternating by round."""
    times: dict[str, list[float]] = {"torch": [], "auto": []}
    runs: dict[str, list[tuple[dict, list[dict]]]] = {"torch": [], "auto": []}
    for r in range(rounds):
        for engine in ("torch", "auto") if r % 2 == 0 else ("auto", "torch"):
            seconds, result, entries = _detect(model, scenes, root / f"{engine}_{r}.json", engine)
            times[engine].append(seconds)
            runs[engine].append((result, entries))
            setup = result["engine"]["setup_seconds"]
            print(f"round {r} {engine:5s}: {seconds:6.1f} s ({seconds / count:.1f} s/scene), "
                  f"engine {result['engine']['engine']}, setup {setup:.1f} s")  # fmt: skip
    return times, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_sliding_engines"))
    parser.add_argument("--scenes", type=int, default=2, help="1600² test scenes")
    parser.add_argument("--size", type=int, default=1600)
    parser.add_argument("--rounds", type=int, default=2, help="runs per engine, interleaved")
    parser.add_argument("--epochs", type=int, default=2, help="classify train --epochs")
    args = parser.parse_args()
    from tiledet.synth.solid import write_solid_dataset

    print("before:", _uptime())
    root = args.out
    model = root / "clf" / "best.pt"
    if not model.is_file():
        model = _train(root, args.epochs)
    write_solid_dataset(root / "test", args.scenes, (args.size, args.size), seed=2, count=60)
    scenes = root / "test" / "images"
    warm_s, warm, _ = _detect(model, scenes, root / "warm.json", "auto")  # exports (cached from here on)
    print(f"warm-up auto run (exports on a cold cache): {warm_s:.1f} s, setup "
          f"{warm['engine']['setup_seconds']:.1f} s, engine {warm['engine']['engine']}")  # fmt: skip
    times, runs = _rounds(model, scenes, root, args.rounds, args.scenes)
    chosen = runs["auto"][-1][0]["engine"]
    print(f"auto chose {chosen['engine']}: {chosen['reason']}")
    for name, verdict in chosen["agreement"].items():
        probe = chosen["probe_seconds"].get(name)
        print(f"  {name:9s} probe {'-' if probe is None else f'{probe:.3f} s'}: {verdict}")
    diffs = [_differences(runs["torch"][0][1], entries) for _, entries in runs["auto"] + runs["torch"][1:]]
    unmatched, score_diff, bbox_diff = (max(d[i] for d in diffs) for i in range(3))
    torch_s, auto_s = statistics.median(times["torch"]), statistics.median(times["auto"])
    ratio = torch_s / auto_s
    per_torch, per_auto = torch_s / args.scenes, auto_s / args.scenes
    print(f"torch {per_torch:.1f} s/scene, auto {per_auto:.1f} s/scene: {ratio:.2f}x; "
          f"{len(runs['torch'][0][1])} detections; against the first torch run, over every other run: "
          f"{unmatched} unmatched, "
          f"max score difference {score_diff:.1e}, max bbox difference {bbox_diff:.1e} px")  # fmt: skip
    if chosen["engine"] != "torch":
        fwd_torch, fwd_engine = _forward_ratio(model, chosen["engine"], 3)
        print(f"forward alone on one default batch of full blocks: torch {fwd_torch:.2f} s, "
              f"{chosen['engine']} {fwd_engine:.2f} s: {fwd_torch / fwd_engine:.2f}x")  # fmt: skip
    print("after:", _uptime())
    size = f"{args.size}²"
    report(f"sliding window per {size} scene, --engine auto ({chosen['engine']})", "--engine torch", ratio,
           ">= 2x", f"{per_auto:.1f} s vs {per_torch:.1f} s per scene", ratio >= 2)  # fmt: skip
    report(f"sliding window per {size} scene, auto vs torch scores", "--engine torch", None, "<= 1e-4",
           f"max score difference {score_diff:.1e}, {unmatched} unmatched",
           unmatched == 0 and score_diff <= 1e-4)  # fmt: skip


if __name__ == "__main__":
    main()

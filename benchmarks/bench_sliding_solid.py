"""Sliding-window detector on scenes of solid objects: the whole chips workflow with default settings.

Scenes of three kinds of solid shapes (14-64 px) on noisy ground (``tiledet.synth.solid``): 8 scenes
-> ``tiledet convert --to chips`` -> ``tiledet classify train`` (defaults) -> ``tiledet detect
sliding`` (defaults) on 4 unseen scenes -> mAP50 / mAP50-95 (``tiledet.evaluate``, pycocotools
definitions). Three classifiers: plain, ``--box-head`` (on chips with ``--jitter 2``: the head needs
objects that are not centred to learn where they sit), and plain after one hard-negative round
(``detect sliding`` on the training scenes -> ``convert --negatives``). Target: mAP50 >= 0.5.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_sliding_solid.py [--out /tmp/bench_sliding]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _report import report


def _run(argv: list[str]) -> float:
    from tiledet.cli import main

    t0 = time.perf_counter()
    code = main(argv)
    if code != 0:
        raise SystemExit(f"command failed ({code}): tiledet {' '.join(argv)}")
    return time.perf_counter() - t0


def _score(gt: Path, dets: Path) -> dict[str, float]:
    from tiledet.evaluate import evaluate

    summary = evaluate(gt, [dets])[0].summary
    return {"AP50": summary["AP50"], "AP": summary["AP"]}


def _detect(root: Path, run: str, scenes: str, name: str, extra: list[str]) -> tuple[Path, float]:
    dets = root / f"{name}.json"
    seconds = _run(["detect", "sliding", str(root / run / "best.pt"), str(root / scenes / "images"),
                    "--out", str(dets), "--quiet", "--force", *extra])  # fmt: skip
    return dets, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_sliding_solid"))
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=None, help="classify train --epochs (default: its own)")
    parser.add_argument("--detect-args", default="", help="extra 'detect sliding' options, space separated")
    parser.add_argument("--variants", default="plain,box_head,hard_neg", help="classifiers to train")
    parser.add_argument("--quick", action="store_true", help="3 scenes of 256 px, 3 epochs (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.scenes, args.size, args.epochs = 3, 256, 3
    from tiledet.synth.solid import write_solid_dataset

    root = args.out
    size = (args.size, args.size)
    write_solid_dataset(root / "train", args.scenes, size, seed=1, count=30)
    write_solid_dataset(root / "test", 4, size, seed=2, count=30)
    train_args = ["--quiet", "--force", "--device", "cpu"] + (
        ["--epochs", str(args.epochs)] if args.epochs else []
    )
    detect_args = args.detect_args.split()
    convert = ["convert", str(root / "train/labels.json"), "--images", str(root / "train/images"),
               "--to", "chips", "--chip-size", "32", "--background", "20", "--quiet", "--force"]  # fmt: skip
    rows = []
    wanted = set(args.variants.split(","))
    _run([*convert, "--out", str(root / "chips")])
    if "box_head" in wanted:  # the head needs objects that are not centred to learn where they sit
        _run([*convert, "--out", str(root / "chips_jitter"), "--jitter", "2"])
    for name, chips, extra in (("plain", "chips", []), ("box_head", "chips_jitter", ["--box-head"])):
        if name not in wanted and not (name == "plain" and "hard_neg" in wanted):
            continue
        run = ["classify", "train", str(root / chips), "--out", str(root / name), *train_args, *extra]
        seconds = _run(run)
        dets, det_s = _detect(root, name, "test", f"dets_{name}", detect_args)
        rows.append((name, _score(root / "test/labels.json", dets), seconds, det_s / 4))
    if "hard_neg" in wanted:
        mined, _ = _detect(root, "plain", "train", "dets_train_plain", detect_args)
        _run([*convert, "--out", str(root / "chips_hn"), "--negatives", str(mined)])
        run = ["classify", "train", str(root / "chips_hn"), "--out", str(root / "hard_neg"), *train_args]
        seconds = _run(run)
        dets, det_s = _detect(root, "hard_neg", "test", "dets_hard_neg", detect_args)
        rows.append(
            ("plain + 1 hard-negative round", _score(root / "test/labels.json", dets), seconds, det_s / 4)
        )
    print(f"{'classifier':32s} {'mAP50':>7s} {'mAP50-95':>9s} {'train s':>8s} {'s/scene':>8s}")
    for name, metrics, train_s, scene_s in rows:
        print(f"{name:32s} {metrics['AP50']:7.3f} {metrics['AP']:9.3f} {train_s:8.1f} {scene_s:8.2f}")
    for name, metrics, _, scene_s in rows:
        report(f"sliding window on solid-object scenes, {name}", "target", None, "mAP50 >= 0.5",
               f"mAP50 {metrics['AP50']:.3f}, mAP50-95 {metrics['AP']:.3f}, {scene_s:.1f} s/scene",
               None if args.quick else metrics["AP50"] >= 0.5)  # fmt: skip


if __name__ == "__main__":
    main()

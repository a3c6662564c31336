"""Sliding-window detector on real imagery: DOTA vehicle scenes in ``../shared`` (train on 3, score 1).

The held-out scene is the one ``bench_yolo_dota.py`` holds out (``tiledet convert --val-fraction 0.25
--seed 0``), so the figure sits beside YOLO's. The other three scenes -> ``tiledet convert --to chips``
(32 px chips, 20 background chips per scene, structured negatives) -> ``tiledet classify train``
(defaults; and ``--box-head``) -> ``tiledet detect sliding`` on the held-out scene -> mAP50 /
mAP50-95 (``tiledet.evaluate``); then one hard-negative round (``detect sliding`` on the three training
scenes -> ``convert --negatives``). Skips (exit 0) when the data folder is absent.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_sliding_dota.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _report import report

_DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
REAL = Path(os.environ.get("TILEDET_REALDATA", _DEFAULT_REAL))
WORK = Path(tempfile.gettempdir()) / "tiledet-bench-sliding-dota"


def _cli(argv: list[str]) -> None:
    from tiledet.cli import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"command failed ({code}): tiledet {' '.join(argv)}")


def _held_out(dota: Path) -> str:
    """The scene bench_yolo_dota.py holds out: the val image of the seeded split."""
    out = WORK / "split"
    _cli(["convert", str(dota / "labelTxt"), "--from", "dota", "--images", str(dota / "images"),
          "--out", str(out), "--val-fraction", "0.25", "--seed", "0", "--quiet", "--force"])  # fmt: skip
    names = sorted(p.stem for p in (out / "labels" / "val").glob("*.txt"))
    if len(names) != 1:
        raise SystemExit(f"expected one held-out scene, got {names}")
    return names[0]


def _labels(dota: Path, stems: list[str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        shutil.copyfile(dota / "labelTxt" / f"{stem}.txt", folder / f"{stem}.txt")
    return folder


def _score(dota: Path, gt_labels: Path, dets: Path) -> dict[str, float]:
    from tiledet.evaluate import evaluate
    from tiledet.evaluate.config import EvalConfig

    cfg = EvalConfig(images_dir=dota / "images", fmt="dota", max_dets=1000)
    summary = evaluate(gt_labels, [dets], cfg)[0].summary
    return {"AP50": summary["AP50"], "AP": summary["AP"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs (smoke test)")
    args = parser.parse_args()
    dota = REAL / "dota_vehicles" / "DOTA_demo"
    if not dota.is_dir():
        print(f"skipped: {dota} not found (set TILEDET_REALDATA)")
        return 0
    held = _held_out(dota)
    train = sorted(p.stem for p in (dota / "labelTxt").glob("*.txt") if p.stem != held)
    train_labels = _labels(dota, train, WORK / "train_labels")
    gt = _labels(dota, [held], WORK / "test_labels")
    scenes = WORK / "train_scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    for stem in train:
        shutil.copyfile(dota / "images" / f"{stem}.png", scenes / f"{stem}.png")
    test_image = str(dota / "images" / f"{held}.png")
    epochs = ["--epochs", "3"] if args.quick else []
    convert = ["convert", str(train_labels), "--from", "dota", "--images", str(dota / "images"),
               "--to", "chips", "--chip-size", "32", "--background", "20", "--val-fraction", "0",
               "--quiet", "--force"]  # fmt: skip
    detect = ["--quiet", "--force", "--max-det", "1000"]
    _cli([*convert, "--out", str(WORK / "chips")])
    rows = []
    for name, extra in (("plain", []), ("box_head", ["--box-head"])):
        _cli(["classify", "train", str(WORK / "chips"), "--out", str(WORK / name), "--device", "cpu",
              "--quiet", "--force", *epochs, *extra])  # fmt: skip
        dets = WORK / f"dets_{name}.json"
        _cli(["detect", "sliding", str(WORK / name / "best.pt"), test_image, "--out", str(dets), *detect])
        rows.append((name, _score(dota, gt, dets)))
    mined = WORK / "dets_train.json"
    _cli(["detect", "sliding", str(WORK / "plain/best.pt"), str(scenes), "--out", str(mined), *detect])
    _cli([*convert, "--out", str(WORK / "chips_hn"), "--negatives", str(mined)])
    _cli(["classify", "train", str(WORK / "chips_hn"), "--out", str(WORK / "hard_neg"), "--device", "cpu",
          "--quiet", "--force", *epochs])  # fmt: skip
    dets = WORK / "dets_hard_neg.json"
    _cli(["detect", "sliding", str(WORK / "hard_neg/best.pt"), test_image, "--out", str(dets), *detect])
    rows.append(("plain + 1 hard-negative round", _score(dota, gt, dets)))
    print(f"held-out DOTA scene: {held}; trained on {', '.join(train)}")
    for name, m in rows:
        print(f"{name:32s} mAP50 {m['AP50']:.3f}  mAP50-95 {m['AP']:.3f}")
        value = f"mAP50 {m['AP50']:.3f}, mAP50-95 {m['AP']:.3f}"
        report(f"DOTA vehicles, sliding window ({name}), held-out scene {held}", "YOLO (bench_yolo_dota.py)",
               None, "reported beside YOLO", value, None)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

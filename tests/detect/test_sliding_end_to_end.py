"""End to end: generated scenes -> chips -> briefly trained classifier -> detect sliding -> mAP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")


def _one_class(dataset):
    """Every shape labelled ``shape``: object vs background is what the detector must get right."""
    from tiledet.boxes import Boxes
    from tiledet.labels import ImageLabels, LabeledDataset

    images = tuple(ImageLabels(im.file_name, im.size_wh, Boxes(im.boxes.xyxy, im.boxes.class_ids * 0))
                   for im in dataset.images)  # fmt: skip
    return LabeledDataset(("shape",), images)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiledet.classify.config import TrainConfig
    from tiledet.classify.train import train
    from tiledet.convert.chips import write_chips_dataset
    from tiledet.convert.config import ChipConfig
    from tiledet.formats.coco import write_coco_json
    from tiledet.synth.solid import write_solid_dataset

    root = tmp_path_factory.mktemp("sliding_e2e")
    easy = {
        "count": 8,
        "size_px": (16, 32),
        "ground_rgb": (100, 120),
    }  # similar grounds: learnable in seconds
    train_set = _one_class(write_solid_dataset(root / "train", 8, (192, 192), seed=1, **easy))
    write_coco_json(
        root / "test/labels.json",
        _one_class(write_solid_dataset(root / "test", 2, (192, 192), seed=2, **easy)),
    )
    splits = {"train": train_set.images[:7], "val": train_set.images[7:]}
    chips = ChipConfig(chip_size=16, context=0.5, background=10, workers=1)
    write_chips_dataset(splits, root / "train/images", root / "chips", train_set.class_names, chips)
    cfg = TrainConfig(
        data=root / "chips", out=root / "run", model="cnn", input_size=16, epochs=10, batch_size=20, lr=3e-3,
        model_options={"filters": [16, 32], "convs_per_block": 1, "head_conv": 32, "hidden": 32},
        device="cpu", plots=False, workers=0, patience=0, seed=0, augment="flip",
    )  # fmt: skip
    train(cfg)
    return {"root": root, "model": root / "run/best.pt"}


def test_detect_sliding_cli_scores_well_above_zero(trained: dict[str, Path], capsys) -> None:
    from tiledet.cli import main
    from tiledet.evaluate import evaluate

    root = trained["root"]
    out = root / "dets.json"
    code = main(["detect", "sliding", str(trained["model"]), str(root / "test/images"), "--out", str(out),
                 "--object-size", "16-32", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    entries = json.loads(out.read_text())
    assert entries and {"file_name", "category_name", "bbox", "score"} <= set(entries[0])
    assert {e["file_name"] for e in entries} <= {"solid_000.png", "solid_001.png"}
    metrics = evaluate(root / "test/labels.json", [out], None)[0]
    assert metrics.summary["AP50"] > 0.15, metrics.summary  # pycocotools-compatible mAP50


def _old_default_merge(candidates, cfg, grids):
    """What detect_scene ran before merging became a registry: torchvision NMS at IoU > --iou, then each
    kept box the score-weighted mean of the candidates at IoU > merge_iou (the naive loop)."""
    from tests.detect.test_sliding import _naive_merge
    from tiledet.boxes import Boxes

    kept = candidates.nms(cfg.iou, class_agnostic=cfg.class_agnostic)
    merged, _ = _naive_merge(candidates, kept, cfg.merge_iou, cfg.class_agnostic)
    return Boxes(merged, kept.class_ids, kept.scores)


def test_detect_sliding_merge_options_end_to_end(
    trained: dict[str, Path], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--merge nms and --merge cluster-mean both run; the default is cluster-mean, byte for byte the
    output of the merge detect sliding ran before --merge existed."""
    import tiledet.detect.sliding as sliding
    from tiledet.cli import main

    root = trained["root"]
    # one engine for every run: auto may pick another one run to run
    args = ["detect", "sliding", str(trained["model"]), str(root / "test/images"), "--object-size", "16-32",
            "--quiet", "--engine", "torch"]  # fmt: skip
    runs = {"default": [], "cluster": ["--merge", "cluster-mean"], "nms": ["--merge", "nms"]}
    for name, extra in runs.items():
        assert main([*args, *extra, "--out", str(tmp_path / f"{name}.json")]) == 0, capsys.readouterr().err
    monkeypatch.setattr(sliding, "_merge", _old_default_merge)
    assert main([*args, "--out", str(tmp_path / "old.json")]) == 0
    default = (tmp_path / "default.json").read_bytes()
    assert json.loads(default), "the tiny fixture should give detections"
    assert default == (tmp_path / "old.json").read_bytes() == (tmp_path / "cluster.json").read_bytes()
    nms, mean = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("nms", "default"))
    same_kept = [(e["file_name"], e["category_name"], e["score"]) for e in nms]
    assert same_kept == [(e["file_name"], e["category_name"], e["score"]) for e in mean]  # boxes only move
    assert [e["bbox"] for e in nms] != [e["bbox"] for e in mean]
    assert main([*args, "--merge", "wbf", "--out", str(tmp_path / "x.json")]) == 2
    assert "--merge must be one of nms, greedy-nmm, cluster-mean" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(trained: dict[str, Path], tmp_path: Path, capsys) -> None:
    from tiledet.cli import main

    root = trained["root"]
    not_a_model = tmp_path / "x.pt"
    not_a_model.write_bytes(b"not a checkpoint")
    args = [str(root / "test/images"), "--out", str(tmp_path / "d.json"), "--quiet"]
    assert main(["detect", "sliding", str(not_a_model), *args]) == 2
    assert main(["detect", "sliding", str(trained["model"]), *args, "--object-size", "40-10"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err and "--object-size" in err


def test_unreadable_and_tiny_scenes_are_skipped_and_reported(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    from tiledet.detect.config import SlidingConfig, SlidingRunConfig
    from tiledet.detect.sliding_run import run_sliding

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cv2.imwrite(str(scenes / "tiny.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(scenes / "ok.png"), cv2.imread(str(trained["root"] / "test/images/solid_000.png")))
    cfg = SlidingRunConfig(
        model=trained["model"], images=(scenes,), out=tmp_path / "d.json",
        sliding=SlidingConfig(scales=(1.0,)), save_images=tmp_path / "drawn",
    )  # fmt: skip
    report = run_sliding(cfg)
    assert report.scenes == 1 and set(report.skipped) == {"tiny.png"}
    assert set(report.unreadable) == {"broken.png"}
    assert report.unreadable["broken.png"].startswith("cannot read image header")
    assert "window" in report.skipped["tiny.png"]
    assert report.to_dict()["unreadable"] == report.unreadable
    assert (tmp_path / "drawn/ok.png").is_file()
    assert {e["file_name"] for e in json.loads((tmp_path / "d.json").read_text())} <= {"ok.png"}


def test_cli_exit_code_names_unreadable_scenes(trained: dict[str, Path], tmp_path: Path, capsys) -> None:
    import cv2
    import numpy as np

    from tiledet.cli import main

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    cv2.imwrite(str(scenes / "tiny.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(scenes / "ok.png"), cv2.imread(str(trained["root"] / "test/images/solid_000.png")))
    # the same engine in both runs: their outputs are compared
    args = ["detect", "sliding", str(trained["model"]), str(scenes), "--scales", "1", "--quiet",
            "--engine", "torch"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 0  # a scene too small is no failure
    assert capsys.readouterr().err == ""
    (scenes / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert main([*args, "--out", str(tmp_path / "b.json")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("warning: cannot read scene broken.png: cannot read image")
    assert err[1] == (
        f"error: 1 of 3 scenes could not be read: broken.png (detections of the other 2 scenes written to "
        f"{tmp_path / 'b.json'})"
    )
    entries = json.loads((tmp_path / "b.json").read_text())
    assert entries == json.loads((tmp_path / "a.json").read_text())


def test_exported_engines_give_torchs_detections(trained: dict[str, Path], tmp_path: Path, capsys) -> None:
    """The trained fixture on --engine torch, onnx, openvino and auto: the same boxes, scores within 1e-4;
    the export is cached beside the checkpoint; the summary names the engine and every candidate."""
    from tiledet.cli import main

    root = trained["root"]
    args = ["detect", "sliding", str(trained["model"]), str(root / "test/images"), "--object-size", "16-32"]
    runs = {}
    for engine in ("torch", "onnx", "openvino", "auto"):
        out = tmp_path / f"{engine}.json"
        assert main([*args, "--engine", engine, "--out", str(out)]) == 0, capsys.readouterr().err
        runs[engine] = json.loads(out.read_text())
        summary = capsys.readouterr().out
        if engine != "auto":
            assert f"\n  engine {engine}: --engine\n" in summary
    assert runs["torch"], "the tiny fixture should give detections"
    for engine in ("onnx", "openvino", "auto"):
        assert len(runs[engine]) == len(runs["torch"]), engine
        for got, ref in zip(runs[engine], runs["torch"], strict=True):
            assert (got["file_name"], got["category_name"]) == (ref["file_name"], ref["category_name"])
            assert got["bbox"] == pytest.approx(ref["bbox"], abs=1e-3)
            assert got["score"] == pytest.approx(ref["score"], abs=1e-4)
    lines = summary.splitlines()  # auto's
    chosen = next(line for line in lines if line.startswith("  engine "))
    assert "auto: the fastest engine whose class probabilities agree with torch's within 0.0001" in chosen
    candidates = [line.strip() for line in lines if line.startswith("    ")]
    verdicts = {line.split(":")[0]: line.split(", ", 1)[1] for line in candidates}
    assert verdicts["torch"] == "reference" and set(verdicts) == {"torch", "onnx", "openvino"}
    assert verdicts["onnx"].startswith("agrees: max difference ")
    assert verdicts["openvino"].startswith("agrees: max difference ")
    assert chosen.split(":")[0].split()[-1] in verdicts
    assert sorted(p.name for p in trained["model"].parent.glob("best.pt.tiledet-engines/*/fcn-*")) == [
        "fcn-onnx-imgsz16-batch1", "fcn-openvino-imgsz16-batch1"]  # fmt: skip

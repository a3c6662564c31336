"""``tiledet draw``: boxes land on the right pixels of the written pictures (read back), filters work."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tiledet.cli import main
from tiledet.draw import class_color


def _write_png(path: Path, size_wh: tuple[int, int], value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size_wh[1], size_wh[0], 3), value, np.uint8))


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture()
def dataset(tmp_path: Path) -> dict[str, Path]:
    images = tmp_path / "images"
    _write_png(images / "a.png", (100, 80))
    _write_png(images / "sub" / "b.png", (60, 60))
    gt = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 100, "height": 80},
            {"id": 2, "file_name": "sub/b.png", "width": 60, "height": 60},
        ],
        "categories": [{"id": 7, "name": "car"}, {"id": 9, "name": "bus"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 9, "bbox": [10, 40, 30, 20], "area": 600, "iscrowd": 0},
        ],
    }
    dets = [
        {"file_name": "a.png", "category_name": "car", "bbox": [60, 40, 30, 30], "score": 0.9},
        {"file_name": "a.png", "category_name": "car", "bbox": [60, 5, 20, 20], "score": 0.1},
        {"file_name": "nowhere.png", "category_name": "car", "bbox": [1, 1, 5, 5], "score": 0.9},
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    return {"images": images, "gt": tmp_path / "gt.json", "dets": tmp_path / "dets.json", "root": tmp_path}


def test_draw_gt_and_detections(dataset: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = dataset["root"] / "drawn"
    code = main([
        "draw", str(dataset["dets"]), "--gt", str(dataset["gt"]), "--images", str(dataset["images"]),
        "--out", str(out), "--no-labels", "--thickness", "1",
    ])
    assert code == 0
    a = _read_rgb(out / "a.png")
    b = _read_rgb(out / "sub" / "b.png")
    bus, car = class_color(1), class_color(0)  # category order: car (id 7) = 0, bus (id 9) = 1
    # ground truth bus: xywh (10, 40, 30, 20) -> pixels columns 10..39, rows 40..59, solid outline
    assert (a[40, 10:40] == bus).all() and (a[59, 10:40] == bus).all() and (a[40:60, 10] == bus).all()
    assert not a[41:59, 11:39].any(), "inside of the box untouched"
    # detection car (score 0.9): columns 60..89, rows 40..69, dashed: some but not all top-edge pixels
    top = (a[40, 60:90] == car).all(axis=1)
    assert 0.3 < top.mean() < 0.9
    # the 0.1-score detection is below the default threshold 0.25: nothing drawn there
    assert not a[5:25, 60:80].any()
    assert not b.any(), "b.png has no boxes"
    err = capsys.readouterr().err
    assert "2 images" in err and "1 ground-truth box" in err and "1 detection" in err
    assert "below the score threshold" in err and "unknown image" in err


def test_draw_score_threshold_zero_draws_low_scores(dataset: dict[str, Path]) -> None:
    out = dataset["root"] / "all"
    args = ["draw", str(dataset["dets"]), "--images", str(dataset["images"]), "--out", str(out)]
    assert main([*args, "--score-threshold", "0", "--no-labels", "--quiet"]) == 0
    a = _read_rgb(out / "a.png")
    assert a[5:25, 60:80].any(), "low-score detection drawn at threshold 0"
    assert not (out / "sub" / "b.png").exists(), "without --gt only images the detections name"


def test_draw_labels_only_and_refusals(dataset: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = dataset["root"] / "gt_only"
    args = ["draw", str(dataset["gt"]), "--images", str(dataset["images"]), "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert {p.name for p in out.rglob("*.png")} == {"a.png", "b.png"}
    assert main(["draw", str(dataset["gt"]), "--images", str(dataset["images"]),
                 "--out", str(dataset["images"] / "x")]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    assert main(["draw", str(dataset["gt"]), "--out", str(dataset["root"] / "y")]) == 2
    assert "--images" in capsys.readouterr().err
    assert main(["draw", str(dataset["dets"]), "--images", str(dataset["images"]),
                 "--out", str(dataset["root"] / "z"), "--score-threshold", "2"]) == 2


@pytest.mark.realdata
def test_draw_coco8_yaml_without_images_option(realdata: Path, tmp_path: Path) -> None:
    yaml_path = realdata / "coco8" / "coco8.yaml"
    if not yaml_path.is_file():
        pytest.skip(f"{yaml_path} not found")
    out = tmp_path / "coco8_drawn"
    assert main(["draw", str(yaml_path), "--out", str(out), "--quiet"]) == 0
    drawn = sorted(out.rglob("*.jpg"))
    assert len(drawn) == 4
    source = cv2.imread(str(realdata / "coco8" / "images" / "val" / drawn[0].name))
    assert source.shape == cv2.imread(str(drawn[0])).shape
    assert np.abs(source.astype(int) - cv2.imread(str(drawn[0])).astype(int)).max() > 100, "boxes drawn"


@pytest.mark.realdata
def test_draw_dota_folder_with_implied_images(realdata: Path, tmp_path: Path) -> None:
    labels = realdata / "dota_vehicles" / "DOTA_demo" / "labelTxt"
    if not labels.is_dir():
        pytest.skip(f"{labels} not found")
    out = tmp_path / "dota"
    assert main(["draw", str(labels), "--out", str(out), "--limit", "1", "--quiet"]) == 0
    (drawn,) = out.glob("*.png")
    source = cv2.imread(str(labels.parent / "images" / drawn.name))
    assert (cv2.imread(str(drawn)) != source).any(axis=2).mean() > 0.001, "boxes drawn on the scene"

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


def test_draw_score_threshold_zero_draws_low_scores(
    dataset: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = dataset["root"] / "all"
    args = ["draw", str(dataset["dets"]), "--images", str(dataset["images"]), "--out", str(out)]
    assert main([*args, "--score-threshold", "0", "--no-labels", "--quiet"]) == 1  # nowhere.png: no image
    assert "error: 1 of 2 images could not be read: nowhere.png" in capsys.readouterr().err
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


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_draw_unreadable_images_exit_1_and_are_named(
    dataset: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    gt = json.loads(dataset["gt"].read_text())
    gt["images"].append({"id": 3, "file_name": "gone.png", "width": 10, "height": 10})
    (dataset["root"] / "gt3.json").write_text(json.dumps(gt))
    sub_b = dataset["images"] / "sub" / "b.png"
    sub_b.write_bytes(sub_b.read_bytes()[:60])  # a header that reads, pixels that do not
    out = dataset["root"] / "drawn"
    args = ["draw", str(dataset["root"] / "gt3.json"), "--images", str(dataset["images"]), "--out", str(out)]
    assert main([*args, "--quiet"]) == 1
    assert _lines(capsys.readouterr().err) == [
        "warning: cannot read image gone.png: image not found",
        "warning: cannot read image sub/b.png: image data is truncated or its structure is broken",
        f"error: 2 of 3 images could not be read: gone.png, sub/b.png (the other 1 image drawn in {out})",
    ]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png"]
    assert main([*args, "--limit", "1"]) == 0  # a.png only
    assert "error" not in capsys.readouterr().err


def test_draw_images_the_loader_left_out_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_png(tmp_path / "images" / "a.png", (50, 40))
    (tmp_path / "images" / "bad.png").write_bytes(b"not a png")
    rows = ["a.png,5,5,25,20,18", "gone.png,5,5,25,20,18", "bad.png,1,1,9,9,18"]
    (tmp_path / "labels.csv").write_text("image_id,xmin,ymin,xmax,ymax,type_id\n" + "\n".join(rows) + "\n")
    out = tmp_path / "drawn"
    code = main(["draw", str(tmp_path / "labels.csv"), "--images", str(tmp_path / "images"),
                 "--out", str(out)])  # fmt: skip
    err = _lines(capsys.readouterr().err)
    assert code == 1
    assert err[0].startswith("drew 1 image, 1 ground-truth box")
    assert "warning: cannot read image gone.png: image not found" in err
    header = "warning: cannot read image bad.png: cannot read image header"
    assert any(line.startswith(header) for line in err)
    assert err[-1] == (
        f"error: 2 of 3 images could not be read: bad.png, gone.png (the other 1 image drawn in {out})"
    )
    assert [p.name for p in out.glob("*.png")] == ["a.png"]

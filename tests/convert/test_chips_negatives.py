"""Chips for sliding-window classifiers: clean background, structured and hard negatives, ImageFolder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tiledet.boxes import Boxes
from tiledet.convert.chip_geometry import contained_fraction, structured_windows
from tiledet.convert.chips import write_chips_dataset
from tiledet.convert.config import ChipConfig
from tiledet.labels import ImageLabels


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _window(row: dict[str, str]) -> list[float]:
    return [float(row[f"window_{k}"]) for k in ("x0", "y0", "x1", "y1")]


def _scene(folder: Path, name: str, size_wh: tuple[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(folder / name), rng.integers(0, 256, (size_wh[1], size_wh[0], 3), dtype=np.uint8))


def test_contained_fraction_hand_computed() -> None:
    windows = np.array([[0, 0, 10, 10], [5, 5, 100, 100]])
    boxes = np.array([[0, 0, 20, 5], [8, 8, 12, 12], [50, 50, 50, 50]])
    # box 0: 10x5 of 20x5 inside window 0 -> 0.5; box 1: 2x2 of 4x4 -> 0.25; box 2 empty, centre outside
    np.testing.assert_allclose(contained_fraction(windows, boxes), [[0.5, 0.25, 0.0], [0.0, 1.0, 1.0]])


def test_structured_windows_hand_computed_and_skip_other_objects() -> None:
    boxes = np.array([[40, 40, 60, 60], [100, 100, 110, 120]], float)
    windows, owners, tags = structured_windows(boxes, 0.5, (200, 200))
    # object 0: window side 30 centred at (50, 50); 0.5x -> side 15 at round(42.5) = 43; 2x -> 60 at 20
    # object 0 shifts left (object i shifts left, right, up, down in turn): centre (35, 50)
    assert windows[:3].tolist() == [[43, 43, 58, 58], [20, 20, 80, 80], [20, 35, 50, 65]]
    assert owners.tolist() == [0, 0, 0, 1, 1, 1] and tags == ["large", "small", "left"] * 1 + [
        "large",
        "small",
        "right",
    ]
    # a neighbour inside object 0's 2x window: that window is skipped, the others stay
    crowded = np.array([[40, 40, 60, 60], [70, 25, 78, 33]], float)
    windows, owners, tags = structured_windows(crowded, 0.5, (200, 200))
    assert ("small", 0) not in set(zip(tags, owners.tolist(), strict=True))
    assert contained_fraction(windows[owners == 0], crowded[1:]).max() <= 0.1


def test_structured_negatives_are_background_chips_by_default(tmp_path: Path) -> None:
    _scene(tmp_path / "src", "s.png", (200, 200))
    boxes = Boxes([[40, 40, 60, 60], [120, 120, 150, 140]], [0, 1])
    splits = {"train": [ImageLabels("s.png", (200, 200), boxes)]}
    report = write_chips_dataset(
        splits, tmp_path / "src", tmp_path / "out", ["a", "b"], ChipConfig(chip_size=16)
    )
    rows = _rows(tmp_path / "out/chips.csv")
    structured = [r for r in rows if r["kind"] == "structured"]
    assert len(structured) == 6 == report.to_dict()["background_by_kind"]["structured"]
    assert all(r["class"] == "background" and r["chip"].startswith("train/background/") for r in structured)
    for r in structured:  # no structured negative shows more than 10 % of the *other* object
        owner = int(r["chip"].split("__")[1].split("_")[0])
        other = boxes.xyxy[1 - owner : 2 - owner]
        assert contained_fraction(np.array([_window(r)]), other).max() <= 0.1
    off = write_chips_dataset(
        splits, tmp_path / "src", tmp_path / "off", ["a", "b"], ChipConfig(chip_size=16, structured=False)
    )
    assert (
        off.to_dict()["background_by_kind"]["structured"] == 0
        and not (tmp_path / "off/train/background").exists()
    )


def test_hard_negatives_are_false_positives_most_confident_first(tmp_path: Path) -> None:
    _scene(tmp_path / "src", "s.png", (300, 300))
    _scene(tmp_path / "src", "t.png", (300, 300))
    boxes = Boxes([[40, 40, 60, 60]], [0])
    splits = {
        "train": [ImageLabels("s.png", (300, 300), boxes)],
        "val": [ImageLabels("t.png", (300, 300), boxes)],
    }
    dets = [
        {
            "file_name": "s.png",
            "bbox": [41, 41, 20, 20],
            "score": 0.99,
            "category_name": "a",
        },  # true positive
        {"file_name": "s.png", "bbox": [200, 200, 20, 20], "score": 0.5, "category_name": "a"},
        {"file_name": "s.png", "bbox": [100, 150, 10, 10], "score": 0.9, "category_name": "a"},
        {"file_name": "s.png", "bbox": [250, 20, 10, 10], "score": 0.2, "category_name": "a"},  # over the cap
        {
            "file_name": "other/t.png",
            "bbox": [150, 150, 10, 20],
            "score": 0.4,
            "category_name": "a",
        },  # basename
        {"file_name": "nowhere.png", "bbox": [0, 0, 5, 5], "score": 0.9, "category_name": "a"},
    ]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    cfg = ChipConfig(
        chip_size=16, context=0.5, structured=False, negatives=tmp_path / "dets.json", negatives_per_scene=2
    )
    report = write_chips_dataset(splits, tmp_path / "src", tmp_path / "out", ["a"], cfg).to_dict()
    hard = [r for r in _rows(tmp_path / "out/chips.csv") if r["kind"] == "hard_negative"]
    # s.png: 0.9 then 0.5 (cap 2); windows as for an object: side 10*1.5=15 centred on (105, 155)
    assert [(r["scene"], _window(r)) for r in hard] == [
        ("s.png", [98.0, 148.0, 113.0, 163.0]),
        ("s.png", [195.0, 195.0, 225.0, 225.0]),
        ("t.png", [140.0, 145.0, 170.0, 175.0]),
    ]
    assert hard[2]["split"] == "val"
    assert report["hard_negatives"] == {
        "detections": 6, "unmatched": 1, "false_positives": 4, "kept": 3, "scenes": 2
    }  # fmt: skip


def test_imagefolder_loads_every_split(tmp_path: Path) -> None:
    datasets = pytest.importorskip("torchvision.datasets")
    _scene(tmp_path / "src", "s.png", (120, 120))
    _scene(tmp_path / "src", "t.png", (120, 120))
    splits = {
        "train": [ImageLabels("s.png", (120, 120), Boxes([[10, 10, 30, 30], [60, 60, 90, 80]], [0, 2]))],
        "val": [ImageLabels("t.png", (120, 120), Boxes([[50, 50, 70, 70]], [2]))],
    }
    names = [f"class {i}" for i in range(5)]  # classes 1, 3, 4 have no chips anywhere
    write_chips_dataset(
        splits, tmp_path / "src", tmp_path / "out", names, ChipConfig(chip_size=16, background=2)
    )
    train = datasets.ImageFolder(str(tmp_path / "out/train"))
    val = datasets.ImageFolder(str(tmp_path / "out/val"))
    assert train.classes == ["background", "class_0", "class_2"] and val.classes == ["background", "class_2"]
    assert len(train) == sum(1 for r in _rows(tmp_path / "out/chips.csv") if r["split"] == "train")
    import yaml

    meta = yaml.safe_load((tmp_path / "out/chips.yaml").read_text())
    assert meta["class_names"] == [*names, "background"]


@pytest.mark.realdata
def test_background_chips_on_a_dense_dota_scene_show_no_vehicle(realdata: Path, tmp_path: Path) -> None:
    from tiledet.convert.config import ConvertConfig
    from tiledet.convert.pipeline import convert

    demo = realdata / "dota_vehicles" / "DOTA_demo"
    if not demo.is_dir():
        pytest.skip(f"{demo} not found")
    labels = tmp_path / "labels"
    labels.mkdir()
    name = "P1478__1__853___962"  # a 1024 px parking-lot tile with 295 vehicles
    (labels / f"{name}.txt").write_bytes((demo / "labelTxt" / f"{name}.txt").read_bytes())
    chips = ChipConfig(chip_size=32, background=200, seed=3, workers=1)
    cfg = ConvertConfig(src=labels, images_dir=demo / "images", out=tmp_path / "out", to="chips", chips=chips,
                        val_fraction=0.0)  # fmt: skip
    convert(cfg)
    rows = _rows(tmp_path / "out/chips.csv")
    boxes = np.array(
        [[float(r[f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")] for r in rows if r["kind"] == "object"]
    )
    assert len(boxes) >= 250
    background = np.array([_window(r) for r in rows if r["kind"] == "background"])
    assert len(background) > 0
    assert contained_fraction(background, boxes).max() <= 0.1


def test_cli_negatives_options(tmp_path: Path) -> None:
    from tiledet.cli import main
    from tiledet.synth.solid import write_solid_dataset

    data = write_solid_dataset(tmp_path / "solid", 2, (160, 160), seed=0, count=4)
    first = data.images[0]
    dets = [
        {"file_name": first.file_name, "bbox": [150 - 8, 150 - 8, 8, 8], "score": 0.9, "category_name": "x"}
    ]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    src = [
        "convert",
        str(tmp_path / "solid/labels.json"),
        "--images",
        str(tmp_path / "solid/images"),
        "--to",
        "chips",
    ]
    assert main([*src, "--out", str(tmp_path / "a"), "--quiet"]) == 0
    kinds = {r["kind"] for r in _rows(tmp_path / "a/chips.csv")}
    assert "structured" in kinds and "hard_negative" not in kinds
    args = [
        "--out",
        str(tmp_path / "b"),
        "--quiet",
        "--no-structured-negatives",
        "--negatives",
        str(tmp_path / "dets.json"),
    ]
    assert main([*src, *args]) == 0
    rows = _rows(tmp_path / "b/chips.csv")
    assert {r["kind"] for r in rows} == {"object", "jitter", "hard_negative"}  # jitter 2 by default
    assert main([*src[:-2], "--out", str(tmp_path / "c"), "--negatives", str(tmp_path / "dets.json")]) == 2


def test_jittered_object_chips_keep_their_true_box(tmp_path: Path) -> None:
    from tiledet.convert.chip_geometry import JITTER_LOG2_SCALE, JITTER_SHIFT, jitter_windows, object_windows

    boxes = np.array([[40, 40, 60, 60], [100, 90, 130, 110]], float)
    windows = jitter_windows(np.random.default_rng(0), boxes, 0.5, 3)
    base = np.repeat(object_windows(boxes, 0.5), 3, axis=0).astype(float)
    side, new = base[:, 2] - base[:, 0], (windows[:, 2] - windows[:, 0]).astype(float)
    assert windows.shape == (6, 4) and (windows[:, 2] - windows[:, 0] == windows[:, 3] - windows[:, 1]).all()
    assert (np.abs(np.log2(new / side)) <= JITTER_LOG2_SCALE + 0.05).all()
    shift = ((windows[:, :2] + windows[:, 2:]) / 2 - (base[:, :2] + base[:, 2:]) / 2) / side[:, None]
    assert (np.abs(shift) <= JITTER_SHIFT + 0.05).all() and np.abs(shift).max() > 0
    _scene(tmp_path / "src", "s.png", (200, 200))
    splits = {"train": [ImageLabels("s.png", (200, 200), Boxes(boxes, [0, 1]))]}
    cfg = ChipConfig(chip_size=16, structured=False, jitter=3)
    report = write_chips_dataset(splits, tmp_path / "src", tmp_path / "out", ["a", "b"], cfg).to_dict()
    rows = [r for r in _rows(tmp_path / "out/chips.csv") if r["kind"] == "jitter"]
    assert len(rows) == 6 and report["counts"]["train"] == {"a": 4, "b": 4}
    assert [float(rows[3][f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")] == boxes[1].tolist()
    assert rows[3]["class"] == "b" and rows[3]["chip"] == "train/b/s__00001_j0.png"

"""Classifier chips: windows, centring, padding, background placement, chips.yaml / chips.csv."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tiledet.boxes import Boxes
from tiledet.convert.chip_geometry import background_windows, class_folders, iou_matrix, object_windows
from tiledet.convert.chips import write_chips_dataset
from tiledet.convert.config import ChipConfig
from tiledet.errors import ConfigError, InputError
from tiledet.labels import ImageLabels

GREY, RED = (128, 128, 128), (0, 0, 255)


def _flat_scene(folder: Path, name: str, size_wh: tuple[int, int], red_xyxy: list[list[int]]) -> np.ndarray:
    pixels = np.full((size_wh[1], size_wh[0], 3), GREY, np.uint8)
    for x0, y0, x1, y1 in red_xyxy:
        pixels[y0:y1, x0:x1] = RED
    folder.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(folder / name), pixels)
    return pixels


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("box", "context", "window"),
    [
        ([10, 20, 30, 30], 0.5, [5, 10, 35, 40]),  # longer side 20 -> 30, centre (20, 25)
        ([40, 40, 60, 60], 0.0, [40, 40, 60, 60]),
        ([0, 0, 5, 5], 0.5, [-1, -1, 7, 7]),  # side round(7.5) = 8, x0 = round(2.5 - 4) = -1 (half up)
        ([10, 10, 11, 12], 0.0, [10, 10, 12, 12]),  # side 2, centre (10.5, 11)
        ([100, 50, 100.2, 50.2], 0.0, [100, 50, 101, 51]),  # at least 1 px
        ([0, 0, 10, 40], 1.0, [-35, -20, 45, 60]),  # tall box: side 80 from the height
    ],
)
def test_object_windows_hand_computed(box, context, window) -> None:
    assert object_windows(np.array([box], float), context).tolist() == [window]


def test_object_windows_empty() -> None:
    assert object_windows(np.zeros((0, 4)), 0.5).shape == (0, 4)


@pytest.mark.parametrize(
    ("names", "folders"),
    [
        (["Truck w/Box", "Small Car"], ["Truck_w_Box", "Small_Car"]),
        (["a b", "a/b", "A_B"], ["a_b", "a_b_2", "A_B_3"]),
        (["", "???", "ok.v2-x"], ["class_0", "class_1", "ok.v2-x"]),
    ],
)
def test_class_folders_are_sanitised_and_unique(names, folders) -> None:
    assert list(class_folders(names).values()) == folders


def test_object_chip_is_centred_with_the_hand_computed_side(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _flat_scene(src, "s.png", (100, 100), [[40, 40, 60, 60]])
    boxes = Boxes([[40, 40, 60, 60]], [0])
    splits = {"train": [ImageLabels("s.png", (100, 100), boxes)]}
    # window side 20 * 1.5 = 30 -> [35, 35, 65, 65]; chip_size 30 means no resampling
    write_chips_dataset(
        splits, src, tmp_path / "same", ["car"], ChipConfig(chip_size=30, context=0.5, workers=1)
    )
    chip = cv2.imread(str(tmp_path / "same/train/car/s__00000.png"))
    expected = np.full((30, 30, 3), GREY, np.uint8)
    expected[5:25, 5:25] = RED
    np.testing.assert_array_equal(chip, expected)
    row = _read_csv(tmp_path / "same/chips.csv")[0]
    assert [row[f"window_{k}"] for k in ("x0", "y0", "x1", "y1")] == ["35", "35", "65", "65"]
    assert [float(row[f"box_{k}"]) for k in ("x0", "y0", "x1", "y1")] == [40, 40, 60, 60]
    # growing (LINEAR) and shrinking (AREA): the object stays centred and fills (1 / 1.5)^2 of the chip
    for size in (90, 12):
        out = tmp_path / f"s{size}"
        write_chips_dataset(splits, src, out, ["car"], ChipConfig(chip_size=size, context=0.5, workers=1))
        chip = cv2.imread(str(out / "train/car/s__00000.png")).astype(float)
        redness = (chip[:, :, 2] - chip[:, :, 0]) / 255  # 1 on red (BGR 0,0,255), 0 on grey
        ys, xs = np.mgrid[0:size, 0:size]
        assert chip.shape == (size, size, 3)
        assert (redness * xs).sum() / redness.sum() == pytest.approx((size - 1) / 2, abs=1e-6)
        assert (redness * ys).sum() / redness.sum() == pytest.approx((size - 1) / 2, abs=1e-6)
        assert redness.mean() == pytest.approx((20 / 30) ** 2, abs=0.01)


def test_chips_beyond_the_border_are_padded_with_the_visible_mean(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _flat_scene(src, "s.png", (50, 50), [[0, 0, 10, 10]])
    splits = {"train": [ImageLabels("s.png", (50, 50), Boxes([[0, 0, 10, 10]], [0]))]}
    write_chips_dataset(
        splits, src, tmp_path / "out", ["car"], ChipConfig(chip_size=20, context=1.0, workers=1)
    )
    chip = cv2.imread(str(tmp_path / "out/train/car/s__00000.png")).astype(int)
    # window [-5, -5, 15, 15]; visible 15x15 px, of which 10x10 red
    mean = np.round((100 * np.array(RED) + 125 * np.array(GREY)) / 225)
    np.testing.assert_array_equal(chip[:5, :], np.broadcast_to(mean, (5, 20, 3)))
    np.testing.assert_array_equal(chip[:, :5], np.broadcast_to(mean, (20, 5, 3)))
    np.testing.assert_array_equal(chip[5:15, 5:15], np.broadcast_to(RED, (10, 10, 3)))
    np.testing.assert_array_equal(chip[15:, 15:], np.broadcast_to(GREY, (5, 5, 3)))


def _naive_iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_iou_matrix_matches_naive_loop() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 50, (12, 2))
    a = np.hstack([xy, xy + rng.uniform(0, 20, (12, 2))])
    b = a[::-1] + rng.uniform(-5, 5, (12, 4)) * [1, 1, 0, 0]
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
    expected = [[_naive_iou(p, q) for q in b.tolist()] for p in a.tolist()]
    np.testing.assert_allclose(iou_matrix(a, b), expected, atol=1e-12)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 12)


def test_background_chips_overlap_no_object(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 280, (30, 2))
    xyxy = np.round(np.hstack([xy, xy + rng.uniform(8, 20, (30, 2))]))
    src = tmp_path / "src"
    pixels = _flat_scene(src, "s.png", (300, 300), xyxy.astype(int).tolist())
    splits = {"train": [ImageLabels("s.png", (300, 300), Boxes(xyxy, np.zeros(30, np.int64)))]}
    cfg = ChipConfig(chip_size=16, context=0.5, background=25, seed=4, workers=1)
    report = write_chips_dataset(splits, src, tmp_path / "out", ["car"], cfg)
    rows = [r for r in _read_csv(tmp_path / "out/chips.csv") if r["kind"] == "background"]
    assert report.to_dict()["background_placed"] == {"train": len(rows)} and len(rows) == 25
    for row in rows:
        window = [float(row[f"window_{k}"]) for k in ("x0", "y0", "x1", "y1")]
        assert 0 <= window[0] < window[2] <= 300 and 0 <= window[1] < window[3] <= 300
        assert window[2] - window[0] == window[3] - window[1]
        assert max(_naive_iou(window, box) for box in xyxy.tolist()) < 0.1
        chip = cv2.imread(str(tmp_path / "out" / row["chip"]))
        x0, y0, x1, y1 = (int(v) for v in window)
        interpolation = cv2.INTER_AREA if x1 - x0 > 16 else cv2.INTER_LINEAR
        crop = pixels[y0:y1, x0:x1]
        np.testing.assert_array_equal(chip, cv2.resize(crop, (16, 16), interpolation=interpolation))
        assert row["class"] == "background" and row["box_x0"] == ""


def test_background_chips_are_bounded_when_no_room(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _flat_scene(src, "s.png", (40, 40), [[0, 0, 40, 40]])
    splits = {"train": [ImageLabels("s.png", (40, 40), Boxes([[0, 0, 40, 40]], [0]))]}
    cfg = ChipConfig(chip_size=8, background=3, workers=1, structured=False)
    report = write_chips_dataset(splits, src, tmp_path / "out", ["car"], cfg)
    assert report.to_dict()["background_requested"] == {"train": 3}
    assert report.to_dict()["background_placed"] == {"train": 0}
    assert not (tmp_path / "out/train/background").exists()  # no chips, no folder


def test_background_windows_without_boxes_stay_inside_small_scenes() -> None:
    rng = np.random.default_rng(0)
    windows = background_windows(rng, (20, 10), np.zeros((0, 4)), np.array([5, 50]), 40)
    assert len(windows) == 40
    assert (windows[:, :2] >= 0).all() and (windows[:, 2] <= 20).all() and (windows[:, 3] <= 10).all()
    assert set((windows[:, 2] - windows[:, 0]).tolist()) == {5, 10}


def test_chips_yaml_csv_and_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _flat_scene(src, "a.png", (120, 100), [])
    _flat_scene(src / "sub", "b.png", (120, 100), [])
    a = ImageLabels("a.png", (120, 100), Boxes([[10, 10, 20, 30], [50, 50, 70, 60]], [0, 1]))
    b = ImageLabels("sub/b.png", (120, 100), Boxes([[5, 5, 25, 25]], [1]))
    cfg = ChipConfig(chip_size=24, context=0.25, background=2, seed=9, workers=1, structured=False, jitter=0)
    names = ["Truck w/Box", "Small Car"]
    write_chips_dataset({"train": [a], "val": [b]}, src, tmp_path / "out", names, cfg)
    meta = yaml.safe_load((tmp_path / "out/chips.yaml").read_text())
    assert meta["chip_size"] == 24 and meta["context"] == 0.25 and meta["seed"] == 9
    assert meta["class_names"] == ["Truck w/Box", "Small Car", "background"]
    assert meta["class_folders"] == {
        "Truck w/Box": "Truck_w_Box",
        "Small Car": "Small_Car",
        "background": "background",
    }
    assert meta["counts"] == {
        "train": {"Truck_w_Box": 1, "Small_Car": 1, "background": 2},
        "val": {"Truck_w_Box": 0, "Small_Car": 1, "background": 2},
    }
    # a class folder only where the split has chips of it
    train_folders = sorted(p.name for p in (tmp_path / "out/train").iterdir())
    assert train_folders == ["Small_Car", "Truck_w_Box", "background"]
    assert sorted(p.name for p in (tmp_path / "out/val").iterdir()) == ["Small_Car", "background"]
    rows = _read_csv(tmp_path / "out/chips.csv")
    assert [(r["chip"], r["class"], r["scene"], r["kind"]) for r in rows if r["kind"] == "object"] == [
        ("train/Truck_w_Box/a__00000.png", "Truck w/Box", "a.png", "object"),
        ("train/Small_Car/a__00001.png", "Small Car", "a.png", "object"),
        ("val/Small_Car/sub__b__00000.png", "Small Car", "sub/b.png", "object"),
    ]
    assert all((tmp_path / "out" / r["chip"]).is_file() for r in rows)
    on_disk = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")}
    assert on_disk == {r["chip"] for r in rows}


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file; the manifest by the names it lists (its fingerprints name inodes and times)."""
    out = {}
    for p in sorted(root.rglob("*.*")):
        if p.name == ".tiledet-manifest.json":
            out[str(p.relative_to(root))] = " ".join(json.loads(p.read_text())["files"])
        elif p.is_file() and p.name != ".tiledet.lock":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_workers_one_and_two_identical_and_unreadable_scene_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    scenes = []
    for k in range(3):
        _flat_scene(src, f"s{k}.png", (80, 80), [[10 * k, 10, 10 * k + 15, 30]])
        scenes.append(ImageLabels(f"s{k}.png", (80, 80), Boxes([[10 * k, 10, 10 * k + 15, 30]], [0])))
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    scenes.append(ImageLabels("bad.png", (80, 80), Boxes([[1, 1, 9, 9], [20, 20, 30, 30]], [0, 0])))
    splits = {"train": scenes[:2], "val": scenes[2:]}
    reports = []
    for workers in (1, 2):
        cfg = ChipConfig(chip_size=16, background=3, seed=1, workers=workers)
        reports.append(write_chips_dataset(splits, src, tmp_path / f"w{workers}", ["car"], cfg))
    assert _digest(tmp_path / "w1") == _digest(tmp_path / "w2")
    assert reports[0].to_dict() == reports[1].to_dict()
    assert [(d.reason, d.image, d.location) for d in reports[0].drops] == [
        ("unreadable_image", "bad.png", "box 0"),
        ("unreadable_image", "bad.png", "box 1"),
    ]
    assert list(reports[0].to_dict()["unreadable_scenes"]) == ["bad.png"]


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"chip_size": 0}, "chip_size"),
        ({"chip_size": -8}, "chip_size"),
        ({"chip_size": 8.5}, "chip_size"),
        ({"context": -0.01}, "context"),
        ({"context": float("nan")}, "context"),
        ({"background": -1}, "background"),
        ({"workers": -2}, "workers"),
    ],
)
def test_chip_config_rejects_out_of_range_options(kwargs: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        ChipConfig(**kwargs)


def test_chip_config_boundaries_and_reserved_background(tmp_path: Path) -> None:
    assert ChipConfig(chip_size=1, context=0.0, background=0, workers=0).chip_size == 1
    splits = {"train": [ImageLabels("s.png", (10, 10), Boxes.empty())]}
    with pytest.raises(ConfigError, match="background"):
        write_chips_dataset(splits, tmp_path, tmp_path / "o", ["car", "Background"], ChipConfig(background=1))
    twins = {
        "train": [
            ImageLabels("a.png", (10, 10), Boxes.empty()),
            ImageLabels("a.tif", (10, 10), Boxes.empty()),
        ]
    }
    with pytest.raises(InputError, match=r"'a\.png' and 'a\.tif'"):
        write_chips_dataset(twins, tmp_path, tmp_path / "o", ["car"], ChipConfig())

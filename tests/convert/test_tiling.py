"""Tiled datasets on disk: names, pixels, labels, empty tiles, workers, unreadable scenes, val_full.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tiledet.boxes import Boxes
from tiledet.convert.config import TileConfig
from tiledet.convert.tile_geometry import parse_tile_stem
from tiledet.convert.tiling import write_tiled_dataset
from tiledet.errors import ConfigError, InputError
from tiledet.geometry import tile_offsets
from tiledet.labels import ImageLabels

CLASSES = ("car", "bus")


def _scene(folder: Path, name: str, size_wh: tuple[int, int], seed: int = 0, **kw) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels, *kw.values())
    return pixels


def _files(root: Path) -> dict[str, str]:
    """sha256 of every file; the manifest by the names it lists (its fingerprints name inodes and times)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.name == ".tiledet-manifest.json":
            out[str(p.relative_to(root))] = " ".join(json.loads(p.read_text())["files"])
        elif p.is_file() and p.name != ".tiledet.lock":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def scenes(tmp_path: Path) -> tuple[Path, dict[str, list[ImageLabels]], dict[str, np.ndarray]]:
    """Two PNG scenes (train) and one PNG scene (val), 250x200 and 120x90 px."""
    src = tmp_path / "src"
    pixels = {
        "a.png": _scene(src, "a.png", (250, 200), 1),
        "sub/b.png": _scene(src, "sub/b.png", (250, 200), 2),
        "v.png": _scene(src, "v.png", (120, 90), 3),
    }
    a = ImageLabels(
        "a.png", (250, 200), Boxes([[10, 10, 30, 30], [90, 20, 110, 40], [5, 150, 8, 200]], [0, 1, 0])
    )
    b = ImageLabels("sub/b.png", (250, 200), Boxes.empty())
    v = ImageLabels("v.png", (120, 90), Boxes([[50, 40, 70, 60]], [1]))
    return src, {"train": [a, b], "val": [v]}, pixels


def test_yolo_tiles_hold_scene_pixels_and_hand_computed_labels(tmp_path: Path, scenes) -> None:
    src, splits, pixels = scenes
    out = tmp_path / "out"
    cfg = TileConfig(tile=100, overlap=0.2, min_visibility=0.5, workers=1)
    report = write_tiled_dataset(splits, src, out, CLASSES, cfg, to="yolo")
    # a.png windows x0 in {0, 80, 150}, y0 in {0, 80, 100}; box 1 (x 90..110) is half in tile x0=0
    label = (out / "labels/train/a__x0_y0.txt").read_text()
    assert label == "0 0.200000 0.200000 0.200000 0.200000\n1 0.950000 0.300000 0.100000 0.200000\n"
    assert (out / "labels/train/a__x80_y0.txt").read_text() == "1 0.200000 0.300000 0.200000 0.200000\n"
    # box 2 is 3 px wide and reaches y = 200: whole inside the bottom row (y0 = 100) only
    assert (out / "labels/train/a__x0_y100.txt").read_text() == "0 0.065000 0.750000 0.030000 0.500000\n"
    tiles = sorted((out / "images").rglob("*.png"))
    assert tiles, "no tiles written"
    for tile in tiles:
        split = tile.relative_to(out / "images").parts[0]
        rel = tile.relative_to(out / "images" / split).as_posix()
        stem, x0, y0 = parse_tile_stem(rel)
        scene = str(Path(rel).parent / f"{stem}.png")
        got = cv2.imread(str(tile), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(got, pixels[scene][y0 : y0 + 100, x0 : x0 + 100])
        assert got.shape[:2] == ((90, 100) if scene == "v.png" else (100, 100))
    totals = report.to_dict()["box_outcome_totals"]
    assert totals == {"kept_whole": 4, "kept_clipped_only": 0, "outside_tiles": 0, "nodata": 0,
                      "unreadable_image": 0}
    assert report.drops == []


def test_empty_fraction_zero_and_one(tmp_path: Path, scenes) -> None:
    src, splits, _ = scenes
    none = write_tiled_dataset(
        splits, src, tmp_path / "e0", CLASSES, TileConfig(tile=100, empty_fraction=0.0, workers=1)
    )
    every = write_tiled_dataset(
        splits, src, tmp_path / "e1", CLASSES, TileConfig(tile=100, empty_fraction=1.0, workers=1)
    )
    n_windows = 2 * len(tile_offsets((250, 200), 100, 0.2)) + len(tile_offsets((120, 90), 100, 0.2))
    assert (
        len(list((tmp_path / "e1/images").rglob("*.png"))) == n_windows == every.to_dict()["totals"]["tiles"]
    )
    assert not list((tmp_path / "e0/images/train/sub").glob("*")), "a scene without boxes gives no tiles"
    labels0 = list((tmp_path / "e0/labels").rglob("*.txt"))
    assert labels0 and all(p.read_text() for p in labels0), "with empty_fraction 0 every tile has boxes"
    d0, d1 = none.to_dict()["totals"], every.to_dict()["totals"]
    assert d0["empty_tiles_kept"] == 0 and d0["tiles"] == d0["tiles_with_boxes"]
    assert d1["empty_tiles_skipped"] == 0 and d1["empty_tiles_kept"] == n_windows - d1["tiles_with_boxes"]
    assert (tmp_path / "e1/labels/train/sub/b__x0_y0.txt").read_text() == ""


def test_workers_one_and_two_give_identical_outputs(tmp_path: Path, scenes) -> None:
    src, splits, _ = scenes
    cfg1 = TileConfig(tile=64, overlap=0.25, empty_fraction=0.5, seed=7, workers=1)
    cfg2 = TileConfig(tile=64, overlap=0.25, empty_fraction=0.5, seed=7, workers=2)
    r1 = write_tiled_dataset(splits, src, tmp_path / "w1", CLASSES, cfg1)
    r2 = write_tiled_dataset(splits, src, tmp_path / "w2", CLASSES, cfg2)
    files = _files(tmp_path / "w1")
    assert files == _files(tmp_path / "w2")
    assert r1.to_dict() == r2.to_dict()
    kept, skipped = r1.to_dict()["totals"]["empty_tiles_kept"], r1.to_dict()["totals"]["empty_tiles_skipped"]
    assert kept > 0 and skipped > 0, "empty_fraction 0.5 keeps some empty tiles and skips others"
    other = write_tiled_dataset(
        splits, src, tmp_path / "w3", CLASSES, TileConfig(**{**cfg1.__dict__, "seed": 8})
    )
    assert other.to_dict()["totals"]["tiles"] > 0 and _files(tmp_path / "w3") != files


@pytest.mark.parametrize("damage", ["truncate_png", "truncate_jpeg", "garbage", "missing"])
def test_unreadable_scene_is_a_reported_skip(tmp_path: Path, damage: str) -> None:
    src = tmp_path / "src"
    _scene(src, "good.png", (150, 150), 1)
    name = "bad.jpg" if damage == "truncate_jpeg" else "bad.png"
    _scene(src, name, (150, 150), 2)
    bad = src / name
    if damage.startswith("truncate"):
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif damage == "garbage":
        bad.write_bytes(b"not an image at all")
    else:
        bad.unlink()
    boxes = Boxes([[10, 10, 20, 20], [60, 60, 80, 80]], [0, 1])
    splits = {"train": [ImageLabels("good.png", (150, 150), boxes), ImageLabels(name, (150, 150), boxes)]}
    report = write_tiled_dataset(splits, src, tmp_path / "out", CLASSES, TileConfig(tile=100, workers=1))
    assert [(d.reason, d.image, d.location) for d in report.drops] == [
        ("unreadable_image", name, "box 0"),
        ("unreadable_image", name, "box 1"),
    ]
    assert name in report.drops[0].detail
    summary = report.to_dict()
    assert summary["splits"]["train"]["scenes_unreadable"] == 1
    assert list(summary["unreadable_scenes"]) == [name]
    assert summary["box_outcome_totals"]["unreadable_image"] == 2
    assert not list((tmp_path / "out/images/train").glob("bad__*")), "no tiles from the unreadable scene"
    assert list((tmp_path / "out/images/train").glob("good__*"))


def test_coco_tiles_and_val_full(tmp_path: Path, scenes) -> None:
    from pycocotools.coco import COCO

    src, splits, _ = scenes
    cfg = TileConfig(tile=100, overlap=0.2, min_visibility=0.5, workers=1)
    write_tiled_dataset(splits, src, tmp_path / "out", CLASSES, cfg, to="coco")
    assert not (tmp_path / "out/labels").exists()
    train = COCO(str(tmp_path / "out/annotations/train.json"))
    by_name = {im["file_name"]: im["id"] for im in train.dataset["images"]}
    anns = train.loadAnns(train.getAnnIds(imgIds=[by_name["a__x0_y0.png"]]))
    assert sorted((a["category_id"], a["bbox"]) for a in anns) == [
        (1, [10, 10, 20, 20]),
        (2, [90, 20, 10, 20]),
    ]
    assert all((tmp_path / "out/images/train" / n).is_file() for n in by_name)
    full = json.loads((tmp_path / "out/annotations/val_full.json").read_text())
    assert full["info"]["images_dir"] == str(src.resolve())
    assert [(im["file_name"], im["width"], im["height"]) for im in full["images"]] == [("v.png", 120, 90)]
    assert [(a["category_id"], a["bbox"]) for a in full["annotations"]] == [(2, [50, 40, 20, 20])]


def test_outside_tiles_drops_account_for_every_box(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _scene(src, "s.png", (200, 200))
    # tile 100 without overlap: a 40x40 box centred on the crossing shows 25 % in each of four tiles
    boxes = Boxes([[80, 80, 120, 120], [10, 10, 30, 30], [90, 10, 110, 30]], [0, 0, 1])
    splits = {"train": [ImageLabels("s.png", (200, 200), boxes)]}
    report = write_tiled_dataset(
        splits, src, tmp_path / "out", CLASSES, TileConfig(tile=100, overlap=0.0, workers=1)
    )
    assert [(d.reason, d.location) for d in report.drops] == [("outside_tiles", "box 0")]
    assert "0.2500" in report.drops[0].detail
    outcomes = report.to_dict()["box_outcomes"]["train"]
    assert outcomes == {"kept_whole": 1, "kept_clipped_only": 1, "outside_tiles": 1, "nodata": 0,
                        "unreadable_image": 0}
    assert sum(outcomes.values()) == len(boxes)


def test_jpeg_sources_give_jpeg_tiles_and_16_bit_png_is_lossless_under_fixed(tmp_path: Path) -> None:
    from tiledet.radiometry import FIXED

    src = tmp_path / "src"
    _scene(src, "photo.jpg", (120, 80))
    deep = np.random.default_rng(0).integers(0, 65536, (80, 120), dtype=np.uint16)
    cv2.imwrite(str(src / "deep.tif"), deep)
    box = Boxes([[5, 5, 15, 15]], [0])
    splits = {"train": [ImageLabels("photo.jpg", (120, 80), box), ImageLabels("deep.tif", (120, 80), box)]}
    write_tiled_dataset(splits, src, tmp_path / "out", CLASSES, TileConfig(tile=64, overlap=0.0, workers=1),
                        radiometry=FIXED)  # fmt: skip
    assert (tmp_path / "out/images/train/photo__x0_y0.jpg").is_file()
    got = cv2.imread(str(tmp_path / "out/images/train/deep__x0_y0.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(got, deep[:64, :64])


def test_bad_arguments(tmp_path: Path, scenes) -> None:
    src, splits, _ = scenes
    with pytest.raises(ConfigError, match="yolo or coco"):
        write_tiled_dataset(splits, src, tmp_path / "o", CLASSES, TileConfig(tile=64), to="voc")
    twins = {
        "train": [
            ImageLabels("a.png", (250, 200), Boxes.empty()),
            ImageLabels("a.tif", (250, 200), Boxes.empty()),
        ]
    }
    with pytest.raises(InputError, match=r"'a.png' and 'a.tif'"):
        write_tiled_dataset(twins, src, tmp_path / "o", CLASSES, TileConfig(tile=64))


@pytest.mark.parametrize("kind", ["rgb", "rgba", "gray", "gray16", "palette", "rgb_trns", "gray_alpha"])
def test_read_scene_matches_plain_imread_for_every_layout(tmp_path: Path, kind: str) -> None:
    from PIL import Image

    from tiledet.decode import read_scene

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = tmp_path / f"{kind}.png"
    if kind == "rgb":
        Image.fromarray(rgb).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, rgb[:, :, 0]]), "RGBA").save(path)
    elif kind == "gray":
        Image.fromarray(rgb[:, :, 0]).save(path)
    elif kind == "gray16":
        cv2.imwrite(str(path), rng.integers(0, 65536, (30, 40), dtype=np.uint16))
    elif kind == "palette":
        Image.fromarray(rgb).convert("P").save(path)
    elif kind == "rgb_trns":
        Image.fromarray(rgb).save(path, transparency=(1, 2, 3))
    else:
        Image.fromarray(np.dstack([rgb[:, :, 0], rgb[:, :, 1]]), "LA").save(path)
    expected = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    got = read_scene(path, (40, 30))
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_unwritable_output_is_a_clear_error(tmp_path: Path, scenes) -> None:
    src, splits, _ = scenes
    (tmp_path / "out").mkdir()
    (tmp_path / "out/images").write_text("a file where a folder should be")
    with pytest.raises(InputError, match="cannot create the output folders"):
        write_tiled_dataset(splits, src, tmp_path / "out", CLASSES, TileConfig(tile=64, workers=1))

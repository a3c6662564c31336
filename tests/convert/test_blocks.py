"""Spatial block splits: block sizes, hand-computed assignments (blake2b by hand, rasterio's transform),
blocks aligned across scenes of one CRS, the val share over many blocks, and tiles/chips on disk."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from affine import Affine

from tiledet.boxes import Boxes
from tiledet.convert.blocks import BlockSize, BlockSplit, parse_block_size
from tiledet.convert.config import ChipConfig, ConvertConfig, TileConfig
from tiledet.errors import ConfigError
from tiledet.labels import ImageLabels
from tiledet.scene import open_scene

UTM = "EPSG:32633"


def _by_hand(seed: int, key: str, bx: int, by: int, val_fraction: float) -> str:
    """The documented draw: blake2b("{seed}:{key}:{bx}:{by}"), 8 bytes big-endian, over 2**64."""
    digest = hashlib.blake2b(f"{seed}:{key}:{bx}:{by}".encode(), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "big") / 2**64 < val_fraction else "train"


def _tif(path: Path, size_wh: tuple[int, int], transform: Affine, crs: str | None = UTM) -> Path:
    width, height = size_wh
    data = np.random.default_rng(0).integers(1, 255, (3, height, width), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 3, "dtype": "uint8",
               "transform": transform, **({"crs": crs} if crs else {})}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2000m", BlockSize(2000, "m")), ("5000px", BlockSize(5000, "px")), (" 12.5 M ", BlockSize(12.5, "m"))],
)
def test_parse_block_size(text: str, expected: BlockSize) -> None:
    assert parse_block_size(text) == expected and str(expected) in ("2000m", "5000px", "12.5m")


@pytest.mark.parametrize("text", ["2000", "m", "-5px", "0px", "5 km", "1e3m", ""])
def test_bad_block_sizes_name_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match="block_size") as info:
        parse_block_size(text)
    assert info.value.field == "block_size"


def test_pixel_blocks_hand_computed(tmp_path: Path) -> None:
    path = _tif(tmp_path / "s.tif", (400, 300), Affine(0.5, 0, 500_000, 0, -0.5, 4_600_000))
    split = BlockSplit(BlockSize(100, "px"), val_fraction=0.5, seed=7)
    centres = np.array([[50, 50], [150, 50], [99.9, 250], [100, 250], [399, 299]])
    with open_scene(path) as scene:
        key, blocks = split.blocks(scene, "s.tif", centres)
        got = split.splits(scene, "s.tif", centres).tolist()
    assert key == "px:s.tif"
    assert blocks.tolist() == [[0, 0], [1, 0], [0, 2], [1, 2], [3, 2]]  # floor(x / 100), floor(y / 100)
    assert got == [_by_hand(7, "px:s.tif", bx, by, 0.5) for bx, by in blocks.tolist()]


def test_metre_blocks_through_the_transform_align_across_scenes_of_one_crs(tmp_path: Path) -> None:
    # two overlapping scenes of one CRS, 0.5 m pixels; b starts 30 m east and 20 m south of a
    a = _tif(tmp_path / "a.tif", (200, 200), Affine(0.5, 0, 500_000, 0, -0.5, 4_600_000))
    b = _tif(tmp_path / "b.tif", (200, 200), Affine(0.5, 0, 500_030, 0, -0.5, 4_599_980))
    split = BlockSplit(BlockSize(25, "m"), val_fraction=0.5, seed=1)
    centres_a = np.array([[70.5, 50.5], [100, 100], [130, 170]])
    centres_b = centres_a - [60, 40]  # the same places on the ground, in b's pixels
    with open_scene(a) as sa, open_scene(b) as sb, rasterio.open(a) as src:
        key_a, blocks_a = split.blocks(sa, "a.tif", centres_a)
        key_b, blocks_b = split.blocks(sb, "b.tif", centres_b)
        xs, ys = rasterio.transform.xy(src.transform, centres_a[:, 1], centres_a[:, 0], offset="ul")
        assert split.splits(sa, "a.tif", centres_a).tolist() == split.splits(sb, "b.tif", centres_b).tolist()
    assert key_a == key_b == "m:EPSG:32633"
    expected = np.floor(np.column_stack([xs, ys]) / 25).astype(int)  # map metres from rasterio, by hand
    assert blocks_a.tolist() == blocks_b.tolist() == expected.tolist()


def test_metre_blocks_need_a_georeferenced_scene(tmp_path: Path) -> None:
    split = BlockSplit(BlockSize(25, "m"), 0.5)
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        plain = _tif(tmp_path / "plain.tif", (20, 20), Affine.identity(), crs=None)
    with open_scene(plain) as scene, pytest.raises(ConfigError, match="not georeferenced") as info:
        split.blocks(scene, "plain.tif", np.zeros((1, 2)))
    assert info.value.field == "block_size" and "plain.tif" in str(info.value)


def test_lon_lat_scenes_use_the_utm_zone_of_their_centre_and_align_with_utm_scenes(tmp_path: Path) -> None:
    from pyproj import Transformer

    # 1e-5 degree pixels near 13.4 E, 52.5 N (UTM zone 33 N: EPSG:32633)
    lonlat = _tif(tmp_path / "ll.tif", (300, 200), Affine(1e-5, 0, 13.4, 0, -1e-5, 52.5), crs="EPSG:4326")
    split = BlockSplit(BlockSize(50, "m"), val_fraction=0.5, seed=4)
    centres = np.array([[10.5, 20.5], [150, 100], [290, 190]])
    with open_scene(lonlat) as scene, rasterio.open(lonlat) as src:
        key, blocks = split.blocks(scene, "ll.tif", centres)
        lons, lats = rasterio.transform.xy(src.transform, centres[:, 1], centres[:, 0], offset="ul")
    east, north = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True).transform(lons, lats)
    assert key == "m:EPSG:32633"
    assert blocks.tolist() == np.floor(np.column_stack([east, north]) / 50).astype(int).tolist()
    # a UTM 33N scene with 0.5 m pixels whose corner is the first centre's place: the same block there
    utm = _tif(tmp_path / "utm.tif", (40, 40), Affine(0.5, 0, east[0], 0, -0.5, north[0]))
    with open_scene(utm) as scene:
        utm_key, utm_blocks = split.blocks(scene, "utm.tif", np.array([[0.0, 0.0]]))
    assert utm_key == key and utm_blocks.tolist() == blocks[:1].tolist()


def test_val_share_over_many_blocks_and_determinism(tmp_path: Path) -> None:
    path = _tif(tmp_path / "s.tif", (10, 10), Affine(0.5, 0, 500_000, 0, -0.5, 4_600_000))
    xy = np.stack(np.meshgrid(np.arange(100), np.arange(100)), -1).reshape(-1, 2) * 10 + 5.0  # 10 000 blocks
    with open_scene(path) as scene:
        runs = {s: BlockSplit(BlockSize(10, "px"), 0.3, s).splits(scene, "s.tif", xy) for s in (0, 1)}
        again = BlockSplit(BlockSize(10, "px"), 0.3, 0).splits(scene, "s.tif", xy)
    share = float(np.mean(runs[0] == "val"))
    assert abs(share - 0.3) < 0.02  # binomial sd 0.0046
    assert (again == runs[0]).all() and (runs[1] != runs[0]).mean() > 0.3  # a seed decides, others differ
    assert set(runs[0].tolist()) == {"train", "val"}


def _png_scene(folder: Path, size_wh: tuple[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(3).integers(0, 256, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    assert cv2.imwrite(str(folder / "s.png"), pixels)


def test_tiles_and_their_boxes_go_to_the_split_of_the_block_holding_their_centre(tmp_path: Path) -> None:
    from tiledet.convert.tiling import write_tiled_dataset
    from tiledet.geometry import tile_offsets

    _png_scene(tmp_path / "src", (600, 400))
    boxes = Boxes([[10, 10, 30, 30], [250, 150, 270, 170], [580, 370, 595, 395]], [0, 0, 0])
    splits = {"train": [ImageLabels("s.png", (600, 400), boxes)]}
    cfg = TileConfig(tile=100, overlap=0.0, empty_fraction=1.0, workers=1)
    blocks = BlockSplit(BlockSize(200, "px"), val_fraction=0.5, seed=3)
    report = write_tiled_dataset(splits, tmp_path / "src", tmp_path / "out", ["car"], cfg, blocks=blocks)
    on_disk = {s: {p.name for p in (tmp_path / "out/images" / s).iterdir()} for s in ("train", "val")}
    assert not on_disk["train"] & on_disk["val"]  # no tile in both splits
    for x0, y0, x1, y1 in tile_offsets((600, 400), 100, 0.0).tolist():
        want = _by_hand(3, "px:s.png", (x0 + x1) // 2 // 200, (y0 + y1) // 2 // 200, 0.5)
        assert f"s__x{x0}_y{y0}.png" in on_disk[want], (x0, y0, want)
    for i, (x0, y0, _, _) in enumerate(boxes.xyxy.tolist()):  # each box's label beside its tile
        tx, ty = int(x0 // 100 * 100), int(y0 // 100 * 100)
        want = _by_hand(3, "px:s.png", tx // 200, ty // 200, 0.5)
        label = tmp_path / "out/labels" / want / f"s__x{tx}_y{ty}.txt"
        assert label.read_text().strip(), (i, want)
    split = {"kind": "blocks", "block_size": "200px", "val_fraction": 0.5, "seed": 3}
    assert report.to_dict()["split"] == split
    assert not (tmp_path / "out/annotations/val_full.json").exists()  # no scene is wholly val


def test_chips_follow_the_block_of_their_object(tmp_path: Path) -> None:
    from tiledet.convert.chips import write_chips_dataset

    _png_scene(tmp_path / "src", (600, 400))
    xyxy = [[10, 10, 30, 30], [250, 150, 270, 170], [450, 250, 470, 270], [560, 360, 580, 380]]
    splits = {"train": [ImageLabels("s.png", (600, 400), Boxes(xyxy, [0] * 4))]}
    cfg = ChipConfig(chip_size=16, context=0.0, background=6, structured=True, jitter=2, workers=1)
    blocks = BlockSplit(BlockSize(200, "px"), val_fraction=0.5, seed=5)
    write_chips_dataset(splits, tmp_path / "src", tmp_path / "out", ["car"], cfg, blocks=blocks)
    with (tmp_path / "out/chips.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for i, (x0, y0, x1, y1) in enumerate(xyxy):  # object, jitter and structured chips of object i
        want = _by_hand(5, "px:s.png", int((x0 + x1) / 2 // 200), int((y0 + y1) / 2 // 200), 0.5)
        mine = [r for r in rows if r["chip"].split("/")[-1].startswith(f"s__{i:05d}")]
        assert len(mine) >= 3 and {r["split"] for r in mine} == {want}, i
        assert all(r["chip"].startswith(f"{want}/") for r in mine)
        assert all((tmp_path / "out" / r["chip"]).is_file() for r in mine)
    for r in rows:
        if r["kind"] == "background":  # random background: by the chip's own centre
            cx = (int(r["window_x0"]) + int(r["window_x1"])) / 2
            cy = (int(r["window_y0"]) + int(r["window_y1"])) / 2
            assert r["split"] == _by_hand(5, "px:s.png", int(cx // 200), int(cy // 200), 0.5)


def test_block_split_options_are_checked(tmp_path: Path) -> None:
    base = {"src": tmp_path, "images_dir": tmp_path, "out": tmp_path / "o"}
    with pytest.raises(ConfigError, match="needs `block_size`"):
        ConvertConfig(**base, split="blocks", tile=TileConfig(tile=64))
    with pytest.raises(ConfigError, match="block_size applies only with split=blocks"):
        ConvertConfig(**base, split="random", block_size="100px", tile=TileConfig(tile=64))
    with pytest.raises(ConfigError, match="needs `tile` or to=chips"):
        ConvertConfig(**base, split="blocks", block_size="100px")
    cfg = ConvertConfig(**base, split="blocks", block_size="2000m", to="chips")
    assert cfg.block_size == BlockSize(2000, "m")


def test_cli_metre_blocks_on_png_scenes_are_a_one_line_error_before_writing(tmp_path: Path, capsys) -> None:
    from tiledet.cli import main

    _png_scene(tmp_path / "images", (200, 100))
    (tmp_path / "classes.txt").write_text("car\n")
    (tmp_path / "labels.csv").write_text("image,xmin,ymin,xmax,ymax,class\ns.png,10,10,30,30,car\n")
    args = ["convert", tmp_path / "labels.csv", "--images", tmp_path / "images", "--classes",
            tmp_path / "classes.txt", "--out", tmp_path / "out", "--tile", 64, "--quiet"]  # fmt: skip
    code = main([str(a) for a in [*args, "--block-size", "500m"]])
    err = capsys.readouterr().err
    assert code == 2 and "s.png" in err and "--block-size in metres" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out/images").exists()
    code = main([str(a) for a in [*args, "--block-size", "64px", "--val-fraction", "0.5"]])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["tiling"]["split"]["block_size"] == "64px"
    tiles = sum(len(list((tmp_path / "out/images" / s).iterdir())) for s in ("train", "val"))
    assert tiles == report["tiling"]["totals"]["tiles"]

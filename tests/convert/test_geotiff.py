"""``convert`` on GeoTIFFs written with rasterio: tiles equal rasterio's own window reads (8 bit), the
per-scene stretch by hand with numpy percentiles (16 bit), lossless tiles under fixed, nodata tiles and
background chips skipped and counted, windowed reads only, a scene that breaks part-way, huge headers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from tiledet.boxes import Boxes
from tiledet.convert.config import ChipConfig, TileConfig
from tiledet.convert.tiling import write_tiled_dataset
from tiledet.errors import InputError
from tiledet.geometry import tile_offsets
from tiledet.labels import ImageLabels
from tiledet.radiometry import FIXED
from tiledet.scene import open_scene

UTM = "EPSG:32633"
MARGIN = 100  # columns [0, 100) are nodata


def write_tif(path: Path, bands: np.ndarray, **profile: object) -> Path:
    """(C, H, W) ``bands`` as a tiled 64x64-block GeoTIFF (rasterio, the independent writer)."""
    count, height, width = bands.shape
    meta = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": bands.dtype.name,
            "tiled": True, "blockxsize": 64, "blockysize": 64, "crs": UTM,
            "transform": Affine(0.5, 0, 500_000, 0, -0.5, 4_600_000)}  # fmt: skip
    meta.update(profile)
    with rasterio.open(path, "w", **meta) as dst:
        dst.write(bands)
    return path


def margin_scene(path: Path, dtype: type = np.uint8, size_wh: tuple[int, int] = (300, 200)) -> np.ndarray:
    """A 3-band scene, values >= 1 except a nodata (0) margin of :data:`MARGIN` columns."""
    width, height = size_wh
    top = 255 if dtype == np.uint8 else 4000  # 12-bit data stored as uint16
    bands = np.random.default_rng(1).integers(1, top, (3, height, width)).astype(dtype)
    bands[:, :, :MARGIN] = 0
    write_tif(path, bands, nodata=0)
    return bands


def _tiles(out: Path, split: str = "train") -> dict[tuple[int, int], np.ndarray]:
    """Written tiles by origin, as stored (OpenCV's channel order)."""
    found = {}
    for p in (out / "images" / split).glob("*.png"):
        x, y = p.stem.rsplit("__", 1)[1].split("_")
        found[(int(x[1:]), int(y[1:]))] = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    return found


def _run(src: Path, out: Path, boxes: Boxes, size_wh=(300, 200), **kw) -> dict:
    splits = {"train": [ImageLabels("s.tif", size_wh, boxes)]}
    cfg = TileConfig(tile=64, overlap=0.0, empty_fraction=1.0, workers=1)
    return write_tiled_dataset(splits, src, out, ["car"], cfg, **kw).to_dict()


def test_8_bit_tiles_equal_rasterio_window_reads_and_nodata_tiles_are_skipped(tmp_path: Path) -> None:
    margin_scene(tmp_path / "s.tif")
    boxes = Boxes([[150, 20, 170, 40], [10, 10, 30, 30]], [0, 0])  # the second in the nodata margin
    report = _run(tmp_path, tmp_path / "out", boxes)
    windows = tile_offsets((300, 200), 64, 0.0)
    blank = [w for w in windows.tolist() if w[2] <= MARGIN]  # by hand: the windows of column x0 = 0
    assert len(blank) == 4 and report["totals"]["nodata_tiles"] == 4
    tiles = _tiles(tmp_path / "out")
    assert len(tiles) == len(windows) - 4 == report["totals"]["tiles"]
    with rasterio.open(tmp_path / "s.tif") as src:
        for x0, y0, x1, y1 in windows.tolist():
            if [x0, y0, x1, y1] in blank:
                assert (x0, y0) not in tiles
                continue
            expected = src.read(window=Window(x0, y0, x1 - x0, y1 - y0)).transpose(1, 2, 0)  # R, G, B
            np.testing.assert_array_equal(tiles[(x0, y0)][:, :, ::-1], expected)
    assert report["box_outcome_totals"]["kept_whole"] == 1 and report["box_outcome_totals"]["nodata"] == 1
    assert report["drops_by_reason"] == {"nodata": 1}
    assert not (tmp_path / "out/labels/train/s__x0_y0.txt").exists()


def _stretch_by_hand(values: np.ndarray, valid: np.ndarray, low: float = 2, high: float = 98) -> np.ndarray:
    """(H, W, 3) uint8: each band between its low and high percentiles of the valid pixels (float64)."""
    lo, hi = np.percentile(values[valid].astype(np.float64), [low, high], axis=0)
    out = np.clip(np.rint(255.0 * (values - lo) / (hi - lo)), 0, 255).astype(np.uint8)
    out[~valid] = 0
    return out


def test_16_bit_tiles_are_the_per_scene_stretch_and_lossless_under_fixed(tmp_path: Path) -> None:
    margin_scene(tmp_path / "s.tif", np.uint16)
    boxes = Boxes([[150, 20, 170, 40]], [0])
    report = _run(tmp_path, tmp_path / "auto", boxes)
    with rasterio.open(tmp_path / "s.tif") as src:  # scenes up to 1024 px: statistics on every pixel
        values = src.read().transpose(1, 2, 0)
        valid = src.dataset_mask() > 0
    expected = _stretch_by_hand(values, valid)
    for (x0, y0), tile in _tiles(tmp_path / "auto").items():
        assert tile.dtype == np.uint8
        want = expected[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]]
        diff = np.abs(tile[:, :, ::-1].astype(int) - want)
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float32 arithmetic: a value may round over
    lo, hi = np.percentile(values[valid].astype(np.float64), [2, 98], axis=0)
    stretch = report["scene_stretch"]["s.tif"]
    np.testing.assert_allclose(stretch["low"], lo) and np.testing.assert_allclose(stretch["high"], hi)
    assert report["radiometry"]["kind"] == "auto"
    _run(tmp_path, tmp_path / "fixed", boxes, radiometry=FIXED)
    tiles = _tiles(tmp_path / "fixed")
    assert tiles and all(t.dtype == np.uint16 for t in tiles.values())
    for (x0, y0), tile in tiles.items():  # the stored values, B, G, R in the file
        want = values[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]]
        np.testing.assert_array_equal(tile[:, :, ::-1], want)


def test_tiles_are_read_window_by_window_never_the_whole_scene(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiledet.raster import RasterScene

    margin_scene(tmp_path / "s.tif", np.uint16, (500, 400))
    reads: list[tuple[int, int, int, int]] = []
    real = RasterScene._raw_read

    def spy(self, box, out_hw, resampling):
        reads.append((box, out_hw))
        return real(self, box, out_hw, resampling)

    monkeypatch.setattr(RasterScene, "_raw_read", spy)
    _run(tmp_path, tmp_path / "out", Boxes([[150, 20, 170, 40]], [0]), (500, 400))
    full = [r for r in reads if r[0] is None]
    assert len(full) == 1 and full[0][1] == (400, 500)  # only the statistics sample (<= 1024 px a side)
    windows = [box for box, _ in reads if box is not None]
    assert windows and all((x1 - x0) * (y1 - y0) <= 64 * 64 for x0, y0, x1, y1 in windows)


def test_background_chips_of_pure_nodata_are_skipped_and_counted(tmp_path: Path) -> None:
    from tiledet.convert.chips import write_chips_dataset

    margin_scene(tmp_path / "s.tif", size_wh=(300, 200))
    boxes = Boxes([[150, 20, 170, 40]], [0])
    splits = {"train": [ImageLabels("s.tif", (300, 200), boxes)]}
    cfg = ChipConfig(chip_size=16, background=40, structured=False, jitter=0, workers=1)
    report = write_chips_dataset(splits, tmp_path, tmp_path / "out", ["car"], cfg).to_dict()
    with (tmp_path / "out/chips.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "background"]
    with rasterio.open(tmp_path / "s.tif") as src:
        mask = src.dataset_mask() > 0
    for r in rows:  # every written background chip shows data, by rasterio's own mask
        x0, y0, x1, y1 = (int(r[f"window_{k}"]) for k in ("x0", "y0", "x1", "y1"))
        assert mask[y0:y1, x0:x1].any(), r
    skipped = report["nodata_chips"]["background"]  # about a third of the scene is nodata
    assert skipped > 0 and len(rows) + skipped == 40  # room for all 40: each one written or skipped
    assert len(rows) == report["background_placed"]["train"]


def test_a_scene_that_breaks_part_way_leaves_none_of_its_tiles(tmp_path: Path) -> None:
    bands = np.random.default_rng(0).integers(1, 255, (3, 256, 256), dtype=np.uint8)
    path = write_tif(tmp_path / "s.tif", bands)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 3 // 4])  # the last blocks cut off
    with open_scene(path) as scene:  # the header and the first blocks still read
        np.testing.assert_array_equal(scene.read((0, 0, 64, 64)), bands[:, :64, :64].transpose(1, 2, 0))
    boxes = Boxes([[10, 10, 30, 30]], [0])
    report = _run(tmp_path, tmp_path / "out", boxes, (256, 256))
    assert list((tmp_path / "out/images/train").iterdir()) == []
    assert list((tmp_path / "out/labels/train").iterdir()) == []
    assert "s.tif" in report["unreadable_scenes"] and report["drops_by_reason"] == {"unreadable_image": 1}
    manifest = json.loads((tmp_path / "out/.tiledet-manifest.json").read_text())
    assert not [f for f in manifest["files"] if f.startswith("images/")]


@pytest.mark.parametrize("fmt", ["csv", "yolo"])
def test_label_loaders_take_image_sizes_of_huge_geotiffs_from_the_header(tmp_path: Path, fmt: str) -> None:
    from tiledet.ioutil import image_size
    from tiledet.labels.load import load_labels

    images = tmp_path / "images/train"
    images.mkdir(parents=True)
    with rasterio.open(images / "big.tif", "w", driver="GTiff", width=20_000, height=20_000, count=3,
                       dtype="uint8", tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                       sparse_ok=True, crs=UTM, transform=Affine(0.3, 0, 500_000, 0, -0.3, 4_600_000)) as dst:
        dst.write(np.full((3, 512, 512), 7, np.uint8), window=Window(0, 0, 512, 512))  # one block only
    assert (images / "big.tif").stat().st_size < 1_000_000
    with pytest.raises(InputError, match=r"big\.tif"):  # Pillow refuses it as a decompression bomb
        image_size(images / "big.tif")
    if fmt == "csv":
        (tmp_path / "classes.txt").write_text("car\n")
        src = tmp_path / "labels.csv"
        src.write_text("image,xmin,ymin,xmax,ymax,class\nbig.tif,19000,19500,19030,19530,car\n")
        result = load_labels(src, "csv", images, str(tmp_path / "classes.txt"))
        name = "big.tif"
    else:
        (tmp_path / "labels/train").mkdir(parents=True)
        (tmp_path / "labels/train/big.txt").write_text("0 0.95075 0.97575 0.0015 0.0015\n")
        src = tmp_path / "data.yaml"
        src.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/train\nnames:\n  0: car\n")
        result = load_labels(src, "yolo", tmp_path)
        name = "images/train/big.tif"
    assert [(im.file_name, im.size_wh) for im in result.dataset.images] == [(name, (20_000, 20_000))]
    assert result.drops == [] and result.dataset.num_boxes == 1
    np.testing.assert_allclose(result.dataset.images[0].boxes.xyxy, [[19000, 19500, 19030, 19530]])


def test_geotiffs_in_worker_processes_give_the_same_files_with_metre_blocks(tmp_path: Path) -> None:
    import hashlib

    from tiledet.convert.blocks import BlockSize, BlockSplit

    for name in ("a.tif", "b.tif"):  # each worker opens its own scenes
        margin_scene(tmp_path / name, np.uint16)
    boxes = Boxes([[150, 20, 170, 40], [250, 150, 270, 170]], [0, 0])
    splits = {"train": [ImageLabels(n, (300, 200), boxes) for n in ("a.tif", "b.tif")]}
    blocks = BlockSplit(BlockSize(40, "m"), val_fraction=0.5, seed=2)  # 80 px blocks on 0.5 m pixels
    reports, files = [], []
    for workers in (1, 2):
        cfg = TileConfig(tile=64, overlap=0.0, empty_fraction=1.0, workers=workers)
        out = tmp_path / f"w{workers}"
        reports.append(write_tiled_dataset(splits, tmp_path, out, ["car"], cfg, blocks=blocks).to_dict())
        files.append({p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in out.rglob("*") if p.is_file() and p.suffix in (".png", ".txt")})  # fmt: skip
    assert files[0] == files[1] and reports[0] == reports[1]
    per_split = {s: sum(f.startswith(f"images/{s}/") for f in files[0]) for s in ("train", "val")}
    assert per_split["train"] > 0 and per_split["val"] > 0  # both scenes' tiles, spread over blocks
    # same CRS and transform: the two scenes' tiles at one place land in one split
    of_a = {f.replace("/a__", "/b__") for f in files[0] if "/a__" in f}
    assert of_a == {f for f in files[0] if "/b__" in f}


def test_cli_summary_shows_nodata_tiles_and_records_the_radiometry(tmp_path: Path, capsys) -> None:
    from tiledet.cli import main

    (tmp_path / "images").mkdir()
    margin_scene(tmp_path / "images/s.tif", np.uint16)
    (tmp_path / "classes.txt").write_text("car\n")
    (tmp_path / "labels.csv").write_text("image,xmin,ymin,xmax,ymax,class\ns.tif,150,20,170,40,car\n")
    code = main([str(a) for a in ["convert", tmp_path / "labels.csv", "--images", tmp_path / "images",
                 "--classes", tmp_path / "classes.txt", "--out", tmp_path / "out", "--tile", 64,
                 "--overlap", 0, "--empty-fraction", 1, "--radiometry", "percentile", "--bands", "3,2,1",
                 "--workers", 1]])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "tiles skipped: nodata" in err and "4" in err.split("tiles skipped: nodata")[1].split("\n")[0]
    report = json.loads((tmp_path / "out/report.json").read_text())["tiling"]
    assert report["radiometry"] == {"kind": "percentile", "low": 2.0, "high": 98.0, "bands": [3, 2, 1]}
    assert report["totals"]["nodata_tiles"] == 4
    with rasterio.open(tmp_path / "images/s.tif") as src:
        expected = _stretch_by_hand(src.read([3, 2, 1]).transpose(1, 2, 0), src.dataset_mask() > 0)
    tile = cv2.imread(str(tmp_path / "out/images/train/s__x128_y0.png"))[:, :, ::-1]  # R, G, B = 3, 2, 1
    assert np.abs(tile.astype(int) - expected[0:64, 128:192]).max() <= 1


@pytest.mark.realdata
def test_real_geotiff_with_nodata_corners_tiles_like_rasterio(realdata: Path, tmp_path: Path) -> None:
    """rasterio's RGB.byte.tif (791x718, UTM 18N, nodata 0 around a rotated footprint)."""
    from tiledet.convert.blocks import BlockSize, BlockSplit

    src_dir = realdata / "geotiff"
    splits = {"train": [ImageLabels("RGB.byte.tif", (791, 718), Boxes([[400, 300, 420, 320]], [0]))]}
    cfg = TileConfig(tile=128, overlap=0.0, empty_fraction=1.0, workers=1)
    blocks = BlockSplit(BlockSize(3000, "m"), val_fraction=0.5, seed=0)
    report = write_tiled_dataset(splits, src_dir, tmp_path / "out", ["car"], cfg, blocks=blocks).to_dict()
    windows = tile_offsets((791, 718), 128, 0.0).tolist()
    with rasterio.open(src_dir / "RGB.byte.tif") as src:
        mask = src.dataset_mask() > 0
        blank = [w for w in windows if not mask[w[1] : w[3], w[0] : w[2]].any()]
        tiles = {**_tiles(tmp_path / "out", "train"), **_tiles(tmp_path / "out", "val")}
        assert blank and report["totals"]["nodata_tiles"] == len(blank) == len(windows) - len(tiles)
        for (x0, y0), tile in tiles.items():
            expected = src.read(window=Window(x0, y0, tile.shape[1], tile.shape[0])).transpose(1, 2, 0)
            np.testing.assert_array_equal(tile[:, :, ::-1], expected)
    assert report["totals"]["tiles"] == len(tiles) and report["box_outcome_totals"]["kept_whole"] == 1

"""The scene source: windows, overviews, nodata and georeference, checked against rasterio and OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine, from_origin  # noqa: E402
from rasterio.windows import Window  # noqa: E402

from tiledet.errors import InputError  # noqa: E402
from tiledet.radiometry import FIXED, Radiometry  # noqa: E402
from tiledet.scene import DecodedScene, open_scene, read_scene_rgb, scene_size  # noqa: E402

UTM = "EPSG:32633"
ORIGIN = from_origin(500000, 4600000, 1, 1)


def _write_tif(path: Path, bands: np.ndarray, **profile: object) -> Path:
    """Write (C, H, W) ``bands`` as a tiled GeoTIFF with rasterio (the independent writer)."""
    count, height, width = bands.shape
    meta = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": bands.dtype.name,
            "tiled": True, "blockxsize": 64, "blockysize": 64}  # fmt: skip
    meta.update(profile)
    with rasterio.open(path, "w", **meta) as dst:
        dst.write(bands)
    return path


@pytest.fixture
def rgb_tif(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    bands = rng.integers(0, 256, (3, 150, 200), dtype=np.uint8)
    path = _write_tif(tmp_path / "rgb.tif", bands, crs=UTM, transform=from_origin(500000, 4600000, 0.5, 0.5))
    return path, bands


def test_windows_equal_rasterio_reads(rgb_tif: tuple[Path, np.ndarray]) -> None:
    path, bands = rgb_tif
    with open_scene(path) as scene, rasterio.open(path) as src:
        assert scene.size_wh == (200, 150) and scene.shape == (150, 200, 3)
        assert scene.bands == 3 and scene.dtype == np.uint8 and scene.stretch is None
        assert not scene.may_hold_nodata
        for x0, y0, x1, y1 in [(0, 0, 200, 150), (13, 7, 77, 140), (190, 149, 200, 150), (64, 64, 128, 128)]:
            expected = src.read(window=Window(x0, y0, x1 - x0, y1 - y0)).transpose(1, 2, 0)
            got = scene.read((x0, y0, x1, y1))
            assert got.dtype == np.uint8 and got.flags.c_contiguous
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(scene[y0:y1, x0:x1], expected)
            np.testing.assert_array_equal(scene.read((x0, y0, x1, y1), bgr=True), expected[:, :, ::-1])
        np.testing.assert_array_equal(scene.read(), bands.transpose(1, 2, 0))


@pytest.mark.parametrize("window", [(-1, 0, 10, 10), (0, 0, 201, 10), (5, 5, 5, 9), (0, 10, 10, 151)])
def test_windows_outside_the_scene_are_refused(rgb_tif: tuple[Path, np.ndarray], window: tuple) -> None:
    with open_scene(rgb_tif[0]) as scene, pytest.raises(ValueError, match="is not inside the 200x150 scene"):
        scene.read(window)


def test_georeference_matches_rasterio(rgb_tif: tuple[Path, np.ndarray]) -> None:
    path, _ = rgb_tif
    with open_scene(path) as scene, rasterio.open(path) as src:
        assert scene.georeferenced and scene.crs == src.crs
        assert scene.gsd_m() == pytest.approx(0.5)
        cols_rows = np.array([[0, 0], [200, 150], [13.25, 7.5], [0.5, 0.5]])
        expected = np.array([src.transform @ (c, r) for c, r in cols_rows])
        np.testing.assert_allclose(scene.pixel_to_map(cols_rows), expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(scene.map_to_pixel(expected), cols_rows, rtol=0, atol=1e-6)
        # rasterio's own centre convention: xy(row, col) is the centre of pixel (row, col)
        x, y = src.xy(7, 13)
        np.testing.assert_allclose(scene.pixel_to_map([[13.5, 7.5]]), [[x, y]], atol=1e-9)
        assert src.index(x, y) == (7, 13)


def test_rotated_transform_maps_every_term(tmp_path: Path) -> None:
    rotated = Affine.translation(100, 200) * Affine.rotation(30) * Affine.scale(20, -10)
    path = _write_tif(tmp_path / "rot.tif", np.zeros((1, 15, 10), np.uint8), transform=rotated)
    with open_scene(path) as scene, rasterio.open(path) as src:
        assert not scene.georeferenced  # a transform but no CRS
        corners = np.array([[0, 0], [10, 0], [10, 15], [0, 15], [3.5, 7.25]])
        np.testing.assert_allclose(scene.pixel_to_map(corners), [src.transform @ tuple(c) for c in corners])
        np.testing.assert_allclose(scene.map_to_pixel(scene.pixel_to_map(corners)), corners, atol=1e-9)
        assert scene.gsd_m() is None


def test_gsd_of_a_lon_lat_scene(tmp_path: Path) -> None:
    """At the equator 1e-5 degrees are a * pi / 180 * 1e-5 = 1.11319 m of longitude and (WGS 84
    meridian arc) 1.10574 m of latitude: hand values, not pyproj's."""
    path = _write_tif(tmp_path / "ll.tif", np.zeros((1, 20, 20), np.uint8), crs="EPSG:4326",
                      transform=from_origin(10.0, 1e-4, 1e-5, 1e-5))  # centre at lat 0
    with open_scene(path) as scene:
        assert scene.gsd_m() == pytest.approx((1.11319 + 1.10574) / 2, rel=2e-5)


def test_plain_images_have_no_georeference(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "a.png"), image)
    with open_scene(tmp_path / "a.png") as scene:
        assert isinstance(scene, DecodedScene) and scene.crs is None and scene.transform is None
        assert not scene.georeferenced and scene.gsd_m() is None
        np.testing.assert_array_equal(scene.read((3, 4, 10, 12)), image[4:12, 3:10, ::-1])
        assert scene.valid_fraction() == 1.0
        with pytest.raises(InputError, match=r"a\.png: the scene has no georeference"):
            scene.pixel_to_map([[0, 0]])
    assert scene_size(tmp_path / "a.png") == (30, 20)


def test_nodata_mask_and_valid_fraction(tmp_path: Path) -> None:
    bands = np.full((3, 40, 50), 90, np.uint8)
    bands[:, :, :20] = 0  # a nodata margin, 20 of 50 columns
    path = _write_tif(tmp_path / "nd.tif", bands, nodata=0, crs=UTM, transform=ORIGIN)
    with open_scene(path) as scene, rasterio.open(path) as src:
        assert scene.nodata == 0 and scene.may_hold_nodata
        np.testing.assert_array_equal(scene.valid_mask(), src.dataset_mask() > 0)
        assert scene.valid_fraction() == pytest.approx(30 / 50)
        assert scene.valid_fraction((0, 0, 20, 40)) == 0.0
        assert scene.valid_fraction((10, 0, 30, 40)) == pytest.approx(0.5)


def _stretched(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The documented stretch, computed independently: round(255 (v - lo) / (hi - lo)), clipped."""
    out = np.rint((values.astype(np.float64) - low) * 255.0 / (high - low))
    return np.clip(out, 0, 255).astype(np.uint8)


def test_16_bit_scene_is_stretched_once_per_scene(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    bands = rng.integers(100, 2048, (3, 120, 160), dtype=np.uint16)  # 11-bit data in uint16
    bands[:, :10, :] = 0  # nodata rows, left out of the statistics and shown black
    path = _write_tif(tmp_path / "deep.tif", bands, nodata=0, crs=UTM, transform=ORIGIN)
    valid = bands[0] > 0
    low = np.array([np.percentile(b[valid], 2) for b in bands])
    high = np.array([np.percentile(b[valid], 98) for b in bands])
    expected = _stretched(bands.transpose(1, 2, 0), low, high)
    expected[~valid] = 0
    with open_scene(path) as scene:
        np.testing.assert_allclose(scene.stretch.low, low)  # the whole scene fits the statistics overview
        np.testing.assert_allclose(scene.stretch.high, high)
        window = (5, 3, 150, 100)
        got = scene.read(window)
        np.testing.assert_array_equal(got, expected[3:100, 5:150])  # windows share the scene's stretch
    with open_scene(path, FIXED) as scene:
        np.testing.assert_array_equal(scene.read(), (bands.transpose(1, 2, 0) >> 8).astype(np.uint8))


def test_bands_are_picked_by_colour_interpretation_or_by_the_user(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    bands = rng.integers(0, 256, (4, 30, 40), dtype=np.uint8)
    path = _write_tif(tmp_path / "bgrn.tif", bands, photometric="MINISBLACK")
    with rasterio.open(path, "r+") as dst:
        from rasterio.enums import ColorInterp

        dst.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    with open_scene(path) as scene:
        assert scene.band_indexes == (3, 2, 1)
        np.testing.assert_array_equal(scene.read(), bands[[2, 1, 0]].transpose(1, 2, 0))
    with open_scene(path, Radiometry(bands=(4, 3, 2))) as scene:  # a false-colour view
        np.testing.assert_array_equal(scene.read(), bands[[3, 2, 1]].transpose(1, 2, 0))
    with open_scene(path, Radiometry(bands=(4,))) as scene:  # one band, repeated
        np.testing.assert_array_equal(scene.read(), bands[[3, 3, 3]].transpose(1, 2, 0))
    with pytest.raises(InputError, match=r"bgrn\.tif: has 4 band\(s\); band 5 asked for"):
        open_scene(path, Radiometry(bands=(5, 2, 1)))


def test_overview_uses_internal_overviews(tmp_path: Path) -> None:
    bands = np.zeros((3, 256, 512), np.uint8)
    bands[:, :, 256:] = 200
    path = _write_tif(tmp_path / "ov.tif", bands, crs=UTM, transform=ORIGIN)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], rasterio.enums.Resampling.average)
    with open_scene(path) as scene, rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4]
        small, scale = scene.overview(128)
        assert small.shape == (64, 128, 3) and scale == pytest.approx(0.25)
        np.testing.assert_array_equal(small[:, :64], 0)
        np.testing.assert_array_equal(small[:, 64:], 200)
        whole, one = scene.overview(1000)
        assert one == 1.0
        np.testing.assert_array_equal(whole, bands.transpose(1, 2, 0))


def test_png_overview_is_area_averaged(tmp_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 256, (40, 80, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "s.png"), image)
    with open_scene(tmp_path / "s.png") as scene:
        small, scale = scene.overview(20)
    assert scale == 0.25
    expected = cv2.resize(image[:, :, ::-1], (20, 10), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(small, expected)


def test_bad_files_give_one_line_errors(tmp_path: Path, rgb_tif: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(InputError, match=r"missing\.tif: image not found"):
        open_scene(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(InputError, match=r"junk\.tif: cannot open as a raster"):
        open_scene(tmp_path / "junk.tif")
    with pytest.raises(InputError, match=r"junk\.tif: cannot open as a raster"):
        scene_size(tmp_path / "junk.tif")
    data = rgb_tif[0].read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    match = r"cut\.tif: cannot read window .* truncated or corrupt"
    with open_scene(tmp_path / "cut.tif") as scene, pytest.raises(InputError, match=match):
        scene.read()  # the header is intact: the loss shows on reading
    empty = np.zeros((3, 20, 20), np.uint16)
    path = _write_tif(tmp_path / "blank16.tif", empty, nodata=0)
    with pytest.raises(InputError, match=r"blank16\.tif: no valid pixel"):
        open_scene(path)
    floats = np.zeros((1, 8, 8), np.float32)
    with pytest.raises(InputError, match=r"float32 pixels; the fixed radiometry"):
        open_scene(_write_tif(tmp_path / "f.tif", floats), FIXED)


def test_read_scene_rgb_is_the_scene_read(rgb_tif: tuple[Path, np.ndarray]) -> None:
    path, bands = rgb_tif
    np.testing.assert_array_equal(read_scene_rgb(path), bands.transpose(1, 2, 0))
    np.testing.assert_array_equal(read_scene_rgb(path, bgr=True), bands.transpose(1, 2, 0)[:, :, ::-1])


def test_large_header_only_size(tmp_path: Path) -> None:
    """A 30 000² raster is sized from its header (Pillow's decompression-bomb limit does not apply)."""
    path = tmp_path / "big.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30000, height=30000, count=3, dtype="uint8",
                       tiled=True, sparse_ok=True, crs=UTM, transform=ORIGIN):
        pass  # nothing written: a sparse file of a few kB
    assert path.stat().st_size < 1 << 20
    assert scene_size(path) == (30000, 30000)
    with open_scene(path) as scene:
        assert scene.read((29990, 29990, 30000, 30000)).shape == (10, 10, 3)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "size_wh", "bands"),
    [("RGB.byte.tif", (791, 718), (1, 2, 3)), ("RGBA.uint16.tif", (634, 411), (3, 2, 1)),
     ("OSBS_029.tif", (400, 400), (1, 2, 3)), ("test_tiled.tif", (1000, 1000), (1, 2, 3)),
     ("rotated.tif", (10, 15), (1, 1, 1))],
)  # fmt: skip
def test_real_rasters_read_like_rasterio(realdata: Path, name: str, size_wh: tuple, bands: tuple) -> None:
    path = realdata / "geotiff" / name
    with open_scene(path) as scene, rasterio.open(path) as src:
        assert scene.size_wh == size_wh and scene.band_indexes == bands
        assert (scene.crs is None) == (src.crs is None)
        window = (3, 2, min(size_wh[0], 300), min(size_wh[1], 200))
        raw = src.read(list(bands), window=Window(3, 2, window[2] - 3, window[3] - 2)).transpose(1, 2, 0)
        got = scene.read(window)
        if src.dtypes[0] == "uint8":
            np.testing.assert_array_equal(got, raw)
        else:  # per-scene stretch: a constant raster maps to 0 (no contrast to stretch)
            assert got.dtype == np.uint8 and got.shape == raw.shape
        corners = np.array([[0, 0], [size_wh[0], size_wh[1]], [1.5, 2.5]])
        np.testing.assert_allclose(scene.pixel_to_map(corners), [src.transform @ tuple(c) for c in corners])


@pytest.mark.realdata
def test_real_nodata_margin_counts(realdata: Path) -> None:
    path = realdata / "geotiff" / "RGB.byte.tif"
    with open_scene(path) as scene, rasterio.open(path) as src:
        mask = src.dataset_mask() > 0
        assert scene.valid_fraction() == pytest.approx(mask.mean())
        assert scene.valid_fraction((0, 0, 40, 40)) == pytest.approx(mask[:40, :40].mean())
        assert scene.gsd_m() == pytest.approx(300.04, abs=0.01)


def test_read_stored_gives_values_before_radiometry(tmp_path: Path) -> None:
    deep = np.random.default_rng(4).integers(0, 65536, (3, 30, 40), dtype=np.uint16)
    path = _write_tif(tmp_path / "d.tif", deep, crs=UTM, transform=ORIGIN)
    with open_scene(path) as scene, rasterio.open(path) as src:
        expected = src.read(window=Window(5, 6, 20, 10)).transpose(1, 2, 0)
        np.testing.assert_array_equal(scene.read_stored((5, 6, 25, 16)), expected)
    assert cv2.imwrite(str(tmp_path / "d.png"), deep.transpose(1, 2, 0)[:, :, ::-1])  # B, G, R on disk
    with open_scene(tmp_path / "d.png") as scene:
        scene.read()  # the models' pixels first: the stored values must still be there
        np.testing.assert_array_equal(scene.read_stored((5, 6, 25, 16)), deep.transpose(1, 2, 0)[6:16, 5:25])

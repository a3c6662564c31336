"""Sliced YOLO on GeoTIFF/COG scenes read window by window: rasterio's own reads as the reference."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tiledet.detect.config import DetectConfig, SliceConfig
from tiledet.geometry import tile_offsets
from tiledet.radiometry import FIXED, Radiometry
from tiledet.scene import open_scene

from .yolo_data import TILE, make_firing_weights

torch = pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")

W, H = 500, 360  # 20 windows of 128 px at overlap 0.2, in 2 x 2 blocks of 256 px
#: Scene columns from here on are nodata in some tests: wider than a tile, so whole windows are nodata.
NODATA_X = 300


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("weights") / "fire.pt")


def _pixels(seed: int = 5) -> np.ndarray:
    """(3, H, W) uint8 bands: noise in 1..255 with blobs, a nodata (0) border 30 px wide on the left."""
    rng = np.random.default_rng(seed)
    bands = rng.integers(40, 140, (3, H, W), dtype=np.uint8)
    for _ in range(60):
        x, y = rng.integers(0, W - 30), rng.integers(0, H - 20)
        bands[:, y : y + rng.integers(8, 20), x : x + rng.integers(8, 30)] = rng.integers(1, 256, (3, 1, 1))
    bands[:, :, :30] = 0
    return bands


def _write_tif(path: Path, bands: np.ndarray, cog: bool = False, nodata: float | None = 0) -> Path:
    """A GeoTIFF tiled 256 (a COG when ``cog``: overviews, header first), UTM 33N at 0.5 m."""
    import rasterio.shutil
    from rasterio.transform import from_origin

    plain = path.with_suffix(".plain.tif") if cog else path
    with rasterio.open(plain, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1],
                       count=bands.shape[0], dtype=bands.dtype, tiled=True, blockxsize=256, blockysize=256,
                       nodata=nodata, crs="EPSG:32633",
                       transform=from_origin(500000, 4000000, 0.5, 0.5)) as dst:  # fmt: skip
        dst.write(bands)
    if cog:
        rasterio.shutil.copy(plain, path, driver="COG", blocksize=256)
        plain.unlink()
    return path


def _write_png(path: Path, bands: np.ndarray) -> Path:
    import cv2

    assert cv2.imwrite(str(path), np.ascontiguousarray(np.moveaxis(bands, 0, -1)[:, :, ::-1]))
    return path


def _run(weights: Path, scenes: tuple[Path, ...], out: Path, **slicing: object) -> tuple[object, list]:
    from tiledet.detect.yolo_run import run_detection

    cfg = DetectConfig(weights=weights, images=scenes, out=out,
                       slicing=SliceConfig(device="cpu", max_det=300, **slicing))  # type: ignore[arg-type]
    report = run_detection(cfg)
    return report, json.loads(out.read_text())


def _boxes_of(entries: list[dict]) -> list[tuple]:
    return [(e["category_id"], e["bbox"], e["score"]) for e in entries]


class EngineSpy:
    """Wraps a predictor's engine, keeping a copy of every batch it is given."""

    def __init__(self, engine: object) -> None:
        self.engine, self.batches = engine, []

    def __call__(self, batch: np.ndarray) -> object:
        self.batches.append(batch.copy())
        return self.engine(batch)  # type: ignore[operator]


@pytest.mark.parametrize("cog", [False, True], ids=["tiled-gtiff", "cog"])
def test_geotiff_gives_the_detections_of_the_same_pixels_as_png(
    weights: Path, tmp_path: Path, cog: bool
) -> None:
    bands = _pixels()
    tif = _write_tif(tmp_path / "scene.tif", bands, cog=cog)
    png = _write_png(tmp_path / "scene.png", bands)
    from_tif, tif_entries = _run(weights, (tif,), tmp_path / "tif.json")
    from_png, png_entries = _run(weights, (png,), tmp_path / "png.json")
    assert len(tif_entries) >= 10 and _boxes_of(tif_entries) == _boxes_of(png_entries)
    windows = len(tile_offsets((W, H), TILE, 0.2))
    assert from_tif.windows == from_png.windows == windows  # type: ignore[attr-defined]
    assert from_tif.nodata_windows == from_png.nodata_windows == 0  # type: ignore[attr-defined]
    assert from_tif.to_dict()["radiometry"]["kind"] == "auto"  # type: ignore[attr-defined]


def test_windows_fed_to_the_model_are_rasterio_window_reads(weights: Path, tmp_path: Path) -> None:
    from rasterio.windows import Window

    from tiledet.detect.yolo_predict import YoloPredictor

    tif = _write_tif(tmp_path / "scene.tif", _pixels(), cog=True)
    predictor = YoloPredictor(weights, SliceConfig(device="cpu", batch_size=4))
    spy = predictor.engine = EngineSpy(predictor.engine)
    with open_scene(tif) as scene:
        predictor.detect(scene)
    windows = tile_offsets((W, H), TILE, 0.2)
    fed = np.concatenate(spy.batches)
    assert len(fed) == len(windows) and fed.shape[1:] == (TILE, TILE, 3)  # 128 px: no padding
    with rasterio.open(tif) as src:
        for got, (x0, y0, x1, y1) in zip(fed, windows.tolist(), strict=True):
            reference = src.read(window=Window(x0, y0, x1 - x0, y1 - y0))  # (3, h, w) bands 1, 2, 3
            np.testing.assert_array_equal(got, np.moveaxis(reference, 0, -1))


def test_windows_of_pure_nodata_are_not_sent_to_the_model_and_counted(weights: Path, tmp_path: Path) -> None:
    from tiledet.detect.yolo_predict import YoloPredictor

    bands = _pixels()
    bands[:, :, NODATA_X:] = 0
    tif = _write_tif(tmp_path / "scene.tif", bands)
    windows = tile_offsets((W, H), TILE, 0.2)
    expected_nodata = sum(1 for x0, _, _, _ in windows.tolist() if x0 >= NODATA_X)  # a naive loop
    assert 0 < expected_nodata < len(windows)
    predictor = YoloPredictor(weights, SliceConfig(device="cpu", batch_size=4, max_det=300))
    spy = predictor.engine = EngineSpy(predictor.engine)
    with open_scene(tif) as scene:
        boxes, count = predictor.detect(scene)
    assert (count.windows, count.nodata) == (len(windows), expected_nodata)
    fed = np.concatenate(spy.batches)
    assert len(fed) == len(windows) - expected_nodata
    assert all(window.any() for window in fed)  # no window of zeros reached the model
    reach = max(x1 for x0, _, x1, _ in windows.tolist() if x0 < NODATA_X)  # end of the last window sent
    assert len(boxes) > 0 and (boxes.xyxy[:, 2] <= reach).all()
    report, _ = _run(weights, (tif,), tmp_path / "d.json")
    assert report.to_dict()["nodata_windows"] == expected_nodata  # type: ignore[attr-defined]
    assert report.to_dict()["windows"] == len(windows)  # type: ignore[attr-defined]


def test_a_truncated_tiff_is_unreadable_and_the_next_scene_is_detected(weights: Path, tmp_path: Path) -> None:
    whole = _write_tif(tmp_path / "whole.tif", _pixels(), cog=True)
    folder = tmp_path / "scenes"
    folder.mkdir()
    data = whole.read_bytes()
    (folder / "a_truncated.tif").write_bytes(data[: int(len(data) * 0.6)])  # full-resolution tiles cut
    _write_tif(folder / "b.tif", _pixels(seed=9))
    with open_scene(folder / "a_truncated.tif") as scene:  # the header and the first tiles are intact:
        assert scene.read((0, 0, TILE, TILE)).shape == (TILE, TILE, 3)  # it fails part-way, not on open
    report, entries = _run(weights, (folder,), tmp_path / "d.json")
    assert list(report.unreadable) == ["a_truncated.tif"]  # type: ignore[attr-defined]
    assert report.unreadable["a_truncated.tif"].startswith("cannot read")  # type: ignore[attr-defined]
    assert "TIFFReadEncodedTile() failed" in report.unreadable["a_truncated.tif"]  # type: ignore[attr-defined]
    assert report.scenes == 1 and entries and {e["file_name"] for e in entries} == {"b.tif"}  # type: ignore[attr-defined]


def test_read_ahead_reads_the_next_batch_while_the_model_runs_and_changes_nothing(
    weights: Path, tmp_path: Path
) -> None:
    from tiledet.detect.yolo_predict import YoloPredictor

    tif = _write_tif(tmp_path / "scene.tif", _pixels(), cog=True)
    cfg = SliceConfig(device="cpu", batch_size=4, max_det=300)
    ahead, inline = YoloPredictor(weights, cfg), YoloPredictor(weights, cfg, read_ahead=False)
    second_batch_read = threading.Event()
    overlapped: list[bool] = []
    engine = ahead.engine
    buffers: set[int] = set()

    def waiting_engine(batch: np.ndarray) -> object:
        buffers.add(batch.__array_interface__["data"][0])
        if not overlapped:  # the first batch: the reader must fetch the second meanwhile
            overlapped.append(second_batch_read.wait(timeout=30))
        return engine(batch)

    ahead.engine = waiting_engine
    with open_scene(tif) as scene:
        read = scene.read
        reads = []

        def spy_read(window: object = None, **kwargs: object) -> np.ndarray:
            reads.append(threading.current_thread().name)
            if len(reads) == 5:  # the first window of the second batch of 4
                second_batch_read.set()
            return read(window, **kwargs)

        scene.read = spy_read  # type: ignore[method-assign]
        got, _ = ahead.detect(scene)
        scene.read = read  # type: ignore[method-assign]
        want, _ = inline.detect(scene)
    assert overlapped == [True] and all(name.startswith("tiledet-read-ahead") for name in reads)
    assert len(buffers) == 2  # two batch buffers alternate
    assert len(got) >= 10 and got.equals(want)


def test_read_errors_propagate_from_the_reader_thread(weights: Path, tmp_path: Path) -> None:
    from tiledet.detect.yolo_batches import read_ahead
    from tiledet.errors import InputError

    def items():  # type: ignore[no-untyped-def]
        yield 1
        raise InputError("scene.tif: cannot read window (0, 0, 1, 1): data truncated or corrupt")

    stream = read_ahead(items())
    assert next(stream) == 1
    with pytest.raises(InputError, match=r"scene\.tif: cannot read window"):
        next(stream)


def test_16_bit_geotiff_goes_through_the_per_scene_stretch(weights: Path, tmp_path: Path) -> None:
    from tiledet.detect.yolo_predict import YoloPredictor

    rng = np.random.default_rng(2)
    bands = rng.normal(1500, 300, (3, 200, 260)).clip(0, 4095).astype(np.uint16)  # 12-bit data
    bands[1] //= 2
    tif = _write_tif(tmp_path / "scene16.tif", bands, nodata=None)
    lo, hi = np.percentile(bands.reshape(3, -1).astype(np.float64), [2, 98], axis=1)  # per band
    expected = np.clip(np.rint(255 * (bands - lo[:, None, None]) / (hi - lo)[:, None, None]), 0, 255)
    expected = np.moveaxis(expected, 0, -1)
    predictor = YoloPredictor(weights, SliceConfig(device="cpu", batch_size=8))
    spy = predictor.engine = EngineSpy(predictor.engine)
    with open_scene(tif) as scene:
        predictor.detect(scene)
    windows = tile_offsets((260, 200), TILE, 0.2)
    for got, (x0, y0, x1, y1) in zip(np.concatenate(spy.batches), windows.tolist(), strict=True):
        diff = np.abs(got.astype(np.int16) - expected[y0:y1, x0:x1])
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float32 against float64 rounding
    report, _ = _run(weights, (tif,), tmp_path / "d.json")
    np.testing.assert_allclose(report.stretch["scene16.tif"]["low"], lo)  # type: ignore[attr-defined]
    np.testing.assert_allclose(report.stretch["scene16.tif"]["high"], hi)  # type: ignore[attr-defined]
    high_byte, _ = _run(weights, (tif,), tmp_path / "fixed.json", radiometry=FIXED)
    assert high_byte.stretch == {} and high_byte.radiometry["kind"] == "fixed"  # type: ignore[attr-defined]


def test_full_pass_of_a_scene_runs_on_its_overview_never_a_whole_read(weights: Path, tmp_path: Path) -> None:
    from rasterio.enums import Resampling

    from tiledet.detect.yolo_predict import YoloPredictor

    tif = _write_tif(tmp_path / "scene.tif", _pixels(), nodata=None)
    predictor = YoloPredictor(weights, SliceConfig(device="cpu", full_pass=True, max_det=300))
    with open_scene(tif) as scene:
        read = scene.read
        sizes = []
        scene.read = lambda window=None, **kw: (sizes.append(window), read(window, **kw))[1]  # type: ignore[method-assign]
        whole = predictor.full_scene(scene)
        predictor.detect(scene)
    assert all(w is not None and w[2] - w[0] <= TILE and w[3] - w[1] <= TILE for w in sizes)
    new_w, new_h = TILE, round(H * TILE / W)  # 128 x 92
    with rasterio.open(tif) as src:
        small = np.moveaxis(src.read(out_shape=(3, new_h, new_w), resampling=Resampling.average), 0, -1)
    ref = predictor.predict_windows(np.ascontiguousarray(small), np.array([[0, 0, new_w, new_h]]))[0]
    assert len(ref) > 0 and len(whole) == len(ref)
    scale = np.array([W / new_w, H / new_h, W / new_w, H / new_h])
    np.testing.assert_allclose(whole.xyxy, np.minimum(ref.xyxy * scale, [W, H, W, H]))


def test_other_gdal_rasters_given_as_files_are_detected(weights: Path, tmp_path: Path) -> None:
    import rasterio.shutil

    from tiledet.detect.yolo_run import collect_scenes

    tif = _write_tif(tmp_path / "scene.tif", _pixels())
    vrt, img = tmp_path / "scene.vrt", tmp_path / "scene.img"
    rasterio.shutil.copy(tif, vrt, driver="VRT")
    rasterio.shutil.copy(tif, img, driver="HFA")
    assert [s.file_name for s in collect_scenes([vrt, img])] == ["scene.vrt", "scene.img"]
    _, want = _run(weights, (tif,), tmp_path / "tif.json")
    for path in (vrt, img):
        _, got = _run(weights, (path,), tmp_path / f"{path.suffix[1:]}.json")
        assert len(got) >= 10 and _boxes_of(got) == _boxes_of(want), path.suffix


def test_bands_pick_what_the_model_sees_as_r_g_b(weights: Path, tmp_path: Path) -> None:
    from tiledet.detect.yolo_predict import YoloPredictor

    tif = _write_tif(tmp_path / "scene.tif", _pixels(), nodata=None)
    cfg = SliceConfig(device="cpu", batch_size=64, radiometry=Radiometry(bands=(3, 2, 1)))
    predictor = YoloPredictor(weights, cfg)
    spy = predictor.engine = EngineSpy(predictor.engine)
    with open_scene(tif, cfg.radiometry) as scene:
        predictor.detect(scene)
    with rasterio.open(tif) as src:
        first = np.moveaxis(src.read([3, 2, 1], window=((0, TILE), (0, TILE))), 0, -1)
    np.testing.assert_array_equal(spy.batches[0][0], first)  # 128 px windows: no padding


def test_cli_radiometry_and_bands_options(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiledet.cli import main

    bands = _pixels()
    bands[:, :, NODATA_X:] = 0
    tif = _write_tif(tmp_path / "scene.tif", bands)
    args = ["detect", "yolo", str(weights), str(tif), "--device", "cpu", "--max-det", "20"]
    assert main([*args, "--out", str(tmp_path / "d.json"), "--radiometry", "fixed", "--bands", "3,2,1"]) == 0
    out = capsys.readouterr().out
    assert "radiometry fixed, bands 3,2,1" in out and "nodata windows" in out
    assert main([*args, "--out", str(tmp_path / "e.json"), "--bands", "3,x"]) == 2
    assert "--bands must be like 3,2,1" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "e.json"), "--radiometry", "log"]) == 2
    assert "--radiometry" in capsys.readouterr().err

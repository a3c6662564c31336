"""The sliding window on scenes read window by window: GeoTIFFs (tiled, nodata) against the same pixels
as PNG, strip reads, pure-nodata blocks, read-ahead, truncated files, --radiometry/--bands."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")

from tests.detect.test_sliding import _detector, _preprocess  # noqa: E402
from tiledet.detect import pyramid  # noqa: E402
from tiledet.detect.config import SlidingConfig, SlidingRunConfig  # noqa: E402
from tiledet.detect.fcn import fully_convolutional  # noqa: E402
from tiledet.detect.read_ahead import read_ahead  # noqa: E402
from tiledet.detect.sliding import SlidingDetector, dense_map, detect_scene  # noqa: E402
from tiledet.scene import open_scene  # noqa: E402


def _write_tif(path: Path, bands_hw: np.ndarray, nodata: float | None = None, tile: int = 16) -> Path:
    """A tiled GeoTIFF of (C, H, W) values (UTM 33N, 0.5 m pixels)."""
    from affine import Affine

    count, height, width = bands_hw.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
               "dtype": bands_hw.dtype.name, "tiled": True, "blockxsize": tile, "blockysize": tile,
               "crs": "EPSG:32633", "transform": Affine(0.5, 0, 500_000, 0, -0.5, 4_000_000),
               "nodata": nodata}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands_hw)
    return path


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def _bright_detector() -> SlidingDetector:
    """Fires (class ``bright``) on 9 x 9 windows whose mean is high; window 9, stride 2, context 0."""
    conv = torch.nn.Conv2d(3, 1, 8, bias=False)
    conv.weight.data.fill_(1.0 / (3 * 64))
    head = torch.nn.Linear(1, 2)
    head.weight.data.copy_(torch.tensor([[10.0], [-10.0]]))
    head.bias.data.copy_(torch.tensor([-5.0, 5.0]))
    hidden = torch.nn.Linear(1, 1)
    hidden.weight.data.fill_(1.0)
    hidden.bias.data.fill_(0.0)
    model = torch.nn.Sequential(
        conv, torch.nn.AvgPool2d(2), torch.nn.Flatten(), hidden, torch.nn.ReLU(), head
    )
    names = ["bright", "background"]
    return SlidingDetector(fully_convolutional(model.eval()), lambda im, device=None: _preprocess(im) + 0.5,
                           names, 1, 0.0)  # fmt: skip


class _Recorder:
    """An array read only through ``[y0:y1, x0:x1]`` (as a Scene is), recording every read's size."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.reads = array, array.shape, []

    def __getitem__(self, index: tuple[slice, slice]) -> np.ndarray:
        out = self.array[index]
        self.reads.append(out.shape[0] * out.shape[1])
        return out


def _whole_window_reference(scene: np.ndarray, scale: float, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """cv2 on the whole source window at once: the blur, then bilinear sampling at (X + 0.5) / s - 0.5
    rounded to 1/32 px (the rule of tiledet.detect.pyramid, written out)."""
    xs = np.round(((np.arange(x0, x0 + w) + 0.5) / scale - 0.5) * 32) / 32
    ys = np.round(((np.arange(y0, y0 + h) + 0.5) / scale - 0.5) * 32) / 32
    sigma = (1 / scale - 1) / 2
    margin = int(np.ceil(3 * sigma)) + 2
    sx0, sy0 = max(0, int(np.floor(xs[0])) - margin), max(0, int(np.floor(ys[0])) - margin)
    sx1 = min(scene.shape[1], int(np.ceil(xs[-1])) + margin + 1)
    sy1 = min(scene.shape[0], int(np.ceil(ys[-1])) + margin + 1)
    crop = cv2.GaussianBlur(scene[sy0:sy1, sx0:sx1], (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    map_x = np.tile((xs - sx0).astype(np.float32), (h, 1))
    map_y = np.tile((ys - sy0).astype(np.float32)[:, None], (1, w))
    return cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("scale", [0.45, 0.2, 0.09])
def test_strip_reads_equal_one_pass_over_the_whole_window(scale: float) -> None:
    scene = np.random.default_rng(3).integers(0, 256, (700, 650, 3), dtype=np.uint8)
    block = (3, 2, 40, 37)
    expected = _whole_window_reference(scene, scale, *block)
    for strip_px in (1, 3000, 20_000, 1 << 22):
        source = _Recorder(scene)
        got = pyramid.resample_block(source, scale, *block, strip_px=strip_px)
        np.testing.assert_array_equal(got, expected)  # bit for bit
        x0, _, x1, _ = pyramid.source_window((650, 700), scale, *block)
        reach = int(np.ceil(3 * (1 / scale - 1) / 2)) + 1
        rows_per_read = max(strip_px // (x1 - x0), 2 + 1 / scale) + 2 * reach + 2  # at least one output row
        assert max(source.reads) <= rows_per_read * (x1 - x0)
        if strip_px == 1 << 22:
            assert len(source.reads) == 1  # small enough: one read (of the rows the samples need)


def _stripes(height: int, width: int, seed: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB with bright squares on a darker random ground."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(20, 120, (height, width, 3), dtype=np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, height - 12), rng.integers(0, width - 12)
        rgb[y : y + 11, x : x + 11] = 250
    return rgb


def test_tiled_geotiff_with_nodata_borders_gives_the_png_detections(tmp_path: Path, monkeypatch) -> None:
    """A nodata border narrower than a block: every block is scored, the GeoTIFF's detections are the
    PNG's exactly (several scales, shrinking ones read in many strips, read ahead)."""
    rgb = _stripes(150, 170, seed=4)
    rgb[:5], rgb[-4:], rgb[:, :3], rgb[:, -6:] = 0, 0, 0, 0
    tif = _write_tif(tmp_path / "scene.tif", np.moveaxis(rgb, -1, 0), nodata=0)
    png = _write_png(tmp_path / "scene.png", rgb)
    monkeypatch.setattr(pyramid, "STRIP_PX", 900)  # the mask reads too
    for det, threshold in ((_bright_detector(), 0.6), (_detector(), 0.335)):  # random weights: p ~ 1/3
        cfg = SlidingConfig(scales=(1.0, 0.7, 0.45), threshold=threshold, block_px=24, batch_size=3,
                            stride_multiple=2)  # fmt: skip
        with open_scene(tif) as scene:
            assert scene.nodata == 0 and scene.valid_fraction((0, 0, 170, 5)) == 0
            got, stats = detect_scene(det, scene, cfg)
        with open_scene(png) as scene:
            assert scene.read().tobytes() == rgb.tobytes()
            expected, png_stats = detect_scene(det, scene, cfg)
        assert len(expected) > 0 and got.equals(expected)
        assert stats.nodata_blocks == 0 and stats.cells == png_stats.cells
        array_boxes, _ = detect_scene(det, rgb, cfg)
        assert array_boxes.equals(expected)  # the PNG read as a Scene: the array's detections


def _pure_nodata_blocks(valid: np.ndarray, window: int, stride: int, block_px: int) -> tuple[int, int]:
    """Blocks (scale 1) whose pixels are all invalid, and their cells: a loop over the block grid."""
    height, width = valid.shape
    rows, cols = (height - window) // stride + 1, (width - window) // stride + 1
    per = block_px // stride
    count = cells = 0
    for r0 in range(0, rows, per):
        for c0 in range(0, cols, per):
            nr, nc = min(per, rows - r0), min(per, cols - c0)
            y0, x0 = r0 * stride, c0 * stride
            if not valid[y0 : y0 + (nr - 1) * stride + window, x0 : x0 + (nc - 1) * stride + window].any():
                count, cells = count + 1, cells + nr * nc
    return count, cells


def test_pure_nodata_blocks_are_not_scored_and_counted(tmp_path: Path) -> None:
    rgb = _stripes(120, 160, seed=5)
    valid = np.ones((120, 160), bool)
    valid[:, 100:] = False  # the right part is nodata (0); so is a square hole
    valid[10:60, 20:70] = False
    rgb[~valid] = 0
    tif = _write_tif(tmp_path / "scene.tif", np.moveaxis(rgb, -1, 0), nodata=0)
    det, cfg = _bright_detector(), SlidingConfig(scales=(1.0,), threshold=0.9, block_px=16, batch_size=4)
    with open_scene(tif) as scene:
        got, stats = detect_scene(det, scene, cfg)
        maps = dense_map(det, scene, 1.0, cfg)
    expected, all_stats = detect_scene(det, rgb, cfg)
    skipped, skipped_cells = _pure_nodata_blocks(valid, 9, 2, 16)
    assert skipped > 10 and stats.nodata_blocks == skipped
    assert stats.cells == all_stats.cells - skipped_cells
    assert len(expected) > 0 and got.equals(expected)  # nodata (0) never fires: nothing was lost
    whole = dense_map(det, rgb, 1.0, cfg)
    scored = (maps != 0).any(axis=2)
    assert (~scored).sum() == skipped_cells  # the cells of skipped blocks are the unwritten ones
    np.testing.assert_array_equal(maps[scored], whole[scored])


def test_read_ahead_on_and_off_give_equal_detections(tmp_path: Path) -> None:
    rgb = _stripes(110, 130, seed=6)
    rgb[:, :40] = 0
    tif = _write_tif(tmp_path / "scene.tif", np.moveaxis(rgb, -1, 0), nodata=0)
    det = _detector()
    runs = []
    for depth in (0, 1, 3):
        cfg = SlidingConfig(scales=(1.0, 0.6), threshold=0.335, block_px=20, batch_size=2, read_ahead=depth)
        with open_scene(tif) as scene:
            runs.append(detect_scene(det, scene, cfg))
    (boxes, stats), *others = runs
    assert len(boxes) > 0 and stats.nodata_blocks > 0
    for other, other_stats in others:
        assert other.equals(boxes) and other_stats == stats


def test_read_ahead_keeps_order_raises_in_place_and_stops_when_closed() -> None:
    assert list(read_ahead(iter(range(50)), 3)) == list(range(50))
    assert list(read_ahead(range(5), 0)) == list(range(5))

    def failing():
        yield from range(3)
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        got.extend(read_ahead(failing(), 2))
    assert got == [0, 1, 2]
    made, closed = [], threading.Event()

    def endless():
        try:
            while True:
                made.append(len(made))
                yield made[-1]
        finally:
            closed.set()

    items = read_ahead(endless(), 2)
    assert next(items) == 0
    items.close()  # the worker stops and closes the source
    assert closed.wait(5) and len(made) <= 5
    assert not any(t.name == "tiledet-read-ahead" for t in threading.enumerate())


def _stand_in_model(tmp_path: Path, monkeypatch) -> Path:
    """A checkpoint path whose loading gives :func:`_bright_detector` at scale 1 (load_detector replaced)."""
    import tiledet.detect.sliding_run as sliding_run

    loaded = (_bright_detector(), SlidingConfig(scales=(1.0,), threshold=0.9))
    size = {"min": 9, "max": 9, "source": "test"}
    monkeypatch.setattr(sliding_run, "load_detector", lambda cfg: (*loaded, size))
    model = tmp_path / "classifier.pt"
    model.write_bytes(b"stands in for a checkpoint; load_detector is replaced")
    return model


def _run(tmp_path: Path, monkeypatch, images: tuple[Path, ...]):
    from tiledet.detect.sliding_run import run_sliding

    out = tmp_path / "dets.json"
    report = run_sliding(
        SlidingRunConfig(model=_stand_in_model(tmp_path, monkeypatch), images=images, out=out)
    )
    return report, json.loads(out.read_text())


def test_truncated_tiff_is_reported_and_the_next_scene_still_scored(tmp_path: Path, monkeypatch) -> None:
    rgb = _stripes(128, 96, seed=7)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    full = _write_tif(tmp_path / "full.tif", np.moveaxis(rgb, -1, 0))
    data = full.read_bytes()
    (scenes / "a_truncated.tif").write_bytes(data[: len(data) // 2])  # header and the top tiles intact
    _write_tif(scenes / "b_ok.tif", np.moveaxis(rgb, -1, 0), nodata=0)
    with open_scene(scenes / "a_truncated.tif") as scene:
        scene.read((0, 0, 96, 16))  # opens, and its first rows read: the failure comes mid-scene
    report, entries = _run(tmp_path, monkeypatch, (scenes,))
    assert set(report.unreadable) == {"a_truncated.tif"}
    assert report.unreadable["a_truncated.tif"].startswith("cannot read window")
    assert report.scenes == 1 and report.boxes == len(entries) > 0
    assert {e["file_name"] for e in entries} == {"b_ok.tif"}  # none of the truncated scene's boxes
    assert report.to_dict()["nodata_blocks"] == 0 and report.to_dict()["radiometry"]["kind"] == "auto"


def test_cli_radiometry_and_bands_reach_the_detector(tmp_path: Path, monkeypatch, capsys) -> None:
    """--radiometry fixed --bands 3,2,1 on a 4-band uint16 GeoTIFF: the detector reads v >> 8 of bands
    3, 2, 1 as R, G, B; the report records the policy."""
    import tiledet.detect.sliding_run as sliding_run
    from tiledet.cli import main

    values = np.random.default_rng(8).integers(0, 65536, (4, 40, 50), dtype=np.uint16)
    tif = _write_tif(tmp_path / "scene.tif", values)
    model, fed, score = _stand_in_model(tmp_path, monkeypatch), [], sliding_run.detect_scene
    spy = lambda det, scene, cfg: fed.append(scene.read()) or score(det, scene, cfg)  # noqa: E731
    monkeypatch.setattr(sliding_run, "detect_scene", spy)
    args = ["detect", "sliding", str(model), str(tif), "--out", str(tmp_path / "d.json")]
    assert main([*args, "--radiometry", "fixed", "--bands", "3,2,1"]) == 0, capsys.readouterr().err
    expected = np.moveaxis(values[[2, 1, 0]] >> 8, 0, -1).astype(np.uint8)
    np.testing.assert_array_equal(fed[-1], expected)
    assert "radiometry fixed" in capsys.readouterr().out
    assert main([*args, "--quiet"]) == 0  # the default, auto: stretched per scene, not the high byte
    assert not np.array_equal(fed[-1], np.moveaxis(values[:3] >> 8, 0, -1))
    assert main([*args, "--radiometry", "loud"]) == 2
    assert "--radiometry" in capsys.readouterr().err


def test_cli_engine_option_and_summary(tmp_path: Path, monkeypatch, capsys) -> None:
    """--engine reaches the run (default auto: every candidate probed on the first scene and listed);
    the report records it; a bad name is a one-line error naming --engine."""
    from tiledet.cli import main

    scene = _write_png(tmp_path / "scene.png", _stripes(64, 80, seed=3))
    args = ["detect", "sliding", str(_stand_in_model(tmp_path, monkeypatch)), str(scene)]
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    chosen = next(line for line in lines if line.startswith("  engine "))
    assert chosen.split(":")[0] in ("  engine torch", "  engine onnx", "  engine openvino")
    assert "agree with torch's within 0.0001 on a" in chosen
    assert [line.split(":")[0] for line in lines if line.startswith("    ")] == [
        "    torch", "    onnx", "    openvino"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "b.json"), "--engine", "openvino"]) == 0
    assert "\n  engine openvino: --engine\n" in capsys.readouterr().out
    report, _ = _run(tmp_path, monkeypatch, (scene,))  # run_sliding's default: auto
    assert report.to_dict()["engine"]["reason"].startswith("auto: ")
    assert set(report.engine["probe_seconds"]) == {"torch", "onnx", "openvino"}
    assert report.engine["setup_seconds"] > 0
    assert main([*args, "--out", str(tmp_path / "c.json"), "--engine", "tensorrt"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --engine must be one of torch, onnx, openvino, auto, got 'tensorrt'\n"
    assert not (tmp_path / "c.json").exists()

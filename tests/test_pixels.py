"""One radiometry policy: every dtype and band count, hand-computed, and the readers that apply it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tiledet.errors import ConfigError, InputError
from tiledet.pixels import AUTO, FIXED, Radiometry, decoded_to_model, to_model_rgb
from tiledet.scene import read_scene_rgb

#: 16-bit values and their high bytes (v >> 8): 255 -> 0, 256 -> 1, 0x1234 -> 0x12, 0x8000 -> 0x80.
U16 = np.array([[0, 255, 256], [4660, 32768, 65535]], np.uint16)
U16_HIGH = np.array([[0, 0, 1], [18, 128, 255]], np.uint8)
U8 = np.array([[0, 17, 34], [128, 200, 255]], np.uint8)


def _rgb(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.dstack([r, g, b])


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        pytest.param(_rgb(U8, U8[::-1], U8.T.reshape(2, 3)), _rgb(U8, U8[::-1], U8.T.reshape(2, 3)),
                     id="uint8-rgb"),
        pytest.param(U8, _rgb(U8, U8, U8), id="uint8-grey"),
        pytest.param(U8[:, :, None], _rgb(U8, U8, U8), id="uint8-grey-1band"),
        pytest.param(np.dstack([U8, U8[::-1]]), _rgb(U8, U8, U8), id="uint8-grey-alpha"),
        pytest.param(np.dstack([U8, U8[::-1], U8, np.full_like(U8, 7)]), _rgb(U8, U8[::-1], U8),
                     id="uint8-rgba"),
        pytest.param(np.dstack([U8, U8 // 2, U8 // 3, U8, U8]), _rgb(U8, U8 // 2, U8 // 3),
                     id="uint8-5band"),
        pytest.param(_rgb(U16, U16[::-1], U16), _rgb(U16_HIGH, U16_HIGH[::-1], U16_HIGH), id="uint16-rgb"),
        pytest.param(U16, _rgb(U16_HIGH, U16_HIGH, U16_HIGH), id="uint16-grey"),
        pytest.param(np.dstack([U16, U16[::-1], U16, np.full_like(U16, 65535)]),
                     _rgb(U16_HIGH, U16_HIGH[::-1], U16_HIGH), id="uint16-4band"),
    ],
)  # fmt: skip
def test_every_layout_becomes_hand_computed_uint8_rgb(array: np.ndarray, expected: np.ndarray) -> None:
    got = to_model_rgb(array, FIXED)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 3)
    np.testing.assert_array_equal(got, expected)
    if array.dtype == np.uint8:  # the default (auto) keeps 8-bit scenes as they are
        np.testing.assert_array_equal(to_model_rgb(array), expected)


def test_uint8_rgb_is_passed_through_without_a_copy() -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    assert to_model_rgb(rgb) is rgb
    rgba = np.zeros((4, 5, 4), np.uint8)
    assert np.shares_memory(to_model_rgb(rgba), rgba)  # alpha dropped by a view


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((0, 0), np.uint8), r"scene\.tif: empty image \(0x0 pixels"),
        (np.zeros((0, 5, 3), np.uint16), r"scene\.tif: empty image \(5x0 pixels"),
        (np.zeros((4, 5, 0), np.uint8), r"scene\.tif: empty image"),
        (np.zeros((2, 2), np.float32), r"scene\.tif: float32 pixels; the fixed radiometry"),
        (np.zeros((2, 2, 3), np.float64), r"scene\.tif: float64 pixels"),
        (np.zeros((2, 2, 3), np.int16), r"scene\.tif: int16 pixels"),
        (np.zeros((2, 2, 3), bool), r"scene\.tif: bool pixels"),
        (np.zeros(5, np.uint8), r"scene\.tif: image of shape \(5,\)"),
        (np.zeros((1, 2, 2, 3), np.uint8), r"scene\.tif: image of shape \(1, 2, 2, 3\)"),
    ],
)
def test_refused_images_name_the_source(array: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        to_model_rgb(array, FIXED, source="scene.tif")


def test_radiometry_kinds_are_checked() -> None:
    assert Radiometry().kind == "auto"
    with pytest.raises(ConfigError, match="radiometry kind must be one of auto, fixed, percentile"):
        Radiometry(kind="gamma")


def test_large_images_convert_block_by_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import tiledet.pixels

    monkeypatch.setattr(tiledet.pixels, "_BLOCK_PIXELS", 7)  # 1 row of 5 columns per block
    deep = np.random.default_rng(0).integers(0, 65536, (9, 5, 3), dtype=np.uint16)
    np.testing.assert_array_equal(to_model_rgb(deep, FIXED), (deep >> 8).astype(np.uint8))
    bgr = np.random.default_rng(1).integers(0, 256, (9, 5, 3), dtype=np.uint8)
    expected = bgr[:, :, ::-1].copy()
    got = decoded_to_model(bgr, reuse=True)  # converted in place
    assert np.shares_memory(got, bgr) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def _bgr_files(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Scenes written with cv2.imwrite (B, G, R(, A) arrays) -> (path, expected model RGB)."""
    rng = np.random.default_rng(5)
    deep = rng.integers(0, 65536, (30, 40, 3), dtype=np.uint16)
    deep4 = rng.integers(0, 65536, (30, 40, 4), dtype=np.uint16)
    grey = rng.integers(0, 65536, (30, 40), dtype=np.uint16)
    bgra = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    high = lambda a: (a >> 8).astype(np.uint8)  # noqa: E731
    scenes = {
        "rgb16.png": (deep, high(deep)[:, :, ::-1]),
        "rgb16_tif.tif": (deep, high(deep)[:, :, ::-1]),
        "rgba16.tif": (deep4, high(deep4)[:, :, 2::-1]),
        "grey16.png": (grey, np.repeat(high(grey)[:, :, None], 3, axis=2)),
        "rgba8.png": (bgra, bgra[:, :, 2::-1]),
    }
    out = {}
    for name, (array, expected) in scenes.items():
        assert cv2.imwrite(str(folder / name), array)
        out[name] = (folder / name, expected)
    return out


def test_read_scene_rgb_decodes_files_by_the_same_rules(tmp_path: Path) -> None:
    for name, (path, expected) in _bgr_files(tmp_path).items():
        got = read_scene_rgb(path, FIXED)
        assert got.dtype == np.uint8 and got.flags.c_contiguous, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
        np.testing.assert_array_equal(read_scene_rgb(path, FIXED, bgr=True), expected[:, :, ::-1])
    (tmp_path / "cut.png").write_bytes((tmp_path / "rgb16.png").read_bytes()[:500])
    with pytest.raises(InputError, match=r"cut\.png: image data is truncated"):
        read_scene_rgb(tmp_path / "cut.png")
    with pytest.raises(InputError, match=r"missing\.png: image not found"):
        read_scene_rgb(tmp_path / "missing.png")


@pytest.mark.parametrize("radiometry", [AUTO, FIXED], ids=["auto", "fixed"])
def test_classifier_and_chips_see_the_detector_pixels(tmp_path: Path, radiometry: Radiometry) -> None:
    from tiledet.boxes import Boxes
    from tiledet.classify.data import read_rgb
    from tiledet.convert.chips import write_chips_dataset
    from tiledet.convert.config import ChipConfig
    from tiledet.labels import ImageLabels

    for name, (path, by_hand) in _bgr_files(tmp_path).items():
        detector = read_scene_rgb(path, radiometry)  # what both detectors are fed
        if radiometry is FIXED or name == "rgba8.png":  # fixed and 8-bit: the hand-computed pixels
            np.testing.assert_array_equal(detector, by_hand, err_msg=name)
        if radiometry is AUTO:  # the classifier reads scenes under the default radiometry
            grown = cv2.resize(detector, (40, 40), interpolation=cv2.INTER_LINEAR)
            np.testing.assert_array_equal(read_rgb(path, 40), grown, err_msg=name)
        box = Boxes([[10, 5, 30, 25]], [0])  # side 20, context 0: window [10, 5, 30, 25], no resampling
        splits = {"train": [ImageLabels(name, (40, 30), box)]}
        out = tmp_path / f"chips_{radiometry.kind}_{name}"
        cfg = ChipConfig(chip_size=20, context=0.0, background=0, structured=False, jitter=0, workers=1)
        write_chips_dataset(splits, tmp_path, out, ["car"], cfg, radiometry=radiometry)
        chip = out / "train/car" / f"{Path(name).stem}__00000.png"
        assert cv2.imread(str(chip), cv2.IMREAD_UNCHANGED).dtype == np.uint8
        np.testing.assert_array_equal(read_rgb(chip, 20), detector[5:25, 10:30], err_msg=name)


@pytest.mark.parametrize("radiometry", [AUTO, FIXED], ids=["auto", "fixed"])
def test_yolo_training_loader_reads_tiles_as_the_detector_sees_the_scene(
    tmp_path: Path, radiometry: Radiometry
) -> None:
    pytest.importorskip("ultralytics")
    from tiledet.boxes import Boxes
    from tiledet.convert.config import TileConfig
    from tiledet.convert.tiling import write_tiled_dataset
    from tiledet.detect.offline import offline_ultralytics
    from tiledet.labels import ImageLabels

    offline_ultralytics()
    from ultralytics.utils.patches import imread

    scenes = _bgr_files(tmp_path)
    box = Boxes([[5, 5, 15, 15]], [0])
    splits = {"train": [ImageLabels(name, (40, 30), box) for name in scenes]}
    cfg = TileConfig(tile=16, overlap=0.0, workers=1)
    write_tiled_dataset(splits, tmp_path, tmp_path / "out", ["car"], cfg, radiometry=radiometry)
    for name, (path, by_hand) in scenes.items():
        detector = read_scene_rgb(path, radiometry)
        if radiometry is FIXED:
            np.testing.assert_array_equal(detector, by_hand, err_msg=name)
        tile = tmp_path / "out/images/train" / f"{Path(name).stem}__x0_y0.png"
        stored = cv2.imread(str(tile), cv2.IMREAD_UNCHANGED)
        deep = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
        # 16-bit scenes keep lossless 16-bit tiles only under fixed (the loader's >> 8 is fixed's rule)
        assert stored.dtype == (np.uint16 if deep and radiometry is FIXED else np.uint8), name
        loaded = imread(str(tile))  # Ultralytics' training loader: B, G, R
        np.testing.assert_array_equal(loaded[:, :, ::-1], detector[0:16, 0:16], err_msg=name)


def test_tiles_are_lossless_only_for_16_bit_png_tiles_under_fixed(tmp_path: Path) -> None:
    from tiledet.convert.scene_io import ScenePixels
    from tiledet.scene import open_scene

    files = _bgr_files(tmp_path)
    for name, suffix, radiometry, lossless in [
        ("rgb16.png", ".png", FIXED, True), ("rgb16_tif.tif", ".png", FIXED, True),
        ("rgb16.png", ".jpg", FIXED, False), ("rgb16.png", ".png", AUTO, False),
        ("rgba8.png", ".png", FIXED, False),
    ]:  # fmt: skip
        with open_scene(files[name][0], radiometry) as scene:
            assert ScenePixels.tiles(scene, suffix).lossless is lossless, (name, suffix, radiometry)
    stored = cv2.imread(str(files["rgb16.png"][0]), cv2.IMREAD_UNCHANGED)  # B, G, R as written
    grey = cv2.imread(str(files["grey16.png"][0]), cv2.IMREAD_UNCHANGED)
    for name, expected in [("rgb16.png", stored), ("rgb16_tif.tif", stored), ("grey16.png", grey)]:
        with open_scene(files[name][0], FIXED) as scene:
            got = ScenePixels.tiles(scene, ".png")((3, 2, 19, 12))  # what the tile holds, OpenCV's order
        np.testing.assert_array_equal(got, expected[2:12, 3:19], err_msg=name)

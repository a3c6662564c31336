"""The fast PNG encoder: lossless round trips read back by OpenCV and Pillow, hand-checked filter rows."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tiledet.convert.png_fast import encode_png, up_filtered
from tiledet.convert.scene_io import write_image

SHAPES = [(1, 1), (1, 9, 3), (7, 1, 3), (33, 17, 3), (20, 30, 4), (16, 8), (5, 6, 1)]


@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_opencv_and_pillow(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(image)
    assert data is not None and data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded.reshape(image.shape), image)
    with Image.open(io.BytesIO(data)) as pil:
        pil.load()
        rgb = np.asarray(pil)
    expected = image.reshape(image.shape[:2]) if image.ndim == 2 or image.shape[2] == 1 else image
    if expected.ndim == 3:  # cv2 order BGR(A) -> Pillow's RGB(A)
        expected = expected[:, :, [2, 1, 0, 3][: expected.shape[2]]]
    assert np.array_equal(rgb, expected)


def test_strided_tile_view_of_a_scene() -> None:
    scene = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    tile = scene[50:178, 120:248]  # a view, not contiguous
    decoded = cv2.imdecode(np.frombuffer(encode_png(tile), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded, tile)


def test_up_filter_rows_by_hand() -> None:
    bgr = np.array([[[1, 2, 3], [250, 0, 10]], [[0, 5, 3], [255, 255, 255]]], np.uint8)
    rows = up_filtered(bgr)
    # row 0: filter byte 2, then RGB as is; row 1: RGB minus the row above, modulo 256
    assert rows.tolist() == [[2, 3, 2, 1, 10, 0, 250], [2, 0, 3, 255, 245, 255, 5]]


def test_fallbacks(tmp_path: Path) -> None:
    assert encode_png(np.zeros((4, 4, 3), np.uint16)) is None
    assert encode_png(np.zeros((4, 4, 2), np.uint8)) is None
    deep = np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 1000
    write_image(tmp_path / "deep.png", deep)  # 16 bit: written by OpenCV
    assert np.array_equal(cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED), deep)


def test_deterministic() -> None:
    image = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert encode_png(image) == encode_png(image.copy())


def test_useful_workers() -> None:
    from tiledet.convert.scene_io import PIXELS_PER_WORKER, useful_workers

    assert useful_workers(3, 10) == 3 and useful_workers(3, 2) == 2 and useful_workers(1, 0) == 0
    small = [1000 * 1000] * 4  # four 1000 px images: not worth a second process
    assert useful_workers(0, 4, small) == 1
    assert useful_workers(2, 4, small) == 2  # an explicit count is honoured
    big = [PIXELS_PER_WORKER] * 8
    assert useful_workers(0, 8, big) == min(8, os.cpu_count() or 1)

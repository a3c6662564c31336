"""tiledet.draw: outlines land on exactly the expected pixels, read back from a written PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tiledet.boxes import Boxes
from tiledet.draw import PALETTE, class_color, draw_boxes


def _png_roundtrip(image_rgb: np.ndarray, path: Path) -> np.ndarray:
    assert cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _expected_outline(h: int, w: int, c0: int, r0: int, c1: int, r1: int, t: int) -> np.ndarray:
    """Naive reference: a pixel is on the outline when it is within t pixels of the box's border."""
    mask = np.zeros((h, w), bool)
    for r in range(h):
        for c in range(w):
            inside = c0 <= c <= c1 and r0 <= r <= r1
            near = c - c0 < t or c1 - c < t or r - r0 < t or r1 - r < t
            mask[r, c] = inside and near
    return mask


@pytest.mark.parametrize("thickness", [1, 3])
def test_solid_outline_pixels(tmp_path: Path, thickness: int) -> None:
    image = np.zeros((40, 50, 3), np.uint8)
    boxes = Boxes(np.array([[10.0, 5.0, 30.0, 25.0]]), np.array([2]))
    drawn = draw_boxes(image, boxes, ["a", "b", "c"], thickness=thickness, label=False)
    drawn = _png_roundtrip(drawn, tmp_path / "x.png")
    painted = (drawn != 0).any(axis=2)
    expected = _expected_outline(40, 50, 10, 5, 29, 24, thickness)
    assert np.array_equal(painted, expected)
    assert tuple(drawn[5, 10]) == PALETTE[2] == class_color(2)
    assert not image.any(), "input image must not be modified"


def test_fixed_color_and_clipping(tmp_path: Path) -> None:
    image = np.full((20, 20, 3), 7, np.uint8)
    boxes = Boxes(np.array([[-5.0, -5.0, 10.0, 10.0], [30.0, 30.0, 40.0, 40.0]]), np.array([0, 1]))
    drawn = draw_boxes(image, boxes, ["a", "b"], color=(250, 0, 0), thickness=1, label=False)
    drawn = _png_roundtrip(drawn, tmp_path / "c.png")
    changed = (drawn != 7).any(axis=2)
    # box 0 clipped to columns/rows 0..9: its outline is the border of that square; box 1 is outside.
    assert np.array_equal(changed, _expected_outline(20, 20, 0, 0, 9, 9, 1))
    assert tuple(drawn[9, 9]) == (250, 0, 0)


def test_dashed_has_gaps_and_solid_has_none() -> None:
    image = np.zeros((60, 60, 3), np.uint8)
    boxes = Boxes(np.array([[5.0, 5.0, 55.0, 55.0]]), np.array([0]))
    solid = draw_boxes(image, boxes, ["a"], thickness=1, label=False, style="solid")
    dashed = draw_boxes(image, boxes, ["a"], thickness=1, label=False, style="dashed")
    top_solid = (solid[5, 5:55] != 0).any(axis=1)
    top_dashed = (dashed[5, 5:55] != 0).any(axis=1)
    assert top_solid.all()
    assert 0.4 < top_dashed.mean() < 0.8
    off_outline = (dashed != 0).any(axis=2) & ~(solid != 0).any(axis=2)
    assert not off_outline.any(), "dashes lie on the solid outline"


def test_label_with_score_is_drawn_above_box() -> None:
    image = np.zeros((80, 120, 3), np.uint8)
    gt = Boxes(np.array([[20.0, 40.0, 60.0, 70.0]]), np.array([0]))
    det = Boxes(np.array([[20.0, 40.0, 60.0, 70.0]]), np.array([0]), np.array([0.875]))
    no_label = draw_boxes(image, gt, ["car"], label=False)
    with_label = draw_boxes(image, gt, ["car"], label=True)
    with_score = draw_boxes(image, det, ["car"], label=True)
    assert not no_label[:40].any(), "nothing above the box without a label"
    assert with_label[25:40, 20:60].any(), "the label tag sits above the box"
    tag_width = lambda im: int((im[:40] != 0).any(axis=2).any(axis=0).sum())  # noqa: E731
    assert tag_width(with_score) > tag_width(with_label), "the score makes the label wider"


def test_grey_input_and_bad_arguments() -> None:
    grey = np.zeros((10, 10), np.uint8)
    out = draw_boxes(grey, Boxes.empty(), ["a"])
    assert out.shape == (10, 10, 3)
    with pytest.raises(ValueError, match="uint8"):
        draw_boxes(np.zeros((10, 10, 3), np.float32), Boxes.empty(), ["a"])
    with pytest.raises(ValueError, match="style"):
        draw_boxes(np.zeros((10, 10, 3), np.uint8), Boxes.empty(), ["a"], style="dotted")

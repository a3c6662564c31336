"""Pure tiling geometry: box/tile assignment, clipping, tile names, config validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledet.convert.config import TileConfig
from tiledet.convert.tile_geometry import assign_boxes_to_tiles, parse_tile_stem, tile_stem
from tiledet.convert.tiling import tile_file_name
from tiledet.errors import ConfigError
from tiledet.geometry import tile_offsets

TWO_WINDOWS = np.array([[0, 0, 100, 100], [80, 0, 180, 100]])


def _pieces(result) -> list[tuple[int, int, tuple[float, ...]]]:
    return [
        (int(b), int(t), tuple(round(v, 9) for v in xy))
        for b, t, xy in zip(result.box_idx, result.tile_idx, result.xyxy.tolist(), strict=True)
    ]


# (box xyxy in scene px, min_visibility, expected [(tile index, piece xyxy in tile px)])
CLIP_CASES = [
    # 10 of 20 px columns inside tile 0: ratio exactly 0.5 is kept; the whole box lies in tile 1
    ([90, 10, 110, 30], 0.5, [(0, (90, 10, 100, 30)), (1, (10, 10, 30, 30))]),
    ([90, 10, 110, 30], 0.5000001, [(1, (10, 10, 30, 30))]),
    # a quarter of the box below the windows' bottom edge (y = 100): ratio 15/20 = 0.75 in tile 0
    ([10, 85, 20, 105], 0.75, [(0, (10, 85, 20, 100))]),
    ([10, 85, 20, 105], 0.76, []),
    # whole in tile 0; straddles tile 1's left edge (x = 80), half of it inside tile 1
    ([70, 40, 90, 60], 0.5, [(0, (70, 40, 90, 60)), (1, (0, 40, 10, 60))]),
    ([70, 40, 90, 60], 1.0, [(0, (70, 40, 90, 60))]),
    # corner of tile 1 at (180, 100): a quarter is visible
    ([170, 90, 190, 110], 0.25, [(1, (90, 90, 100, 100))]),
    ([170, 90, 190, 110], 0.3, []),
    # fractional coordinates
    ([99, 0.25, 101.5, 4.25], 0.25, [(0, (99, 0.25, 100, 4.25)), (1, (19, 0.25, 21.5, 4.25))]),
    # 0.5 px of it in tile 0: ratio 0.25 reached, but the piece is under 1 px wide
    ([99.5, 0.25, 101.5, 4.25], 0.25, [(1, (19.5, 0.25, 21.5, 4.25))]),
    # entirely outside every window
    ([300, 300, 310, 310], 0.1, []),
    # touching tile 1's right edge from outside: zero-area intersection, not kept
    ([180, 10, 190, 20], 0.01, []),
]


@pytest.mark.parametrize(("box", "min_vis", "expected"), CLIP_CASES)
def test_clipping_at_tile_borders_matches_hand_computed(box, min_vis, expected) -> None:
    result = assign_boxes_to_tiles(np.array([box], float), TWO_WINDOWS, min_vis)
    assert _pieces(result) == [(0, t, tuple(float(v) for v in xy)) for t, xy in expected]


def test_visibility_is_best_ratio_and_degenerate_boxes_never_divide_by_zero() -> None:
    boxes = np.array([[90, 10, 110, 30], [50, 50, 50, 60], [40, 40, 40, 40], [170, 90, 190, 110]], float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = assign_boxes_to_tiles(boxes, TWO_WINDOWS, 0.5)
    np.testing.assert_allclose(result.visibility, [1.0, 0.0, 0.0, 0.25])
    assert sorted(set(result.box_idx.tolist())) == [0]


def test_pieces_under_one_pixel_are_dropped_and_counted() -> None:
    # 0.8 of the box is visible, but the piece is only 0.8 px wide
    result = assign_boxes_to_tiles(np.array([[99.2, 0, 100.2, 10]]), np.array([[0, 0, 100, 100]]), 0.5)
    assert len(result) == 0
    assert result.too_small == 1
    assert result.below_visibility == 0
    assert result.visibility[0] == pytest.approx(0.8)


def test_pairs_below_visibility_are_counted() -> None:
    result = assign_boxes_to_tiles(np.array([[90, 10, 110, 30]], float), TWO_WINDOWS, 0.6)
    assert result.below_visibility == 1 and len(result) == 1


@pytest.mark.parametrize(("n_boxes", "n_windows"), [(0, 2), (3, 0), (0, 0)])
def test_empty_inputs(n_boxes: int, n_windows: int) -> None:
    boxes = np.tile([[1.0, 1.0, 5.0, 5.0]], (n_boxes, 1))
    result = assign_boxes_to_tiles(boxes, TWO_WINDOWS[:n_windows], 0.5)
    assert len(result) == 0 and result.xyxy.shape == (0, 4)
    assert result.visibility.shape == (n_boxes,)


def test_pieces_are_sorted_by_tile_then_box() -> None:
    boxes = np.array([[85, 5, 95, 15], [10, 10, 20, 20], [150, 50, 160, 60], [82, 80, 92, 90]], float)
    result = assign_boxes_to_tiles(boxes, TWO_WINDOWS, 0.5)
    pairs = list(zip(result.tile_idx.tolist(), result.box_idx.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (0, 3), (1, 0), (1, 2), (1, 3)]


def _naive(xyxy: np.ndarray, windows: np.ndarray, min_vis: float) -> list[tuple[int, int, tuple[float, ...]]]:
    """Reference: one shapely call per box per window."""
    from shapely.geometry import box

    out = []
    for t, (x0, y0, x1, y1) in enumerate(windows.tolist()):
        win = box(x0, y0, x1, y1)
        for b, coords in enumerate(xyxy.tolist()):
            geom = box(*coords)
            if geom.area <= 0 or not geom.intersects(win):
                continue
            piece = geom.intersection(win)
            if piece.area / geom.area < min_vis - 1e-9:
                continue
            px0, py0, px1, py1 = piece.bounds
            if px1 - px0 < 1 or py1 - py0 < 1:
                continue
            out.append((b, t, tuple(round(v, 9) for v in (px0 - x0, py0 - y0, px1 - x0, py1 - y0))))
    return sorted(out, key=lambda p: (p[1], p[0]))


@st.composite
def _scenes(draw):
    width = draw(st.integers(1, 400))
    height = draw(st.integers(1, 400))
    tile = draw(st.integers(8, 160))
    overlap = draw(st.sampled_from([0.0, 0.1, 0.25, 0.5]))
    n = draw(st.integers(0, 25))
    coords = st.floats(-20, 420, allow_nan=False, allow_infinity=False)
    sides = st.floats(0, 80, allow_nan=False, allow_infinity=False)
    boxes = []
    for _ in range(n):
        x, y = draw(coords), draw(coords)
        boxes.append([x, y, x + draw(sides), y + draw(sides)])
    min_vis = draw(st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]))
    return (width, height), tile, overlap, np.array(boxes, float).reshape(-1, 4), min_vis


@settings(max_examples=60, deadline=None)
@given(_scenes())
def test_vectorised_assignment_equals_naive_double_loop(scene) -> None:
    size_wh, tile, overlap, boxes, min_vis = scene
    windows = tile_offsets(size_wh, tile, overlap)
    assert _pieces(assign_boxes_to_tiles(boxes, windows, min_vis)) == _naive(boxes, windows, min_vis)


@settings(max_examples=50, deadline=None)
@given(
    st.text(st.characters(codec="utf-8", exclude_characters="/\\\x00"), min_size=1, max_size=20),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_tile_names_recover_their_origin(stem: str, x0: int, y0: int) -> None:
    assert parse_tile_stem(tile_stem(stem, x0, y0)) == (stem, x0, y0)
    assert parse_tile_stem(tile_stem(stem, x0, y0) + ".png") == (stem, x0, y0)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("scene.tif", "scene__x640_y0.png"),
        ("scene.TIFF", "scene__x640_y0.png"),
        ("a.b.png", "a.b__x640_y0.png"),
        ("photo.JPG", "photo__x640_y0.jpg"),
        ("photo.jpeg", "photo__x640_y0.jpg"),
        ("sub/dir/s__x1_y2.tif", "sub/dir/s__x1_y2__x640_y0.png"),
    ],
)
def test_tile_file_name(file_name: str, expected: str) -> None:
    assert tile_file_name(file_name, 640, 0) == expected
    assert parse_tile_stem(expected)[1:] == (640, 0)


@pytest.mark.parametrize("bad", ["scene.png", "scene__x1.png", "scene__x-1_y2", "__x1_y2"])
def test_parse_tile_stem_rejects_other_names(bad: str) -> None:
    with pytest.raises(ValueError, match="not a tile name"):
        parse_tile_stem(bad)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"tile": 0}, "tile"),
        ({"tile": -5}, "tile"),
        ({"tile": 2.5}, "tile"),
        ({"tile": 64, "overlap": 1.0}, "overlap"),
        ({"tile": 64, "overlap": -0.1}, "overlap"),
        ({"tile": 64, "min_visibility": 0.0}, "min_visibility"),
        ({"tile": 64, "min_visibility": 1.01}, "min_visibility"),
        ({"tile": 64, "empty_fraction": -0.01}, "empty_fraction"),
        ({"tile": 64, "empty_fraction": 1.5}, "empty_fraction"),
        ({"tile": 64, "workers": -1}, "workers"),
    ],
)
def test_tile_config_rejects_out_of_range_options(kwargs: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        TileConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tile": 1},
        {"tile": 640, "overlap": 0.0, "min_visibility": 1.0, "empty_fraction": 1.0},
        {"tile": 640, "overlap": 0.99, "min_visibility": 1e-6, "empty_fraction": 0.0, "workers": 3},
    ],
)
def test_tile_config_accepts_boundaries(kwargs: dict) -> None:
    assert TileConfig(**kwargs).tile == kwargs["tile"]

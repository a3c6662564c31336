from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledet.errors import ConfigError
from tiledet.geometry import tile_offsets


def test_hand_computed_layout():
    # W=1000, tile 400, overlap 0.25 -> stride 300: x starts 0, 300, 600 (snapped: 1000-400=600)
    w = tile_offsets((1000, 500), 400, 0.25)
    xs = sorted(set(w[:, 0].tolist()))
    ys = sorted(set(w[:, 1].tolist()))
    assert xs == [0, 300, 600]
    assert ys == [0, 100]  # 0, then snapped 500-400
    assert w.shape == (6, 4)
    assert w[0].tolist() == [0, 0, 400, 400]
    assert w[-1].tolist() == [600, 100, 1000, 500]


def test_snapping_when_stride_does_not_divide():
    w = tile_offsets((1050, 640), 640, 0.0)
    assert sorted(set(w[:, 0].tolist())) == [0, 410]
    assert sorted(set(w[:, 1].tolist())) == [0]


def test_image_smaller_than_tile_gives_one_clipped_tile():
    assert tile_offsets((300, 200), 640, 0.2).tolist() == [[0, 0, 300, 200]]


def test_rectangular_tiles():
    w = tile_offsets((100, 100), (50, 25), 0.0)
    assert len(w) == 2 * 4
    assert set((w[:, 2] - w[:, 0]).tolist()) == {50} and set((w[:, 3] - w[:, 1]).tolist()) == {25}


@pytest.mark.parametrize(
    ("size", "tile", "overlap"),
    [((100, 100), 0, 0.0), ((100, 100), -5, 0.0), ((100, 100), 10, 1.0), ((100, 100), 10, -0.1),
     ((0, 100), 10, 0.0), ((100, 100), 10.5, 0.0)],
)
def test_bad_arguments_raise_config_error(size, tile, overlap):
    with pytest.raises(ConfigError):
        tile_offsets(size, tile, overlap)


@settings(max_examples=200, deadline=None)
@given(
    w=st.integers(1, 300), h=st.integers(1, 300), tw=st.integers(1, 120), th=st.integers(1, 120),
    overlap=st.floats(0.0, 0.95),
)
def test_every_pixel_covered_and_windows_inside(w, h, tw, th, overlap):
    win = tile_offsets((w, h), (tw, th), overlap)
    assert (win[:, 0] >= 0).all() and (win[:, 1] >= 0).all()
    assert (win[:, 2] <= w).all() and (win[:, 3] <= h).all()
    assert ((win[:, 2] - win[:, 0]) == min(tw, w)).all()
    assert ((win[:, 3] - win[:, 1]) == min(th, h)).all()
    covered = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in win:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert len({tuple(r) for r in win.tolist()}) == len(win)


def test_tile_stem_round_trip_and_old_import_path():
    from tiledet.convert import tile_geometry
    from tiledet.geometry import parse_tile_stem, tile_stem

    assert tile_stem("a__b.c", 512, 0) == "a__b.c__x512_y0"
    assert parse_tile_stem("out/images/a__b.c__x512_y0.png") == ("a__b.c", 512, 0)
    assert parse_tile_stem("scene__x3_y40") == ("scene", 3, 40)
    with pytest.raises(ValueError, match="not a tile name"):
        parse_tile_stem("scene_x3_y40.png")
    assert tile_geometry.parse_tile_stem is parse_tile_stem and tile_geometry.tile_stem is tile_stem

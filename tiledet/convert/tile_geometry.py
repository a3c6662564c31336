"""Pure, vectorised geometry of tiling: which boxes a tile keeps, and where they land in it.

No files, no images: boxes and windows in, index pairs and clipped boxes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiledet.errors import ConfigError
from tiledet.geometry import parse_tile_stem, tile_stem

__all__ = [
    "MIN_PIECE_SIDE_PX",
    "VISIBILITY_EPS",
    "TileAssignment",
    "assign_boxes_to_tiles",
    "parse_tile_stem",  # re-exported: lives in tiledet.geometry
    "tile_stem",  # re-exported: lives in tiledet.geometry
]

#: Kept pieces whose clipped width or height is below this many pixels are dropped (as in loading).
MIN_PIECE_SIDE_PX = 1.0

#: Refuse a tiling that lays out more than this many times the tiles it would without overlap.
MAX_TILE_FACTOR = 32
#: Refuse a tiling that lays out more tiles than this in total.
MAX_TILES = 10_000_000

#: Visibility ratios within this much below ``min_visibility`` still count as reaching it, so that a
#: ratio that is exactly the threshold on paper is not lost to floating-point rounding.
VISIBILITY_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class TileAssignment:
    """Which box is kept in which tile, and the kept piece of it.

    Attributes:
        box_idx: (P,) int64 index of the box (row of the input ``xyxy``) of each kept piece.
        tile_idx: (P,) int64 index of the window (row of the input ``windows``) of each kept piece.
        xyxy: (P, 4) float64 piece ``x_min, y_min, x_max, y_max`` in pixels relative to the window's
            top-left corner (i.e. in tile coordinates), clipped to the window.
        visibility: (N,) float64 best ratio area(box ∩ window) / area(box) of each box over all
            windows; 0 for boxes of zero area and for boxes that touch no window.
        below_visibility: number of (box, window) pairs that intersect but stay below the ratio.
        too_small: number of pairs that reach the ratio but whose clipped piece is narrower or lower
            than :data:`MIN_PIECE_SIDE_PX`.
    """

    box_idx: np.ndarray
    tile_idx: np.ndarray
    xyxy: np.ndarray
    visibility: np.ndarray
    below_visibility: int
    too_small: int

    def __len__(self) -> int:
        return int(self.box_idx.shape[0])


def _empty(n_boxes: int) -> TileAssignment:
    return TileAssignment(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(n_boxes), 0, 0
    )


def assign_boxes_to_tiles(xyxy: np.ndarray, windows: np.ndarray, min_visibility: float) -> TileAssignment:
    """Keep each box in every window that shows at least ``min_visibility`` of its area.

    A box is kept in a window when ``area(box ∩ window) / area(box) >= min_visibility``; the kept
    piece is the intersection, shifted to window coordinates. Pieces narrower or lower than
    :data:`MIN_PIECE_SIDE_PX` are dropped. Boxes of zero area (degenerate) have visibility 0 and are
    never kept (no division by zero). Candidate pairs come from a shapely ``STRtree`` query
    (``predicate="intersects"``); intersections and areas are computed on geometry arrays, so there
    is no Python call per box per window.

    Args:
        xyxy: (N, 4) float boxes ``x_min, y_min, x_max, y_max`` in scene pixels.
        windows: (K, 4) windows ``x0, y0, x1, y1`` in scene pixels (e.g. from
            :func:`tiledet.geometry.tile_offsets`).
        min_visibility: threshold ratio in ``(0, 1]``.

    Returns:
        A :class:`TileAssignment`; pieces are sorted by window, then by box index.
    """
    import shapely

    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 4)
    n = xyxy.shape[0]
    if n == 0 or windows.shape[0] == 0:
        return _empty(n)
    box_geoms = shapely.box(xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3])
    win_geoms = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
    box_idx, tile_idx = shapely.STRtree(win_geoms).query(box_geoms, predicate="intersects")
    if box_idx.size == 0:
        return _empty(n)
    pieces = shapely.intersection(box_geoms[box_idx], win_geoms[tile_idx])
    box_area = shapely.area(box_geoms)
    ratio = np.divide(
        shapely.area(pieces), box_area[box_idx], out=np.zeros(box_idx.shape[0]), where=box_area[box_idx] > 0
    )
    visibility = np.zeros(n)
    np.maximum.at(visibility, box_idx, ratio)
    visible = ratio >= float(min_visibility) - VISIBILITY_EPS
    bounds = shapely.bounds(pieces)  # empty intersections give NaN; they are never visible
    wide = visible & ((bounds[:, 2] - bounds[:, 0]) >= MIN_PIECE_SIDE_PX)
    keep = wide & ((bounds[:, 3] - bounds[:, 1]) >= MIN_PIECE_SIDE_PX)
    order = np.lexsort((box_idx[keep], tile_idx[keep]))
    kept_box, kept_tile = box_idx[keep][order], tile_idx[keep][order]
    origin = windows[kept_tile][:, [0, 1, 0, 1]]
    return TileAssignment(
        box_idx=kept_box.astype(np.int64),
        tile_idx=kept_tile.astype(np.int64),
        xyxy=bounds[keep][order] - origin,
        visibility=visibility,
        below_visibility=int((~visible).sum()),
        too_small=int((visible & ~keep).sum()),
    )


def tile_count(size_wh: tuple[int, int], tile: int, overlap: float) -> int:
    """Number of windows :func:`tiledet.geometry.tile_offsets` lays out, computed without building them.

    Along each axis: 1 when the image is not larger than the tile, else ``ceil((L - tile) / stride) + 1``
    with ``stride = max(1, round(tile * (1 - overlap)))``.
    """
    stride = max(1, round(tile * (1.0 - overlap)))
    count = 1
    for length in size_wh:
        count *= 1 if length <= tile else -(-(int(length) - tile) // stride) + 1
    return count


def check_tile_count(sizes_wh: Sequence[tuple[int, int]], tile: int, overlap: float) -> int:
    """Refuse settings that would lay out absurdly many tiles; returns the number of tiles laid out.

    Args:
        sizes_wh: ``(width, height)`` of every scene, px.
        tile: tile side, px.
        overlap: tile overlap fraction.

    Raises:
        ConfigError: when the tiles exceed :data:`MAX_TILE_FACTOR` times the count without overlap
            (e.g. ``--overlap 0.999``) or :data:`MAX_TILES` in total, with the numbers.
    """

    total = sum(tile_count(size, tile, overlap) for size in sizes_wh)
    plain = sum(tile_count(size, tile, 0.0) for size in sizes_wh)
    if total > MAX_TILE_FACTOR * plain:
        raise ConfigError(
            f"tile={tile} with overlap={overlap:g} would lay out {total:,} tiles over "
            f"{len(sizes_wh)} scenes, {total / plain:,.0f} times the {plain:,} tiles without overlap "
            f"(limit {MAX_TILE_FACTOR}x); use a smaller `overlap`",
            field=("tile", "overlap"),
        )
    if total > MAX_TILES:
        raise ConfigError(
            f"tile={tile} would lay out {total:,} tiles over {len(sizes_wh)} scenes (limit "
            f"{MAX_TILES:,}); use a larger `tile`",
            field="tile",
        )
    return total

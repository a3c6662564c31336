"""Pure geometry shared by tiling, sliced inference and the sliding-window detector.

Tile windows (:func:`tile_offsets`) and the names of tile files (:func:`tile_stem`,
:func:`parse_tile_stem`), so a detector can put a tile's boxes back into its scene.
"""

from __future__ import annotations

import re

import numpy as np

from tiledet.errors import ConfigError


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    w, h = (value, value) if np.isscalar(value) else value  # type: ignore[misc]
    if int(w) != w or int(h) != h:
        raise ConfigError(f"{name} must be whole pixels, got {value!r}")
    return int(w), int(h)


def _starts(length: int, tile: int, stride: int) -> np.ndarray:
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - tile, stride, dtype=np.int64)
    return np.append(starts, length - tile)


def tile_offsets(
    size_wh: tuple[int, int], tile_wh: int | tuple[int, int], overlap: float = 0.0
) -> np.ndarray:
    """Lay out overlapping tiles (windows) over an image.

    The stride is ``round(tile * (1 - overlap))`` (at least 1 px) along each axis; the last row and
    column are snapped to the image edge so every pixel is covered by at least one window. Along an
    axis where the image is not larger than the tile there is a single window, clipped to the image.

    Args:
        size_wh: image ``(width, height)`` in pixels, each >= 1.
        tile_wh: tile side in pixels, or ``(tile_width, tile_height)``; each >= 1.
        overlap: fraction of the tile shared by neighbouring tiles, in ``[0, 1)``.

    Returns:
        (K, 4) int64 array of windows ``x0, y0, x1, y1`` (pixel edges, exclusive end), row-major
        (y outer, x inner). All windows lie inside the image.

    Raises:
        ConfigError: on a non-positive size or tile, or an overlap outside ``[0, 1)``.
    """
    width, height = _pair(size_wh, "size_wh")
    tile_w, tile_h = _pair(tile_wh, "tile_wh")
    if width < 1 or height < 1:
        raise ConfigError(f"image size must be at least 1x1 px, got {width}x{height}")
    if tile_w < 1 or tile_h < 1:
        raise ConfigError(f"tile size must be at least 1 px, got {tile_w}x{tile_h}")
    if not (0.0 <= float(overlap) < 1.0):
        raise ConfigError(f"overlap must be in [0, 1), got {overlap}")
    stride_w = max(1, round(tile_w * (1.0 - overlap)))
    stride_h = max(1, round(tile_h * (1.0 - overlap)))
    xs = _starts(width, tile_w, stride_w)
    ys = _starts(height, tile_h, stride_h)
    x0, y0 = np.meshgrid(xs, ys)  # (len(ys), len(xs)), row-major
    x0 = x0.ravel()
    y0 = y0.ravel()
    x1 = np.minimum(x0 + tile_w, width)
    y1 = np.minimum(y0 + tile_h, height)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def tile_stem(stem: str, x0: int, y0: int) -> str:
    """File stem of the tile of scene ``stem`` whose top-left corner is ``(x0, y0)`` (scene pixels).

    ``tile_stem("scene", 512, 0) == "scene__x512_y0"``.
    """
    return f"{stem}__x{int(x0)}_y{int(y0)}"


_TILE_STEM = re.compile(r"(?P<stem>.+)__x(?P<x>\d+)_y(?P<y>\d+)(?:\.[A-Za-z0-9]+)?", flags=re.DOTALL)


def parse_tile_stem(name: str) -> tuple[str, int, int]:
    """Recover ``(scene stem, x0, y0)`` from a tile file name or stem made by :func:`tile_stem`.

    Any folder part before the last ``/`` is ignored: ``"t/scene__x512_y0.png"`` -> ``("scene", 512, 0)``.

    Raises:
        ValueError: when ``name`` does not end in ``__x{x0}_y{y0}`` (optionally plus a suffix).
    """
    match = _TILE_STEM.fullmatch(name.rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"{name!r} is not a tile name of the form '{{stem}}__x{{x0}}_y{{y0}}.ext'")
    return match["stem"], int(match["x"]), int(match["y"])

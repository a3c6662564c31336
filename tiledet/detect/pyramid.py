"""Image pyramid for the sliding window: scales from object sizes, block layout, block resampling.

A scene resized by ``scale`` is never materialised: each block of the resized image is resampled on
its own from the scene (bilinear, sample positions on a fixed 1/32 px grid, a Gaussian pre-blur of
sigma ``(1 / scale - 1) / 2`` when shrinking), so a block equals the same region of the whole resized
image and memory holds the scene plus one block. Resized pixel ``X`` samples the scene at
``(X + 0.5) / scale - 0.5`` (cv2's convention); a box edge at resized ``X`` lies at scene ``X / scale``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tiledet.errors import ConfigError

#: Sub-pixel precision of the sample positions (1 / 32 px, cv2's INTER_BITS).
_SUBPIXEL = 32


def pyramid_scales(
    object_size_px: tuple[float, float], window: int, context: float, step: float = 2**0.25
) -> list[float]:
    """Image scale factors so that objects of every size in the range appear at the trained size.

    An object of longer side ``o`` scene px fills the central ``1 / (1 + context)`` of a window at
    scale ``window / ((1 + context) * o)``. Sizes run ``min, min * step, ...`` up to ``max`` (the last
    size is included when within 1 % of ``max``).

    Args:
        object_size_px: ``(min, max)`` longer object side in scene pixels, ``0 < min <= max``.
        window: the classifier's window side in pixels.
        context: chip context (>= 0).
        step: ratio between neighbouring object sizes (> 1).

    Returns:
        Scale factors, largest first (smallest objects first).

    Raises:
        ConfigError: on an empty or invalid range or step.
    """
    low, high = (float(v) for v in object_size_px)
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high < low:
        raise ConfigError(
            f"object_size_px must be MIN-MAX with 0 < MIN <= MAX, got {low:g}-{high:g}",
            field="object_size_px",
        )
    if not step > 1:
        raise ConfigError(f"pyramid step must be > 1, got {step}")
    count = math.floor(math.log(high / low) / math.log(step) + 0.01) + 1
    return [window / ((1 + context) * low * step**k) for k in range(count)]


def resized_size(size_wh: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(width, height)`` of the scene resized by ``scale`` (rounded, at least 1)."""
    return max(1, round(size_wh[0] * scale)), max(1, round(size_wh[1] * scale))


@dataclass(frozen=True)
class Block:
    """One block of output cells and the resized-image pixels it needs.

    Attributes:
        row0, col0: first output cell (row, column) of the block in the scale's cell grid.
        rows, cols: output cells in the block.
        y0, x0: top-left resized pixel of the block's input (``offset + row0 * stride``).
        height, width: input pixels of the block (``(rows - 1) * stride + window``).
    """

    row0: int
    col0: int
    rows: int
    cols: int
    y0: int
    x0: int
    height: int
    width: int


def cell_grid(size: int, window: int, stride: int, offset: int = 0) -> int:
    """Number of whole windows along one axis of ``size`` px starting at ``offset`` (0 when none)."""
    return max(0, (size - offset - window) // stride + 1)


def blocks(
    size_wh: tuple[int, int], window: int, stride: int, block_px: int, offset_xy: tuple[int, int] = (0, 0)
) -> Iterator[Block]:
    """Blocks of at most ``block_px // stride`` cells per side covering every whole window once.

    Neighbouring blocks' inputs overlap by ``window - stride`` px and their cells tile the grid, so the
    stitched cells equal one pass over the whole image (for an exact network).
    """
    rows = cell_grid(size_wh[1], window, stride, offset_xy[1])
    cols = cell_grid(size_wh[0], window, stride, offset_xy[0])
    per = max(1, block_px // stride)
    for r0 in range(0, rows, per):
        nr = min(per, rows - r0)
        for c0 in range(0, cols, per):
            nc = min(per, cols - c0)
            y0, x0 = offset_xy[1] + r0 * stride, offset_xy[0] + c0 * stride
            yield Block(r0, c0, nr, nc, y0, x0, (nr - 1) * stride + window, (nc - 1) * stride + window)


def _positions(start: int, count: int, scale: float) -> np.ndarray:
    """Scene sample positions of resized pixels ``start .. start + count - 1`` on the 1/32 px grid."""
    x = (np.arange(start, start + count, dtype=np.float64) + 0.5) / scale - 0.5
    return np.round(x * _SUBPIXEL) / _SUBPIXEL


def blur_sigma(scale: float) -> float:
    """Gaussian anti-alias sigma (scene px) applied before shrinking by ``scale`` (0 when not shrinking)."""
    return max(0.0, (1.0 / scale - 1.0) / 2.0)


def resample_block(pixels: np.ndarray, scale: float, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """Pixels ``[y0, y0 + height) × [x0, x0 + width)`` of the scene resized by ``scale``.

    Args:
        pixels: (H, W, C) uint8 scene.
        scale: resize factor (> 0); 1 crops without resampling.
        x0, y0, width, height: the block in resized pixels (may reach past the resized scene's edge:
            border pixels are replicated).

    Returns:
        (height, width, C) uint8 array, identical to the same region of the whole resized scene.
    """
    import cv2

    scene_h, scene_w = pixels.shape[:2]
    if scale == 1.0 and x0 + width <= scene_w and y0 + height <= scene_h:
        return pixels[y0 : y0 + height, x0 : x0 + width]
    xs, ys = _positions(x0, width, scale), _positions(y0, height, scale)
    sigma = blur_sigma(scale)
    margin = math.ceil(3 * sigma) + 2
    sx0 = max(0, math.floor(xs[0]) - margin)
    sy0 = max(0, math.floor(ys[0]) - margin)
    sx1 = min(scene_w, math.ceil(xs[-1]) + margin + 1)
    sy1 = min(scene_h, math.ceil(ys[-1]) + margin + 1)
    if sx1 <= sx0 or sy1 <= sy0:  # the block lies past the scene: replicate the nearest edge pixels
        sx0, sy0 = min(max(sx0, 0), scene_w - 1), min(max(sy0, 0), scene_h - 1)
        sx1, sy1 = sx0 + 1, sy0 + 1
    crop = pixels[sy0:sy1, sx0:sx1]
    if sigma > 0.2:
        crop = cv2.GaussianBlur(crop, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    map_x = np.broadcast_to((xs - sx0).astype(np.float32)[None, :], (height, width))
    map_y = np.broadcast_to((ys - sy0).astype(np.float32)[:, None], (height, width))
    out = cv2.remap(
        np.ascontiguousarray(crop),
        np.ascontiguousarray(map_x),
        np.ascontiguousarray(map_y),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(height, width, *pixels.shape[2:])

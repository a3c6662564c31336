"""Image pyramid for the sliding window: scales from object sizes, block layout, block resampling.

A scene resized by ``scale`` is never materialised: each block of the resized image is resampled on
its own from the scene (bilinear, sample positions on a fixed 1/32 px grid, a Gaussian pre-blur of
sigma ``(1 / scale - 1) / 2`` when shrinking), so a block equals the same region of the whole resized
image. The scene is an array or a :class:`~tiledet.scene_base.Scene`, read in strips of rows of the
block's window (:data:`STRIP_PX`): memory holds one strip and one block, never the scene. Resized
pixel ``X`` samples the scene at ``(X + 0.5) / scale - 0.5`` (cv2's convention); a box edge at resized
``X`` lies at scene ``X / scale``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiledet.detect.yolo_batches import Pixels, may_hold_nodata
from tiledet.errors import ConfigError
from tiledet.scene_base import Scene

#: Sub-pixel precision of the sample positions (1 / 32 px, cv2's INTER_BITS).
_SUBPIXEL = 32

#: Blur sigmas (scene px) at or below this are not applied.
_MIN_SIGMA = 0.2

#: Most scene pixels :func:`resample_block` reads at once (4 Mpx: 12 MiB of RGB).
STRIP_PX = 1 << 22


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


def blur_radius(sigma: float) -> int:
    """Rows (px) past which cv2's 8-bit Gaussian of ``sigma`` cannot reach (an upper bound of its
    kernel radius ``(round(6 sigma + 1) | 1) // 2``); 0 when no blur is applied."""
    return 0 if sigma <= _MIN_SIGMA else math.ceil(3 * sigma) + 1


def _source_box(xs: np.ndarray, ys: np.ndarray, sigma: float, size_wh: tuple[int, int]) -> tuple[int, ...]:
    scene_w, scene_h = size_wh
    margin = math.ceil(3 * sigma) + 2
    sx0 = max(0, math.floor(xs[0]) - margin)
    sy0 = max(0, math.floor(ys[0]) - margin)
    sx1 = min(scene_w, math.ceil(xs[-1]) + margin + 1)
    sy1 = min(scene_h, math.ceil(ys[-1]) + margin + 1)
    if sx1 <= sx0 or sy1 <= sy0:  # the block lies past the scene: replicate the nearest edge pixels
        sx0, sy0 = min(max(sx0, 0), scene_w - 1), min(max(sy0, 0), scene_h - 1)
        sx1, sy1 = sx0 + 1, sy0 + 1
    return sx0, sy0, sx1, sy1


def source_window(
    size_wh: tuple[int, int], scale: float, x0: int, y0: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """The scene pixels ``(x0, y0, x1, y1)`` (half-open) that :func:`resample_block` reads for a block.

    Args:
        size_wh: the scene's ``(width, height)``.
        scale, x0, y0, width, height: as :func:`resample_block`.
    """
    if scale == 1.0 and x0 + width <= size_wh[0] and y0 + height <= size_wh[1]:
        return x0, y0, x0 + width, y0 + height
    xs, ys = _positions(x0, width, scale), _positions(y0, height, scale)
    sx0, sy0, sx1, sy1 = _source_box(xs, ys, blur_sigma(scale), size_wh)
    return sx0, sy0, sx1, sy1


def resample_block(
    pixels: Any, scale: float, x0: int, y0: int, width: int, height: int, *, strip_px: int | None = None
) -> np.ndarray:
    """Pixels ``[y0, y0 + height) × [x0, x0 + width)`` of the scene resized by ``scale``.

    The scene pixels the block needs (:func:`source_window`) are read in strips of rows of at most
    ``strip_px`` pixels (plus the blur's reach), each blurred and sampled on its own: the result is
    the one of blurring and sampling the whole window, bit for bit, while memory holds one strip.

    Args:
        pixels: (H, W, C) uint8 scene: an array, or anything with ``shape`` that slices like one
            (``pixels[y0:y1, x0:x1]``), such as a :class:`tiledet.scene_base.Scene` (a window read).
        scale: resize factor (> 0); 1 crops without resampling.
        x0, y0, width, height: the block in resized pixels (may reach past the resized scene's edge:
            border pixels are replicated).
        strip_px: most scene pixels read at once (rows × window width; at least one output row);
            None: :data:`STRIP_PX`.

    Returns:
        (height, width, C) uint8 array, identical to the same region of the whole resized scene.
    """
    scene_h, scene_w = pixels.shape[:2]
    if scale == 1.0 and x0 + width <= scene_w and y0 + height <= scene_h:
        return np.asarray(pixels[y0 : y0 + height, x0 : x0 + width])
    xs, ys = _positions(x0, width, scale), _positions(y0, height, scale)
    sigma = blur_sigma(scale)
    box = _source_box(xs, ys, sigma, (scene_w, scene_h))
    reach = blur_radius(sigma)
    strip_px = STRIP_PX if strip_px is None else strip_px
    per_strip = max(1, int((strip_px // (box[2] - box[0]) - 2 * reach - 3) * scale))
    strips = [
        _resample_rows(pixels, box, xs, ys[r0 : r0 + per_strip], sigma, reach)
        for r0 in range(0, height, per_strip)
    ]
    out = strips[0] if len(strips) == 1 else np.concatenate(strips, axis=0)
    return out.reshape(height, width, *pixels.shape[2:])


def _resample_rows(
    pixels: Any, box: tuple[int, ...], xs: np.ndarray, ys: np.ndarray, sigma: float, reach: int
) -> np.ndarray:
    """Output rows sampled at ``ys`` (scene px) from rows of ``box`` blurred as the whole box would be:
    the strip read reaches ``reach`` rows past the rows sampled, or to the box's edge (where the blur's
    reflected border is the whole box's)."""
    import cv2

    sx0, sy0, sx1, sy1 = box
    first = min(max(math.floor(ys[0]), sy0), sy1 - 1)  # rows the samples touch, inside the box
    last = min(max(math.floor(ys[-1]) + 1, sy0), sy1 - 1)
    lo, hi = max(sy0, first - reach), min(sy1, last + 1 + reach)
    crop = np.ascontiguousarray(pixels[lo:hi, sx0:sx1])
    if sigma > _MIN_SIGMA:
        crop = cv2.GaussianBlur(crop, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    map_x = np.broadcast_to((xs - sx0).astype(np.float32)[None, :], (len(ys), len(xs)))
    map_y = np.broadcast_to((ys - lo).astype(np.float32)[:, None], (len(ys), len(xs)))
    out = cv2.remap(
        crop,
        np.ascontiguousarray(map_x),
        np.ascontiguousarray(map_y),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(len(ys), len(xs), *crop.shape[2:])


#: ``(scale, grid offset in resized px)``: one cell grid of the pyramid.
Level = tuple[float, tuple[int, int]]


def size_of(source: Pixels) -> tuple[int, int]:
    """``(width, height)`` of an (H, W, 3) array or a :class:`~tiledet.scene_base.Scene`."""
    return source.size_wh if isinstance(source, Scene) else (source.shape[1], source.shape[0])


@dataclass
class PreparedBatch:
    """Blocks of one level resampled for the network.

    Attributes:
        scale: the level's scale factor.
        blocks: the blocks scored, all of one input size.
        crops: (len(blocks), height, width, 3) uint8, or None when every block was pure nodata.
        nodata: blocks of the batch left out as pure nodata.
    """

    scale: float
    blocks: list[Block]
    crops: np.ndarray | None
    nodata: int


def _batches(items: Iterable[Block], size: int) -> Iterator[list[Block]]:
    """Consecutive blocks of the same input shape, at most ``size`` at a time."""
    batch: list[Block] = []
    for block in items:
        if batch and (len(batch) == size or (block.height, block.width) != (batch[0].height, batch[0].width)):
            yield batch
            batch = []
        batch.append(block)
    if batch:
        yield batch


def prepared_batches(
    source: Pixels, levels: Iterable[Level], window: int, stride: int, block_px: int, batch_size: int
) -> Iterator[PreparedBatch]:
    """Batches of at most ``batch_size`` equal-size blocks of every level, resampled from ``source``.

    Blocks whose scene pixels (:func:`source_window`) are all nodata are left out and counted; that is
    asked only of scenes that may hold nodata (:func:`~tiledet.detect.yolo_batches.may_hold_nodata`).
    """
    size_wh = size_of(source)
    masked = may_hold_nodata(source)
    for scale, offset_xy in levels:
        layout = blocks(resized_size(size_wh, scale), window, stride, block_px, offset_xy)
        for batch in _batches(layout, batch_size):
            kept = [b for b in batch if not (masked and all_nodata(source, scale, b))]
            crops = [resample_block(source, scale, b.x0, b.y0, b.width, b.height) for b in kept]
            yield PreparedBatch(scale, kept, np.stack(crops) if crops else None, len(batch) - len(kept))


def all_nodata(scene: Scene, scale: float, block: Block) -> bool:
    """True when every scene pixel ``block`` of ``scale`` is resampled from is nodata (the mask is read
    in strips of :data:`STRIP_PX`, stopping at the first valid pixel)."""
    x0, y0, x1, y1 = source_window(scene.size_wh, scale, block.x0, block.y0, block.width, block.height)
    rows = max(1, STRIP_PX // (x1 - x0))
    return all(scene.valid_fraction((x0, r, x1, min(y1, r + rows))) == 0 for r in range(y0, y1, rows))

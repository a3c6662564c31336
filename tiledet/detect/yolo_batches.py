"""Batches of equal-size windows of a scene for the YOLO network, read ahead of the model.

A scene is either an (H, W, 3) uint8 RGB array or a :class:`tiledet.scene_base.Scene` read window by
window (``scene[y0:y1, x0:x1]``), so memory holds batches, never the scene. Windows of pure nodata
(:meth:`~tiledet.scene_base.Scene.valid_fraction` 0, asked only of scenes with a nodata value or a
mask) are not batched. :func:`read_ahead` reads batch ``k + 1`` in one worker thread while the model
runs batch ``k``; :func:`window_batches` fills two alternating buffers, so at most two batches of pixels
are alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tiledet.detect.yolo_decode import Letterbox, fill_batch
from tiledet.scene_base import Scene

T = TypeVar("T")
_END = object()

#: An (H, W, 3) uint8 RGB array or a :class:`~tiledet.scene_base.Scene`: what the predictor reads.
Pixels = np.ndarray | Scene


@dataclass
class WindowCount:
    """Windows of a scene: how many there were and how many were pure nodata (not sent to the model)."""

    windows: int = 0
    nodata: int = 0


def may_hold_nodata(source: Pixels) -> bool:
    """True for a scene whose windows may hold nodata: a nodata value, or a mask (alpha, mask band)."""
    return isinstance(source, Scene) and source.may_hold_nodata


def is_nodata(source: Pixels, window_xyxy: np.ndarray) -> bool:
    """True when the window of ``source`` holds no valid pixel (never for arrays or unmasked scenes)."""
    return may_hold_nodata(source) and source.valid_fraction(window_xyxy) == 0


def valid_chunks(
    source: Pixels, windows: np.ndarray, batch_size: int, count: WindowCount | None = None
) -> Iterator[np.ndarray]:
    """Row numbers of ``windows`` in groups of ``batch_size`` (the last may be smaller), pure-nodata
    windows left out and counted in ``count`` (lazily: a window's mask is read when its group is asked)."""
    count = count if count is not None else WindowCount()
    group: list[int] = []
    for i, window in enumerate(windows):
        count.windows += 1
        if is_nodata(source, window):
            count.nodata += 1
            continue
        group.append(i)
        if len(group) == batch_size:
            yield np.array(group)
            group = []
    if group:
        yield np.array(group)


def window_batches(
    source: Pixels, windows: np.ndarray, box: Letterbox, batch_size: int, count: WindowCount | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(indexes, batch)``: the windows' row numbers in ``windows`` and their padded pixels.

    Args:
        source: (H, W, 3) uint8 RGB array or a Scene.
        windows: (K, 4) int windows ``x0, y0, x1, y1`` inside the scene, all of one size.
        box: the padding of that window size.
        batch_size: windows per batch (the last one may hold fewer).
        count: updated with the windows seen and those skipped as pure nodata.

    Yields:
        ``(indexes (b,) int, batch (b, in_h, in_w, 3) uint8)``, pure-nodata windows left out. Two
        buffers alternate: a batch's buffer is refilled two batches later, so use it before asking for
        the batch after next.
    """
    buffers: list[np.ndarray] = []
    for k, indexes in enumerate(valid_chunks(source, windows, batch_size, count)):
        if len(buffers) < 2:
            buffers.append(np.empty((min(batch_size, len(windows)), box.in_h, box.in_w, 3), np.uint8))
        yield indexes, fill_batch(source, windows[indexes], box, buffers[k % 2])


def read_ahead(items: Iterator[T], enabled: bool = True) -> Iterator[T]:
    """The items of ``items``, the next one computed in a worker thread while the caller uses this one.

    At most one item is computed ahead. An exception raised by ``items`` is raised here, at the item it
    replaced. Closing this iterator early waits for the item in flight, then closes ``items``.

    Args:
        items: an iterator (typically :func:`window_batches`); only the worker thread advances it.
        enabled: False: the items are computed in the caller's thread, one when asked.
    """
    if not enabled:
        yield from items
        return
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="tiledet-read-ahead") as pool:
            pending = pool.submit(next, items, _END)
            while True:
                item = pending.result()
                if item is _END:
                    return
                pending = pool.submit(next, items, _END)
                yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()

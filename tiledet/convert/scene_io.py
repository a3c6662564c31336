"""Reading scenes window by window, writing small images atomically, fanning scenes out to workers.

Shared by tiling and chips. Pixels come only from :func:`tiledet.scene.open_scene`: each worker opens
its own scene (one at a time) and reads each tile or chip window from it, so a GeoTIFF/COG is never
decoded whole (PNG/JPEG scenes are, as they cannot be read by window).
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from tiledet.convert.png_fast import encode_png
from tiledet.decode import UnreadableImage
from tiledet.errors import InputError
from tiledet.ioutil import atomic_write_bytes
from tiledet.progress import Progress, as_progress
from tiledet.scene import open_scene

if TYPE_CHECKING:
    from tiledet.radiometry import Radiometry
    from tiledet.scene_base import Scene

log = logging.getLogger(__name__)

#: Source suffixes written as JPEG (quality :data:`JPEG_QUALITY`); everything else becomes PNG.
JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_QUALITY = 95

T = TypeVar("T")
R = TypeVar("R")


def output_suffix(file_name: str) -> str:
    """``.jpg`` for JPEG sources, ``.png`` for every other (lossless) source."""
    return ".jpg" if Path(file_name).suffix.lower() in JPEG_SUFFIXES else ".png"


def scene_seed(seed: int, file_name: str) -> list[int]:
    """Seed sequence of one scene: depends on the run seed and the scene name only (not on workers)."""
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(file_name.encode("utf-8"))]


def lossless_tiles(scene: Scene, suffix: str) -> bool:
    """Whether the tiles of ``scene`` keep its stored values: 16-bit scenes under the ``fixed``
    radiometry, written as PNG (16-bit PNG tiles, read back by a training loader by their high byte,
    as ``fixed`` maps them; every other tile holds the models' 8-bit RGB)."""
    return scene.radiometry.kind == "fixed" and scene.dtype == np.uint16 and suffix.lower() == ".png"


def stored_window(scene: Scene, window_xyxy: tuple[int, int, int, int]) -> np.ndarray:
    """Stored values of the shown bands in a window, for lossless tiles (:func:`lossless_tiles`).

    Returns:
        (h, w) when the three shown bands are one band (grey), else (h, w, 3) B, G, R (OpenCV's order),
        dtype as stored.
    """
    picked = scene.band_indexes
    values = scene.read_stored(window_xyxy)
    if len(set(picked)) == 1:
        return np.ascontiguousarray(values[:, :, 0])
    return np.ascontiguousarray(values[:, :, ::-1])


@dataclass(frozen=True, eq=False)
class ScenePixels:
    """The pixels of one open scene's tiles or chips, read by window.

    Call it with a window, or slice it like an array (``pixels[y0:y1, x0:x1]``; ``shape``, ``dtype``),
    so array code such as :func:`~tiledet.convert.chip_geometry.cut_chip` reads only what it needs.
    ``rgb`` says the channel order of what it returns, for :func:`write_image`: the models' 8-bit
    R, G, B (:meth:`Scene.read`), or, for ``lossless`` tiles, the stored values in OpenCV's order.
    Errors reading the file become :class:`~tiledet.decode.UnreadableImage` (the scene is skipped).
    """

    scene: Scene
    lossless: bool = False

    @staticmethod
    def tiles(scene: Scene, suffix: str) -> ScenePixels:
        """The pixels of ``scene``'s tiles written as ``suffix`` files (:func:`lossless_tiles`)."""
        return ScenePixels(scene, lossless_tiles(scene, suffix))

    @property
    def rgb(self) -> bool:
        return not self.lossless

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.scene.shape

    @property
    def dtype(self) -> np.dtype:
        return self.scene.dtype if self.lossless else np.dtype(np.uint8)

    def __call__(self, window_xyxy: tuple[int, int, int, int]) -> np.ndarray:
        try:
            return stored_window(self.scene, window_xyxy) if self.lossless else self.scene.read(window_xyxy)
        except InputError as e:
            raise UnreadableImage(str(e)) from e

    def __getitem__(self, index: tuple[slice, slice]) -> np.ndarray:
        rows, cols = index
        return self((cols.start, rows.start, cols.stop, rows.stop))

    def valid_fraction(self, window_xyxy: tuple[int, int, int, int]) -> float:
        """Share of the window (clipped to the scene; 0 when outside it) that holds data."""
        width, height = self.scene.size_wh
        x0, y0, x1, y1 = (int(v) for v in window_xyxy)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x0 >= x1 or y0 >= y1:
            return 0.0
        try:
            return self.scene.valid_fraction((x0, y0, x1, y1))
        except InputError as e:
            raise UnreadableImage(str(e)) from e


def open_source(path: Path, radiometry: Radiometry) -> Scene:
    """:func:`tiledet.scene.open_scene`, its errors (missing, corrupt, bands it lacks) as
    :class:`~tiledet.decode.UnreadableImage` (the scene is skipped and its boxes reported)."""
    try:
        return open_scene(path, radiometry)
    except InputError as e:
        raise UnreadableImage(str(e)) from e


def read_ahead(read: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """``read(item)`` of every item, in order; a helper thread reads the next while the caller uses
    the current one (at most two results in memory)."""
    if len(items) < 2:
        yield from map(read, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="tiledet-read") as pool:
        pending = pool.submit(read, items[0])
        for item in items[1:]:
            current = pending.result()
            pending = pool.submit(read, item)
            yield current
        yield pending.result()


def write_image(path: Path, image: np.ndarray, *, rgb: bool = False) -> None:
    """Encode ``image`` (cv2 channel order; R, G, B with ``rgb``) by ``path``'s suffix and write it
    atomically.

    8-bit PNG uses :func:`tiledet.convert.png_fast.encode_png` (``Up`` filter + ISA-L deflate), as do
    grey and RGB(A) 8-bit images; 16-bit PNGs use cv2's default (fast) compression; JPEG uses quality
    :data:`JPEG_QUALITY`.

    Raises:
        UnreadableImage: when the pixels cannot be encoded in that format (e.g. 5-band TIFF to PNG).
        InputError: when the file cannot be written (e.g. disk full, no permission).
    """
    data = encode_png(image, rgb=rgb) if path.suffix.lower() == ".png" else None
    if data is None:
        data = _encode_cv2(path, image[:, :, ::-1] if rgb and image.ndim == 3 else image)
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise InputError(f"{path}: cannot write image ({e})") from e


def _encode_cv2(path: Path, image: np.ndarray) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix.lower() in JPEG_SUFFIXES else []
    try:
        ok, encoded = cv2.imencode(path.suffix, image, params)
    except cv2.error as e:
        raise UnreadableImage(
            f"cannot encode {image.shape} {image.dtype} pixels as {path.suffix}: {e}"
        ) from e
    if not ok:
        raise UnreadableImage(f"cannot encode {image.shape} {image.dtype} pixels as {path.suffix}")
    return encoded.tobytes()


def _init_worker() -> None:
    import signal

    import cv2

    cv2.setNumThreads(1)  # one process per core already; avoid oversubscription
    # Ctrl-C reaches the whole process group: the parent handles it (stops the pool, marks the output
    # incomplete, exits 130); workers ignore it instead of each printing a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def resolve_workers(workers: int) -> int:
    """``workers`` processes, or ``os.cpu_count()`` when 0."""
    return int(workers) if workers > 0 else (os.cpu_count() or 1)


#: Scene pixels that justify one more worker process: starting one (a fresh interpreter importing
#: numpy, OpenCV, shapely) costs about as much CPU as tiling ~10 megapixels, so small jobs (a few
#: 1000 px images) run in this process.
PIXELS_PER_WORKER = 16_000_000


def useful_workers(workers: int, num_tasks: int, pixels: Sequence[int] | None = None) -> int:
    """Worker processes worth starting: at most one per task; ``workers`` when given (> 0), else
    (0 = automatic) the CPU count, capped, when the scenes' pixel counts are known, at one per
    :data:`PIXELS_PER_WORKER` pixels (at least 1)."""
    n = min(resolve_workers(workers), num_tasks)
    if pixels is not None and workers <= 0:
        n = min(n, max(1, int(sum(pixels)) // PIXELS_PER_WORKER))
    return max(n, 1) if num_tasks else 0


def map_scenes(
    func: Callable[[T], R],
    tasks: Sequence[T],
    workers: int,
    progress: Progress | None = None,
    pixels: Sequence[int] | None = None,
) -> Iterator[R]:
    """Apply ``func`` to every task, in task order, one scene at a time per worker process.

    With one worker (or one task, or, with automatic ``workers=0``, fewer scene pixels than
    :data:`PIXELS_PER_WORKER` for two) everything runs in this process. Otherwise a ``spawn`` pool of
    :func:`useful_workers` processes consumes the tasks with ``imap`` (chunk size 1), so results come
    back in task order whatever the number of workers. ``progress.advance(1)`` is called after each
    task (the caller starts the phase).
    ``pixels``: each task's scene width x height, when known.
    """
    n_workers = useful_workers(workers, len(tasks), pixels)
    where = f"{n_workers} worker processes" if n_workers > 1 else "this process"
    log.info("%d scenes, one at a time in %s", len(tasks), where)
    progress = as_progress(progress)
    results: Iterable[R]
    if n_workers <= 1:
        results = map(func, tasks)
        for result in results:
            progress.advance(1)
            yield result
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(n_workers, initializer=_init_worker) as pool:
        for result in pool.imap(func, tasks, chunksize=1):
            progress.advance(1)
            yield result

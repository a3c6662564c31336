"""Writing small images atomically, and fanning scenes out to worker processes (scenes are decoded
by :func:`tiledet.decode.read_scene`).

Shared by tiling and chips. Scenes are decoded one at a time per worker; nothing here holds more
than one scene per process.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from tiledet.convert.png_fast import encode_png
from tiledet.decode import UnreadableImage
from tiledet.errors import InputError
from tiledet.ioutil import atomic_write_bytes
from tiledet.pixels import decoded_to_model
from tiledet.progress import Progress, as_progress

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


def storable_pixels(image: np.ndarray, suffix: str, source: Path) -> np.ndarray:
    """The pixels to save as ``suffix`` tiles: the scene's own when the format holds them, else the
    8-bit pixels the models see (:func:`tiledet.pixels.decoded_to_model`, OpenCV channel order).

    PNG holds 8- or 16-bit images with 1, 3 or 4 channels; JPEG 8-bit with 1 or 3 channels. Stored
    pixels are kept lossless: a training loader decodes them by the same rules (16-bit by the high byte,
    grey repeated, alpha dropped), so a model trains on the values the detector is fed either way.

    Raises:
        UnreadableImage: naming ``source``, when the pixels are neither storable nor convertible (e.g.
            float or signed pixels).
    """

    channels = 1 if image.ndim == 2 else int(image.shape[2])
    jpeg = suffix.lower() in JPEG_SUFFIXES
    dtypes = (np.uint8,) if jpeg else (np.uint8, np.uint16)
    if image.dtype.type in dtypes and channels in ((1, 3) if jpeg else (1, 3, 4)):
        return image
    try:
        return decoded_to_model(image, source=str(source), bgr=True, reuse=True)
    except InputError as e:
        raise UnreadableImage(f"{e}; it cannot be written as {suffix} tiles") from e


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode ``image`` (cv2 channel order) by ``path``'s suffix and write it atomically.

    8-bit PNG uses :func:`tiledet.convert.png_fast.encode_png` (``Up`` filter + ISA-L deflate) when
    ISA-L is installed, else cv2's default (fast) compression, as do 16-bit PNGs; JPEG uses quality
    :data:`JPEG_QUALITY`.

    Raises:
        UnreadableImage: when the pixels cannot be encoded in that format (e.g. 5-band TIFF to PNG).
        InputError: when the file cannot be written (e.g. disk full, no permission).
    """
    data = _encode_png_fast(image) if path.suffix.lower() == ".png" else None
    if data is None:
        data = _encode_cv2(path, image)
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise InputError(f"{path}: cannot write image ({e})") from e


def _encode_png_fast(image: np.ndarray) -> bytes | None:

    return encode_png(image)


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

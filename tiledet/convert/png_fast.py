"""A fast lossless PNG encoder for tiles and chips: numpy ``Up`` filter + ISA-L deflate.

On 640 px tiles this encodes 2-3x faster than OpenCV's fastest PNG setting and 10-20x faster than
Pillow's default (what SAHI uses), with files about as large as Pillow's on noisy sensor-like pixels
and within ~1.2x on real aerial imagery (``benchmarks/bench_tiling_sahi.py``). Every row uses PNG
filter type 2 (``Up``: each byte minus the byte above, modulo 256), computed with one vectorised
subtraction; the filtered bytes are compressed with ``isal.isal_zlib`` (ISA-L, level 1), a drop-in
zlib stream. The output is a standard 8-bit PNG (grey, RGB or RGBA), deterministic for given pixels.

:func:`encode_png` returns None when it cannot help (16-bit or unusual
images); callers then use OpenCV.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

#: ISA-L compression level (0-3); 1 is the measured sweet spot of speed and size.
ISAL_LEVEL = 1
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type by channel count (of an 8-bit image): grey, RGB, RGBA.
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def up_filtered(image_cv: np.ndarray, *, rgb: bool = False) -> np.ndarray:
    """PNG scanlines of an 8-bit image in cv2 channel order, every row with the ``Up`` filter.

    Args:
        image_cv: (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA uint8 array.
        rgb: the image is in PNG's own channel order already (R, G, B(, A)): no channel swap.

    Returns:
        (H, 1 + W * C) uint8 array: filter byte 2, then the row minus the row above (the first row
        minus zeros), in PNG channel order (RGB / RGBA).
    """
    import cv2

    height, width = int(image_cv.shape[0]), int(image_cv.shape[1])
    channels = 1 if image_cv.ndim == 2 else int(image_cv.shape[2])
    if rgb or channels not in (3, 4):
        pixels = image_cv.reshape(height, width, channels)
    elif channels == 3:
        pixels = cv2.cvtColor(image_cv, cv2.COLOR_BGR2RGB)  # contiguous copy, SIMD
    else:
        pixels = cv2.cvtColor(image_cv, cv2.COLOR_BGRA2RGBA)
    rows = pixels.reshape(height, width * channels)  # a copy only when ``pixels`` is a strided view
    out = np.empty((height, 1 + width * channels), np.uint8)
    out[:, 0] = 2
    out[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])  # uint8 arithmetic wraps modulo 256
    return out


def encode_png(image_cv: np.ndarray, *, rgb: bool = False) -> bytes | None:
    """PNG file bytes of ``image_cv`` (cv2 channel order; R, G, B(, A) with ``rgb``), or None when this
    encoder does not apply.

    Applies to non-empty uint8 images with 1, 3 or 4 channels (ISA-L, ``isal``, is a dependency).
    """
    from isal import isal_zlib

    channels = 1 if image_cv.ndim == 2 else int(image_cv.shape[2])
    if (
        image_cv.dtype != np.uint8
        or image_cv.ndim not in (2, 3)
        or channels not in _COLOR_TYPE
        or image_cv.size == 0
    ):
        return None
    height, width = int(image_cv.shape[0]), int(image_cv.shape[1])
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    data = isal_zlib.compress(up_filtered(image_cv, rgb=rgb).data, ISAL_LEVEL)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")

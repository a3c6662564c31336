"""Decoding image files into arrays as stored, with integrity checks (truncated files are unreadable).

The one decoder of whole scenes: :mod:`tiledet.pixels` turns its arrays into the models' 8-bit RGB,
and tiling and chips (:mod:`tiledet.convert.scene_io`) read scenes through it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tiledet.ultra import pil_image_open


class UnreadableImage(Exception):
    """A scene exists but cannot be decoded completely (internal; becomes a reported skip)."""


def _jpeg_complete(path: Path) -> bool:
    """True when a JPEG file has its end-of-image marker (cv2 silently grey-fills truncated JPEGs)."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 4096))
        return b"\xff\xd9" in f.read()


def _png_complete(path: Path) -> bool:
    """True when every PNG chunk up to ``IEND`` lies inside the file (walks chunk headers, no decoding)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return False
        pos = 8
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(8)
            length = int.from_bytes(header[:4], "big")
            pos += 12 + length  # length, type, data, CRC
            if header[4:8] == b"IEND":
                return pos <= size
        return False


def _tiff_complete(path: Path) -> bool:
    """True when the first TIFF frame's strips or tiles all end inside the file."""

    size = path.stat().st_size
    try:
        with pil_image_open()(path) as im:
            tags = im.tag_v2  # type: ignore[attr-defined]
            offsets = tags.get(273) or tags.get(324) or ()
            counts = tags.get(279) or tags.get(325) or ()
    except (OSError, ValueError, SyntaxError, AttributeError):
        return False
    if not offsets or len(offsets) != len(counts):
        return False
    return max(int(o) + int(c) for o, c in zip(offsets, counts, strict=True)) <= size


#: Integrity checks by suffix. Only files that pass one are decoded into a preallocated array,
#: because ``cv2.imread(path, dst)`` cannot report a failed decode (it returns ``dst`` unchanged).
_COMPLETE_CHECKS: dict[str, Callable[[Path], bool]] = {
    ".jpg": _jpeg_complete,
    ".jpeg": _jpeg_complete,
    ".png": _png_complete,
    ".tif": _tiff_complete,
    ".tiff": _tiff_complete,
}


def _read_with_pil(path: Path) -> np.ndarray:
    """Decode with Pillow (formats cv2 rejects) into cv2's channel order (BGR / BGRA)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pil_image_open()(path) as im:
            im.load()  # raises OSError on truncated files
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            array = np.asarray(im)
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[:, :, ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(array)


#: Pillow modes whose cv2 ``IMREAD_UNCHANGED`` layout is known: mode -> (channels, dtype); 1 = 2-D array.
_MODE_LAYOUT: dict[str, tuple[int, type]] = {
    "RGB": (3, np.uint8),
    "RGBA": (4, np.uint8),
    "L": (1, np.uint8),
    "I;16": (1, np.uint16),
    "I;16B": (1, np.uint16),
    "I;16L": (1, np.uint16),
}


def _preallocate(path: Path, size_wh: tuple[int, int]) -> np.ndarray | None:
    """An empty array of the scene's layout (from its header), or None when the layout is not known.

    Decoding into it keeps the peak memory at one scene: ``cv2.imread`` without a destination holds
    the decoded image twice for a moment.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with pil_image_open()(path) as im:
                layout = _MODE_LAYOUT.get(im.mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    if layout is None:
        return None
    channels, dtype = layout
    width, height = size_wh
    return np.empty((height, width) if channels == 1 else (height, width, channels), dtype)


def _imread_into(path: Path, dst: np.ndarray | None) -> np.ndarray | None:
    """``cv2.imread(IMREAD_UNCHANGED)``, into ``dst`` when given; None when cv2 cannot decode the file."""
    import cv2

    if dst is not None:
        try:
            return cv2.imread(str(path), dst, cv2.IMREAD_UNCHANGED)
        except cv2.error:  # the file's layout differs from the header's guess: decode normally
            del dst
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def read_scene(path: Path, size_wh: tuple[int, int]) -> np.ndarray:
    """Decode a whole scene as stored (cv2 ``IMREAD_UNCHANGED``; Pillow for formats cv2 rejects).

    Args:
        path: the image file.
        size_wh: the ``(width, height)`` its header declared when the labels were loaded.

    Returns:
        (H, W) or (H, W, C) array in cv2 channel order (BGR/BGRA), dtype as stored.

    Raises:
        UnreadableImage: missing, undecodable, truncated, or decoded at a size other than ``size_wh``.
    """

    if not path.is_file():
        raise UnreadableImage(f"{path}: image not found")
    check = _COMPLETE_CHECKS.get(path.suffix.lower())
    if check is not None and not check(path):
        raise UnreadableImage(f"{path}: image data is truncated or its structure is broken")
    array = _imread_into(path, _preallocate(path, size_wh) if check is not None else None)
    if array is None:
        from PIL import Image

        try:
            array = _read_with_pil(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise UnreadableImage(f"{path}: cannot decode image ({e})") from e
    height, width = array.shape[:2]
    if (width, height) != tuple(size_wh):
        raise UnreadableImage(f"{path}: decoded size {width}x{height} differs from header size {size_wh}")
    return array

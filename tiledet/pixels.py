"""How an in-memory image becomes the 8-bit RGB the models see (files: :mod:`tiledet.scene`).

Both detectors, ``tiledet draw``, the tiles and chips of ``tiledet convert`` and the classifier's data
loading get pixels from a :class:`tiledet.scene.Scene`, which applies these rules once per scene, or
through :func:`to_model_rgb` (an array), so a drawing shows exactly the pixels a detector was fed, and a
model is fed at detection the values it was trained on.

Values follow the :class:`~tiledet.radiometry.Radiometry` (default ``kind="auto"``):

- ``uint8``: unchanged; an 8-bit scene reaches the models byte for byte.
- other dtypes under ``auto`` (and every dtype under ``percentile``): stretched per band between the
  image's 2nd and 98th percentiles (:mod:`tiledet.radiometry`).
- ``uint16`` under ``fixed``: the high byte, ``v >> 8``: ``0..255 -> 0``, ``0x1234 (4660) -> 0x12
  (18)``, ``65535 -> 255``, what Ultralytics' data loader and OpenCV's ``IMREAD_COLOR`` do to a 16-bit
  PNG. Float and signed dtypes are refused under ``fixed``.

Bands, of an array in band order (R, G, B, then any others; :func:`decoded_to_model` turns OpenCV's
B, G, R(, A) of a decoded file back into band order first), unless the radiometry names them:

- ``(H, W)`` or ``(H, W, 1)`` grey: repeated into R = G = B.
- ``(H, W, 2)`` grey + alpha: the grey band repeated, alpha dropped.
- ``(H, W, 3)`` RGB: as is.
- ``(H, W, 4)`` RGBA: alpha dropped (not composited onto a background).
- ``(H, W, C)``, ``C > 4``: the first three bands as R, G, B.
- an empty image (no rows or no columns) or any other shape: refused.
"""

from __future__ import annotations

import numpy as np

from tiledet.errors import InputError
from tiledet.radiometry import (
    AUTO,
    FIXED,
    RADIOMETRY_KINDS,
    Radiometry,
    apply_stretch,
    pick_bands,
    resolve_radiometry,
)

__all__ = ["AUTO", "FIXED", "RADIOMETRY_KINDS", "Radiometry", "decoded_to_model", "to_model_rgb"]

#: Pixels converted per step when converting into a new or reused array: bounds the temporaries.
_BLOCK_PIXELS = 1 << 20

#: Longest side of the sample the per-scene stretch of an in-memory image is computed on (px);
#: :data:`tiledet.scene.STATS_SIDE` is the same for files.
STATS_SIDE = 1024

_DTYPES = (np.uint8, np.uint16)


def to_model_rgb(array: np.ndarray, radiometry: Radiometry = AUTO, *, source: str = "image") -> np.ndarray:
    """The 8-bit RGB the models see of an image in band order (rules: module docstring).

    Args:
        array: (H, W) or (H, W, C) image in band order (R, G, B, ...), ``uint8`` or ``uint16``.
        radiometry: how values become 8-bit.
        source: what the image is (a file path), for error messages.

    Returns:
        (H, W, 3) uint8 RGB: the input itself (or its first three bands, a view) when it is already
        uint8 with 3 or more bands, else a new array.

    Raises:
        InputError: naming ``source``, for an empty image, another shape or an unsupported dtype.
    """
    array = np.asarray(array)
    if radiometry.bands is not None or not radiometry.is_fixed(array.dtype):
        return stretched_rgb(_all_bands(array, source), radiometry, source)
    return _convert(_band_view(array, source), radiometry, source, out=None, contiguous=False)


def _all_bands(array: np.ndarray, source: str) -> np.ndarray:
    """(H, W, C) view of a (H, W) or (H, W, C) image in band order."""
    _band_view(array, source)  # shape checks
    return array[:, :, None] if array.ndim == 2 else array


def stretched_rgb(bands: np.ndarray, radiometry: Radiometry, source: str) -> np.ndarray:
    """(H, W, 3) uint8 of a (H, W, C) image in band order under a per-scene policy (its bands picked,
    its stretch computed on every k-th pixel, k so the sample's longer side is <= :data:`STATS_SIDE`)."""
    picked = bands[:, :, [i - 1 for i in pick_bands(bands.shape[2], radiometry.bands, None, source)]]
    step = max(1, -(-max(picked.shape[:2]) // STATS_SIDE))
    stretch = resolve_radiometry(radiometry, picked[::step, ::step], None, source)
    return apply_stretch(picked, stretch, None)


def decoded_to_model(
    array: np.ndarray,
    radiometry: Radiometry = AUTO,
    *,
    source: str = "image",
    bgr: bool = False,
    reuse: bool = False,
) -> np.ndarray:
    """:func:`to_model_rgb` of an image decoded by OpenCV (grey, B, G, R or B, G, R, A channel order).

    Args:
        array: (H, W) or (H, W, C) as ``cv2.imread(..., IMREAD_UNCHANGED)`` returns it; 3 or 4 channels
            are B, G, R(, A), other channel counts are in band order.
        radiometry: how values become 8-bit.
        source: what the image is (a file path), for error messages.
        bgr: return B, G, R (OpenCV's order) instead of R, G, B.
        reuse: ``array`` may be overwritten (an 8-bit 3-channel image is then converted in place).

    Returns:
        (H, W, 3) uint8, C-contiguous; ``array`` (a view of it) when nothing had to change.

    Raises:
        InputError: as :func:`to_model_rgb`.
    """
    array = np.asarray(array)
    channels = array.shape[2] if array.ndim == 3 else 1
    if radiometry.bands is not None or not radiometry.is_fixed(array.dtype):
        order = {3: [2, 1, 0], 4: [2, 1, 0, 3]}.get(channels)
        bands = _all_bands(array, source)
        rgb = stretched_rgb(bands if order is None else bands[:, :, order], radiometry, source)
        return np.ascontiguousarray(rgb[:, :, ::-1]) if bgr else rgb
    view = array[:, :, 2::-1] if channels in (3, 4) else array  # B, G, R(, A) -> R, G, B
    view = _band_view(view, source)
    if bgr and view.ndim == 3:
        view = view[:, :, ::-1]
    in_place = reuse and array.dtype == np.uint8 and channels == 3 and array.flags.writeable
    out = array if in_place and array.flags.c_contiguous else None
    return _convert(view, radiometry, source, out=out, contiguous=True)


def _band_view(array: np.ndarray, source: str) -> np.ndarray:
    """The bands shown, as a view: (H, W) grey, or (H, W, 3) R, G, B (first three bands)."""
    if array.ndim not in (2, 3):
        raise InputError(f"{source}: image of shape {array.shape}; expected (H, W) or (H, W, bands)")
    height, width = array.shape[:2]
    if height == 0 or width == 0 or (array.ndim == 3 and array.shape[2] == 0):
        raise InputError(f"{source}: empty image ({width}x{height} pixels, shape {array.shape})")
    if array.ndim == 2 or array.shape[2] == 3:
        return array
    return array[:, :, 0] if array.shape[2] < 3 else array[:, :, :3]


def _check_dtype(dtype: np.dtype, radiometry: Radiometry, source: str) -> None:
    if dtype.type not in _DTYPES:
        raise InputError(
            f"{source}: {dtype} pixels; the {radiometry.kind} radiometry maps only uint8 (as is) and "
            "uint16 (high byte) images to 8 bit: use the auto or percentile radiometry (a per-scene stretch)"
        )


def _to_uint8(values: np.ndarray, radiometry: Radiometry) -> np.ndarray:
    """8-bit values of a block of checked dtype under a fixed scale."""
    if values.dtype == np.uint8:
        return values
    return (values >> 8).astype(np.uint8)


def _convert(
    view: np.ndarray, radiometry: Radiometry, source: str, out: np.ndarray | None, contiguous: bool
) -> np.ndarray:
    """(H, W, 3) uint8 of a (H, W) grey or (H, W, 3) view, written in row blocks into ``out``.

    Returns the view itself when it is uint8 RGB already (and C-contiguous, when ``contiguous``);
    else ``out`` (may share memory with ``view``: numpy buffers each overlapping block) or, when None,
    a new array.
    """
    _check_dtype(view.dtype, radiometry, source)
    if view.dtype == np.uint8 and view.ndim == 3 and (not contiguous or view.flags.c_contiguous):
        return view
    height, width = view.shape[:2]
    if out is None:
        out = np.empty((height, width, 3), np.uint8)
    rows = max(1, _BLOCK_PIXELS // width)
    for r0 in range(0, height, rows):
        block = _to_uint8(view[r0 : r0 + rows], radiometry)
        out[r0 : r0 + rows] = block if block.ndim == 3 else block[:, :, None]
    return out

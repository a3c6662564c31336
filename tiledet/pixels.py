"""How any scene becomes the 8-bit RGB the models see: one rule for every reader of scene pixels.

Both detectors, ``tiledet draw``, the tiles and chips of ``tiledet convert`` and the classifier's data
loading go through :func:`to_model_rgb` (an array) or :func:`read_scene_rgb` (a file, decoded once), so
a drawing shows exactly the pixels a detector was fed, and a model is fed at detection the values it was
trained on.

Values, under the default :class:`Radiometry` (``kind="fixed"``: one fixed scale per dtype, no per-scene
statistics):

- ``uint8``: unchanged; an 8-bit scene reaches the models byte for byte.
- ``uint16``: the high byte, ``v >> 8``: ``0..255 -> 0``, ``0x1234 (4660) -> 0x12 (18)``,
  ``65535 -> 255``. This is what Ultralytics' data loader and OpenCV's ``IMREAD_COLOR`` do to a 16-bit
  PNG, so YOLO tiles kept 16-bit (lossless) train on the very values the detector is fed.
- float, signed integer and every other dtype: refused (:class:`~tiledet.errors.InputError` naming the
  file and dtype): they have no fixed full scale (reflectance 0-1, 0-10000, decibels, ...); mapping them
  needs a per-scene stretch, which is a kind of :class:`Radiometry` still to come.

Bands, of an array in band order (R, G, B, then any others; :func:`read_scene_rgb` turns OpenCV's
B, G, R(, A) of a decoded file back into band order first):

- ``(H, W)`` or ``(H, W, 1)`` grey: repeated into R = G = B.
- ``(H, W, 2)`` grey + alpha: the grey band repeated, alpha dropped.
- ``(H, W, 3)`` RGB: as is.
- ``(H, W, 4)`` RGBA: alpha dropped (not composited onto a background).
- ``(H, W, C)``, ``C > 4``: the first three bands as R, G, B.
- an empty image (no rows or no columns) or any other shape: refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiledet.decode import UnreadableImage, read_scene
from tiledet.errors import ConfigError, InputError
from tiledet.ioutil import image_size

#: Kinds of :class:`Radiometry`: ``"fixed"`` maps each dtype by one fixed scale (module docstring).
RADIOMETRY_KINDS = ("fixed",)

#: Pixels converted per step when converting into a new or reused array: bounds the temporaries.
_BLOCK_PIXELS = 1 << 20


@dataclass(frozen=True)
class Radiometry:
    """How a scene's stored values become 8-bit values (the same rule for every band).

    Attributes:
        kind: one of :data:`RADIOMETRY_KINDS`; ``"fixed"`` (the default): ``uint8`` unchanged, ``uint16``
            by its high byte, other dtypes refused. A per-scene kind (e.g. a percentile stretch computed
            once per scene, its limits kept here) can be added without changing any caller.
    """

    kind: str = "fixed"

    def __post_init__(self) -> None:
        if self.kind not in RADIOMETRY_KINDS:
            kinds = ", ".join(RADIOMETRY_KINDS)
            raise ConfigError(f"radiometry kind must be one of {kinds}, got {self.kind!r}")


#: The radiometry every reader uses unless told otherwise.
FIXED = Radiometry()

_DTYPES = (np.uint8, np.uint16)


def to_model_rgb(array: np.ndarray, radiometry: Radiometry = FIXED, *, source: str = "image") -> np.ndarray:
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
    return _convert(_band_view(array, source), radiometry, source, out=None, contiguous=False)


def read_scene_rgb(
    path: str | Path,
    size_wh: tuple[int, int] | None = None,
    radiometry: Radiometry = FIXED,
    *,
    bgr: bool = False,
) -> np.ndarray:
    """Decode a scene file once and return the 8-bit RGB the models see (:func:`to_model_rgb`'s rules).

    The file is decoded as stored (:func:`tiledet.decode.read_scene`: integrity checks, one
    scene in memory); an 8-bit 3-band scene is converted in place, so the peak memory stays one scene.

    Args:
        path: the image file.
        size_wh: its ``(width, height)`` as its header gives it, when already known; read from the
            header when None. The decoded size must match.
        radiometry: how values become 8-bit.
        bgr: return the channels in OpenCV's order (B, G, R), for OpenCV writers, instead of R, G, B.

    Returns:
        (H, W, 3) uint8, C-contiguous.

    Raises:
        InputError: naming the file: missing, unreadable header, undecodable or truncated data, a
            decoded size other than ``size_wh``, or pixels :func:`to_model_rgb` refuses.
    """

    path = Path(path)
    try:
        array = read_scene(path, image_size(path) if size_wh is None else size_wh)
    except UnreadableImage as e:
        raise InputError(str(e)) from e
    return decoded_to_model(array, radiometry, source=str(path), bgr=bgr, reuse=True)


def decoded_to_model(
    array: np.ndarray,
    radiometry: Radiometry = FIXED,
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
            "uint16 (high byte) images to 8 bit: convert the scene to 8- or 16-bit unsigned integers"
        )


def _to_uint8(values: np.ndarray, radiometry: Radiometry) -> np.ndarray:
    """8-bit values of a block of checked dtype (``radiometry.kind == "fixed"``: the only kind yet)."""
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

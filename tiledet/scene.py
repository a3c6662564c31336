"""A scene file as a source of pixels, read window by window: the one way tiledet gets pixels.

:func:`open_scene` opens any scene file and returns a :class:`Scene`:

- GeoTIFF, Cloud-Optimised GeoTIFF and any other raster GDAL reads (through rasterio): windows are
  read from the file on demand (a 50 000² COG is never decoded whole), :meth:`Scene.overview` uses the
  file's internal overviews when it has them (a decimated read otherwise), and the scene knows its
  ``crs``, its affine ``transform`` (pixel ↔ map) and its ``nodata``.
- PNG, JPEG, BMP, WebP (OpenCV, :func:`tiledet.decode.read_scene`): decoded whole on the first read
  (these formats cannot be read by window), then windows are views; no CRS.

Every read returns the models' 8-bit RGB by one policy per scene (:class:`Radiometry`, resolved once
when the scene opens: :func:`tiledet.radiometry.resolve_radiometry`), so training tiles, chips, both
detectors and drawings see the same values. Windows are ``(x0, y0, x1, y1)`` in scene pixels
(half-open, inside the scene).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tiledet.decode import UnreadableImage, read_scene
from tiledet.errors import InputError
from tiledet.pixels import decoded_to_model
from tiledet.radiometry import AUTO, Radiometry, pick_bands
from tiledet.scene_base import Scene

__all__ = ["DECODED_SUFFIXES", "DecodedScene", "Scene", "open_scene", "read_scene_rgb", "scene_size"]

#: Suffixes decoded whole by OpenCV; every other file is opened with rasterio (GDAL).
DECODED_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class DecodedScene(Scene):
    """A PNG/JPEG/BMP/WebP scene: decoded whole on first use (OpenCV), windows are views of it."""

    def __init__(self, path: Path, size_wh: tuple[int, int], radiometry: Radiometry) -> None:
        super().__init__()
        self.path, self.size_wh, self.radiometry = path, size_wh, radiometry
        self.crs = self.transform = self.nodata = None
        self._stored: np.ndarray | None = None
        self._rgb: np.ndarray | None = None
        stored = self._decoded()
        self.bands = 1 if stored.ndim == 2 else stored.shape[2]
        self.dtype = stored.dtype
        self.band_indexes = pick_bands(self.bands, radiometry.bands, None, str(path))
        self.stretch = None

    def _decoded(self) -> np.ndarray:
        if self._stored is None:
            try:
                self._stored = read_scene(self.path, self.size_wh)
            except UnreadableImage as e:
                raise InputError(str(e)) from e
        return self._stored

    def _model_rgb(self) -> np.ndarray:
        if self._rgb is None:
            stored = self._decoded()
            self._rgb = decoded_to_model(stored, self.radiometry, source=str(self.path), reuse=True)
            self._stored = None  # one copy in memory: the models' pixels
        return self._rgb

    def _read(self, box: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = box
        return self._model_rgb()[y0:y1, x0:x1]

    def _read_stored(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """Stored values (decoded again when the models' pixels were made in place of them)."""
        x0, y0, x1, y1 = box
        stored = self._decoded()[y0:y1, x0:x1]
        bands = stored[:, :, None] if stored.ndim == 2 else stored
        order = {3: [2, 1, 0], 4: [2, 1, 0, 3]}.get(bands.shape[2], list(range(bands.shape[2])))
        return np.ascontiguousarray(bands[:, :, [order[b - 1] for b in self.band_indexes]])

    def _valid(self, box: tuple[int, int, int, int]) -> np.ndarray:
        return np.ones((box[3] - box[1], box[2] - box[0]), bool)

    def _overview(self, out_wh: tuple[int, int]) -> np.ndarray:
        import cv2

        rgb = self._model_rgb()
        return rgb if out_wh == self.size_wh else cv2.resize(rgb, out_wh, interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        self._stored = self._rgb = None


def open_scene(path: str | Path, radiometry: Radiometry = AUTO) -> Scene:
    """Open a scene file for windowed reading (see the module docstring for the backends).

    Args:
        path: the scene file.
        radiometry: how its values become 8-bit RGB (bands, stretch); resolved once, here.

    Returns:
        A :class:`Scene` (close it, or use it as a context manager).

    Raises:
        InputError: naming the file: missing, not an image, truncated or corrupt, bands that do not
            exist, or no valid pixel to compute the radiometry on.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image not found")
    if path.suffix.lower() in DECODED_SUFFIXES:
        from tiledet.ioutil import image_size

        return DecodedScene(path, image_size(path), radiometry)
    from tiledet.raster import RasterScene

    return RasterScene(path, radiometry)


def scene_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a scene file from its header (no pixels decoded; any size).

    Raises:
        InputError: naming the file, when it is missing or its header cannot be read.
    """
    path = Path(path)
    if path.suffix.lower() in DECODED_SUFFIXES:
        from tiledet.ioutil import image_size

        return image_size(path)
    from tiledet.raster import raster_size

    return raster_size(path)


def read_scene_rgb(path: str | Path, radiometry: Radiometry = AUTO, *, bgr: bool = False) -> np.ndarray:
    """The whole scene as the models see it: (H, W, 3) uint8 RGB (B, G, R with ``bgr``), C-contiguous.

    Raises:
        InputError: as :func:`open_scene` and :meth:`Scene.read`.
    """
    with open_scene(path, radiometry) as scene:
        return scene.read(bgr=bgr)

"""Rasters GDAL reads (GeoTIFF, COG, JPEG 2000, VRT, ...) as scenes, through rasterio.

Windows are read from the file on demand (only the blocks they touch), so memory holds one window,
never the scene; :meth:`RasterScene.overview` reads a decimated scene, from the file's internal
overviews when it has them. The per-scene radiometry is computed once, when the scene opens, on a
nearest-neighbour overview of at most :data:`STATS_SIDE` px a side with nodata and masked pixels left
out. A read that fails (a truncated or corrupt file) raises :class:`~tiledet.errors.InputError`
naming the file and the window.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import InputError
from tiledet.radiometry import Radiometry, apply_stretch, pick_bands, resolve_radiometry
from tiledet.scene_base import Scene

#: Longest side of the overview the per-scene radiometry is computed on (px).
STATS_SIDE = 1024


#: GDAL's block cache (MB) unless the user sets ``GDAL_CACHEMAX``: GDAL's own default is 5 % of RAM,
#: which a windowed pass over a large scene fills with blocks it never reads again.
GDAL_CACHE_MB = 128


def _rasterio() -> Any:
    os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))
    import rasterio

    return rasterio


def _open(path: Path) -> Any:
    rasterio = _rasterio()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            return rasterio.open(path)
    except rasterio.errors.RasterioIOError as e:
        raise InputError(f"{path}: cannot open as a raster ({_short(e)})") from e


def _short(error: BaseException) -> str:
    """First line of GDAL's own message (rasterio chains it as the cause of a generic one)."""
    cause = error.__cause__ or error.__context__
    text = str(cause) if cause is not None and str(cause) else str(error)
    return text.splitlines()[0] if text else type(error).__name__


def raster_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a raster file from its header.

    Raises:
        InputError: naming the file, when GDAL cannot open it.
    """
    with _open(Path(path)) as src:
        return int(src.width), int(src.height)


class RasterScene(Scene):
    """A scene read through rasterio (module docstring); open with :func:`tiledet.scene.open_scene`."""

    def __init__(self, path: Path, radiometry: Radiometry) -> None:
        super().__init__()
        self.path, self.radiometry = path, radiometry
        self._src = _open(path)
        src = self._src
        try:
            self.size_wh = (int(src.width), int(src.height))
            self.bands, self.dtype = int(src.count), np.dtype(src.dtypes[0])
            self.crs = src.crs if src.crs else None
            self.transform = None if src.transform.is_identity and self.crs is None else src.transform
            self.nodata = None if src.nodata is None else float(src.nodata)
            names = [c.name for c in src.colorinterp]
            self.band_indexes = pick_bands(self.bands, radiometry.bands, names, str(path))
            self._masked = self.nodata is not None or any(
                flag != [_rasterio().enums.MaskFlags.all_valid] for flag in src.mask_flag_enums
            )
            self.stretch = None
            self.stretch = self._resolve()
        except BaseException:
            self.close()
            raise

    def _resolve(self) -> Any:
        """The per-scene stretch from a nearest-neighbour overview (None for a fixed scale)."""
        if self.radiometry.is_fixed(self.dtype) and self.dtype in (np.uint8, np.uint16):
            return None
        width, height = self.size_wh
        scale = min(1.0, STATS_SIDE / max(width, height))
        out_hw = (max(1, round(height * scale)), max(1, round(width * scale)))
        values = self._raw_read(None, out_hw, "nearest")
        valid = self._raw_mask(None, out_hw) if self._masked else None
        return resolve_radiometry(self.radiometry, values, valid, str(self.path))

    @property
    def may_hold_nodata(self) -> bool:
        return self._masked

    def _window(self, box: tuple[int, int, int, int] | None) -> Any:
        if box is None:
            return None
        from rasterio.windows import Window

        x0, y0, x1, y1 = box
        return Window(x0, y0, x1 - x0, y1 - y0)

    def _raw_read(self, box: tuple[int, int, int, int] | None, out_hw: tuple[int, int] | None,
                  resampling: str) -> np.ndarray:
        """(h, w, 3) stored values of the shown bands (``out_hw``: a decimated read)."""
        rasterio = _rasterio()
        shape = None if out_hw is None else (3, *out_hw)
        try:
            data = self._src.read(list(self.band_indexes), window=self._window(box), out_shape=shape,
                                  resampling=rasterio.enums.Resampling[resampling])
        except (rasterio.errors.RasterioError, ValueError) as e:
            where = "the overview" if box is None else f"window {box}"
            why = f"data truncated or corrupt ({_short(e)})"
            raise InputError(f"{self.path}: cannot read {where}: {why}") from e
        return np.moveaxis(data, 0, -1)

    def _raw_mask(self, box: tuple[int, int, int, int] | None, out_hw: tuple[int, int] | None) -> np.ndarray:
        rasterio = _rasterio()
        try:
            mask = self._src.dataset_mask(window=self._window(box), out_shape=out_hw)
        except (rasterio.errors.RasterioError, ValueError) as e:
            why = f"data truncated or corrupt ({_short(e)})"
            raise InputError(f"{self.path}: cannot read the nodata mask: {why}") from e
        return mask > 0

    def _read(self, box: tuple[int, int, int, int]) -> np.ndarray:
        values = self._raw_read(box, None, "nearest")
        valid = self._raw_mask(box, None) if self._masked and self.stretch is not None else None
        return apply_stretch(values, self.stretch, valid)

    def _read_stored(self, box: tuple[int, int, int, int]) -> np.ndarray:
        return np.ascontiguousarray(self._raw_read(box, None, "nearest"))

    def _valid(self, box: tuple[int, int, int, int]) -> np.ndarray:
        if not self._masked:
            return np.ones((box[3] - box[1], box[2] - box[0]), bool)
        return self._raw_mask(box, None)

    def _overview(self, out_wh: tuple[int, int]) -> np.ndarray:
        out_hw = (out_wh[1], out_wh[0])
        if out_wh == self.size_wh:
            return self._read((0, 0, *self.size_wh))
        values = self._raw_read(None, out_hw, "average")
        valid = self._raw_mask(None, out_hw) if self._masked and self.stretch is not None else None
        return apply_stretch(values, self.stretch, valid)

    def close(self) -> None:
        src = getattr(self, "_src", None)
        if src is not None and not src.closed:
            src.close()

"""The :class:`Scene` interface: a scene file's pixels read by window, and its georeference.

Backends: :class:`tiledet.scene.DecodedScene` (PNG, JPEG, ...) and :class:`tiledet.raster.RasterScene`
(GeoTIFF/COG and every raster GDAL reads); open either with :func:`tiledet.scene.open_scene`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import InputError
from tiledet.radiometry import Radiometry, Stretch


def _window(window_xyxy: Any, size_wh: tuple[int, int], source: str) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in window_xyxy)
    width, height = size_wh
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"{source}: window {(x0, y0, x1, y1)} is not inside the {width}x{height} scene")
    return x0, y0, x1, y1


class Scene:
    """Pixels and georeference of one scene file (open with :func:`open_scene`; a context manager).

    Attributes:
        path: the file.
        size_wh: ``(width, height)`` in pixels.
        bands: number of bands stored.
        dtype: numpy dtype of the stored values.
        crs: the coordinate reference system (``rasterio.crs.CRS``), or None when the file has none.
        transform: the affine pixel → map transform (``affine.Affine``; pixel ``(col, row)`` corner
            → map ``(x, y)``), or None when the file is not georeferenced.
        nodata: the stored nodata value, or None.
        band_indexes: the three 1-based bands shown as R, G, B.
        radiometry: the policy asked for; ``stretch`` the per-scene limits it resolved to.

    Thread safety: reads are serialised by a lock, so one reader thread may read ahead while another
    uses the pixels.
    """

    path: Path
    size_wh: tuple[int, int]
    bands: int
    dtype: np.dtype
    crs: Any
    transform: Any
    nodata: float | None
    band_indexes: tuple[int, int, int]
    radiometry: Radiometry
    stretch: Stretch | None

    def __init__(self) -> None:  # use open_scene
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, 3)``: the shape of the 8-bit RGB scene the models see."""
        return self.size_wh[1], self.size_wh[0], 3

    def read(self, window_xyxy: Any = None, *, bgr: bool = False) -> np.ndarray:
        """The models' 8-bit RGB of a window (the whole scene when None).

        Args:
            window_xyxy: ``(x0, y0, x1, y1)`` scene pixels, inside the scene.
            bgr: channels in OpenCV's order (B, G, R) instead of R, G, B.

        Returns:
            (y1 - y0, x1 - x0, 3) uint8, C-contiguous.

        Raises:
            InputError: naming the file, when its data cannot be read (truncated, corrupt).
            ValueError: a window outside the scene (a caller's bug, not the user's input).
        """
        box = self._box(window_xyxy)
        with self._lock:
            rgb = self._read(box)
        return np.ascontiguousarray(rgb[:, :, ::-1]) if bgr else rgb

    def read_stored(self, window_xyxy: Any = None) -> np.ndarray:
        """The stored values of the three shown bands in a window, before any radiometry (for
        lossless copies of 16-bit data).

        Returns:
            (h, w, 3) R, G, B (the :attr:`band_indexes`), dtype as stored.
        """
        box = self._box(window_xyxy)
        with self._lock:
            return self._read_stored(box)

    def __getitem__(self, index: tuple[slice, slice]) -> np.ndarray:
        """``scene[y0:y1, x0:x1]``: :meth:`read` of that window (lets array code read scenes)."""
        if not (isinstance(index, tuple) and all(isinstance(s, slice) for s in index[:2])):
            raise TypeError("index a Scene with two slices: scene[y0:y1, x0:x1]")
        rows, cols = index[0].indices(self.size_wh[1]), index[1].indices(self.size_wh[0])
        if rows[2] != 1 or cols[2] != 1:
            raise TypeError("Scene slices take no step")
        return self.read((cols[0], rows[0], max(cols[1], cols[0] + 1), max(rows[1], rows[0] + 1)))

    def valid_mask(self, window_xyxy: Any = None) -> np.ndarray:
        """(h, w) bool: True where the window holds data (not nodata, not masked); all True without nodata."""
        box = self._box(window_xyxy)
        with self._lock:
            return self._valid(box)

    def _box(self, window_xyxy: Any) -> tuple[int, int, int, int]:
        if window_xyxy is None:
            return (0, 0, *self.size_wh)
        return _window(window_xyxy, self.size_wh, str(self.path))

    @property
    def may_hold_nodata(self) -> bool:
        """True when some pixels may be nodata (a nodata value, an alpha band or a mask): only then do
        :meth:`valid_mask` and :meth:`valid_fraction` need to read anything."""
        return False

    def valid_fraction(self, window_xyxy: Any = None) -> float:
        """Share of the window's pixels that hold data (0 for a window of pure nodata)."""
        return float(self.valid_mask(window_xyxy).mean())

    def overview(self, max_side: int) -> tuple[np.ndarray, float]:
        """The whole scene shrunk so its longer side is at most ``max_side`` px (area averaging).

        Returns:
            ``(rgb, scale)``: (h, w, 3) uint8 RGB and its size over the scene's (``<= 1``; overview
            pixel ``X`` covers scene pixels ``[X / scale, (X + 1) / scale)``).
        """
        width, height = self.size_wh
        scale = min(1.0, max_side / max(width, height))
        out_wh = (max(1, round(width * scale)), max(1, round(height * scale)))
        with self._lock:
            rgb = self._overview(out_wh)
        return rgb, out_wh[0] / width

    # -- georeference -----------------------------------------------------------------------------
    @property
    def georeferenced(self) -> bool:
        """True when the scene has both a CRS and a transform other than the identity."""
        return self.crs is not None and self.transform is not None and not self.transform.is_identity

    def pixel_to_map(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) scene pixel coordinates (corner convention: pixel ``(0, 0)``'s top-left is 0, 0) →
        (N, 2) map coordinates in :attr:`crs` (the transform applied, rotation terms included)."""
        t = self._require_transform()
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.column_stack([t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f])

    def map_to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) map coordinates in :attr:`crs` → (N, 2) scene pixel coordinates (inverse transform)."""
        return _apply(~self._require_transform(), xy)

    def gsd_m(self) -> float | None:
        """Ground sample distance, metres per pixel (the mean of the two pixel sides): from the
        transform when the CRS is projected in linear units, from geodesic distances (WGS 84
        ellipsoid) at the scene centre when it is geographic (degrees, e.g. xView's EPSG:4326); None
        for a scene without georeference."""
        if not self.georeferenced:
            return None
        t = self.transform
        if self.crs.is_geographic:
            return _geodesic_gsd(self.pixel_to_map, self.size_wh)
        try:
            factor = self.crs.linear_units_factor[1]
        except Exception:  # rasterio CRSError: a CRS without linear units
            return None
        side_x, side_y = (t.a**2 + t.d**2) ** 0.5, (t.b**2 + t.e**2) ** 0.5
        return float((side_x + side_y) / 2 * factor)

    def _require_transform(self) -> Any:
        if self.transform is None:
            raise InputError(f"{self.path}: the scene has no georeference (no geotransform)")
        return self.transform

    # -- backends ---------------------------------------------------------------------------------
    def _read(self, box: tuple[int, int, int, int]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_stored(self, box: tuple[int, int, int, int]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _valid(self, box: tuple[int, int, int, int]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _overview(self, out_wh: tuple[int, int]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (idempotent)."""

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.size_wh
        return f"<Scene {self.path.name} {w}x{h} {self.bands}x{self.dtype} crs={self.crs}>"


def _geodesic_gsd(pixel_to_map: Any, size_wh: tuple[int, int]) -> float:
    """Mean geodesic length (m) of the two sides of the centre pixel of a lon/lat scene."""
    from pyproj import Geod

    cx, cy = size_wh[0] / 2, size_wh[1] / 2
    (lon0, lat0), (lon1, lat1), (lon2, lat2) = pixel_to_map([[cx, cy], [cx + 1, cy], [cx, cy + 1]])
    geod = Geod(ellps="WGS84")
    side_x = geod.inv(lon0, lat0, lon1, lat1)[2]
    side_y = geod.inv(lon0, lat0, lon2, lat2)[2]
    return float((side_x + side_y) / 2)


def _apply(t: Any, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    return np.column_stack([t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f])

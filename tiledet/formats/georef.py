"""Rasters' pixel grids and map projections, for labels written in map coordinates.

A :class:`RasterGrid` is what a raster's header says about where its pixels lie: size, CRS and the
affine pixel → map transform (corner convention, rotation terms included), read with rasterio without
decoding a pixel. :class:`Reprojector` moves label coordinates from the layer's CRS into a grid's
pixels (pyproj ``always_xy``, so x is easting/longitude whatever the CRS's axis order, then the
inverse affine transform) and raises one-line errors naming the layer and the raster when a CRS
cannot be transformed. rasterio and pyproj are imported on first use.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import InputError

#: Suffixes of the files searched for footprints in the images folder (GDAL rasters; lower case).
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".ntf", ".nitf")

#: Points per raster edge when its outline is reprojected into the layer's CRS.
EDGE_POINTS = 17


@dataclass(frozen=True)
class RasterGrid:
    """Where a raster's pixels lie (from its header only).

    Attributes:
        name: the raster's path relative to the images folder, ``/`` separators.
        path: the file.
        size_wh: ``(width, height)`` in pixels.
        crs: the raster's CRS (``pyproj.CRS``), or None.
        transform: the affine pixel ``(col, row)`` → map ``(x, y)`` transform (``affine.Affine``), or
            None when the file has none (identity without a CRS).
    """

    name: str
    path: Path
    size_wh: tuple[int, int]
    crs: Any
    transform: Any

    @property
    def georeferenced(self) -> bool:
        """True when the raster has both a CRS and a transform."""
        return self.crs is not None and self.transform is not None

    def pixel_to_map(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) pixel ``(x, y)`` → (N, 2) map coordinates in :attr:`crs`."""
        return _affine(self.transform, xy)

    def map_to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) map coordinates in :attr:`crs` → (N, 2) pixel ``(x, y)`` (the inverse transform)."""
        return _affine(~self.transform, xy)

    def outline_px(self) -> np.ndarray:
        """(4 * EDGE_POINTS, 2) pixel points along the raster's border (corners included)."""
        width, height = self.size_wh
        t = np.linspace(0.0, 1.0, EDGE_POINTS)
        zeros, ones = np.zeros_like(t), np.ones_like(t)
        x = np.concatenate([t, ones, t[::-1], zeros]) * width
        y = np.concatenate([zeros, t, ones, t[::-1]]) * height
        return np.column_stack([x, y])

    def pixel_sides_m(self, xy_px: np.ndarray) -> np.ndarray:
        """(N, 2) ground length in metres of one pixel step along columns and along rows, at (N, 2) pixels.

        Projected CRSs: the transform's steps in the CRS's linear unit, in metres. Geographic CRSs:
        geodesic lengths on the CRS's ellipsoid between the points half a pixel either side.
        """
        xy_px = np.asarray(xy_px, np.float64).reshape(-1, 2)
        t = self.transform
        if self.crs.is_projected:
            factor = self.crs.axis_info[0].unit_conversion_factor
            sides = [np.hypot(t.a, t.d) * factor, np.hypot(t.b, t.e) * factor]
            return np.tile(np.array(sides, np.float64), (len(xy_px), 1))
        lonlat = _pyproj().Transformer.from_crs(self.crs, self.crs.geodetic_crs, always_xy=True)
        geod = self.crs.get_geod()
        out = np.empty_like(xy_px)
        for k, step in enumerate(((0.5, 0.0), (0.0, 0.5))):
            a = lonlat.transform(*self.pixel_to_map(xy_px - step).T)
            b = lonlat.transform(*self.pixel_to_map(xy_px + step).T)
            out[:, k] = geod.inv(a[0], a[1], b[0], b[1])[2]
        return out


def _affine(t: Any, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    return np.column_stack([t.a * xy[:, 0] + t.b * xy[:, 1] + t.c, t.d * xy[:, 0] + t.e * xy[:, 1] + t.f])


def _pyproj() -> Any:
    import pyproj

    return pyproj


def parse_crs(value: Any, source: str) -> Any:
    """``value`` (``"EPSG:4326"``, WKT, a rasterio CRS, ...) as a ``pyproj.CRS``.

    Raises:
        InputError: naming ``source``, when pyproj does not understand it.
    """
    pyproj = _pyproj()
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as e:
        raise InputError(f"{source}: unknown CRS {str(value)[:80]!r} ({e})") from e


def read_grid(path: Path, name: str) -> RasterGrid:
    """The :class:`RasterGrid` of raster ``path`` from its header (no pixels read).

    Raises:
        InputError: naming the file, when GDAL cannot open it or its CRS is not understood.
    """
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                size_wh, crs, transform = (int(src.width), int(src.height)), src.crs, src.transform
    except rasterio.errors.RasterioError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: cannot open as a raster ({first})") from e
    crs = parse_crs(crs.to_wkt(), str(path)) if crs else None
    if transform.is_identity and crs is None:
        transform = None
    return RasterGrid(name, Path(path), size_wh, crs, transform)


class Reprojector:
    """Moves coordinates of one label layer into rasters' pixels (one pyproj transformer per raster CRS).

    Args:
        layer_crs: the layer's CRS (``pyproj.CRS``).
        source: the layer, for error messages (``"labels.gpkg (layer cars)"``).
    """

    def __init__(self, layer_crs: Any, source: str) -> None:
        self.layer_crs = layer_crs
        self.source = source
        self._forward: dict[str, Any] = {}
        self._backward: dict[str, Any] = {}

    def _transformer(self, grid: RasterGrid, backward: bool) -> Any:
        if not grid.georeferenced:
            raise InputError(
                f"{grid.path}: the raster has no CRS or no geotransform, but the labels of {self.source} "
                f"are in map coordinates ({self.layer_crs.to_string()}); georeference it or leave it out"
            )
        cache = self._backward if backward else self._forward
        key = grid.crs.to_wkt()
        if key not in cache:
            pyproj = _pyproj()
            src, dst = (grid.crs, self.layer_crs) if backward else (self.layer_crs, grid.crs)
            try:
                cache[key] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
            except pyproj.exceptions.ProjError as e:
                raise InputError(
                    f"{self.source}: its CRS {self.layer_crs.name!r} cannot be transformed to the CRS "
                    f"{grid.crs.name!r} of {grid.path} ({str(e).splitlines()[0]})"
                ) from e
        return cache[key]

    def to_pixel(self, grid: RasterGrid, xy: np.ndarray) -> np.ndarray:
        """(N, 2) layer coordinates → (N, 2) pixels of ``grid``; points that do not transform are inf.

        Raises:
            InputError: the raster is not georeferenced, or the layer's CRS cannot be transformed to it.
        """
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        x, y = self._transformer(grid, backward=False).transform(xy[:, 0], xy[:, 1], errcheck=False)
        return grid.map_to_pixel(np.column_stack([x, y]))

    def from_pixel(self, grid: RasterGrid, xy_px: np.ndarray) -> np.ndarray:
        """(N, 2) pixels of ``grid`` → (N, 2) layer coordinates (inf where they do not transform)."""
        transformer = self._transformer(grid, backward=True)
        xy = grid.pixel_to_map(xy_px)
        x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
        return np.column_stack([x, y])

    def footprint_bounds(self, grid: RasterGrid) -> tuple[float, float, float, float] | None:
        """The raster's outline reprojected into the layer's CRS, as ``(xmin, ymin, xmax, ymax)``.

        None when part of the outline does not transform (no prefilter is then possible).
        """
        outline = self.from_pixel(grid, grid.outline_px())
        if not np.isfinite(outline).all():
            return None
        (x0, y0), (x1, y1) = outline.min(axis=0), outline.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

"""Rasters and vector label layers written with rasterio and pyogrio, for the geo-vector tests.

Expected pixel boxes in these tests come from rasterio's affine transforms and pyproj, never from
tiledet's own georeferencing code.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

UTM = "EPSG:32617"
#: 0.5 m pixels, north up, UTM 17N (a point in Florida).
ORIGIN_XY = (400_000.0, 3_300_000.0)


def north_up(pixel_m: float = 0.5, origin_xy: tuple[float, float] = ORIGIN_XY) -> Any:
    from rasterio.transform import from_origin

    return from_origin(origin_xy[0], origin_xy[1], pixel_m, pixel_m)


def rotated(degrees: float = 30.0, pixel_m: float = 0.5) -> Any:
    """``pixel_m`` pixels rotated by ``degrees`` about the top-left corner (b, d != 0)."""
    from rasterio.transform import Affine

    return Affine.translation(*ORIGIN_XY) @ Affine.rotation(degrees) @ Affine.scale(pixel_m, -pixel_m)


def write_raster(
    path: Path, transform: Any = None, crs: str | None = UTM, size_wh: tuple[int, int] = (200, 100)
) -> Path:
    """A 1-band uint8 GeoTIFF (``crs=None`` and ``transform=None``: no georeference at all)."""
    import rasterio

    width, height = size_wh
    profile: dict[str, Any] = {"driver": "GTiff", "width": width, "height": height, "count": 1}
    profile["dtype"] = "uint8"
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.full((1, height, width), 7, np.uint8))
    return path


def map_polygon(transform: Any, xyxy: Sequence[float]) -> Any:
    """The pixel box ``xyxy`` as a map polygon: its corners through rasterio's ``transform @ (col, row)``."""
    import shapely

    x0, y0, x1, y1 = xyxy
    return shapely.Polygon([transform @ (x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])


def reprojected(geometry: Any, src: str, dst: str) -> Any:
    """``geometry`` moved from CRS ``src`` to ``dst`` with pyproj (``always_xy``)."""
    import shapely
    from pyproj import Transformer

    transformer = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def pixel_envelope(transform: Any, geometry: Any, src: str = UTM, dst: str = UTM) -> list[float]:
    """Reference envelope: vertices moved ``src`` -> ``dst`` (pyproj), then rasterio's ``~transform``."""
    import shapely
    from pyproj import Transformer

    xy = shapely.get_coordinates(geometry)
    x, y = Transformer.from_crs(src, dst, always_xy=True).transform(xy[:, 0], xy[:, 1])
    inverse = ~transform
    cols, rows = zip(*(inverse @ (a, b) for a, b in zip(x, y, strict=True)), strict=True)
    return [min(cols), min(rows), max(cols), max(rows)]


def write_layer(
    path: Path,
    geometries: Sequence[Any],
    fields: dict[str, Sequence[Any]],
    crs: str | None = UTM,
    layer: str | None = None,
    append: bool = False,
) -> Path:
    """A vector layer (driver from the suffix) with ``geometries`` (shapely or None) and ``fields``."""
    import pyogrio.raw
    import shapely

    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in geometries], dtype=object)
    values = [np.asarray(list(v), dtype=object if any(isinstance(x, str) or x is None for x in v) else None)
              for v in fields.values()]  # fmt: skip
    kinds = {g.geom_type for g in geometries if g is not None}
    geometry_type = kinds.pop() if len(kinds) == 1 else "Unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.raw.write(
            path, wkb, values, fields=list(fields), crs=crs, geometry_type=geometry_type, layer=layer,
            append=append, promote_to_multi=False,
        )  # fmt: skip
    return path

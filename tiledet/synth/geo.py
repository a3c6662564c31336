"""Georeferenced synthetic scenes: Cloud-Optimised GeoTIFFs on a UTM grid and labels in map coordinates.

``tiledet synth --image-format cog`` writes each scene as a COG in :data:`~tiledet.synth.config.GEO_CRS`
(WGS 84 / UTM zone 33N) at ``gsd_m`` metres per pixel. Scene ``i`` lies in cell ``i`` of a grid that
fills rows west to east, then goes south (:func:`~tiledet.synth.config.scene_origin_xy`), so neighbouring
scenes never overlap. The pixels are those of the PNG of the same seed; the file has 512 px tiles,
DEFLATE compression (horizontal predictor) and internal overviews (average) down to one tile.

The labels are also written as ``labels.geojson``: an RFC 7946 FeatureCollection whose features are
the boxes' polygons in longitude/latitude (EPSG:4326, counter-clockwise rings), with properties
``class`` (the class name), ``scene`` (the image file name), ``xview_type_id`` and ``feature_id``
(``class`` is the only field a ``geo-vector`` reader takes as the class by default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import InputError
from tiledet.ioutil import atomic_path, atomic_write_text
from tiledet.synth.config import GEO_CRS, scene_origin_xy

#: The map-coordinate labels written beside the others for COG scenes.
GEO_LABELS_NAME = "labels.geojson"
#: COG creation options (GDAL ``COG`` driver).
COG_OPTIONS = {"compress": "DEFLATE", "predictor": 2, "blocksize": 512, "overview_resampling": "AVERAGE"}


def scene_transform(index: int, size_wh: tuple[int, int], gsd_m: float):
    """The pixel -> map affine of scene ``index`` (corner convention, north up).

    Args:
        index: scene number (>= 0).
        size_wh: ``(width, height)`` of every scene, px.
        gsd_m: metres per pixel.

    Returns:
        An ``affine.Affine``: map ``(x, y) = transform * (col, row)`` in :data:`GEO_CRS` metres.
    """
    from affine import Affine

    west, north = scene_origin_xy(index, size_wh, gsd_m)
    return Affine(gsd_m, 0.0, west, 0.0, -gsd_m, north)


def write_cog(path: Path, image_rgb: np.ndarray, transform) -> None:
    """Write an (H, W, 3) uint8 RGB image as a COG in :data:`GEO_CRS` with ``transform``, atomically.

    Raises:
        InputError: when GDAL cannot write the file (e.g. the folder is not writable).
    """
    import rasterio
    from rasterio.enums import ColorInterp

    h, w = image_rgb.shape[:2]
    profile = dict(driver="COG", width=w, height=h, count=3, dtype="uint8", crs=GEO_CRS,
                   transform=transform, **COG_OPTIONS)  # fmt: skip
    try:
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
                dst.write(np.ascontiguousarray(image_rgb.transpose(2, 0, 1)))
            Path(f"{tmp}.aux.xml").unlink(missing_ok=True)  # never left beside the scene
    except rasterio.errors.RasterioError as e:
        raise InputError(f"{path}: cannot write COG ({e})") from e


def box_rings_lonlat(xyxy: np.ndarray, transform) -> np.ndarray:
    """The boxes' corners as closed counter-clockwise rings in longitude/latitude (EPSG:4326).

    Args:
        xyxy: (N, 4) pixel boxes ``x0, y0, x1, y1`` (pixel edges).
        transform: the scene's pixel -> map affine in :data:`GEO_CRS`.

    Returns:
        (N, 5, 2) float64 ``[lon, lat]`` degrees: corners (x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)
        (north-west, south-west, south-east, north-east: counter-clockwise on a north-up map).
    """
    from pyproj import Transformer

    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    cols = xyxy[:, [0, 0, 2, 2, 0]]
    rows = xyxy[:, [1, 3, 3, 1, 1]]
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    map_x, map_y = a * cols + b * rows + c, d * cols + e * rows + f
    to_lonlat = Transformer.from_crs(GEO_CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(map_x.ravel(), map_y.ravel())
    return np.stack([np.asarray(lon), np.asarray(lat)], axis=1).reshape(-1, 5, 2)


def geo_labels_dict(scenes: Sequence[Any], rings: Sequence[np.ndarray], names: Mapping[int, str]) -> dict:
    """The RFC 7946 FeatureCollection of every box of ``scenes`` (features in scene, then box order).

    Args:
        scenes: :class:`~tiledet.synth.labels.SceneLabels` of each scene.
        rings: per scene, its boxes' (N, 5, 2) lon/lat rings (:func:`box_rings_lonlat`).
        names: xView type id -> class name.
    """
    features = []
    for scene, scene_rings in zip(scenes, rings, strict=True):
        ids = zip(scene.type_ids.tolist(), scene.feature_ids.tolist(), strict=True)
        for ring, (type_id, fid) in zip(scene_rings.tolist(), ids, strict=True):
            props = {"class": names[type_id], "scene": scene.file_name, "xview_type_id": type_id,
                     "feature_id": fid}
            features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                             "properties": props})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def write_geo_labels(path: Path, scenes: Sequence[Any], rings: Sequence[np.ndarray],
                     names: Mapping[int, str]) -> Path:  # fmt: skip
    """Write :func:`geo_labels_dict` to ``path`` atomically (coordinates at full double precision)."""
    atomic_write_text(path, json.dumps(geo_labels_dict(scenes, rings, names), indent=1) + "\n")
    return path

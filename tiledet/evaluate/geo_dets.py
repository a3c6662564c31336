"""Detections in map coordinates (``.geojson``, ``.gpkg``, ``.parquet``) as COCO results entries in pixels.

Each feature is placed on a ground-truth scene by its ``scene`` property (a file name, resolved as a
results entry's ``file_name`` is: the exact path, else a unique basename) or, when it has none, by
footprint: the first ground-truth scene (in ground-truth order) whose raster under ``--images``
contains the feature's centroid. Its vertices are reprojected into that scene's CRS (pyproj,
``always_xy``) and mapped through the inverse of the scene's affine transform; the box is the envelope
of those pixel points (for a polygon tiledet wrote, exactly the pixel box it came from).

Class: the ``class`` (or ``category_name``) property, else ``class_id`` (0-based: ``category_id`` =
``class_id`` + 1) or ``category_id``. Score: the ``score`` property. Every feature becomes one entry,
so :func:`~tiledet.evaluate.detections.match_detections` accounts for each: a scene name the ground
truth lacks is an ``unknown_image`` (named); a feature without one that lies in no scene is an
``unknown_image`` named :data:`UNPLACED`; a feature without a (multi)polygon is ``malformed``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import ConfigError, InputError
from tiledet.evaluate.detections import GtLookup
from tiledet.evaluate.scenes import SceneCatalog
from tiledet.formats.geo_results import (
    GeoLayer,
    SceneHeader,
    geo_format,
    pyproj_crs,
    read_geo_results,
    reproject,
)

#: The ``file_name`` of a feature that names no scene and lies in no ground-truth scene's footprint.
UNPLACED = "<outside every --images scene>"

#: shapely type ids of Polygon and MultiPolygon.
_POLYGONAL = (3, 6)


def is_geo_detections(path: str | Path) -> bool:
    """Whether ``path`` is a geo detections file (by its suffix)."""
    return geo_format(path) is not None


def read_geo_entries(path: str | Path, lookup: GtLookup, catalog: SceneCatalog) -> list[dict]:
    """COCO results entries (pixels) of a geo detections file, one per feature, in file order.

    Args:
        path: the ``.geojson``/``.gpkg``/``.parquet`` file (every layer of a GeoPackage).
        lookup: the ground truth's image keys (scene names resolve as results ``file_name``).
        catalog: the ground truth's scene rasters (``--images``).

    Raises:
        ConfigError: no scene folder (``images_dir``).
        InputError: naming the file: unreadable, a layer without CRS, or a scene the detections are on
            whose raster is missing or not georeferenced.
    """
    path = Path(path)
    if catalog.images_dir is None:
        raise ConfigError(
            f"{path}: detections in map coordinates need `images_dir`, the scene rasters whose "
            "georeference turns them back into pixels",
            field="images_dir",
        )
    resolve = lookup.image_resolver()
    gt_names = dict(zip(lookup.image_ids, lookup.file_names, strict=True))
    entries: list[dict] = []
    for layer in read_geo_results(path):
        entries.extend(_layer_entries(path, layer, lambda n: gt_names.get(resolve(n, None)), catalog))
    return entries


def _layer_entries(path: Path, layer: GeoLayer, resolve: Any, catalog: SceneCatalog) -> list[dict]:
    if len(layer) and layer.crs is None:
        raise InputError(f"{path}: layer {layer.name!r} has no CRS, so its coordinates cannot be placed")
    geoms = _polygons(layer)
    usable = np.array([g is not None for g in geoms], bool)
    names = _scene_names(layer, resolve)
    lost = np.flatnonzero(usable & np.array([n is None for n in names], bool))
    if lost.size:
        names[lost] = _by_footprint(geoms[lost], layer.crs, catalog)
    boxes = np.full((len(layer), 4), np.nan)
    for name in dict.fromkeys(names[usable].tolist()):
        if name in catalog.file_names:
            rows = np.flatnonzero(usable & (names == name))
            boxes[rows] = _pixel_boxes(geoms[rows], layer.crs, _scene(path, name, catalog))
    return [_entry(layer, i, names[i], boxes[i]) if usable[i] else {} for i in range(len(layer))]


def _polygons(layer: GeoLayer) -> np.ndarray:
    """(N,) shapely (Multi)Polygons; None where a feature has no usable one (missing, empty, other type)."""
    import shapely

    geoms = shapely.from_wkb(layer.wkb, on_invalid="ignore")
    ok = ~shapely.is_missing(geoms)
    ok[ok] = np.isin(shapely.get_type_id(geoms[ok]), _POLYGONAL) & ~shapely.is_empty(geoms[ok])
    out = np.empty(len(layer), dtype=object)
    out[ok] = geoms[ok]
    return out


def _text(value: Any) -> str | None:
    """A non-empty string property, else None (missing, null, NaN, blank)."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def _scene_names(layer: GeoLayer, resolve: Any) -> np.ndarray:
    """(N,) object: the ground-truth file name each feature's ``scene`` names (the name itself when the
    ground truth lacks it), or None for a feature without a ``scene``."""
    values = layer.properties.get("scene", [None] * len(layer))
    out = np.empty(len(layer), dtype=object)
    for i, value in enumerate(values):
        name = _text(value)
        out[i] = None if name is None else (resolve(name) or name)
    return out


def _by_footprint(geoms: np.ndarray, crs: Any, catalog: SceneCatalog) -> list[str]:
    """The first ground-truth scene containing each polygon's centroid (:data:`UNPLACED` for none)."""
    import shapely

    centroids = shapely.get_coordinates(shapely.centroid(geoms))
    out = [UNPLACED] * len(geoms)
    for name in catalog.file_names:
        todo = [i for i, placed in enumerate(out) if placed == UNPLACED]
        if not todo:
            break
        header = catalog.header(name)
        if header is None or not header.georeferenced:
            continue  # no footprint to test (its detections, if any, stay unplaced)
        xy = reproject(centroids[todo], crs, header.crs, finite=False)
        px = header.map_to_pixel(xy)
        width, height = header.size_wh
        inside = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
        for i in np.asarray(todo)[inside].tolist():
            out[i] = name
    return out


def _scene(path: Path, name: str, catalog: SceneCatalog) -> SceneHeader:
    header = catalog.header(name)
    if header is None:
        raise InputError(f"{catalog.problem(name)} (scene {name} of the detections in {path})")
    if not header.georeferenced:
        raise InputError(
            f"{header.path}: scene {name} is not georeferenced ({header.missing_georeference()}), so the "
            f"detections in {path} cannot be placed on it"
        )
    return header


#: Decimals pixel coordinates read back from map coordinates are rounded to: the round trip's float
#: error (about 1e-10 px) would otherwise turn ``58`` into ``57.9999999999``, drawn a pixel off.
PIXEL_DECIMALS = 6


def _pixel_boxes(geoms: np.ndarray, crs: Any, header: SceneHeader) -> np.ndarray:
    """(N, 4) ``x, y, w, h``: the envelope of each polygon's vertices in the scene's pixels, rounded to
    :data:`PIXEL_DECIMALS`."""
    import shapely

    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    if pyproj_crs(crs) != pyproj_crs(header.crs):
        coords = reproject(coords, crs, header.crs)
    px = header.map_to_pixel(coords)
    lo = np.full((len(geoms), 2), np.inf)
    hi = np.full((len(geoms), 2), -np.inf)
    np.minimum.at(lo, owner, px)
    np.maximum.at(hi, owner, px)
    lo, hi = np.round(lo, PIXEL_DECIMALS), np.round(hi, PIXEL_DECIMALS)
    return np.column_stack([lo, hi - lo])


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _entry(layer: GeoLayer, i: int, name: str, box: np.ndarray) -> dict:
    """The COCO results entry of feature ``i`` (class and score keys only when the feature has them)."""
    props = {k: v[i] for k, v in layer.properties.items()}
    entry: dict = {"file_name": name, "bbox": box.tolist()}
    cname = _text(props.get("class")) or _text(props.get("category_name"))
    class_id, category_id = _number(props.get("class_id")), _number(props.get("category_id"))
    if cname is not None:
        entry["category_name"] = cname
    elif class_id is not None:
        entry["category_id"] = class_id + 1
    elif category_id is not None:
        entry["category_id"] = category_id
    score = _number(props.get("score"))
    if score is not None or props.get("score") is not None:
        entry["score"] = float("nan") if score is None else score
    return entry

"""Labels in map coordinates (``geo-vector``): a vector layer placed on the georeferenced rasters.

The layer (GeoJSON, GeoPackage, Shapefile, FlatGeobuf: :mod:`tiledet.formats.geo_layer`) holds
polygons or points in any CRS; the rasters (GeoTIFF, COG, any GDAL raster) say where their pixels lie
(:mod:`tiledet.formats.georef`; headers only, no pixel is read). Each feature becomes one pixel box of
one raster:

* **which raster**: the raster named by :attr:`GeoOptions.image_field` (a path relative to the images
  folder), or by default the raster whose footprint holds the centre of the feature's envelope (the
  centre is moved into each raster's pixel grid and must fall inside ``[0, W) x [0, H)``; rasters are
  searched in sorted order and the first wins; features inside several are counted as ambiguous in
  the notes). Footprints are searched among the files of the images folder and its sub-folders with a
  suffix of :data:`~tiledet.formats.georef.RASTER_SUFFIXES`; only rasters that hold a feature become
  images. Every such raster must have a CRS and a geotransform (one-line error otherwise).
* **polygons and multipolygons**: the envelope, in the raster's pixels, of all their vertices moved
  into the raster's CRS (pyproj) and then through the inverse affine transform (rotation terms
  included, so a rotated raster gets the envelope of the rotated outline). A polygon that is not valid
  (self-intersecting) still has well-defined vertices: its envelope is used, and it is counted in the
  notes (``invalid_polygons``).
* **points**: a square of :attr:`GeoOptions.size_field` (else :attr:`GeoOptions.point_size_m`) metres
  on the ground, centred on the point, with sides along the pixel axes (its side in pixels is the size
  divided by the ground length of a pixel step: the transform's steps for projected CRSs, geodesic
  lengths for geographic ones).

Every feature is accounted for: a box, or a drop naming its FID: ``malformed`` (null, empty or
undecodable geometry, a geometry that is no polygon or point, an empty class, a point without a size),
``outside_rasters`` (its centre lies in no raster), ``missing_image`` / ``unsafe_name`` /
``unreadable_image`` (with an image field). Clipping to the raster and the later rules (``degenerate``
when nothing is left at the edge, ``out_of_bounds``, ``unknown_class``) are
:func:`tiledet.labels.load.resolve`'s. A layer none of whose features falls inside a raster is an error
naming the layer and the rasters' bounds in the layer's CRS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import ConfigError, InputError
from tiledet.formats import ReadOptions
from tiledet.formats.geo_layer import Layer, read_layer
from tiledet.formats.georef import RASTER_SUFFIXES, RasterGrid, Reprojector, read_grid
from tiledet.label_records import Drop, RawLabels, RawLabelsBuilder
from tiledet.paths import UnsafePathError, safe_relpath

log = logging.getLogger(__name__)

#: How many FIDs the notes list for each kind of finding.
FIRST_FEW = 5
#: shapely type ids of the geometries read as boxes.
_POINT, _POLYGON, _MULTIPOLYGON = 0, 3, 6


@dataclass(frozen=True, eq=False)
class _Features:
    """The usable features of a layer (those with a geometry, a class and, for points, a size).

    Attributes:
        rows: (U,) index of each usable feature in the layer.
        coords: (M, 2) their vertices in the layer's CRS, grouped by feature; ``coord_rows`` (M,)
            says whose (index into ``rows``).
        centres: (U, 2) centre of each feature's envelope, layer CRS.
        sizes_m: (U,) square side in metres for points, NaN for polygons.
        class_keys: (U,) class key of each feature (int id or name).
    """

    rows: np.ndarray
    coords: np.ndarray
    coord_rows: np.ndarray
    centres: np.ndarray
    sizes_m: np.ndarray
    class_keys: list[Any]


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read a vector label layer and place its features on the rasters of ``options.images_dir``.

    Args:
        path: the vector file (``.geojson``, ``.gpkg``, ``.shp``, ``.fgb``, ...).
        options: ``images_dir`` (required), ``geo`` (layer, fields, point size) and ``strict``.

    Returns:
        Pixel boxes per raster (``location_unit`` ``"fid"``), with ``notes["geo_vector"]``: the layer,
        its CRS, how features were matched, and counts (with first FIDs) of ambiguous features and of
        invalid polygons whose envelope was used.

    Raises:
        InputError: no images folder, an unreadable layer, a layer without CRS, a raster without
            georeference, a CRS that cannot be transformed, or no feature inside any raster.
        ConfigError: a layer or field option the file does not have.
        FormatError: strict mode, the first malformed feature.
    """
    path = Path(path)
    if options.images_dir is None:
        raise InputError(f"{path}: labels in map coordinates need the folder of their georeferenced rasters")
    geo = options.geo
    layer = read_layer(path, geo)
    builder = RawLabelsBuilder(location_unit="fid", strict=options.strict)
    src = builder.add_source(layer.source)
    features, invalid = _usable(layer, geo.point_size_m, builder, src)
    reproject = Reprojector(layer.crs, layer.source)
    images_dir = Path(options.images_dir)
    if layer.images is not None:
        grids, owner, ambiguous = _match_by_field(layer, features, images_dir, builder, src)
    else:
        grids, owner, ambiguous = _match_by_footprint(layer, features, images_dir, reproject, builder)
        _drop_outside(layer, features, owner, grids, builder, src)
    _add_boxes(builder, src, layer, features, grids, owner, reproject)
    notes = {
        "layer": layer.source, "crs": layer.crs.to_string(), "class_field": layer.class_field,
        "matched_by": "image_field" if layer.images is not None else "footprint",
        "rasters": len(grids), "ambiguous_features": len(ambiguous), "ambiguous_first": ambiguous[:FIRST_FEW],
        "invalid_polygons": len(invalid), "invalid_polygons_first": invalid[:FIRST_FEW],
    }  # fmt: skip
    if ambiguous:
        log.warning("%s: %d features lie inside several rasters; each went to the first in sorted order "
                    "(fids %s)", layer.source, len(ambiguous), ambiguous[:FIRST_FEW])  # fmt: skip
    raw = builder.build()
    return replace(raw, notes={**raw.notes, "geo_vector": notes})


def _add_boxes(
    builder: RawLabelsBuilder,
    src: int,
    layer: Layer,
    features: _Features,
    grids: list[RasterGrid],
    owner: np.ndarray,
    reproject: Reprojector,
) -> None:
    """Add the pixel box of every feature that has a raster (``owner`` >= 0), in layer order."""
    boxes = np.full((len(features.rows), 4), np.nan)
    for r, grid in enumerate(grids):
        mine = owner == r
        if mine.any():
            builder.add_image(grid.name, grid.size_wh)
            boxes[mine] = _pixel_boxes(features, mine, grid, reproject)
    kept = np.flatnonzero(owner >= 0)  # appended column by column (RawLabelsBuilder.add_box, in bulk)
    builder.box_images.extend(grids[r].name for r in owner[kept].tolist())
    builder.coords.extend(map(tuple, boxes[kept].tolist()))
    builder.class_keys.extend(features.class_keys[u] for u in kept.tolist())
    builder.box_sources.extend([src] * len(kept))
    builder.box_locations.extend(layer.fids[features.rows[kept]].tolist())


def _usable(
    layer: Layer, point_size_m: float | None, builder: RawLabelsBuilder, src: int
) -> tuple[_Features, list[int]]:
    """Check every feature's geometry, class and size; drop the unusable ones (``malformed``).

    Returns:
        The usable features, and the FIDs of invalid polygons (whose envelope is still used).
    """
    import shapely

    geoms = layer.geometries
    present = np.array([g is not None for g in geoms], bool)
    kinds = np.full(len(geoms), -1)
    kinds[present] = shapely.get_type_id(geoms[present])
    if (kinds == _POINT).any() and layer.sizes_m is None and point_size_m is None:
        raise ConfigError(
            f"size_field or `point_size_m` is needed: {layer.source} holds {int((kinds == _POINT).sum())} "
            "point features, whose box size in metres is not known",
            field=("size_field", "point_size_m"),
        )
    empty, valid = np.zeros(len(geoms), bool), np.ones(len(geoms), bool)
    empty[present] = shapely.is_empty(geoms[present])
    polygons = np.isin(kinds, (_POLYGON, _MULTIPOLYGON))
    valid[polygons] = shapely.is_valid(geoms[polygons])
    sizes = _point_sizes(layer, point_size_m)
    rows, keys, invalid = [], [], []
    for i, fid in enumerate(layer.fids.tolist()):
        reason = _feature_problem(present[i], empty[i], kinds[i], geoms[i], sizes[i])
        key, class_problem = _class_key(layer.classes[i], layer.class_field)
        reason = reason or class_problem
        if reason:
            builder.drop(src, fid, reason)
            continue
        if not valid[i]:
            invalid.append(fid)
        rows.append(i)
        keys.append(key)
    rows_arr = np.asarray(rows, np.int64)
    coords, coord_rows = shapely.get_coordinates(geoms[rows_arr], return_index=True)
    bounds = shapely.bounds(geoms[rows_arr]).reshape(-1, 4)
    centres = np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2])
    point_sizes = np.where(kinds[rows_arr] == _POINT, sizes[rows_arr], np.nan)
    coord_rows = np.asarray(coord_rows, np.int64)
    return _Features(rows_arr, coords.reshape(-1, 2), coord_rows, centres, point_sizes, keys), invalid


def _point_sizes(layer: Layer, point_size_m: float | None) -> np.ndarray:
    """(N,) square side in metres of each feature if it is a point: its size field, else the fixed size."""
    fixed = np.nan if point_size_m is None else float(point_size_m)
    if layer.sizes_m is None:
        return np.full(len(layer.fids), fixed)
    sizes = layer.sizes_m.copy()
    sizes[~np.isfinite(sizes) | (sizes <= 0)] = fixed
    return sizes


def _feature_problem(present: bool, empty: bool, kind: int, geometry: Any, size_m: float) -> str:
    """Why a feature's geometry gives no box ('' when it does)."""
    if not present:
        return "null or undecodable geometry"
    if empty:
        return "empty geometry"
    if kind == _POINT:
        return "" if np.isfinite(size_m) else "a point without a size (no size field value, no fixed size)"
    if kind in (_POLYGON, _MULTIPOLYGON):
        return ""
    return f"{geometry.geom_type} geometry: only polygons, multipolygons and points become boxes"


def _class_key(value: Any, field: str) -> tuple[Any, str]:
    """The class key of a field value (an int id or a name), or a problem."""
    if isinstance(value, (bool, np.bool_)):
        return None, f"class field {field!r} holds {value!r}, not a name or an integer id"
    if isinstance(value, (int, np.integer)):
        return int(value), ""
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            return int(value), ""
        return None, f"class field {field!r} holds {value!r}, not a name or an integer id"
    text = "" if value is None else str(value).strip()
    if not text:
        return None, f"class field {field!r} is empty"
    return text, ""


def _list_rasters(images_dir: Path) -> list[Path]:
    """The raster files under ``images_dir`` (sorted by relative path)."""
    if not images_dir.is_dir():
        raise InputError(f"{images_dir}: image folder not found")
    found = [p for p in images_dir.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(images_dir).as_posix())


def _match_by_footprint(
    layer: Layer, features: _Features, images_dir: Path, reproject: Reprojector, builder: RawLabelsBuilder
) -> tuple[list[RasterGrid], np.ndarray, list[int]]:
    """Owner raster of each usable feature (index into the grids, -1: none), and ambiguous FIDs."""
    paths = _list_rasters(images_dir)
    if not paths:
        raise InputError(
            f"{images_dir}: no raster ({', '.join(RASTER_SUFFIXES)}) to place the labels of {layer.source} on"
        )
    grids: list[RasterGrid] = []
    for path in paths:
        name = path.relative_to(images_dir).as_posix()
        try:
            grids.append(read_grid(path, name))
        except InputError as e:  # an image-level record: no box of it is known
            builder.drops.append(Drop(layer.source, "image", "unreadable_image", str(e), name))
    owner = np.full(len(features.rows), -1, np.int64)
    hits = np.zeros(len(features.rows), np.int64)
    for r, grid in enumerate(grids):
        candidates = _candidates(features.centres, reproject.footprint_bounds(grid))
        xy = reproject.to_pixel(grid, features.centres[candidates])
        width, height = grid.size_wh
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
        chosen = candidates[inside]
        hits[chosen] += 1
        owner[chosen[owner[chosen] < 0]] = r
    ambiguous = [int(layer.fids[features.rows[u]]) for u in np.flatnonzero(hits > 1)]
    return grids, owner, ambiguous


def _candidates(centres: np.ndarray, bounds: tuple[float, float, float, float] | None) -> np.ndarray:
    """Indices of the centres inside ``bounds`` widened by 1 % (all of them when ``bounds`` is None)."""
    if bounds is None:
        return np.arange(len(centres))
    x0, y0, x1, y1 = bounds
    mx, my = (x1 - x0) * 0.01, (y1 - y0) * 0.01
    keep = (
        (centres[:, 0] >= x0 - mx) & (centres[:, 0] <= x1 + mx)
        & (centres[:, 1] >= y0 - my) & (centres[:, 1] <= y1 + my)
    )  # fmt: skip
    return np.flatnonzero(keep)


def _drop_outside(
    layer: Layer,
    features: _Features,
    owner: np.ndarray,
    grids: list[RasterGrid],
    builder: RawLabelsBuilder,
    src: int,
) -> None:
    """Drop the features inside no raster (``outside_rasters``); an error when that is all of them."""
    outside = np.flatnonzero(owner < 0)
    if len(outside) and len(outside) == len(owner):
        shown = "; ".join(f"{g.name} {_bounds_text(g, layer)}" for g in grids[:FIRST_FEW])
        more = f" and {len(grids) - FIRST_FEW} more" if len(grids) > FIRST_FEW else ""
        c0, c1 = features.centres.min(axis=0), features.centres.max(axis=0)
        raise InputError(
            f"{layer.source}: no label fell inside any raster: the features' centres span "
            f"x {c0[0]:.6g}..{c1[0]:.6g}, y {c0[1]:.6g}..{c1[1]:.6g} in {layer.crs.to_string()}; "
            f"the rasters' bounds there: {shown or 'none readable'}{more}"
        )
    for u in outside:
        x, y = features.centres[u]
        builder.skip(
            src, int(layer.fids[features.rows[u]]), "outside_rasters",
            f"the centre ({x:.9g}, {y:.9g}) lies inside none of the {len(grids)} rasters",
        )  # fmt: skip


def _bounds_text(grid: RasterGrid, layer: Layer) -> str:
    bounds = Reprojector(layer.crs, layer.source).footprint_bounds(grid) if grid.georeferenced else None
    if bounds is None:
        return "(no CRS or not transformable)"
    return f"x {bounds[0]:.6g}..{bounds[2]:.6g}, y {bounds[1]:.6g}..{bounds[3]:.6g}"


def _match_by_field(
    layer: Layer, features: _Features, images_dir: Path, builder: RawLabelsBuilder, src: int
) -> tuple[list[RasterGrid], np.ndarray, list[int]]:
    """Owner raster of each usable feature from its image field; unusable names become drops."""
    assert layer.images is not None
    grids: list[RasterGrid] = []
    index: dict[str, int | tuple[str, str]] = {}  # name -> grid index, or (reason, detail)
    owner = np.full(len(features.rows), -1, np.int64)
    for u, row in enumerate(features.rows.tolist()):
        value = layer.images[row]
        name = "" if value is None else str(value).strip()
        fid = int(layer.fids[row])
        if not name:
            builder.drop(src, fid, "the image field is empty")
            continue
        if name not in index:
            index[name] = _grid_of(name, images_dir, grids)
        found = index[name]
        if isinstance(found, tuple):
            builder.skip(src, fid, found[0], found[1], name)
        else:
            owner[u] = found
    return grids, owner, []


def _grid_of(name: str, images_dir: Path, grids: list[RasterGrid]) -> int | tuple[str, str]:
    """Append the grid of raster ``name`` to ``grids`` and return its index, or ``(reason, detail)``."""
    try:
        rel = safe_relpath(name).as_posix()
    except UnsafePathError as e:
        return "unsafe_name", str(e)
    path = images_dir / rel
    if not path.is_file():
        return "missing_image", str(path)
    try:
        grids.append(read_grid(path, rel))
    except InputError as e:
        return "unreadable_image", str(e)
    return len(grids) - 1


def _pixel_boxes(
    features: _Features, mine: np.ndarray, grid: RasterGrid, reproject: Reprojector
) -> np.ndarray:
    """(K, 4) pixel ``xyxy`` in ``grid`` of the features ``mine`` ((U,) bool): envelopes and point squares."""
    take = mine[features.coord_rows]
    rows = features.coord_rows[take]
    xy = reproject.to_pixel(grid, features.coords[take])
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    boxes = np.column_stack([
        np.minimum.reduceat(xy[:, 0], starts), np.minimum.reduceat(xy[:, 1], starts),
        np.maximum.reduceat(xy[:, 0], starts), np.maximum.reduceat(xy[:, 1], starts),
    ])  # fmt: skip
    sizes = features.sizes_m[rows[starts]]
    point = np.isfinite(sizes)
    if point.any():
        centre = boxes[point, :2]
        half_px = sizes[point, None] / grid.pixel_sides_m(centre) / 2
        boxes[point] = np.column_stack([centre - half_px, centre + half_px])
    return boxes

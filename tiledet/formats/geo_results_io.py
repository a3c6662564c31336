"""Georeferenced detections on disk (GeoJSON, GeoPackage, GeoParquet), encoded and decoded; what is
written (polygons, CRSs, properties) is decided by :mod:`tiledet.formats.geo_results`.

GeoJSON is written by ``json`` (full double precision; GDAL's driver rounds to 7 decimals, ~1 cm) and
read, as GeoPackage is, through pyogrio (GDAL). GeoParquet is written and read with pyarrow, geometry
as WKB (shapely) and the ``geo`` metadata of the GeoParquet 1.1 specification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import InputError

#: Feature properties, in column order.
PROPERTIES = ("class", "class_id", "score", "scene", "x0", "y0", "x1", "y1")

#: The CRS of GeoJSON output (RFC 7946), in longitude, latitude order.
GEOJSON_CRS = "EPSG:4326"

#: GeoParquet metadata version written.
GEOPARQUET_VERSION = "1.1.0"


@dataclass(frozen=True, eq=False)
class GeoFeatures:
    """Detections as polygons, in their scenes' CRSs.

    Attributes:
        columns: :data:`PROPERTIES` -> (N,) array.
        rings: (N, 5, 2) float64 closed exterior rings, map ``x, y`` in each row's scene CRS.
        crs: (N,) index into ``crs_list`` of each row's CRS.
        crs_list: the distinct scene CRSs (``pyproj.CRS``), in scene order.
    """

    columns: dict[str, np.ndarray]
    rings: np.ndarray
    crs: np.ndarray
    crs_list: list[Any]

    def rows_in(self, k: int) -> np.ndarray:
        """Indexes of the rows in CRS ``k``."""
        return np.flatnonzero(self.crs == k)

    def rings_in(self, target: Any) -> np.ndarray:
        """(N, 5, 2) every ring in CRS ``target`` (reprojected where needed), counter-clockwise."""
        out = self.rings.copy()
        for k, crs in enumerate(self.crs_list):
            rows = self.rows_in(k)
            if rows.size and crs != target:
                out[rows] = reproject(out[rows], crs, target)
        return counter_clockwise(out)


def pyproj_crs(crs: Any) -> Any:
    """``crs`` (a ``pyproj.CRS``, a rasterio CRS, ``"EPSG:4326"``, WKT, PROJJSON text) as a ``pyproj.CRS``."""
    import pyproj

    return crs if isinstance(crs, pyproj.CRS) else pyproj.CRS.from_user_input(crs)


def reproject(xy: np.ndarray, src: Any, dst: Any, *, finite: bool = True) -> np.ndarray:
    """(..., 2) coordinates ``x, y`` (longitude, latitude for geographic CRSs) from ``src`` to ``dst``.

    Args:
        xy: the coordinates in ``src``.
        src, dst: CRSs (anything :func:`pyproj_crs` takes).
        finite: raise for a point outside where the projection is defined; False returns it as inf.

    Raises:
        InputError: with ``finite``, when a point cannot be reprojected.
    """
    import pyproj

    transformer = pyproj.Transformer.from_crs(pyproj_crs(src), pyproj_crs(dst), always_xy=True)
    flat = np.asarray(xy, np.float64).reshape(-1, 2)
    x, y = transformer.transform(flat[:, 0], flat[:, 1])
    out = np.column_stack([x, y])
    if finite and not np.isfinite(out).all():
        raise InputError(f"coordinates cannot be reprojected from {src} to {dst} (outside its area)")
    return out.reshape(np.shape(xy))


def counter_clockwise(rings: np.ndarray) -> np.ndarray:
    """(N, K, 2) closed rings, each reversed where its signed (shoelace) area is negative."""
    x, y = rings[..., 0], rings[..., 1]
    twice_area = (x[:, :-1] * y[:, 1:] - x[:, 1:] * y[:, :-1]).sum(axis=1)
    out = rings.copy()
    out[twice_area < 0] = rings[twice_area < 0, ::-1]
    return out


@dataclass(frozen=True, eq=False)
class GeoLayer:
    """One layer of features read from a geo file.

    Attributes:
        name: the layer name (the file's stem for GeoJSON and GeoParquet).
        crs: its CRS (``pyproj.CRS``; ``x, y`` = longitude, latitude for a geographic one), or None
            when the file does not say.
        wkb: (N,) object array of WKB geometries (None where a feature has no geometry).
        properties: property name -> (N,) values.
    """

    name: str
    crs: Any
    wkb: np.ndarray
    properties: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.wkb.shape[0])


def _objects(values: list) -> np.ndarray:
    """(N,) object array of ``values`` (never a 2-D array of bytes or sequences)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def geojson_collection(features: GeoFeatures) -> dict:
    """An RFC 7946 FeatureCollection: polygons in EPSG:4326 longitude, latitude, no ``crs`` member."""
    rings = features.rings_in(pyproj_crs(GEOJSON_CRS))
    columns = [features.columns[k].tolist() for k in PROPERTIES]
    out = []
    for i, ring in enumerate(rings.tolist()):
        props = {k: _python(column[i]) for k, column in zip(PROPERTIES, columns, strict=True)}
        out.append({"type": "Feature", "properties": props,
                    "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    return {"type": "FeatureCollection", "features": out}


def _wkb(rings: np.ndarray) -> np.ndarray:
    """(N, K, 2) closed rings -> (N,) object array of WKB polygons."""
    import shapely

    return _objects(list(shapely.to_wkb(shapely.polygons(rings)).reshape(-1)))


def layer_name(crs: Any, k: int) -> str:
    """GeoPackage layer of a CRS: ``epsg_<code>``, or ``crs_<k>`` (1-based) for one without a code."""
    code = crs.to_epsg() if crs is not None else None
    return f"epsg_{code}" if code is not None else f"crs_{k + 1}"


def write_gpkg(path: Path, features: GeoFeatures) -> None:
    """One layer per CRS (:func:`layer_name`), each in its own CRS (no reprojection); a run without
    detections writes one empty layer in the first scene's CRS."""
    from pyogrio import raw

    groups = [(k, crs, features.rows_in(k)) for k, crs in enumerate(features.crs_list)]
    written = [g for g in groups if g[2].size] or groups[:1] or [(0, None, np.zeros(0, np.int64))]
    for i, (k, crs, rows) in enumerate(written):
        raw.write(
            str(path),
            geometry=_wkb(counter_clockwise(features.rings[rows])),
            field_data=[features.columns[name][rows] for name in PROPERTIES],
            fields=list(PROPERTIES),
            layer=layer_name(crs, k),
            driver="GPKG",
            geometry_type="Polygon",
            crs=None if crs is None else crs.to_wkt(),
            append=i > 0,
        )


def write_geoparquet(path: Path, features: GeoFeatures, pa: Any) -> None:
    """GeoParquet 1.1 in the first scene's CRS: a WKB ``geometry`` column and the ``geo`` metadata."""
    import pyarrow.parquet as pq

    crs = features.crs_list[0] if features.crs_list else None
    rings = features.rings_in(crs) if crs is not None else features.rings
    columns = {name: pa.array(features.columns[name].tolist()) for name in PROPERTIES}
    columns["geometry"] = pa.array(_wkb(rings).tolist(), type=pa.binary())
    column_meta: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Polygon"],
                                   "crs": None if crs is None else crs.to_json_dict(),
                                   "orientation": "counterclockwise", "edges": "planar"}  # fmt: skip
    if len(rings):
        flat = rings.reshape(-1, 2)
        column_meta["bbox"] = [*flat.min(axis=0).tolist(), *flat.max(axis=0).tolist()]
    geo = {"version": GEOPARQUET_VERSION, "primary_column": "geometry", "columns": {"geometry": column_meta}}
    table = pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, str(path))


def read_geoparquet(path: Path, pa: Any) -> GeoLayer:
    """The features of a GeoParquet file (its primary geometry column, which must be WKB)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(str(path))
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: cannot read as Parquet ({str(e).splitlines()[0]})") from e
    meta = (table.schema.metadata or {}).get(b"geo")
    if meta is None:
        raise InputError(f"{path}: not GeoParquet (no 'geo' metadata in the Parquet schema)")
    try:
        geo = json.loads(meta)
        column = geo["primary_column"]
        column_meta = geo["columns"][column]
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: GeoParquet 'geo' metadata lacks primary_column or its entry") from e
    if str(column_meta.get("encoding", "")).upper() != "WKB":
        raise InputError(f"{path}: GeoParquet column {column!r} is {column_meta.get('encoding')!r}; only WKB")
    # the specification: crs absent means OGC:CRS84 (longitude, latitude); null means unknown
    crs_meta = column_meta.get("crs", "OGC:CRS84")
    if isinstance(crs_meta, dict):
        crs_meta = json.dumps(crs_meta)
    crs = None if crs_meta is None else pyproj_crs(crs_meta)
    wkb = _objects(table.column(column).to_pylist())
    props = {name: _objects(table.column(name).to_pylist()) for name in table.column_names if name != column}
    return GeoLayer(path.stem, crs, wkb, props)


def read_ogr(path: Path) -> list[GeoLayer]:
    """Every layer with geometry of a GeoJSON or GeoPackage file, through pyogrio."""
    import pyogrio
    from pyogrio import raw

    try:
        layers = pyogrio.list_layers(str(path))
        out = []
        for name, geometry_type in layers.tolist():
            if geometry_type is None:
                continue  # an attribute table (e.g. QGIS' layer_styles): no features
            meta, _, wkb, values = raw.read(str(path), layer=name)
            crs = None if meta.get("crs") is None else pyproj_crs(meta["crs"])
            wkb = _objects(list(wkb))
            props = {str(k): np.asarray(v) for k, v in zip(meta["fields"], values, strict=True)}
            out.append(GeoLayer(str(name), crs, wkb, props))
    except pyogrio.errors.DataSourceError as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: cannot read as {path.suffix.lstrip('.')} ({why})") from e
    return out

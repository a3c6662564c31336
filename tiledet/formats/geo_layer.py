"""Reading one vector label layer (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, any OGR source) with pyogrio.

Parsing only: the layer's features with their geometries (shapely, from WKB), the values of the class,
image and size fields, their FIDs and the layer's CRS. Placing them on rasters is
:mod:`tiledet.formats.geo_vector`. pyogrio and shapely are imported on first use.

Rules:

* a file with several layers needs :attr:`GeoOptions.layer`;
* the class field is :attr:`GeoOptions.class_field`, else the one field of
  :data:`~tiledet.formats.geo_options.DEFAULT_CLASS_FIELDS` the layer has (names compared
  case-insensitively; an error when it has none or several);
* the CRS is the layer's; a GeoJSON file without one is EPSG:4326 (RFC 7946; GDAL says so itself),
  any other layer without one is an error (its coordinates cannot be placed on a raster).

Errors are one line naming the file (and layer): :class:`~tiledet.errors.InputError` for a file GDAL
cannot read (a corrupt GeoPackage, a truncated Shapefile), :class:`~tiledet.errors.ConfigError` for an
option naming a layer or field the file does not have.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import ConfigError, InputError
from tiledet.formats.geo_options import DEFAULT_CLASS_FIELDS, GeoOptions
from tiledet.formats.georef import parse_crs


@dataclass(frozen=True, eq=False)
class Layer:
    """The features of one layer, as read.

    Attributes:
        source: the file, and the layer when the file has several, for drops and errors
            (``"labels.gpkg (layer cars)"``).
        crs: the layer's CRS (``pyproj.CRS``).
        fids: (N,) int64 feature ids (GDAL's FID: GeoPackage row ids, GeoJSON ``id`` or 0-based index).
        geometries: (N,) object array of shapely geometries (None: null or undecodable geometry).
        class_field: the field read as the class.
        classes: (N,) object array of the class field's values (None where null).
        images: (N,) object array of the image field's values, or None without an image field.
        sizes_m: (N,) float64 values of the size field (NaN where null or not a number), or None.
    """

    source: str
    crs: Any
    fids: np.ndarray
    geometries: np.ndarray
    class_field: str
    classes: np.ndarray
    images: np.ndarray | None
    sizes_m: np.ndarray | None


def _pyogrio() -> Any:
    import pyogrio

    return pyogrio


def _gdal_errors() -> tuple[type[BaseException], ...]:
    errors = _pyogrio().errors
    return (errors.DataSourceError, errors.DataLayerError, errors.FieldError, errors.GeometryError,
            errors.FeatureError, errors.CRSError, OSError)  # fmt: skip


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _choose_layer(path: Path, wanted: str | None) -> tuple[str, bool]:
    """The layer to read and whether the file has several (then drops name it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = [str(row[0]) for row in _pyogrio().list_layers(path)]
    except _gdal_errors() as e:
        raise InputError(f"{path}: cannot read vector labels ({_short(e)})") from e
    if not names:
        raise InputError(f"{path}: the file holds no vector layer")
    if wanted is None:
        if len(names) > 1:
            raise ConfigError(f"`layer` is needed: {path} holds layers {', '.join(names)}", field="layer")
        return names[0], False
    if wanted not in names:
        raise ConfigError(f"layer {wanted!r} is not in {path} (layers: {', '.join(names)})", field="layer")
    return wanted, len(names) > 1


def _field(fields: list[str], wanted: str, option: str, source: str) -> str:
    """The layer field named ``wanted`` (exactly, else case-insensitively)."""
    if wanted in fields:
        return wanted
    folded = [f for f in fields if f.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    listed = ", ".join(fields) or "none"
    raise ConfigError(f"{option} {wanted!r} is not a field of {source} (fields: {listed})", field=option)


def _class_field(fields: list[str], wanted: str | None, source: str) -> str:
    if wanted is not None:
        return _field(fields, wanted, "class_field", source)
    candidates = {name.casefold() for name in DEFAULT_CLASS_FIELDS}
    found = [f for f in fields if f.casefold() in candidates]
    if len(found) == 1:
        return found[0]
    defaults = ", ".join(DEFAULT_CLASS_FIELDS)
    what = f"several candidates ({', '.join(found)})" if found else f"none of {defaults}"
    raise ConfigError(
        f"class_field is needed: {source} has {what} among its fields ({', '.join(fields) or 'none'})",
        field="class_field",
    )


def _layer_crs(info: dict[str, Any], source: str) -> Any:
    crs = info.get("crs")
    if not crs:
        if str(info.get("driver", "")).startswith("GeoJSON"):
            crs = "EPSG:4326"  # RFC 7946
        else:
            raise InputError(
                f"{source}: the layer has no CRS (a Shapefile without its .prj?), so its coordinates "
                "cannot be placed on the rasters; assign one (e.g. ogr2ogr -a_srs EPSG:...)"
            )
    return parse_crs(crs, source)


def read_layer(path: Path, options: GeoOptions) -> Layer:
    """Read the features of one layer of ``path`` (see the module docstring for the rules).

    Raises:
        InputError: GDAL cannot read the file or layer, or the layer has no CRS.
        ConfigError: ``options`` name a layer or field the file does not have, or the class field
            cannot be told.
    """
    path = Path(path)
    name, several = _choose_layer(path, options.layer)
    source = f"{path} (layer {name})" if several else str(path)
    pyogrio = _pyogrio()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = pyogrio.read_info(path, layer=name)
            fields = [str(f) for f in info["fields"]]
            class_field = _class_field(fields, options.class_field, source)
            image_field = options.image_field and _field(fields, options.image_field, "image_field", source)
            size_field = options.size_field and _field(fields, options.size_field, "size_field", source)
            columns = [f for f in (class_field, image_field, size_field) if f]
            meta, fids, wkb, values = pyogrio.raw.read(
                path, layer=name, columns=list(dict.fromkeys(columns)), force_2d=True, return_fids=True
            )
    except _gdal_errors() as e:
        raise InputError(f"{source}: cannot read vector labels ({_short(e)})") from e
    crs = _layer_crs({**info, "crs": meta.get("crs") or info.get("crs")}, source)
    column = dict(zip([str(f) for f in meta["fields"]], values, strict=True))
    return Layer(
        source=source,
        crs=crs,
        fids=np.asarray(fids, np.int64),
        geometries=_geometries(wkb, len(fids)),
        class_field=class_field,
        classes=_objects(column[class_field]),
        images=_objects(column[image_field]) if image_field else None,
        sizes_m=_numbers(column[size_field]) if size_field else None,
    )


def _geometries(wkb: Any, count: int) -> np.ndarray:
    """Shapely geometries from WKB; None where null or undecodable."""
    import shapely

    if wkb is None:
        return np.full(count, None, dtype=object)
    return np.asarray(shapely.from_wkb(np.asarray(wkb, dtype=object), on_invalid="ignore"), dtype=object)


def _objects(values: Any) -> np.ndarray:
    """Field values as an object array, None where null (NaN in float fields, masked values)."""
    out = np.asarray(values, dtype=object).copy()
    for i, value in enumerate(out):
        if isinstance(value, float) and value != value:  # NaN
            out[i] = None
    return out


def _numbers(values: Any) -> np.ndarray:
    """Field values as float64, NaN where null or not a number."""
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            continue
    return out

"""Georeferenced detections: one polygon per detection in map coordinates (GeoJSON, GeoPackage, GeoParquet).

A detection's pixel box ``x0, y0, x1, y1`` (corner convention: pixel ``(0, 0)``'s top-left is 0, 0) has its
four corners mapped through its scene's affine transform, rotation terms included, so a box on a
rotated (non-north-up) raster becomes a rotated polygon. Exterior rings run counter-clockwise (the
right-hand rule of RFC 7946). Each feature carries the properties :data:`PROPERTIES`: ``class`` (name),
``class_id`` (the model's class index, 0-based: COCO results ``category_id`` − 1, as tiledet writes
them), ``score``, ``scene`` (the results ``file_name``) and the pixel box ``x0, y0, x1, y1``.

Coordinate reference systems, per format:

- ``.geojson``: EPSG:4326 longitude/latitude (RFC 7946: reprojected with pyproj, ``always_xy``; no
  ``crs`` member).
- ``.gpkg``: each scene's own CRS, losslessly: one layer per CRS, named after its EPSG code
  (``epsg_32633``; ``crs_<n>`` for a CRS without one), so scenes of several UTM zones stay exact.
- ``.parquet``: GeoParquet 1.1 (WKB ``geometry`` column, ``geo`` metadata with the CRS as PROJJSON) in
  the first scene's CRS: a geometry column has one CRS, so scenes in another CRS are reprojected to it.

Detectors call :func:`prepare_detections_output` before any work (a geo ``--out`` with a scene that is
not georeferenced fails there) and :func:`write_detections_output` at the end; a geo file always gets
its COCO results JSON beside it (``dets.geojson`` -> ``dets.json``). :func:`read_geo_results` reads
any of the three formats back (features as WKB, their CRS and properties).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import ConfigError, InputError
from tiledet.formats.geo_results_io import (
    GEOJSON_CRS,
    GEOPARQUET_VERSION,
    PROPERTIES,
    GeoFeatures,
    GeoLayer,
    counter_clockwise,
    geojson_collection,
    pyproj_crs,
    read_geoparquet,
    read_ogr,
    reproject,
    write_geoparquet,
    write_gpkg,
)
from tiledet.formats.results import write_results_json
from tiledet.ioutil import atomic_path, atomic_write_json, image_size
from tiledet.outdir import prepare_output_file, record_output_file
from tiledet.scene import DECODED_SUFFIXES
from tiledet.scene_base import Scene

#: Output suffix -> geo format.
GEO_SUFFIXES = {".geojson": "geojson", ".gpkg": "gpkg", ".parquet": "parquet"}

__all__ = [
    "GEOJSON_CRS",
    "GEOPARQUET_VERSION",
    "GEO_SUFFIXES",
    "PROPERTIES",
    "GeoFeatures",
    "GeoLayer",
    "SceneHeader",
    "coco_sibling",
    "counter_clockwise",
    "geo_features",
    "geo_format",
    "pixel_rings",
    "prepare_detections_output",
    "pyproj_crs",
    "read_geo_results",
    "reproject",
    "write_detections_output",
    "write_geo_results",
]

def geo_format(path: str | Path) -> str | None:
    """``"geojson"``, ``"gpkg"`` or ``"parquet"`` from the suffix of ``path``; None for any other."""
    return GEO_SUFFIXES.get(Path(path).suffix.lower())


def coco_sibling(path: str | Path) -> Path:
    """The COCO results JSON written beside a geo file: ``dets.geojson`` -> ``dets.json``."""
    return Path(path).with_suffix(".json")


class SceneHeader(Scene):
    """A scene file's size and georeference, read from its header only (no pixels, no radiometry).

    The :class:`~tiledet.scene_base.Scene` georeference API (``crs``, ``transform``, ``georeferenced``,
    ``pixel_to_map``, ``map_to_pixel``, ``gsd_m``) works; reading pixels raises. PNG/JPEG/BMP/WebP have
    no georeference, as with :func:`tiledet.scene.open_scene`.

    Raises:
        InputError: naming the file, when it is missing or its header cannot be read.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.crs = self.transform = self.nodata = None
        if self.path.suffix.lower() in DECODED_SUFFIXES:
            self.size_wh = image_size(self.path)
            return
        import rasterio

        if not self.path.is_file():
            raise InputError(f"{self.path}: image not found")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                with rasterio.open(self.path) as src:
                    self.size_wh = (int(src.width), int(src.height))
                    self.crs = src.crs if src.crs else None
                    identity = src.transform.is_identity and self.crs is None
                    self.transform = None if identity else src.transform
        except rasterio.errors.RasterioIOError as e:
            raise InputError(f"{self.path}: cannot open as a raster ({str(e).splitlines()[0]})") from e

    def _read(self, box: tuple[int, int, int, int]) -> np.ndarray:
        raise InputError(f"{self.path}: a scene header holds no pixels (use tiledet.scene.open_scene)")

    def missing_georeference(self) -> str:
        """What the scene lacks for map coordinates (empty when it is georeferenced)."""
        if self.georeferenced:
            return ""
        if self.path.suffix.lower() in DECODED_SUFFIXES:
            return f"a {self.path.suffix.lstrip('.').upper()} file carries no CRS or geotransform"
        if self.crs is None:
            return "no CRS" + (" and no geotransform" if self.transform is None else "")
        return "no geotransform"


def prepare_detections_output(
    out: str | Path, scenes: Sequence[Any], *, command: str, sources: Sequence[Any] = ()
) -> Path:
    """Check a detector's ``--out`` before any work: a COCO results JSON, or a geo file and its JSON.

    Args:
        out: the results file; a :data:`GEO_SUFFIXES` suffix asks for georeferenced detections.
        scenes: the scenes to detect on (objects with ``path`` and ``file_name``).
        command: the command writing it (ownership records).
        sources: the command's inputs (never written into).

    Returns:
        ``out``.

    Raises:
        ConfigError: a geo ``out`` and a scene without CRS or geotransform (named), ``.parquet`` without
            pyarrow, or an output file tiledet did not write (:func:`~tiledet.outdir.prepare_output_file`).
    """
    out = Path(out)
    kind = geo_format(out)
    if kind is None:
        return prepare_output_file(out, command=command, sources=sources)
    if kind == "parquet":
        _pyarrow(out, field="out")
    for scene in scenes:
        try:
            lacks = SceneHeader(scene.path).missing_georeference()
        except InputError:  # unreadable: the detector reports it and goes on without it
            continue
        if lacks:
            raise ConfigError(
                f"out {out.name} writes detections in map coordinates, but scene {scene.file_name} "
                f"({scene.path}) is not georeferenced ({lacks}); give GeoTIFF/COG scenes or a .json `out`",
                field="out",
            )
    prepare_output_file(coco_sibling(out), command=command, sources=sources)
    return prepare_output_file(out, command=command, sources=sources)


def write_detections_output(
    out: str | Path, entries: Sequence[Mapping], scenes: Sequence[Any], *, command: str
) -> list[Path]:
    """Write a detector's results (after :func:`prepare_detections_output`) and record them as its own.

    Args:
        out: the checked results file.
        entries: COCO results entries (:func:`tiledet.formats.results.detections_to_results`).
        scenes: the scenes detected on (``path``, ``file_name``); a geo ``out`` maps each entry's box
            through its ``file_name``'s scene.
        command: the command writing it.

    Returns:
        The files written: ``[out]``, or ``[dets.json, dets.<geo>]`` for a geo ``out``.
    """
    out = Path(out)
    json_path = out if geo_format(out) is None else coco_sibling(out)
    write_results_json(json_path, entries)
    record_output_file(json_path, command=command)
    if json_path == out:
        return [out]
    headers: dict[str, SceneHeader] = {}
    for scene in scenes:
        try:
            headers[scene.file_name] = SceneHeader(scene.path)
        except InputError:
            continue  # unreadable: no entries name it
    write_geo_results(out, entries, headers)
    record_output_file(out, command=command)
    return [json_path, out]


def pixel_rings(xywh: np.ndarray) -> np.ndarray:
    """(N, 4) pixel boxes ``x, y, w, h`` -> (N, 5, 2) closed rings of their corners (pixel ``x, y``)."""
    x0, y0 = xywh[:, 0], xywh[:, 1]
    x1, y1 = x0 + xywh[:, 2], y0 + xywh[:, 3]
    corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)]
    return np.stack([np.column_stack(c) for c in corners], axis=1).reshape(-1, 5, 2)


def geo_features(entries: Sequence[Mapping], scenes: Mapping[str, Scene]) -> GeoFeatures:
    """The polygons and properties of COCO results entries, each in its scene's CRS.

    Args:
        entries: COCO results entries naming their scene by ``file_name``.
        scenes: ``file_name`` -> georeferenced scene (its ``crs`` and ``pixel_to_map``), in scene order.

    Raises:
        InputError: an entry naming a scene not in ``scenes``.
    """
    xywh = np.array([e["bbox"] for e in entries], np.float64).reshape(-1, 4)
    names = np.array([str(e["file_name"]) for e in entries], dtype=object)
    crs_list = _distinct([pyproj_crs(s.crs) for s in scenes.values()])
    pixel = pixel_rings(xywh)
    rings, crs = np.empty_like(pixel), np.zeros(len(entries), np.int64)
    for name in dict.fromkeys(names.tolist()):
        if name not in scenes:
            raise InputError(f"detections name scene {name!r}, which is not among the scenes given")
        rows = np.flatnonzero(names == name)
        rings[rows] = scenes[name].pixel_to_map(pixel[rows].reshape(-1, 2)).reshape(-1, 5, 2)
        crs[rows] = crs_list.index(pyproj_crs(scenes[name].crs))
    columns = {
        "class": np.array([str(e.get("category_name", "")) for e in entries], dtype=object),
        "class_id": np.array([int(e.get("category_id", 0)) - 1 for e in entries], np.int64),
        "score": np.array([float(e["score"]) for e in entries], np.float64),
        "scene": names,
    }
    columns.update({k: pixel[:, corner, axis] for k, corner, axis in
                    (("x0", 0, 0), ("y0", 0, 1), ("x1", 2, 0), ("y1", 2, 1))})  # fmt: skip
    return GeoFeatures(columns, rings, crs, crs_list)


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def write_geo_results(path: str | Path, entries: Sequence[Mapping], scenes: Mapping[str, Scene]) -> None:
    """Write COCO results entries as georeferenced polygons, atomically (format from the suffix).

    Args:
        path: a ``.geojson``, ``.gpkg`` or ``.parquet`` file.
        entries: COCO results entries naming their scene by ``file_name``.
        scenes: ``file_name`` -> georeferenced scene, in scene order (GeoParquet's CRS is the first's).
    """
    kind = geo_format(path)
    if kind is None:
        raise ConfigError(f"{path}: not a geo file; use one of {', '.join(GEO_SUFFIXES)}", field="out")
    features = geo_features(entries, scenes)
    if kind == "geojson":
        atomic_write_json(path, geojson_collection(features), indent=None)
        return
    with atomic_path(path) as tmp:
        if kind == "gpkg":
            write_gpkg(tmp, features)
        else:
            write_geoparquet(tmp, features, _pyarrow(path, field="out"))


def _pyarrow(path: str | Path, field: str | None = None) -> Any:
    """pyarrow (with ``pyarrow.parquet``), or a ConfigError naming the extra that installs it."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as e:
        raise ConfigError(
            f"{path}: GeoParquet needs pyarrow, which is not installed: pip install 'tiledet[geo]'",
            field=field,
        ) from e
    return pyarrow


def read_geo_results(path: str | Path) -> list[GeoLayer]:
    """The features of a ``.geojson``, ``.gpkg`` (every layer with geometry) or GeoParquet file.

    Raises:
        InputError: naming the file: missing, unreadable, not of its suffix's format, or (GeoParquet)
            without ``geo`` metadata or with an encoding other than WKB.
        ConfigError: ``.parquet`` without pyarrow.
    """
    path = Path(path)
    kind = geo_format(path)
    if kind is None:
        raise InputError(f"{path}: not a geo file ({', '.join(GEO_SUFFIXES)})")
    if not path.is_file():
        raise InputError(f"{path}: detections file not found")
    if kind == "parquet":
        return [read_geoparquet(path, _pyarrow(path))]
    return read_ogr(path)

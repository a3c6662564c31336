"""xView GeoJSON read, then its geometries checked against ``bounds_imcoords`` (the registered reader).

The boxes are always the pixel ``bounds_imcoords`` (:mod:`tiledet.formats.xview_geojson`). xView's
features also carry a lon/lat polygon; when the images folder holds an image of the labels as a
georeferenced raster (a GeoTIFF with a CRS and a geotransform, header read only), the file is read a
second time with its coordinates (only then: the first pass skips them for speed), and each box's
polygon is moved into the image's pixels (the file's ``crs`` member, CRS84 / EPSG:4326 without one,
reprojected with pyproj, then the inverse affine transform) and its envelope compared with the box.
Boxes whose envelope differs by more than :data:`TOLERANCE_PX` on any side are counted, with the first
few feature ids, in ``notes["xview_geometry"]`` (and logged as a warning): neither is silently chosen
over the other; the box written stays ``bounds_imcoords``.
"""

from __future__ import annotations

import logging
from array import array
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.errors import InputError
from tiledet.formats import ReadOptions
from tiledet.formats.georef import RASTER_SUFFIXES, RasterGrid, Reprojector, parse_crs, read_grid
from tiledet.formats.xview_geojson import _Parser
from tiledet.formats.xview_geojson import read as read_boxes
from tiledet.label_records import RawLabels
from tiledet.paths import UnsafePathError, safe_relpath

log = logging.getLogger(__name__)

#: A box and its geometry's pixel envelope agree when no side differs by more than this (px).
TOLERANCE_PX = 3.0
#: How many disagreeing features the notes describe.
FIRST_FEW = 5


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read an xView GeoJSON file (:func:`tiledet.formats.xview_geojson.read`) and, with an images
    folder, check its geometries against its boxes (module docstring).

    Raises:
        InputError, FormatError: as :func:`tiledet.formats.xview_geojson.read`; an InputError naming the
            file when its CRS cannot be transformed to an image's.
    """
    raw = read_boxes(path, options)
    if options.images_dir is None:
        return raw
    notes = check_geometry(Path(path), raw, Path(options.images_dir))
    if notes is None:
        return raw
    if notes["disagreeing"]:
        log.warning(
            "%s: %d of %d boxes disagree with their geometry by more than %g px (first: %s); the boxes "
            "written are bounds_imcoords", path, notes["disagreeing"], notes["checked"], TOLERANCE_PX,
            ", ".join(str(f["feature"]) for f in notes["first"]),
        )  # fmt: skip
    return replace(raw, notes={**raw.notes, "xview_geometry": notes})


def georeferenced_images(raw: RawLabels, images_dir: Path) -> dict[str, RasterGrid]:
    """The images of ``raw``'s boxes that are georeferenced rasters in ``images_dir`` (headers only).

    Images that are missing, unsafe, no raster or unreadable are left out here (the loader reports them).
    """
    grids: dict[str, RasterGrid] = {}
    for name in dict.fromkeys(raw.box_images):
        try:
            rel = safe_relpath(name).as_posix()
        except UnsafePathError:
            continue
        path = images_dir / rel
        if path.suffix.lower() not in RASTER_SUFFIXES or not path.is_file():
            continue
        try:
            grid = read_grid(path, rel)
        except InputError:
            continue
        if grid.georeferenced:
            grids[name] = grid
    return grids


def check_geometry(path: Path, raw: RawLabels, images_dir: Path) -> dict[str, Any] | None:
    """Compare each box of a georeferenced image with its geometry's pixel envelope.

    Returns:
        None when no image is a georeferenced raster; else ``images`` (checked), ``checked`` (boxes
        with a polygon), ``without_geometry``, ``disagreeing``, ``tolerance_px``,
        ``max_difference_px`` and ``first`` (up to :data:`FIRST_FEW` disagreeing boxes: feature index,
        ``feature_id``, image, ``bounds_imcoords`` and the geometry's envelope).
    """
    grids = georeferenced_images(raw, images_dir)
    if not grids:
        return None
    with path.open("rb") as f:
        scan = _GeometryScan(f, str(path), set(grids))
        scan.parse()
    crs = parse_crs(_crs_name(scan.crs_member, str(path)), str(path))
    envelopes = _envelopes(raw, grids, scan, Reprojector(crs, str(path)))
    checked = np.isin(raw.box_images, list(grids))
    found = checked & ~np.isnan(envelopes[:, 0])
    with np.errstate(invalid="ignore"):
        differences = np.abs(envelopes - raw.xyxy).max(axis=1)[found]
    bad = np.flatnonzero(found)[~(differences <= TOLERANCE_PX)]
    first = [_described(int(raw.box_locations[i]), scan, raw.box_images[i], raw.xyxy[i], envelopes[i])
             for i in bad[:FIRST_FEW]]  # fmt: skip
    return {
        "images": len(grids), "checked": int(found.sum()), "without_geometry": int((checked & ~found).sum()),
        "disagreeing": len(bad), "tolerance_px": TOLERANCE_PX,
        "max_difference_px": round(float(np.nanmax(differences)), 3) if len(differences) else 0.0,
        "first": first,
    }  # fmt: skip


def _envelopes(
    raw: RawLabels, grids: dict[str, RasterGrid], scan: _GeometryScan, reproject: Reprojector
) -> np.ndarray:
    """(N, 4) pixel envelope of each box's geometry in its image (NaN: no image checked, no polygon).

    The vertices of all the boxes of one image are moved in one pyproj call.
    """
    envelopes = np.full((len(raw), 4), np.nan)
    flat = np.frombuffer(scan.flat, np.float64)
    by_image: dict[str, list[int]] = {}
    for i, (name, location) in enumerate(zip(raw.box_images, raw.box_locations.tolist(), strict=True)):
        if name in grids and location in scan.spans:
            by_image.setdefault(name, []).append(i)
    for name, rows in by_image.items():
        spans = [scan.spans[int(raw.box_locations[i])] for i in rows]
        vertices = np.concatenate([flat[a:b] for a, b in spans]).reshape(-1, 2)
        starts = np.cumsum([0] + [(b - a) // 2 for a, b in spans[:-1]])
        xy = reproject.to_pixel(grids[name], vertices)
        envelopes[rows] = np.column_stack([
            np.minimum.reduceat(xy[:, 0], starts), np.minimum.reduceat(xy[:, 1], starts),
            np.maximum.reduceat(xy[:, 0], starts), np.maximum.reduceat(xy[:, 1], starts),
        ])  # fmt: skip
    return envelopes


def _described(location: int, scan: _GeometryScan, image: str, box: np.ndarray, envelope: np.ndarray) -> dict:
    """One disagreeing box for the notes."""
    return {
        "feature": location, "feature_id": scan.feature_ids.get(location), "image": image,
        "bounds_imcoords": box.tolist(), "geometry_px": [round(float(v), 3) for v in envelope],
    }  # fmt: skip


def _crs_name(member: Any, source: str) -> str:
    """The CRS of a GeoJSON ``crs`` member (``{"type": "name", "properties": {"name": ...}}``)."""
    if member is None:
        return "OGC:CRS84"  # RFC 7946: longitude, latitude on WGS 84
    try:
        return str(member["properties"]["name"])
    except (TypeError, KeyError) as e:
        raise InputError(f"{source}: its crs member {str(member)[:80]!r} is not a named CRS") from e


class _GeometryScan(_Parser):
    """Second pass: the vertices of the features of some images, by feature index (flat ``array``)."""

    blank_geometry = False

    def __init__(self, fileobj: Any, source: str, images: set[str]) -> None:
        super().__init__(fileobj, source, False, "")
        self.images = images
        self.flat = array("d")
        self.spans: dict[int, tuple[int, int]] = {}  # feature index -> (start, end) in flat
        self.feature_ids: dict[int, Any] = {}

    def _feature(self, index: int, feature: Any) -> None:
        try:
            props = feature["properties"]
            image = props["image_id"].strip()
        except (TypeError, KeyError, AttributeError):
            return
        if image not in self.images:
            return
        start = len(self.flat)
        if _flatten(feature.get("geometry"), self.flat):
            self.spans[index] = (start, len(self.flat))
            self.feature_ids[index] = props.get("feature_id")
        else:
            del self.flat[start:]


def _flatten(geometry: Any, out: array) -> bool:
    """Append a Polygon's / MultiPolygon's vertices (x, y, x, y, ...) to ``out``; False when unusable."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return False
    polygons = geometry.get("coordinates")
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    start = len(out)
    try:
        for polygon in polygons:
            for ring in polygon:
                for point in ring:
                    out.append(float(point[0]))
                    out.append(float(point[1]))
    except (TypeError, ValueError, IndexError):
        return False
    return len(out) > start

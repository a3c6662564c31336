"""Georeferencing accuracy: pixel <-> map through tiledet vs rasterio, and the labels round trip, in px.

Issue 19's target: every map coordinate tiledet computes is within 1e-6 px of rasterio's. Three checks:

1. ``open_scene(...).pixel_to_map`` / ``map_to_pixel`` against rasterio's ``transform.xy`` (corner
   offset) and ``transform.rowcol`` (fractional), on random points of each georeferenced raster in
   ``../shared/data/real/geotiff/`` (``$TILEDET_REALDATA``; skipped when absent; ``rotated.tif`` has
   rotation terms) and of a synthetic COG; the error is the map difference moved into pixels.
2. Detections -> map polygons: random pixel boxes of each raster written with ``write_geo_results``
   (``.geojson``, EPSG:4326) and every output polygon corner compared with rasterio's
   ``transform * (col, row)`` of the box corner (the output moved back with pyproj and rasterio's
   inverse transform).
3. Labels -> pixel boxes -> map polygons: ``tiledet synth --image-format cog`` scenes, whose
   ``labels.geojson`` (lon/lat) is read by the ``geo-vector`` reader into pixel boxes (compared with the
   boxes synth drew), which are written back as map polygons (2.) and compared corner by corner.

Run: ``.venv/bin/python benchmarks/bench_geo_coords.py [--quick] [--points 100000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _report import report

_DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
REAL = Path(os.environ.get("TILEDET_REALDATA", _DEFAULT_REAL))
TARGET_PX = 1e-6


def _to_px(transform, d_map: np.ndarray) -> np.ndarray:
    """Lengths (px) of (N, 2) map-coordinate differences, through the transform's inverse linear part."""
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    inv = np.linalg.inv(np.array([[a, b], [d, e]]))
    return np.linalg.norm(d_map @ inv.T, axis=1)


def scene_vs_rasterio(path: Path, points: int, rng: np.random.Generator) -> tuple[float, float]:
    """Max px error of ``pixel_to_map`` and of ``map_to_pixel`` on ``points`` random points of ``path``."""
    import rasterio
    from rasterio.transform import rowcol, xy

    from tiledet.scene import open_scene

    with rasterio.open(path) as src:
        transform, (w, h) = src.transform, (src.width, src.height)
    cols, rows = rng.uniform(0, w, points), rng.uniform(0, h, points)
    ref_x, ref_y = xy(transform, rows, cols, offset="ul")
    ref_map = np.column_stack([ref_x, ref_y])
    ref_r, ref_c = rowcol(transform, ref_map[:, 0], ref_map[:, 1], op=lambda v: v)
    with open_scene(path) as scene:
        ours_map = scene.pixel_to_map(np.column_stack([cols, rows]))
        ours_px = scene.map_to_pixel(ref_map)
    forward = _to_px(transform, ours_map - ref_map).max()
    inverse = np.abs(ours_px - np.column_stack([ref_c, ref_r])).max()
    return float(forward), float(inverse)


def polygons_vs_rasterio(scenes: dict[str, Path], boxes: dict[str, np.ndarray],
                         out: Path) -> tuple[float, float]:  # fmt: skip
    """Write ``boxes`` (pixel xyxy per scene) as ``.geojson`` and ``.gpkg`` with ``write_geo_results``.

    Returns:
        The max px error of any polygon corner: GeoJSON (lon/lat) against pyproj's reprojection of
        rasterio's ``transform * (col, row)``, moved into pixels by one same inverse path; GeoPackage
        (the scene's CRS, no reprojection) against ``transform * (col, row)`` directly.
    """
    from tiledet.formats.geo_results import write_geo_results
    from tiledet.scene import open_scene

    entries = [{"file_name": name, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": 0.5, "category_id": 1,
                "category_name": "object"}
               for name, xyxy in boxes.items() for x0, y0, x1, y1 in xyxy.tolist()]  # fmt: skip
    opened = {name: open_scene(path) for name, path in scenes.items()}
    try:
        write_geo_results(out.with_suffix(".geojson"), entries, opened)
        write_geo_results(out.with_suffix(".gpkg"), entries, opened)
    finally:
        for scene in opened.values():
            scene.close()
    lonlat = _geojson_rings(out.with_suffix(".geojson"), list(scenes))
    worst_geojson = worst_gpkg = 0.0
    for name, path in scenes.items():
        import rasterio
        from pyproj import Transformer

        with rasterio.open(path) as src:
            transform, crs = src.transform, src.crs
        want = _corners_map(boxes[name], transform)  # (N, 4, 2) rasterio's transform * (col, row)
        to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        to_map = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        want_lonlat = np.stack(to_lonlat.transform(want[..., 0], want[..., 1]), axis=-1)
        back = [np.stack(to_map.transform(v[..., 0], v[..., 1]), axis=-1)
                for v in (lonlat[name], want_lonlat)]  # fmt: skip
        worst_geojson = max(worst_geojson, _corner_error(back[0], back[1], transform))
        worst_gpkg = max(worst_gpkg, _corner_error(_gpkg_rings(out.with_suffix(".gpkg"), crs, name), want,
                                                   transform))  # fmt: skip
    return worst_geojson, worst_gpkg


def _corners_map(xyxy: np.ndarray, transform) -> np.ndarray:
    x0, y0, x1, y1 = np.asarray(xyxy, np.float64).T
    cols, rows = np.stack([x0, x1, x1, x0], axis=1), np.stack([y0, y0, y1, y1], axis=1)
    return np.stack(transform @ (cols, rows), axis=-1)


def _corner_error(rings: np.ndarray, corners: np.ndarray, transform) -> float:
    """Max px distance of each of the (N, 4, 2) ``corners`` to the nearest vertex of its (N, 5, 2) ring."""
    n = len(corners)
    if rings.shape != (n, 5, 2):
        raise SystemExit(f"rings of shape {rings.shape} for {n} boxes")
    diff = rings.reshape(n, 1, 5, 2) - corners.reshape(n, 4, 1, 2)
    return float(_to_px(transform, diff.reshape(-1, 2)).reshape(n, 4, 5).min(axis=2).max())


def _geojson_rings(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Scene name -> (N, 5, 2) lon/lat rings of a GeoJSON results file, in file order (json only)."""
    import json

    rings: dict[str, list] = {name: [] for name in names}
    for feature in json.loads(path.read_text())["features"]:
        rings[feature["properties"]["scene"]].append(feature["geometry"]["coordinates"][0])
    return {name: np.asarray(r, np.float64).reshape(-1, 5, 2) for name, r in rings.items()}


def _gpkg_rings(path: Path, crs, name: str) -> np.ndarray:
    """(N, 5, 2) rings of scene ``name`` in the GeoPackage layer of ``crs`` (pyogrio + shapely)."""
    import pyogrio
    import shapely

    layer = f"epsg_{crs.to_epsg()}"
    _meta, _fids, geometry, fields = pyogrio.raw.read(path, layer=layer, columns=["scene"])
    keep = np.asarray(fields[0]) == name
    polygons = shapely.from_wkb(np.asarray(geometry)[keep])
    return np.stack([shapely.get_coordinates(shapely.get_exterior_ring(p)) for p in polygons])


def labels_round_trip(work: Path, scenes: int, side: int) -> tuple[float, float, int]:
    """Synth COG scenes: lon/lat labels -> geo-vector pixel boxes (vs synth's) -> map polygons.

    Returns:
        ``(max box error px, max polygon corner error px, boxes)``.
    """
    from tiledet.labels.load import load_dataset
    from tiledet.synth import SynthConfig, generate_scenes

    run = generate_scenes(SynthConfig(work / "synth", scenes=scenes, size_wh=(side, side), seed=0,
                                      image_format="cog", force=True))  # fmt: skip
    result = load_dataset(run.geo_labels_path, "geo-vector", run.images_dir)
    if result.drops or result.input_boxes != run.num_boxes:
        raise SystemExit(f"geo-vector: {result.input_boxes} of {run.num_boxes} boxes, drops {result.drops}")
    got = {im.file_name: im.boxes.xyxy for im in result.dataset.images}
    box_error = 0.0
    for scene in run.scenes:
        have = got[scene.file_name]
        have = have[np.lexsort(np.round(have, 3).T[::-1])]
        want = scene.xyxy[np.lexsort(scene.xyxy.T[::-1])]
        box_error = max(box_error, float(np.abs(have - want).max()))
    paths = {s.file_name: run.images_dir / s.file_name for s in run.scenes}
    corner_error = max(polygons_vs_rasterio(paths, got, work / "round_trip"))
    return box_error, corner_error, run.num_boxes


def _random_boxes(w: int, h: int, n: int, rng: np.random.Generator) -> np.ndarray:
    x0, y0 = rng.uniform(0, w - 2, n), rng.uniform(0, h - 2, n)
    x1 = np.minimum(x0 + rng.uniform(1, 64, n), w)
    y1 = np.minimum(y0 + rng.uniform(1, 64, n), h)
    return np.column_stack([x0, y0, x1, y1])


def _rasters(work: Path, quick: bool) -> list[Path]:
    """The real rasters with a geotransform (when present), a synthetic COG and a rotated GeoTIFF."""
    import rasterio
    from affine import Affine

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _cog

    out = []
    folder = REAL / "geotiff"
    for path in sorted(folder.glob("*.tif")) if folder.is_dir() else []:
        with rasterio.open(path) as src:
            if not src.transform.is_identity:
                out.append(path)
    if not folder.is_dir():
        print(f"(real rasters skipped: {folder} not found; set TILEDET_REALDATA)")
    out.append(_cog.write_big_cog(work / "synthetic_cog.tif", 1024 if quick else 4096).path)
    rotated = work / "rotated_utm.tif"  # 30 degrees, 0.5 m px, with a CRS (shared rotated.tif has none)
    transform = Affine.translation(300_000.0, 5_000_000.0) * Affine.rotation(30.0) * Affine.scale(0.5, -0.5)
    with rasterio.open(rotated, "w", driver="GTiff", width=640, height=480, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=transform) as dst:  # fmt: skip
        dst.write(np.full((3, 480, 640), 90, np.uint8))
    out.append(rotated)
    return out


def check_raster(path: Path, points: int, n_boxes: int, work: Path, rng: np.random.Generator) -> dict:
    """Checks 1 and 2 on one raster; prints one line. Returns the errors (px) by name."""
    import rasterio

    forward, inverse = scene_vs_rasterio(path, points, rng)
    errors = {"pixel_to_map": forward, "map_to_pixel": inverse}
    with rasterio.open(path) as src:
        w, h, crs = src.width, src.height, src.crs
    crs_text = crs.to_string() if crs else "no CRS"
    line = f"{path.name:18s} {w}x{h} {crs_text:11s} pixel_to_map {forward:.1e}, map_to_pixel {inverse:.1e} px"
    if crs is not None:
        boxes = _random_boxes(w, h, n_boxes, rng)
        geojson, gpkg = polygons_vs_rasterio({path.name: path}, {path.name: boxes}, work / path.stem)
        errors.update(geojson=geojson, gpkg=gpkg)
        line += f"; {n_boxes} polygons: .geojson {geojson:.1e} px, .gpkg {gpkg:.1e} px"
    print(line, flush=True)
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points, smaller scenes")
    parser.add_argument("--points", type=int, default=100_000, help="points per raster (default 100000)")
    args = parser.parse_args()
    points = 10_000 if args.quick else args.points
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="tiledet-bench-geo-"))
    worst: dict[str, float] = {}
    try:
        rasters = _rasters(work, args.quick)
        for path in rasters:
            for key, value in check_raster(path, points, 2_000 if args.quick else 20_000, work, rng).items():
                worst[key] = max(worst.get(key, 0.0), value)
        box_err, corner_err, n = labels_round_trip(work, 2 if args.quick else 4, 1000 if args.quick else 3000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"synth cog labels: {n} boxes; lon/lat -> pixel boxes {box_err:.1e} px, "
          f"-> map polygons {corner_err:.1e} px")  # fmt: skip
    worst.update({"labels->boxes": box_err, "->polygons": corner_err})
    value = ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + f" px ({len(rasters)} rasters)"
    ok = max(worst.values()) <= TARGET_PX
    report("georeferencing error vs rasterio (max, px)", "rasterio transform/xy/rowcol + pyproj", None,
           f"<= {TARGET_PX:g} px", value, ok)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

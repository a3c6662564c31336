"""Benchmark: labels in map coordinates (``geo-vector``) and the xView geometry check.

1. A GeoPackage of ``--features`` lon/lat polygons (5 vertices, about 2-20 m) over a 4 x 4 grid of
   abutting UTM rasters (2000 x 2000 px at 0.5 m, some rotated by 10 degrees) is read with
   :func:`tiledet.formats.geo_vector.read` (vectorised: one pyproj call per raster for all its
   vertices) and with a naive reference written here: per feature, its centre tried against each raster
   in turn (pyproj + rasterio ``~transform``), then its vertices moved one call per feature. Both must
   give the same boxes (max difference < 1e-6 px); the ratio naive / tiledet is reported.
2. An xView-like FeatureCollection of ``--xview`` features on 4 georeferenced images is read without
   images (``bounds_imcoords`` only) and with them (second pass with the geometry, compared with
   each box): the ratio with / without is the cost of the check (no target; it runs only when the
   images folder holds georeferenced rasters).

Usage::

    .venv/bin/python benchmarks/bench_geo_vector.py            # 100 000 polygons, 200 000 xView features
    .venv/bin/python benchmarks/bench_geo_vector.py --quick    # 10 000 / 20 000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _report import report

UTM = "EPSG:32617"
SIDE_PX = 2000
PIXEL_M = 0.5
ORIGIN = (400_000.0, 3_300_000.0)


def transforms() -> list:
    from rasterio.transform import Affine

    out = []
    for k in range(16):
        i, j = divmod(k, 4)
        x, y = ORIGIN[0] + j * SIDE_PX * PIXEL_M, ORIGIN[1] - i * SIDE_PX * PIXEL_M
        angle = 10.0 if k % 5 == 0 else 0.0
        out.append(Affine.translation(x, y) @ Affine.rotation(angle) @ Affine.scale(PIXEL_M, -PIXEL_M))
    return out


def write_rasters(folder: Path) -> list:
    import rasterio

    folder.mkdir(parents=True)
    ts = transforms()
    for k, t in enumerate(ts):
        profile = {"driver": "GTiff", "width": SIDE_PX, "height": SIDE_PX, "count": 1, "dtype": "uint8",
                   "crs": UTM, "transform": t, "tiled": True, "compress": "deflate"}  # fmt: skip
        with rasterio.open(folder / f"r{k:02d}.tif", "w", **profile):
            pass  # header and empty tiles: the reader never reads pixels
    return ts


def write_layer(path: Path, n: int, seed: int = 0) -> None:
    import pyogrio.raw
    import shapely
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    span = 4 * SIDE_PX * PIXEL_M
    cx = ORIGIN[0] + rng.uniform(0, span, n)
    cy = ORIGIN[1] - rng.uniform(0, span, n)
    half = rng.uniform(1, 10, (n, 1))
    angles = np.linspace(0, 2 * np.pi, 5)[None, :4] + rng.uniform(0, np.pi, (n, 1))
    x = cx[:, None] + half * np.cos(angles)
    y = cy[:, None] + half * np.sin(angles)
    lon, lat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(x, y)
    rings = np.stack([lon, lat], axis=-1)
    polygons = shapely.polygons(np.concatenate([rings, rings[:, :1]], axis=1))
    classes = np.array(["car", "truck", "boat"], dtype=object)[rng.integers(0, 3, n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.raw.write(path, shapely.to_wkb(polygons), [classes], fields=["class"], crs="EPSG:4326",
                          geometry_type="Polygon")  # fmt: skip


def naive(path: Path, folder: Path) -> tuple[list[str], np.ndarray]:
    """Per feature: the first raster whose pixels hold its centre, then its vertices' envelope there."""
    import pyogrio.raw
    import rasterio
    import shapely
    from pyproj import Transformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, wkb, _ = pyogrio.raw.read(path)
    rasters = []
    for file in sorted(folder.glob("*.tif")):
        with rasterio.open(file) as src:
            rasters.append((file.name, src.width, src.height, ~src.transform))
    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    names, boxes = [], []
    for geometry in shapely.from_wkb(wkb):
        x0, y0, x1, y1 = geometry.bounds
        cx, cy = to_utm.transform((x0 + x1) / 2, (y0 + y1) / 2)
        for name, width, height, inverse in rasters:
            col, row = inverse * (cx, cy)
            if 0 <= col < width and 0 <= row < height:
                xy = np.asarray(geometry.exterior.coords)
                ux, uy = to_utm.transform(xy[:, 0], xy[:, 1])
                cols, rows = inverse * (np.asarray(ux), np.asarray(uy))
                names.append(name)
                boxes.append((cols.min(), rows.min(), cols.max(), rows.max()))
                break
    return names, np.asarray(boxes)


def bench_layer(tmp: Path, n: int) -> None:
    from tiledet.formats import ReadOptions
    from tiledet.formats.geo_vector import read

    write_rasters(tmp / "rasters")
    write_layer(tmp / "labels.gpkg", n)
    start = time.perf_counter()
    raw = read(tmp / "labels.gpkg", ReadOptions(images_dir=tmp / "rasters"))
    ours = time.perf_counter() - start
    start = time.perf_counter()
    names, boxes = naive(tmp / "labels.gpkg", tmp / "rasters")
    theirs = time.perf_counter() - start
    same = raw.box_images == names and np.abs(raw.xyxy - boxes).max() < 1e-6
    print(f"geo-vector: {n} polygons on 16 rasters: tiledet {ours:.2f} s, naive loop {theirs:.2f} s, "
          f"{len(raw)} boxes, {len(raw.drops)} drops, same boxes: {same}")  # fmt: skip
    peer = "naive per-feature loop (pyproj + rasterio ~transform)"
    value = f"{ours:.2f} s vs {theirs:.2f} s for {n} polygons"
    report("geo-vector GeoPackage (lon/lat) -> pixel boxes on 16 UTM rasters, speed", peer, theirs / ours,
           "same boxes (< 1e-6 px)", value, bool(same))  # fmt: skip


def write_xview(path: Path, folder: Path, n: int, seed: int = 0) -> None:
    import rasterio
    from rasterio.transform import Affine

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    features = []
    ts = [Affine(3.4e-6, 0, -90.54 + k * 0.02, 0, -3.4e-6, 14.57) for k in range(4)]
    for k, t in enumerate(ts):
        with rasterio.open(folder / f"{k}.tif", "w", driver="GTiff", width=3000, height=3000, count=1,
                           dtype="uint8", crs="EPSG:4326", transform=t, tiled=True):  # fmt: skip
            pass
    for i in range(n):
        k = i % 4
        x0, y0 = (int(v) for v in rng.integers(0, 2900, 2))
        x1, y1 = x0 + int(rng.integers(5, 80)), y0 + int(rng.integers(5, 80))
        corners = ((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0))
        ring = [[round(c, 12) for c in ts[k] @ xy] for xy in corners]
        props = {"bounds_imcoords": f"{x0},{y0},{x1},{y1}", "type_id": 73, "image_id": f"{k}.tif",
                 "feature_id": i}  # fmt: skip
        geometry = {"type": "Polygon", "coordinates": [ring]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": features}))


def bench_xview(tmp: Path, n: int) -> None:
    from tiledet.formats import ReadOptions, get_reader

    write_xview(tmp / "xview.geojson", tmp / "xview_images", n)
    read = get_reader("xview-geojson")
    start = time.perf_counter()
    plain = read(tmp / "xview.geojson", ReadOptions())
    alone = time.perf_counter() - start
    start = time.perf_counter()
    checked = read(tmp / "xview.geojson", ReadOptions(images_dir=tmp / "xview_images"))
    both = time.perf_counter() - start
    notes = checked.notes["xview_geometry"]
    size_mb = (tmp / "xview.geojson").stat().st_size / 1e6
    print(f"xView: {n} features ({size_mb:.0f} MB): boxes only {alone:.2f} s, with the geometry check "
          f"{both:.2f} s; checked {notes['checked']}, disagreeing {notes['disagreeing']}, "
          f"max difference {notes['max_difference_px']} px")  # fmt: skip
    ok = len(plain) == notes["checked"] == n and notes["disagreeing"] == 0
    report("xView GeoJSON with 4 georeferenced images: read + geometry check", "the same read without images",
           both / alone, "reported (cost of the check); every box checked, none disagreeing",
           f"{both:.2f} s vs {alone:.2f} s for {n} features", ok)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 000 polygons, 20 000 xView features")
    parser.add_argument("--features", type=int, default=None, help="polygons in the GeoPackage (100 000)")
    parser.add_argument("--xview", type=int, default=None, help="xView features (200 000)")
    args = parser.parse_args()
    n = args.features or (10_000 if args.quick else 100_000)
    m = args.xview or (20_000 if args.quick else 200_000)
    with tempfile.TemporaryDirectory(prefix="tiledet-bench-geo-") as tmp:
        bench_layer(Path(tmp), n)
        bench_xview(Path(tmp), m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark georeferenced detections: writing and reading back ``.geojson``/``.gpkg``/``.parquet``
against the COCO results JSON of the same detections (which ``detect --out x.<geo>`` writes beside it).

``--n`` random boxes on 4 GeoTIFF scenes (two UTM zones, one scene rotated) are written with
:func:`tiledet.formats.geo_results.write_geo_results` and with
:func:`tiledet.formats.results.write_results_json`, each timed best-of-``--repeat`` in the same process;
the GeoJSON is also written by GDAL's own driver (``pyogrio.raw.write``, same polygons in EPSG:4326) as
a second peer. Reading: :func:`tiledet.evaluate.geo_dets.read_geo_entries` (features back to pixel
boxes) against :func:`tiledet.formats.results.read_results_json`; the largest pixel difference of the
round trip is printed. No target is stated.

Usage: ``nice -n 10 .venv/bin/python benchmarks/bench_geo_results.py [--n 100000] [--repeat 3]``;
``--quick``: 10 000 boxes, best of 2.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import report

SCENES = {"a.tif": ("EPSG:32633", 0.0), "b.tif": ("EPSG:32633", 30.0), "c.tif": ("EPSG:32634", 0.0),
          "d.tif": ("EPSG:32634", 0.0)}  # fmt: skip
SIDE = 4000


def write_scenes(folder: Path) -> None:
    import rasterio
    from rasterio.transform import Affine

    for k, (name, (crs, degrees)) in enumerate(SCENES.items()):
        origin = Affine.translation(500_000.0 + 3000.0 * k, 4_500_000.0)
        transform = origin @ Affine.rotation(degrees) @ Affine.scale(0.5, -0.5)
        with rasterio.open(folder / name, "w", driver="GTiff", width=SIDE, height=SIDE, count=1,
                           dtype="uint8", crs=crs, transform=transform) as dst:
            dst.write(np.zeros((1, 8, 8), np.uint8), window=((0, 8), (0, 8)))


def random_entries(rng: np.random.Generator, n: int) -> list[dict]:
    names = list(SCENES)
    xy = rng.uniform(0, SIDE - 80, (n, 2))
    wh = rng.uniform(4, 80, (n, 2))
    scene = rng.integers(0, len(names), n)
    scores = rng.uniform(0, 1, n).tolist()
    return [{"file_name": names[s], "category_name": "car", "category_id": 1, "bbox": [*p, *q], "score": c}
            for s, p, q, c in zip(scene.tolist(), xy.tolist(), wh.tolist(), scores, strict=True)]  # fmt: skip


def _boxes(entries: list[dict]) -> np.ndarray:
    """(N, 4) boxes sorted by (scene, score): a GeoPackage returns its layers (CRSs) one after another."""
    order = sorted(range(len(entries)), key=lambda i: (entries[i]["file_name"], entries[i]["score"]))
    return np.array([entries[i]["bbox"] for i in order], np.float64)


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def gdal_geojson(path: Path, entries: list[dict], headers: dict) -> None:
    """The same polygons and properties written by GDAL's GeoJSON driver (the peer)."""
    from pyogrio import raw

    from tiledet.formats.geo_results import GEOJSON_CRS, PROPERTIES, geo_features
    from tiledet.formats.geo_results_io import _wkb

    features = geo_features(entries, headers)
    rings = features.rings_in(GEOJSON_CRS)
    raw.write(str(path), geometry=_wkb(rings), field_data=[features.columns[k] for k in PROPERTIES],
              fields=list(PROPERTIES), driver="GeoJSON", geometry_type="Polygon",
              crs=GEOJSON_CRS)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 000 boxes, best of 2")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 10_000, 2

    from tiledet.evaluate.detections import GtLookup
    from tiledet.evaluate.geo_dets import read_geo_entries
    from tiledet.evaluate.scenes import SceneCatalog
    from tiledet.formats.geo_results import SceneHeader, write_geo_results
    from tiledet.formats.results import read_results_json, write_results_json

    entries = random_entries(np.random.default_rng(0), args.n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_scenes(root)
        headers = {name: SceneHeader(root / name) for name in SCENES}
        t_json, _ = best_time(lambda: write_results_json(root / "d.json", entries), args.repeat)
        t_read_json, _ = best_time(lambda: read_results_json(root / "d.json"), args.repeat)
        lookup = GtLookup(tuple(range(1, 5)), tuple(SCENES), (1,), ("car",))
        catalog = SceneCatalog(root, tuple(SCENES))
        expected = _boxes(entries)
        print(f"{args.n} detections on {len(SCENES)} scenes; COCO JSON: write {t_json:.3f} s, "
              f"read {t_read_json:.3f} s")
        for suffix in (".geojson", ".gpkg", ".parquet"):
            path = root / f"d{suffix}"
            t_write, _ = best_time(lambda path=path: write_geo_results(path, entries, headers), args.repeat)
            t_read, back = best_time(lambda path=path: read_geo_entries(path, lookup, catalog), args.repeat)
            diff = float(np.abs(_boxes(back) - expected).max())  # type: ignore[arg-type]
            size = path.stat().st_size / 2**20
            print(f"{suffix}: write {t_write:.3f} s ({t_write / t_json:.1f}x the JSON), {size:.1f} MiB; "
                  f"read back to pixels {t_read:.3f} s ({t_read / t_read_json:.1f}x); "
                  f"max |diff| {diff:.1e} px")
            report(f"write {args.n} detections as {suffix}", "write_results_json (COCO JSON)",
                   t_json / t_write, "none stated", f"{t_write:.3f} s vs {t_json:.3f} s, {size:.1f} MiB",
                   None)  # fmt: skip
            report(f"read {args.n} {suffix} detections back to pixel boxes", "read_results_json (COCO JSON)",
                   t_read_json / t_read, "none stated",
                   f"{t_read:.3f} s vs {t_read_json:.3f} s, max |diff| {diff:.1e} px", None)  # fmt: skip
        t_gdal, _ = best_time(lambda: gdal_geojson(root / "gdal.geojson", entries, headers), args.repeat)
        t_ours, _ = best_time(lambda: write_geo_results(root / "d.geojson", entries, headers), args.repeat)
        print(f"GeoJSON: ours {t_ours:.3f} s, GDAL driver {t_gdal:.3f} s, GDAL/ours = {t_gdal / t_ours:.2f}")
        report(f"write {args.n} detections as GeoJSON", "GDAL GeoJSON driver (pyogrio.raw.write)",
               t_gdal / t_ours, "none stated", f"{t_ours:.3f} s vs {t_gdal:.3f} s", None)  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark: streaming xView GeoJSON parsing, tiledet's chunked ``raw_decode`` reader versus ijson.

Generates an xView-like FeatureCollection (compact JSON, real property names, polygon geometry) of
about ``--mb`` megabytes in a temp dir, then parses it in fresh subprocesses with

* ``tiledet``: :func:`tiledet.formats.xview_geojson.parse_stream` (1 MB chunks, C ``raw_decode`` per feature),
* ``ijson-items``: ``ijson.items(f, "features.item", use_float=True)`` (yajl2_c backend),
* ``ijson-props``: ``ijson.items(f, "features.item.properties")`` (skips building geometry objects),
* ``json.load``: the whole file at once (reference for memory),

each feeding every feature through the same per-feature check, and prints wall and CPU seconds,
features per CPU second, peak RSS (MB) and the ratio of each approach's CPU time to tiledet's (CPU
time is steadier than wall time on a shared machine). All approaches must find the same boxes. No
speed target is stated; each peer's CPU-time ratio is reported with "same boxes" as its target.

Usage::

    .venv/bin/python benchmarks/bench_geojson_parse.py            # ~100 MB file
    .venv/bin/python benchmarks/bench_geojson_parse.py --quick    # ~5 MB, a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import report

APPROACHES = ("tiledet", "ijson-items", "ijson-props", "json.load")


def generate(path: Path, target_mb: float, seed: int = 0) -> int:
    """Write an xView-like GeoJSON of about ``target_mb`` MB; returns the number of features."""
    rng = random.Random(seed)
    type_ids = [11, 12, 13, 15, 17, 18, 19, 20, 21, 23, 73, 75, 82, 91, 94]
    target = int(target_mb * 1e6)
    written = 0
    n = 0
    with path.open("w", encoding="utf-8") as f:
        head = '{"crs": {"properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}, "type": "name"}, '
        head += '"type": "FeatureCollection", "features": ['
        f.write(head)
        written += len(head)
        while written < target:
            x0, y0 = rng.randint(0, 3000), rng.randint(0, 3000)
            x1, y1 = x0 + rng.randint(5, 80), y0 + rng.randint(5, 80)
            lon, lat = -90.5 + rng.random() * 1e-2, 14.5 + rng.random() * 1e-2
            ring = [[lon, lat], [lon, lat + 1e-4], [lon + 1e-4, lat + 1e-4], [lon + 1e-4, lat], [lon, lat]]
            feature = {
                "type": "Feature",
                "properties": {
                    "bounds_imcoords": f"{x0},{y0},{x1},{y1}",
                    "edited_by": "wwoscarbecerril",
                    "cat_id": "1040010028371A00",
                    "type_id": rng.choice(type_ids),
                    "ingest_time": "2017/07/24 12:49:09.118+00",
                    "index_right": 2356,
                    "image_id": f"{rng.randint(0, 849) + 100}.tif",
                    "point_geom": "0101000020E6100000616E4E6406A256C03BE6ADA0D6212D40",
                    "feature_id": n,
                    "grid_file": "Grid2.shp",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
            text = ("" if n == 0 else ", ") + json.dumps(feature)
            f.write(text)
            written += len(text)
            n += 1
        f.write("]}\n")
    return n


def run_one(approach: str, path: Path) -> dict[str, float]:
    """Parse ``path`` with one approach (in this process); returns timing, boxes and peak RSS."""
    from tiledet.formats import xview_geojson

    start, cpu_start = time.perf_counter(), time.process_time()
    if approach == "tiledet":
        with path.open("rb") as f:
            raw = xview_geojson.parse_stream(f, str(path))
    else:
        parser = xview_geojson._Parser(None, str(path), False, "")
        for index, feature in enumerate(_features(approach, path)):
            parser._feature(index, feature)
        raw = parser.builder.build()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    checksum = float(raw.xyxy.sum()) + sum(raw.class_keys)
    return {"seconds": seconds, "cpu": cpu, "boxes": len(raw), "checksum": checksum, "peak_rss_mb": peak_mb}


def _features(approach: str, path: Path):
    import ijson

    if approach == "json.load":
        with path.open("rb") as f:
            yield from json.load(f)["features"]
    elif approach == "ijson-items":
        with path.open("rb") as f:
            yield from ijson.items(f, "features.item", use_float=True)
    elif approach == "ijson-props":
        with path.open("rb") as f:
            for props in ijson.items(f, "features.item.properties", use_float=True):
                yield {"properties": props}
    else:
        raise SystemExit(f"unknown approach {approach!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="generated file size in MB (default 100)")
    parser.add_argument("--quick", action="store_true", help="smoke run on a ~5 MB file (overrides --mb)")
    parser.add_argument("--run", nargs=2, metavar=("APPROACH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run[0], Path(args.run[1]))))
        return
    import ijson

    mb = 5.0 if args.quick else args.mb
    with tempfile.TemporaryDirectory(prefix="bench_geojson_") as tmp:
        path = Path(tmp) / "xView_train.geojson"
        n = generate(path, mb)
        size_mb = path.stat().st_size / 1e6
        print(f"file: {size_mb:.1f} MB, {n} features; ijson backend: {ijson.backend}")
        results = {}
        for approach in APPROACHES:
            out = subprocess.run(
                [sys.executable, __file__, "--run", approach, str(path)],
                check=True, capture_output=True, text=True,
            )
            results[approach] = json.loads(out.stdout)
        base = results["tiledet"]
        header = ("approach", "wall s", "CPU s", "features/s (CPU)", "peak RSS MB", "CPU / tiledet")
        widths = (-12, 7, 6, 17, 12, 14)
        print(" ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
        for approach, r in results.items():
            same = r["boxes"] == base["boxes"] and abs(r["checksum"] - base["checksum"]) < 1e-6
            print(
                f"{approach:<12} {r['seconds']:7.2f} {r['cpu']:6.2f} {r['boxes'] / r['cpu']:17.0f} "
                f"{r['peak_rss_mb']:12.0f} {r['cpu'] / base['cpu']:14.2f}"
                + ("" if same else "  (DIFFERENT BOXES)")
            )
        peers = {
            "ijson-items": f'ijson.items "features.item" ({ijson.backend})',
            "ijson-props": f'ijson.items "features.item.properties" ({ijson.backend})',
            "json.load": "json.load (whole file)",
        }
        for approach, peer in peers.items():
            r = results[approach]
            same = r["boxes"] == base["boxes"] and abs(r["checksum"] - base["checksum"]) < 1e-6
            report(f"xView GeoJSON streaming parse ({size_mb:.0f} MB, {n} features), CPU time", peer,
                   r["cpu"] / base["cpu"], "same boxes (no speed target)",
                   f"{base['cpu']:.2f} vs {r['cpu']:.2f} CPU-s; peak RSS {base['peak_rss_mb']:.0f} vs "
                   f"{r['peak_rss_mb']:.0f} MB", same)  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark: xView GeoJSON -> YOLO labels, tiledet vs the converter in Ultralytics' ``xView.yaml``.

Generates an xView-sized ``xView_train.geojson`` (default 600k features over 850 image ids, each
feature shaped like the real ones: ``bounds_imcoords`` string, ``type_id``, ``image_id``, the other
properties and a Polygon geometry) plus stub images (one all-zero grayscale PNG per image size,
compressed once, its bytes copied to every file: readers learn the size from the header). Then, in
one run, converts it

* with tiledet: ``tiledet.convert.pipeline.convert`` (all images to ``train``, labels + image links);
* with the peer: the ``convert_labels`` function of the installed Ultralytics package's
  ``cfg/datasets/xView.yaml`` ``download`` script (only its imports and that function are executed);

each in its own child process (so peak memories are separate), checks that both wrote the same label
files (same lines and class indices, values equal within 1e-6), and prints the wall times, the
speed-up ratio (target >= 5x), both peak memories (peak RSS minus the RSS after imports) and the
GeoJSON size (target: tiledet's peak below it).

Usage::

    .venv/bin/python benchmarks/bench_convert_xview.py            # 600k boxes, 850 images
    .venv/bin/python benchmarks/bench_convert_xview.py --quick    # 20k boxes, 40 images (seconds)
    .venv/bin/python benchmarks/bench_convert_xview.py --boxes 100000 --images 200
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from _report import report

#: Stub image sizes (width, height); image k gets size k % len(SIZES).
SIZES = ((3000, 3000), (2800, 3200), (3500, 2600))
#: Share of features with type ids 75/82 (in real xView, not among the 60 classes; both tools drop them).
UNKNOWN_FRACTION = 0.001

_FEATURE = (
    '{"type": "Feature", "properties": {"bounds_imcoords": "%d,%d,%d,%d", "edited_by": "%s", '
    '"cat_id": "%s", "type_id": %d, "ingest_time": "2017/07/%02d %02d:%02d:%02d.%03d+00", '
    '"index_right": %d, "image_id": "%s", "point_geom": "0101000020E6100000%016X%016X", '
    '"feature_id": %d, "grid_file": "Grid%d.shp"}, "geometry": {"type": "Polygon", "coordinates": '
    "[[[%.14f, %.14f], [%.14f, %.14f], [%.14f, %.14f], [%.14f, %.14f], [%.14f, %.14f]]]}}"
)
_HEAD = (
    '{"crs": {"properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}, "type": "name"}, '
    '"type": "FeatureCollection", "features": [\n'
)
_EDITORS = ("wwoscarbecerril", "wwjoshuadavis", "wwkatherinegreen", "wwmarkus", "wwlisaperez")


# ------------------------------------------------------------------------------------------ data


def _stub_png(size_wh: tuple[int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", size_wh, 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _xview_type_ids() -> list[int]:
    from tiledet.labels.classes import ClassMap

    ids = ClassMap.xview().ids
    assert ids is not None
    return list(ids)


def _feature_lines(rng: np.random.Generator, n: int, names: list[str], sizes: np.ndarray) -> list[str]:
    """``n`` GeoJSON feature strings, boxes inside their image and at least 2 px on each side."""
    type_ids = np.array(_xview_type_ids())
    weights = rng.zipf(1.6, len(type_ids)).astype(np.float64)
    classes = rng.choice(type_ids, n, p=weights / weights.sum())
    unknown = rng.random(n) < UNKNOWN_FRACTION
    classes[unknown] = rng.choice([75, 82], int(unknown.sum()))
    per_image = rng.lognormal(0.0, 0.8, len(names))
    image_idx = rng.choice(len(names), n, p=per_image / per_image.sum())
    wh_img = sizes[image_idx]
    box_wh = np.clip(rng.lognormal(np.log(18), 0.6, (n, 2)), 2, 400).astype(np.int64)
    x0 = (rng.random(n) * (wh_img[:, 0] - box_wh[:, 0])).astype(np.int64)
    y0 = (rng.random(n) * (wh_img[:, 1] - box_wh[:, 1])).astype(np.int64)
    x1, y1 = x0 + box_wh[:, 0], y0 + box_wh[:, 1]
    lon0 = -90.5317 + x0 * 3.45e-6
    lat0 = 14.5660 - y0 * 3.39e-6
    lon1, lat1 = lon0 + box_wh[:, 0] * 3.45e-6, lat0 - box_wh[:, 1] * 3.39e-6
    stamp = rng.integers(0, 1000, (n, 5))
    geom = rng.integers(0, 2**63, (n, 2), dtype=np.int64)
    rows = zip(
        x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), rng.integers(0, len(_EDITORS), n).tolist(),
        classes.tolist(), stamp.tolist(), image_idx.tolist(), geom.tolist(),
        lon0.tolist(), lat0.tolist(), lon1.tolist(), lat1.tolist(), strict=True,
    )  # fmt: skip
    lines = []
    for fid, (a, b, c, d, ed, cls, st, im, g, lo0, la0, lo1, la1) in enumerate(rows):
        lines.append(
            _FEATURE
            % (
                a, b, c, d, _EDITORS[ed], "1040010028371A00", cls, 1 + st[0] % 28, st[1] % 24, st[2] % 60,
                st[3] % 60, st[4], 1000 + im, names[im], g[0], g[1], 300000 + fid, 1 + im % 3,
                lo0, la0, lo0, la1, lo1, la1, lo1, la0, lo0, la0,
            )
        )
    return lines


def generate(root: Path, n_boxes: int, n_images: int, seed: int) -> Path:
    """Write ``root/xView_train.geojson`` and ``root/train_images/*.tif``; returns the GeoJSON path."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(100, 100 + 4 * n_images), n_images, replace=False))
    names = [f"{k}.tif" for k in ids.tolist()]
    sizes = np.array([SIZES[k % len(SIZES)] for k in ids.tolist()], dtype=np.int64)
    images = root / "train_images"
    images.mkdir(parents=True)
    stubs = {size: _stub_png(size) for size in SIZES}
    for name, (w, h) in zip(names, sizes.tolist(), strict=True):
        (images / name).write_bytes(stubs[(w, h)])
    path = root / "xView_train.geojson"
    with path.open("w", encoding="utf-8") as f:
        f.write(_HEAD)
        done = 0
        while done < n_boxes:
            batch = min(100_000, n_boxes - done)
            lines = _feature_lines(rng, batch, names, sizes)
            f.write((",\n" if done else "") + ",\n".join(lines))
            done += batch
        f.write("\n]}\n")
    return path


# --------------------------------------------------------------------------------------- runners


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> int:
    """Reset this process's peak RSS to its current RSS (Linux ``clear_refs`` 5) and return that RSS.

    The peak is read from ``VmHWM``, which belongs to the process's own address space: unlike
    ``ru_maxrss`` it does not carry over the parent's RSS from before ``exec`` (the parent has imported
    Ultralytics, hence torch, to read its ``xView.yaml``).
    """
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _rss_bytes()


def _peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _run_tiledet(geojson: str, out: str) -> tuple[float, int, int]:
    """Child process: convert with tiledet; returns (seconds, rss after imports, peak rss)."""
    import PIL.Image  # noqa: F401  (imported before the baseline, as the peer's imports are)

    from tiledet.convert.config import ConvertConfig
    from tiledet.convert.pipeline import convert

    base = _reset_peak_rss()
    start = time.perf_counter()
    src = Path(geojson)
    cfg = ConvertConfig(src=src, images_dir=src.parent / "train_images", out=Path(out), fmt="xview-geojson",
                        to="yolo", val_fraction=0.0)  # fmt: skip
    convert(cfg)
    return time.perf_counter() - start, base, _peak_rss_bytes()


def peer_convert_labels_source() -> str:
    """Imports and ``convert_labels`` of the installed Ultralytics ``xView.yaml`` download script."""
    import ultralytics
    import yaml

    yaml_path = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "xView.yaml"
    script = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))["download"]
    tree = ast.parse(script)
    keep = [
        node for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        or (isinstance(node, ast.FunctionDef) and node.name == "convert_labels")
    ]  # fmt: skip
    if not any(isinstance(node, ast.FunctionDef) for node in keep):
        raise RuntimeError(f"{yaml_path}: no convert_labels function in the download script")
    source = "\n\n".join(ast.get_source_segment(script, node) or ast.unparse(node) for node in keep)
    return re.sub(r"\bnp\.float\b(?!\d|_)", "float", source)  # np.float was removed from numpy


def _run_peer(geojson: str, source: str) -> tuple[float, int, int]:
    """Child process: exec the peer's ``convert_labels``; returns (seconds, rss after imports, peak rss)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # its progress bar and per-label warnings
    os.dup2(devnull, 2)
    namespace: dict = {"__name__": "xview_yaml_download"}
    exec(compile(source, "xView.yaml:download", "exec"), namespace)
    base = _reset_peak_rss()
    start = time.perf_counter()
    namespace["convert_labels"](Path(geojson))
    return time.perf_counter() - start, base, _peak_rss_bytes()


def _in_child(func, *args):  # type: ignore[no-untyped-def]
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


# ---------------------------------------------------------------------------------------- checks


def _read_labels(folder: Path) -> dict[str, np.ndarray]:
    """Non-empty label files of ``folder``: stem -> (N, 5) array ``cls cx cy w h``."""
    out = {}
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text()
        if text:
            out[path.name] = np.array(text.split(), dtype=np.float64).reshape(-1, 5)
    return out


def compare_labels(ours: Path, peer: Path, atol: float = 1e-6) -> tuple[bool, str]:
    """Same label files, same number of lines, same classes, values within ``atol``."""
    a, b = _read_labels(ours), _read_labels(peer)
    if a.keys() != b.keys():
        only_ours, only_peer = len(a.keys() - b.keys()), len(b.keys() - a.keys())
        return False, f"different label files: {only_ours} only from tiledet, {only_peer} only from the peer"
    lines = 0
    for name in a:
        x, y = a[name], b[name]
        if x.shape != y.shape:
            return False, f"{name}: {len(x)} lines (tiledet) vs {len(y)} (peer)"
        if not np.array_equal(x[:, 0], y[:, 0]):
            return False, f"{name}: class indices differ"
        diff = float(np.abs(x[:, 1:] - y[:, 1:]).max(initial=0.0))
        if diff > atol:
            return False, f"{name}: values differ by {diff:g}"
        lines += len(x)
    return True, f"{len(a)} files, {lines} lines identical (values within {atol:g})"


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=600_000, help="features to generate (default 600000)")
    parser.add_argument("--images", type=int, default=850, help="image ids (default 850)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20000 boxes over 40 images")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.quick:
        args.boxes, args.images = 20_000, 40
    scratch = Path(tempfile.mkdtemp(prefix="bench_convert_xview_", dir=args.workdir))
    try:
        return _bench(scratch, args.boxes, args.images, args.seed, args.quick)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _bench(scratch: Path, n_boxes: int, n_images: int, seed: int, quick: bool = False) -> int:
    """Generate, convert with both tools, compare and print; ``quick``: the targets are not judged."""
    t0 = time.perf_counter()
    geojson = generate(scratch / "xView", n_boxes, n_images, seed)
    size_mb = geojson.stat().st_size / 2**20
    print(f"generated {n_boxes} features over {n_images} images: {geojson.name} {size_mb:.1f} MiB "
          f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    source = peer_convert_labels_source()
    ours_s, ours_base, ours_peak = _in_child(_run_tiledet, str(geojson), str(scratch / "tiledet_out"))
    peer_s, peer_base, peer_peak = _in_child(_run_peer, str(geojson), source)
    same, detail = compare_labels(scratch / "tiledet_out/labels/train", geojson.parent / "labels/train")
    ours_mb, peer_mb = (ours_peak - ours_base) / 2**20, (peer_peak - peer_base) / 2**20
    print(f"tiledet convert:               {ours_s:8.2f} s   peak memory {ours_mb:8.1f} MiB above baseline")
    print(f"ultralytics xView.yaml convert:{peer_s:8.2f} s   peak memory {peer_mb:8.1f} MiB above baseline")
    print(f"speed-up tiledet/peer: {peer_s / ours_s:.2f}x (target >= 5x)")
    print(f"tiledet peak {ours_mb:.1f} MiB vs GeoJSON file {size_mb:.1f} MiB: "
          f"{'below' if ours_mb < size_mb else 'NOT below'} (target: below)")  # fmt: skip
    print(f"labels: {'identical' if same else 'DIFFERENT'}: {detail}")
    what = f"xView GeoJSON -> YOLO labels ({n_boxes} boxes, {n_images} images)"
    peer = "ultralytics xView.yaml convert_labels"
    report(f"{what}, speed", peer, peer_s / ours_s, ">= 5x", f"{ours_s:.2f} s vs {peer_s:.2f} s",
           None if quick else peer_s / ours_s >= 5)  # fmt: skip
    report(f"{what}, tiledet peak memory vs GeoJSON size", "the GeoJSON file", size_mb / ours_mb,
           "peak < file (ratio file/peak > 1)",
           f"{ours_mb:.1f} MiB vs {size_mb:.1f} MiB file (ultralytics peak {peer_mb:.1f} MiB)",
           None if quick else ours_mb < size_mb)  # fmt: skip
    report(f"{what}, same label files", peer, None, "identical (within 1e-6)", detail, same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: tiling scenes with tiledet vs SAHI's ``sahi.slicing.slice_coco``, in one run.

Both tools cut the same synthetic xView-style scenes (``tiledet.synth``, 3000x3000 px, ~280 boxes
each) into the same T x T tiles with the same overlap and minimum kept-area ratio, write PNG tiles
and a COCO file, and run in their own child process; the parent samples the resident memory of each
child and all its descendants (tiledet's worker processes included) every 20 ms.

Semantics checked from SAHI's source (``sahi/slicing.py``, 0.12):

- Layout: ``get_slice_bboxes`` steps by ``T - int(overlap * T)`` and snaps the last row/column to
  the image edge; ``tiledet.geometry.tile_offsets`` steps by ``round(T * (1 - overlap))`` and snaps the
  same way. With the defaults (T = 640, overlap 0.2 -> stride 512 for both) the windows are identical;
  the script checks that, and compares boxes only on identical windows.
- Kept boxes: SAHI keeps an annotation in a slice when it overlaps the slice (strictly) and
  ``area(box ∩ slice) / area(box) >= min_area_ratio``; tiledet's rule is the same with
  ``min_visibility``. SAHI keeps slivers narrower than 1 px, tiledet drops them by design; such
  pieces are counted separately and excluded from the comparison.
- Empty tiles: SAHI's ``ignore_negative_samples=False`` writes every slice, so tiledet runs with
  ``empty_fraction=1.0``.
- PNG encoding: SAHI saves with Pillow (zlib level 6); tiledet with OpenCV (level 1, faster, larger
  files). Output sizes are printed.

Usage::

    .venv/bin/python benchmarks/bench_tiling_sahi.py            # 20 scenes, automatic workers
    .venv/bin/python benchmarks/bench_tiling_sahi.py --quick    # 2 scenes of 1500 px, smoke test
    .venv/bin/python benchmarks/bench_tiling_sahi.py --big 10000  # memory of one 10000x10000 scene
    # noisy scenes (sensor-like pixels) plus the real DOTA sample images
    DOTA=../shared/data/real/dota_vehicles/DOTA_demo
    .venv/bin/python benchmarks/bench_tiling_sahi.py --noise 12 --dota $DOTA
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _report import report

# SAHI must not try to fetch anything (no model is used here, but be explicit)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


def _make_scenes(folder: Path, scenes: int, size: int, seed: int, noise: float = 0.0) -> tuple[Path, Path]:
    """Synthetic scenes plus their COCO ground truth; returns (images folder, COCO json path).

    ``noise`` > 0 adds Gaussian sensor noise of that standard deviation (grey levels, per pixel and
    band, seeded) to every scene, which is then rewritten as an LZW TIFF: high-entropy pixels as in
    real sensor imagery, where PNG tiles compress poorly and encoders work hardest.
    """
    from tiledet.formats.coco import write_coco_json
    from tiledet.labels.load import load_labels
    from tiledet.synth.config import SynthConfig
    from tiledet.synth.generate import generate_scenes

    result = generate_scenes(SynthConfig(out=folder, scenes=scenes, size_wh=(size, size), seed=seed))
    if noise > 0:
        _add_noise(result.images_dir, noise, seed)
    coco = folder / "gt_coco.json"
    labels = load_labels(result.label_paths["xview-geojson"], images_dir=result.images_dir)
    write_coco_json(coco, labels.dataset)
    return result.images_dir, coco


def _add_noise(images_dir: Path, sigma: float, seed: int) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    for path in sorted(images_dir.glob("*.tif")):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        cv2.imwrite(str(path), np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_TIFF_COMPRESSION, 5])


def _dota_coco(dota_root: Path, folder: Path) -> tuple[Path, Path]:
    """COCO ground truth of a DOTA ``labelTxt`` + ``images`` folder (read in place, never copied)."""
    from tiledet.formats.coco import write_coco_json
    from tiledet.labels.load import load_dataset

    images = dota_root / "images"
    dataset = load_dataset(dota_root / "labelTxt", "dota", images).dataset
    folder.mkdir(parents=True, exist_ok=True)
    write_coco_json(folder / "gt_coco.json", dataset)
    return images, folder / "gt_coco.json"


def _run_tiledet(images_dir: str, coco: str, out: str, args: dict, conn) -> None:
    from tiledet.convert.config import TileConfig
    from tiledet.convert.tiling import write_tiled_dataset
    from tiledet.labels.load import load_dataset

    start = time.perf_counter()
    dataset = load_dataset(Path(coco), "coco", Path(images_dir)).dataset
    cfg = TileConfig(
        tile=args["tile"], overlap=args["overlap"], min_visibility=args["min_visibility"],
        empty_fraction=1.0, workers=args["workers"],
    )  # fmt: skip
    write_tiled_dataset(
        {"train": dataset.images}, Path(images_dir), Path(out), dataset.class_names, cfg, to="coco"
    )
    conn.send((time.perf_counter() - start, "torch" in sys.modules))


def _run_sahi(images_dir: str, coco: str, out: str, args: dict, conn) -> None:
    import logging

    os.environ["TQDM_DISABLE"] = "1"  # read when tqdm is imported
    from sahi.slicing import slice_coco

    logging.getLogger("sahi").setLevel(logging.ERROR)
    start = time.perf_counter()
    slice_coco(
        coco_annotation_file_path=coco,
        image_dir=images_dir,
        output_coco_annotation_file_name="sahi",
        output_dir=out,
        ignore_negative_samples=False,
        slice_height=args["tile"],
        slice_width=args["tile"],
        overlap_height_ratio=args["overlap"],
        overlap_width_ratio=args["overlap"],
        min_area_ratio=args["min_visibility"],
        verbose=False,
    )
    conn.send((time.perf_counter() - start, "torch" in sys.modules))


@dataclass(frozen=True)
class Run:
    """One measured run: wall seconds inside the call, CPU seconds of the whole process tree, memory."""

    seconds: float
    cpu_seconds: float
    torch_loaded: bool
    peak_tree_mib: float
    peak_one_mib: float


def _measure(target, *call_args) -> Run:
    """Run ``target`` in a spawned child; sample the RSS of the child and its descendants every 20 ms."""
    import resource

    import psutil

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = ctx.Process(target=target, args=(*call_args, child_conn))
    proc.start()
    root = psutil.Process(proc.pid)
    peak_tree = peak_one = 0
    while proc.is_alive():
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in members:
            try:
                rss = member.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            total += rss
            peak_one = max(peak_one, rss)
        peak_tree = max(peak_tree, total)
        time.sleep(0.02)
    proc.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.exitcode != 0 or not parent_conn.poll():
        raise SystemExit(f"{target.__name__} failed with exit code {proc.exitcode}")
    seconds, torch_loaded = parent_conn.recv()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu, torch_loaded, peak_tree / 2**20, peak_one / 2**20)


def _tiles_by_window(coco_path: Path, pattern: str) -> dict[tuple[str, int, int], list[tuple]]:
    """``(scene stem, x0, y0) -> sorted [(category_id, x0, y0, x1, y1)]`` in tile pixels."""
    data = json.loads(coco_path.read_text())
    key_of = {}
    for im in data["images"]:
        match = re.fullmatch(pattern, im["file_name"])
        if match is None:
            raise SystemExit(f"unexpected tile name {im['file_name']!r} in {coco_path}")
        key_of[im["id"]] = (match["stem"], int(match["x"]), int(match["y"]))
    tiles: dict[tuple[str, int, int], list[tuple]] = {key: [] for key in key_of.values()}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        tiles[key_of[ann["image_id"]]].append((ann["category_id"], x, y, x + w, y + h))
    return {key: sorted(boxes) for key, boxes in tiles.items()}


def _compare(tiledet_coco: Path, sahi_coco: Path) -> dict[str, int | float]:
    ours = _tiles_by_window(tiledet_coco, r"(?P<stem>.+)__x(?P<x>\d+)_y(?P<y>\d+)\.png")
    theirs = _tiles_by_window(sahi_coco, r"(?P<stem>.+)_\d+_(?P<x>\d+)_(?P<y>\d+)_\d+_\d+\.png")
    common = ours.keys() & theirs.keys()
    slivers = same_tiles = boxes = 0
    worst = 0.0
    for key in sorted(common):
        a = ours[key]
        b = [t for t in theirs[key] if t[3] - t[1] >= 1 and t[4] - t[2] >= 1]
        slivers += len(theirs[key]) - len(b)
        if len(a) == len(b) and all(p[0] == q[0] for p, q in zip(a, b, strict=True)):
            diff = max((abs(np.subtract(p[1:], q[1:])).max() for p, q in zip(a, b, strict=True)), default=0.0)
            worst = max(worst, float(diff))
            same_tiles += int(diff <= 1e-3)
            boxes += len(a)
    return {
        "windows_tiledet": len(ours),
        "windows_sahi": len(theirs),
        "windows_common": len(common),
        "tiles_with_same_boxes": same_tiles,
        "boxes_compared": boxes,
        "max_coord_diff_px": worst,
        "sahi_slivers_under_1px": slivers,
    }


def _write_plain_scene(folder: Path, side: int, boxes: int) -> Path:
    """One ``side``² RGB LZW TIFF (a smooth gradient, cheap to write) with random boxes; returns its COCO."""
    import cv2

    from tiledet.boxes import Boxes
    from tiledet.formats.coco import write_coco_json
    from tiledet.labels import ImageLabels, LabeledDataset

    (folder / "images").mkdir(parents=True, exist_ok=True)
    ramp = (np.arange(side, dtype=np.uint32) * 255 // max(side - 1, 1)).astype(np.uint8)
    image = np.empty((side, side, 3), np.uint8)
    image[:, :, 0] = ramp[None, :]
    image[:, :, 1] = ramp[:, None]
    image[:, :, 2] = 128
    cv2.imwrite(str(folder / "images/scene.tif"), image, [cv2.IMWRITE_TIFF_COMPRESSION, 5])
    del image
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, side - 60, (boxes, 2))
    xyxy = np.hstack([xy, xy + rng.uniform(8, 60, (boxes, 2))])
    scene = ImageLabels("scene.tif", (side, side), Boxes(xyxy, np.zeros(boxes, np.int64)))
    write_coco_json(folder / "gt_coco.json", LabeledDataset(("object",), (scene,)))
    return folder / "gt_coco.json"


def _big_scene_memory(scratch: Path, side: int, tile: int) -> None:
    """Tile one ``side``² scene with one worker; compare its peak RSS with a 64 px scene's (the baseline)."""
    args = {"tile": tile, "overlap": 0.2, "min_visibility": 0.5, "workers": 1}
    peaks = {}
    for label, px in (("baseline", 64), ("big", side)):
        coco = _write_plain_scene(scratch / label, px, 300)
        peaks[label] = _measure(
            _run_tiledet, str(scratch / label / "images"), str(coco), str(scratch / f"out_{label}"), args
        )
    scene_mib = side * side * 3 / 2**20
    tile_mib = tile * tile * 3 / 2**20
    big, base = peaks["big"], peaks["baseline"]
    more = big.peak_one_mib - base.peak_one_mib
    print(
        f"{side}x{side} scene: tiled in {big.seconds:.1f} s; peak RSS {big.peak_one_mib:.0f} MiB vs "
        f"{base.peak_one_mib:.0f} MiB for a 64 px scene ({more:.0f} MiB more), "
        f"for a decoded scene of {scene_mib:.0f} MiB plus a tile of {tile_mib:.1f} MiB"
    )
    report(f"tiling one {side}x{side} scene (tile {tile}, 1 worker), peak RSS", "a 64 px scene (baseline)",
           None, "none stated",
           f"{big.peak_one_mib:.0f} MiB vs {base.peak_one_mib:.0f} MiB ({more:.0f} MiB more; decoded scene "
           f"{scene_mib:.0f} MiB + tile {tile_mib:.1f} MiB)", None)  # fmt: skip


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=20, help="number of scenes (default 20)")
    parser.add_argument("--size", type=int, default=3000, help="scene side in px (default 3000)")
    parser.add_argument("--tile", type=int, default=640, help="tile side in px (default 640)")
    parser.add_argument("--overlap", type=float, default=0.2, help="tile overlap (default 0.2)")
    parser.add_argument("--min-visibility", type=float, default=0.5, help="min kept area ratio (default 0.5)")
    parser.add_argument(
        "--workers", type=int, default=0,
        help="tiledet worker processes (default 0: automatic, as the CLI: CPU count, fewer for small jobs)",
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="2 scenes of 1500 px: a smoke test in seconds")
    parser.add_argument(
        "--noise", type=float, default=0.0,
        help="Gaussian noise sigma (grey levels) added to the synthetic scenes (default 0: clean)",
    )
    parser.add_argument(
        "--dota", type=Path, default=None,
        help="also compare on a DOTA folder with labelTxt/ and images/ (e.g. ../shared/data/real/"
        "dota_vehicles/DOTA_demo; default off)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep scratch data in this folder (default: temp)"
    )
    parser.add_argument(
        "--big",
        type=int,
        default=0,
        help="only check memory: tile one scene of this side in px (default off)",
    )
    ns = parser.parse_args()
    if ns.big:
        scratch = Path(tempfile.mkdtemp(prefix="bench_tiling_big_"))
        try:
            _big_scene_memory(scratch, ns.big, ns.tile)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    if ns.quick:
        ns.scenes, ns.size = 2, 1500
    scratch = ns.keep or Path(tempfile.mkdtemp(prefix="bench_tiling_"))
    args = {
        "tile": ns.tile,
        "overlap": ns.overlap,
        "min_visibility": ns.min_visibility,
        "workers": ns.workers,
    }
    try:
        noisy = f", Gaussian noise sigma {ns.noise:g}" if ns.noise else ""
        print(
            f"scenes: {ns.scenes} x {ns.size}x{ns.size} px{noisy}; tile {ns.tile}, overlap {ns.overlap}, "
            f"min visibility {ns.min_visibility}; tiledet workers {ns.workers or 'auto'}; "
            f"cpus {os.cpu_count()}"
        )
        images_dir, coco = _make_scenes(scratch / "data", ns.scenes, ns.size, ns.seed, ns.noise)
        label = "synthetic" + (" (noisy)" if ns.noise else "")
        _compare_tools(label, images_dir, coco, scratch, args, ns.quick)
        if ns.dota is not None:
            images_dir, coco = _dota_coco(ns.dota, scratch / "dota")
            _compare_tools(f"DOTA ({ns.dota})", images_dir, coco, scratch / "dota", args, ns.quick)
    finally:
        if ns.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


def _compare_tools(
    label: str, images_dir: Path, coco: Path, scratch: Path, args: dict, quick: bool = False
) -> None:
    """Tile one dataset with both tools; print times, memory, PNG sizes, ratios and the box check.

    ``quick``: the speed target is not judged (too little work for a representative ratio).
    """
    data = json.loads(coco.read_text())
    n_boxes, n_scenes = len(data["annotations"]), len(data["images"])
    print(f"== {label}: {n_scenes} scenes, {n_boxes} boxes ({n_boxes / max(n_scenes, 1):.0f} per scene)")
    runs: dict[str, Run] = {}
    sizes: dict[str, int] = {}
    for name, target in (("tiledet", _run_tiledet), ("sahi", _run_sahi)):
        out = scratch / f"out_{name}"
        shutil.rmtree(out, ignore_errors=True)
        run = runs[name] = _measure(target, str(images_dir), str(coco), str(out), args)
        sizes[name] = _bytes(out)
        print(
            f"{name:8s} {run.seconds:7.2f} s wall, {run.cpu_seconds:7.2f} s CPU (all processes)   "
            f"peak RSS {run.peak_tree_mib:5.0f} MiB (all processes), {run.peak_one_mib:5.0f} MiB "
            f"(largest process)   PNG {sizes[name] / 2**20:6.1f} MiB   torch imported: {run.torch_loaded}"
        )
    print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")
    wall = runs["sahi"].seconds / runs["tiledet"].seconds
    cpu = runs["sahi"].cpu_seconds / runs["tiledet"].cpu_seconds
    print(f"speed ratio sahi / tiledet: {wall:.1f}x wall (target >= 5x), {cpu:.1f}x CPU time")
    png = sizes["tiledet"] / max(sizes["sahi"], 1)
    print(f"PNG bytes tiledet / sahi: {png:.2f} (target <= 1.25)")
    check = _compare(scratch / "out_tiledet/annotations/train.json", scratch / "out_sahi/sahi_coco.json")
    print("same kept boxes per tile:", json.dumps(check))
    ok = (
        check["windows_common"]
        == check["windows_tiledet"]
        == check["windows_sahi"]
        == check["tiles_with_same_boxes"]
    )
    print("identical windows and boxes (within 1e-3 px):", "yes" if ok else "NO")
    what = f"tiling {label}, {n_scenes} scenes, {args['tile']} px tiles"
    ours, theirs = runs["tiledet"], runs["sahi"]
    report(f"{what}: speed", "SAHI slice_coco", wall, ">= 5x (wall)",
           f"{ours.seconds:.2f} s vs {theirs.seconds:.2f} s wall, CPU ratio {cpu:.1f}x; peak RSS "
           f"{ours.peak_tree_mib:.0f} vs {theirs.peak_tree_mib:.0f} MiB (all processes)",
           None if quick else wall >= 5)  # fmt: skip
    report(f"{what}: PNG bytes tiledet / sahi", "SAHI slice_coco", png, "<= 1.25",
           f"{sizes['tiledet'] / 2**20:.1f} MiB vs {sizes['sahi'] / 2**20:.1f} MiB", png <= 1.25)  # fmt: skip
    report(f"{what}: same windows and kept boxes", "SAHI slice_coco", None, "identical (within 1e-3 px)",
           f"{check['tiles_with_same_boxes']}/{check['windows_common']} common windows same boxes "
           f"({check['windows_tiledet']} vs {check['windows_sahi']} windows); "
           f"{check['sahi_slivers_under_1px']} SAHI slivers < 1 px excluded", ok)  # fmt: skip


if __name__ == "__main__":
    main()

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

    .venv/bin/python benchmarks/bench_tiling_sahi.py            # 20 scenes, 2 workers
    .venv/bin/python benchmarks/bench_tiling_sahi.py --quick    # 2 scenes of 1500 px, smoke test
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
from pathlib import Path

import numpy as np

# SAHI must not try to fetch anything (no model is used here, but be explicit)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


def _make_scenes(folder: Path, scenes: int, size: int, seed: int) -> tuple[Path, Path]:
    """Synthetic scenes plus their COCO ground truth; returns (images folder, COCO json path)."""
    from tiledet.formats.coco import write_coco_json
    from tiledet.synth.generate import SynthConfig, generate_scenes

    result = generate_scenes(SynthConfig(out=folder, scenes=scenes, size_wh=(size, size), seed=seed))
    coco = folder / "gt_coco.json"
    write_coco_json(coco, result.to_dataset())
    return result.images_dir, coco


def _run_tiledet(images_dir: str, coco: str, out: str, args: dict, conn) -> None:
    from tiledet.convert.load import load_dataset
    from tiledet.convert.tiling import TileConfig, write_tiled_dataset

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

    from sahi.slicing import slice_coco

    logging.getLogger("sahi").setLevel(logging.ERROR)
    os.environ["TQDM_DISABLE"] = "1"
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


def _measure(target, *call_args) -> tuple[float, bool, float, float]:
    """Run ``target`` in a spawned child.

    Returns:
        (seconds inside the call, torch imported, peak RSS MiB of the process tree, of its largest process).
    """
    import psutil

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
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
    if proc.exitcode != 0 or not parent_conn.poll():
        raise SystemExit(f"{target.__name__} failed with exit code {proc.exitcode}")
    seconds, torch_loaded = parent_conn.recv()
    return seconds, torch_loaded, peak_tree / 2**20, peak_one / 2**20


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


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=20, help="number of scenes (default 20)")
    parser.add_argument("--size", type=int, default=3000, help="scene side in px (default 3000)")
    parser.add_argument("--tile", type=int, default=640, help="tile side in px (default 640)")
    parser.add_argument("--overlap", type=float, default=0.2, help="tile overlap (default 0.2)")
    parser.add_argument("--min-visibility", type=float, default=0.5, help="min kept area ratio (default 0.5)")
    parser.add_argument("--workers", type=int, default=2, help="tiledet worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="2 scenes of 1500 px: a smoke test in seconds")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep scratch data in this folder (default: temp)"
    )
    ns = parser.parse_args()
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
        print(
            f"scenes: {ns.scenes} x {ns.size}x{ns.size} px; tile {ns.tile}, overlap {ns.overlap}, "
            f"min visibility {ns.min_visibility}; tiledet workers {ns.workers}; cpus {os.cpu_count()}"
        )
        images_dir, coco = _make_scenes(scratch / "data", ns.scenes, ns.size, ns.seed)
        n_boxes = len(json.loads(coco.read_text())["annotations"])
        print(f"boxes: {n_boxes} ({n_boxes / ns.scenes:.0f} per scene)")
        runs = {}
        for name, target in (("tiledet", _run_tiledet), ("sahi", _run_sahi)):
            out = scratch / f"out_{name}"
            shutil.rmtree(out, ignore_errors=True)
            runs[name] = _measure(target, str(images_dir), str(coco), str(out), args)
            secs, torch_loaded, tree, one = runs[name]
            print(
                f"{name:8s} {secs:7.2f} s   peak RSS {tree:7.0f} MiB (all processes), {one:6.0f} MiB "
                f"(largest process)   PNG {_bytes(out) / 2**20:7.0f} MiB   torch imported: {torch_loaded}"
            )
        print(f"load average (1, 5, 15 min) after the runs: {os.getloadavg()}")
        print(f"speed ratio sahi / tiledet: {runs['sahi'][0] / runs['tiledet'][0]:.1f}x (target >= 5x)")
        check = _compare(scratch / "out_tiledet/annotations/train.json", scratch / "out_sahi/sahi_coco.json")
        print("same kept boxes per tile:", json.dumps(check))
        ok = (
            check["windows_common"]
            == check["windows_tiledet"]
            == check["windows_sahi"]
            == check["tiles_with_same_boxes"]
        )
        print("identical windows and boxes (within 1e-3 px):", "yes" if ok else "NO")
    finally:
        if ns.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

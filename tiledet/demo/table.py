"""The demo's side-by-side table of both detectors, built from ``tiledet eval``'s ``metrics.json``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from tiledet.demo.steps import DETECTORS, Layout, Step
from tiledet.geometry import tile_offsets
from tiledet.outdir import OutputDir
from tiledet.visualize import output_name

Row = tuple[str, dict[str, str]]


def _fmt_ap(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def build_table(metrics: dict, steps: Sequence, n_scenes: int, detectors: Sequence[str]) -> list[Row]:
    """Rows ``(label, {detector: text})``: mAP50, mAP50-95, per-class AP50, times and peak memory.

    Args:
        metrics: ``metrics.json`` of ``tiledet eval`` with one run per detector, in ``detectors`` order.
        steps: the demo's :class:`~tiledet.demo.runner.StepResult` list (for times and memory).
        n_scenes: validation scenes the detectors ran on.
        detectors: detector names, in the order of the eval runs.
    """
    runs = dict(zip(detectors, metrics.get("runs", []), strict=False))
    rows: list[Row] = [
        ("mAP50", {d: _fmt_ap(r["summary"].get("AP50")) for d, r in runs.items()}),
        ("mAP50-95", {d: _fmt_ap(r["summary"].get("AP")) for d, r in runs.items()}),
    ]
    class_names = [c["name"] for r in runs.values() for c in r["per_class"] if c.get("num_gt")]
    for name in dict.fromkeys(class_names):
        rows.append((f"AP50 {name}", {
            d: _fmt_ap(next((c["AP50"] for c in r["per_class"] if c["name"] == name), None))
            for d, r in runs.items()
        }))
    by_step = {s.name: s for s in steps}
    train = {"sliding": "classifier", "yolo": "yolo-train"}
    rows.append(("detection s/scene", {
        d: f"{by_step[d].wall_s / max(n_scenes, 1):.1f}" for d in detectors if d in by_step
    }))
    rows.append(("training time", {
        d: f"{by_step[train[d]].wall_s / 60:.1f} min" for d in detectors if train.get(d) in by_step
    }))
    rows.append(("peak memory", {
        d: f"{max(by_step[n].peak_rss_mib for n in (d, train[d]) if n in by_step):.0f} MiB"
        for d in detectors if d in by_step
    }))
    return rows


def draw_steps(lay: Layout, images: Path, scene: Path) -> list[Step]:
    """Steps drawing the validation scenes with the ground truth and each detector's boxes (score >= 0.25)."""

    return [
        Step(
            f"draw-{d}", f"draw the validation scenes with the ground truth and the {d} detector's boxes",
            ("draw", str(lay.detections(d)), "--gt", str(lay.gt), "--images", str(images),
             "--score-threshold", "0.25", "--out", str(lay.drawn / d)),
            (lay.drawn / d,),
        )
        for d in DETECTORS
    ]


def side_by_side(lay: Layout, scene: Path, od: OutputDir, crop_px: int = 640) -> Path | None:
    """One picture: the same crop of a drawn scene for each detector, side by side, titled.

    The crop (``crop_px`` square, or the whole scene when smaller) is centred on the densest part of
    the ground truth. Returns the written path, or None when a drawing is missing.
    """
    import cv2
    import numpy as np

    name = output_name(scene.name)
    panels = []
    for d in DETECTORS:
        bgr = cv2.imread(str(lay.drawn / d / name), cv2.IMREAD_COLOR)
        if bgr is None:
            return None
        panels.append((d, bgr))
    h, w = panels[0][1].shape[:2]
    x0, y0 = _dense_corner(lay.gt, scene.name, (w, h), crop_px)
    titles = {"sliding": "sliding window (CNN)", "yolo": "YOLO on tiles"}
    crops = []
    for d, bgr in panels:
        crop = np.ascontiguousarray(bgr[y0:y0 + crop_px, x0:x0 + crop_px])
        band = np.full((36, crop.shape[1], 3), 255, np.uint8)
        cv2.putText(band, titles[d], (8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
        crops.append(np.vstack([band, crop]))
    gap = np.full((crops[0].shape[0], 8, 3), 255, np.uint8)
    ok, data = cv2.imencode(".png", np.hstack([crops[0], gap, crops[1]]))
    return od.write_bytes("drawn/side_by_side.png", data.tobytes()) if ok else None


def _dense_corner(gt_path: Path, file_name: str, size_wh: tuple[int, int], crop_px: int) -> tuple[int, int]:
    """Top-left corner of the ``crop_px`` window holding the most ground-truth box centres."""
    import json

    import numpy as np

    w, h = size_wh
    if w <= crop_px and h <= crop_px:
        return 0, 0
    coco = json.loads(gt_path.read_text(encoding="utf-8"))
    ids = {im["id"] for im in coco["images"] if im["file_name"] == file_name}
    centres = np.array([[a["bbox"][0] + a["bbox"][2] / 2, a["bbox"][1] + a["bbox"][3] / 2]
                        for a in coco["annotations"] if a["image_id"] in ids] or [[w / 2, h / 2]])

    windows = tile_offsets((w, h), crop_px, 0.5)
    cx, cy = centres[:, 0], centres[:, 1]
    inside = [((cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)).sum() for x0, y0, x1, y1 in windows]
    x0, y0 = windows[int(np.argmax(inside))][:2]
    return int(x0), int(y0)

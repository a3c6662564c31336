"""The demo's side-by-side table of both detectors, built from ``tiledet eval``'s ``metrics.json``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from tiledet.demo.steps import Layout, Step

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


def draw_argv(lay: Layout, images: Path, scene: Path) -> Step | None:
    """The step that draws one validation scene with the ground truth and both detectors' boxes."""
    from tiledet.demo.steps import DETECTORS

    return Step(
        "draw", f"draw {scene.name} with the ground truth and both detectors' boxes",
        ("draw", *(str(lay.detections(d)) for d in DETECTORS), "--gt", str(lay.gt), "--images",
         str(images), "--out", str(lay.drawn)),
        (lay.drawn,),
    )

"""One evaluation end to end (what ``tiledet eval`` does) and its outputs: JSON, CSV, plots.

The terminal tables live in :mod:`tiledet.cli.tables`; this module never prints.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tiledet.evaluate.config import EvalConfig
from tiledet.evaluate.gt import GroundTruth, load_ground_truth
from tiledet.evaluate.metrics import RunMetrics, evaluate
from tiledet.outdir import OutputDir

#: Shown for pycocotools' -1 sentinel (no ground truth to score against).
NA = "n/a"


@dataclass(frozen=True, eq=False)
class EvalReport:
    """Everything one ``tiledet eval`` produced.

    Attributes:
        gt: the ground truth's description (:meth:`GroundTruth.to_dict`).
        cfg: the settings used.
        runs: one :class:`RunMetrics` per detections file, in command-line order.
        files: files written under ``--out`` (empty without it).
    """

    gt: dict
    cfg: EvalConfig
    runs: list[RunMetrics]
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``metrics.json`` content (NaN -> null)."""
        return {
            "ground_truth": self.gt,
            "params": {
                "iou_type": self.cfg.iou_type,
                "max_dets": self.cfg.max_dets_list,
                "backend": self.cfg.backend,
                "area_m2_edges": list(self.cfg.area_m2_edges),
            },
            "runs": [run.to_dict() for run in self.runs],
        }


def summary_label(key: str, max_dets: int) -> str:
    """Display label of a summary key (``AR@max`` -> ``AR@100``)."""
    return key.replace("@max", f"@{max_dets}")


def _csv_float(value: float) -> str:
    return NA if math.isnan(value) else repr(float(value))


def per_class_csv(runs: Sequence[RunMetrics]) -> str:
    """CSV text: one row per class, ``AP``/``AP50``/``num_det`` columns per run (``n/a`` for no GT)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["class", "category_id", "num_gt"]
    for run in runs:
        head += [f"AP_{run.name}", f"AP50_{run.name}", f"num_det_{run.name}"]
    writer.writerow(head)
    for k, cls in enumerate(runs[0].per_class if runs else ()):
        row: list[object] = [cls.name, cls.category_id, cls.num_gt]
        for run in runs:
            c = run.per_class[k]
            row += [_csv_float(c.ap), _csv_float(c.ap50), c.num_det]
        writer.writerow(row)
    return buf.getvalue()


def write_outputs(report: EvalReport, out: Path | OutputDir, plots: bool = True) -> list[Path]:
    """Write ``metrics.json``, ``per_class.csv`` and (with ``plots``) the PNG figures under ``out``.

    Args:
        report: the evaluation.
        out: an open :class:`~tiledet.outdir.OutputDir`, or a folder (opened with ``force=True``:
            files tiledet did not write are never overwritten).
        plots: also draw the figures.
    """
    if not isinstance(out, OutputDir):
        with OutputDir(out, command="eval", force=True) as od:
            return write_outputs(report, od, plots)
    files = [out.write_json("metrics.json", report.to_dict())]
    files.append(out.write_text("per_class.csv", per_class_csv(report.runs)))
    if plots:
        from tiledet.evaluate.plots import plot_ap50_bars, plot_pr_curves

        for run in report.runs:
            files.append(plot_pr_curves(run, out.path(f"pr_curve_{run.name}.png")))
        files.append(plot_ap50_bars(report.runs, out.path("ap50_per_class.png")))
    return files


def run_evaluation(
    gt: str | Path | GroundTruth,
    detections: Sequence[str | Path],
    cfg: EvalConfig,
    out: Path | None = None,
    plots: bool = True,
    force: bool = False,
) -> EvalReport:
    """Load the ground truth, evaluate every detections file, and write the outputs under ``out``.

    Args:
        gt: ground-truth file (see :func:`~tiledet.evaluate.gt.load_ground_truth`) or loaded ground truth.
        detections: COCO results JSON files or geo files (``.geojson``/``.gpkg``/``.parquet``, placed
            on the scenes under ``cfg.images_dir``: :mod:`tiledet.evaluate.geo_dets`), one run each.
        cfg: evaluation settings.
        out: output folder for ``metrics.json``, ``per_class.csv`` and figures; None writes nothing.
            A :class:`~tiledet.outdir.OutputDir`: refused when it is or lies inside/around the images
            folder, the ground truth, a detections file or the class file, or is a non-empty folder
            tiledet did not write (unless ``force``); figures of an earlier run there that this run
            does not draw are removed.
        plots: also draw ``pr_curve_<run>.png`` and ``ap50_per_class.png``.
        force: write into a non-empty ``out`` tiledet did not write (never touching its files).
    """
    od = None
    if out is not None:
        gt_path = None if isinstance(gt, GroundTruth) else Path(gt)  # every input is protected
        classes = cfg.classes if cfg.classes not in (None, "xview") else None
        od = OutputDir(Path(out), command="eval", force=force,
                       sources=[cfg.images_dir, gt_path, classes, *detections])
        od.check_target()  # fail before the (long) evaluation
    ground = gt if isinstance(gt, GroundTruth) else load_ground_truth(
        Path(gt), cfg.split, cfg.images_dir, cfg.fmt, cfg.classes
    )
    runs = evaluate(ground, list(detections), cfg)
    report = EvalReport(ground.to_dict(), cfg, runs)
    if od is not None:
        with od:
            report.files.extend(write_outputs(report, od, plots))
            od.remove_stale()
    return report


def metrics_json_text(report: EvalReport) -> str:
    """Machine-readable metrics (what ``--format json`` prints)."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def drop_notes(report: EvalReport) -> list[str]:
    """One line per run whose results file had entries that were not evaluated."""
    notes = []
    for run in report.runs:
        if run.counts.dropped:
            from tiledet.text import plural

            notes.append(
                f"{run.source}: {run.counts.dropped} of {plural(run.counts.entries, 'entry')} not evaluated: "
                f"{run.counts.summary()}"
            )
    drops = report.gt.get("dropped") or {}
    if drops:
        detail = ", ".join(f"{n} {reason}" for reason, n in drops.items())
        notes.append(f"{report.gt['source']}: ground-truth boxes dropped while converting: {detail}")
    return notes

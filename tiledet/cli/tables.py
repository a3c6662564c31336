"""Summary tables the commands print (rich); the library returns reports and never prints."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tiledet.convert.report import ConvertReport
    from tiledet.evaluate.report import EvalReport


def convert_summary_table(report: ConvertReport) -> Table:
    """Boxes in / written / dropped by reason, images and boxes per split, tiling/chips counts."""
    from rich.table import Table

    tiled = " (tiled)" if report.tiled else ""
    table = Table(title=f"tiledet convert: {report.fmt} -> {report.to}{tiled}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("boxes in", str(report.input_boxes))
    table.add_row("boxes written", str(report.written_boxes))
    for reason, count in report.dropped.items():
        if count:
            table.add_row(f"dropped: {reason}", str(count))
    for reason, count in report.skipped_images.items():
        table.add_row(f"images skipped: {reason}", str(count))
    for split, count in report.images_per_split.items():
        table.add_row(f"images {split}", f"{count} ({report.boxes_per_split.get(split, 0)} boxes)")
    for label, extra in (("tiling", report.tiling), ("chips", report.chips)):
        for key, value in _flat_counts(extra or {}):
            table.add_row(f"{label}: {key}", str(value))
    table.add_row("output", str(report.out))
    return table


def _flat_counts(obj: dict, prefix: str = "") -> list[tuple[str, int]]:
    """``(dotted key, int)`` pairs of a report dict, two levels deep, for the summary table."""
    rows: list[tuple[str, int]] = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool) or key == "seed":
            continue
        if isinstance(value, int):
            rows.append((name, value))
        elif isinstance(value, dict) and not prefix:
            rows.extend(_flat_counts(value, prefix=f"{name}."))
    return rows


def print_convert_summary(report: ConvertReport) -> None:
    """Print :func:`convert_summary_table` to stderr."""
    from rich.console import Console

    Console(stderr=True).print(convert_summary_table(report))


def _fmt(value: float) -> str:
    from tiledet.evaluate.report import NA

    return NA if math.isnan(value) else f"{value:.4f}"


def _eval_summary_table(report: EvalReport) -> Table:
    from rich.table import Table

    from tiledet.evaluate.metrics import SUMMARY_KEYS
    from tiledet.evaluate.report import summary_label

    summary = Table(title="summary", title_justify="left")
    summary.add_column("metric")
    for run in report.runs:
        summary.add_column(run.name, justify="right")
    for key in SUMMARY_KEYS:
        label = summary_label(key, report.cfg.max_dets)
        summary.add_row(label, *(_fmt(r.summary[key]) for r in report.runs))
    return summary


def _eval_per_class_table(report: EvalReport) -> tuple[Table, int]:
    """Per-class AP table and the number of classes hidden (neither ground truth nor detections)."""
    from rich.table import Table

    runs = report.runs
    per_class = Table(title="per class (n/a: no ground truth)", title_justify="left")
    per_class.add_column("class")
    per_class.add_column("GT", justify="right")
    for run in runs:
        per_class.add_column(f"AP {run.name}", justify="right")
        per_class.add_column(f"AP50 {run.name}", justify="right")
    hidden = 0
    for k, cls in enumerate(runs[0].per_class if runs else ()):
        if cls.num_gt == 0 and all(r.per_class[k].num_det == 0 for r in runs):
            hidden += 1  # a class nobody saw (e.g. most of xView's 60 on a small scene): CSV/JSON only
            continue
        cells = [cell for r in runs for cell in (_fmt(r.per_class[k].ap), _fmt(r.per_class[k].ap50))]
        per_class.add_row(cls.name, str(cls.num_gt), *cells)
    return per_class, hidden


def render_eval(report: EvalReport, console: Console) -> None:
    """Print the per-class table, the ground truth line, the summary table and dropped-entry notes."""
    from tiledet.evaluate.report import drop_notes

    per_class, hidden = _eval_per_class_table(report)
    console.print(per_class)
    if hidden:
        console.print(
            f"({hidden} classes with neither ground truth nor detections not shown)", soft_wrap=True
        )
    gt = report.gt
    console.print(
        f"ground truth: {gt['source']} ({gt['kind']}): {gt['images']} images, {gt['annotations']} boxes",
        soft_wrap=True,
    )
    console.print(_eval_summary_table(report))
    for note in drop_notes(report):
        console.print(f"[yellow]{note}[/yellow]")

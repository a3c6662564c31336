"""Summary tables the commands print (rich); the library returns reports and never prints.

Names and paths from the user's files are escaped (:func:`~tiledet.cli.richtext.esc`): rich prints
them as written instead of reading them as markup.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tiledet.cli.richtext import esc

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tiledet.convert.report import ConvertReport
    from tiledet.evaluate.report import EvalReport


def convert_summary_table(report: ConvertReport) -> Table:
    """What a user checks after a conversion: scenes, tiles or chips, boxes written, drops by reason.

    Internal counters (box pieces, visibility pairs, background kinds, ...) stay in ``report.json``.
    """
    from rich.table import Table

    from tiledet.text import plural

    splits = list(report.images_per_split)
    title = esc(f"tiledet convert: {report.fmt} -> {report.to}{_mode(report)}")
    table = Table(title=title, min_width=len(title) + 2)
    table.add_column("")
    for split in splits:
        table.add_column(esc(split), justify="right")
    table.add_column("total", justify="right")

    def row(label: str, per_split: dict) -> None:
        values = [int(per_split.get(split, 0)) for split in splits]
        table.add_row(label, *map(str, values), str(sum(values)))

    row("scenes", report.images_per_split)
    tiling = report.tiling or {}
    if tiling:
        row("tiles", {s: v.get("tiles", 0) for s, v in tiling.get("splits", {}).items()})
        nodata = {s: v.get("nodata_tiles", 0) for s, v in tiling.get("splits", {}).items()}
        if any(nodata.values()):
            row("tiles skipped: nodata", nodata)
    chips = report.chips or {}
    if chips:
        row("chips", _chips_per_split(chips))
        nodata_chips = sum(int(n) for n in (chips.get("nodata_chips") or {}).values())
        if nodata_chips:
            table.add_row("background chips skipped: nodata", *[""] * len(splits), str(nodata_chips))
    blank = [""] * len(splits)
    if sum(report.boxes_per_split.values()) == report.written_boxes:
        row("boxes written", report.boxes_per_split)
    else:  # tiling left some boxes in no tile: per split, only the boxes assigned are known
        row("boxes of the scenes", report.boxes_per_split)
        table.add_row("boxes written", *blank, str(report.written_boxes))
    table.add_row("boxes in the labels", *blank, str(report.input_boxes))
    for reason, count in report.dropped.items():
        if count:
            table.add_row(esc(f"dropped: {reason.replace('_', ' ')}"), *blank, str(count))
    for reason, count in report.skipped_images.items():
        label = f"{plural(count, 'image')} skipped: {reason.replace('_', ' ')}"
        table.add_row(esc(label), *blank, str(count))
    table.caption = f"-> {esc(report.out)} (details in report.json)"
    return table


def _mode(report: ConvertReport) -> str:
    tiling, chips = report.tiling or {}, report.chips or {}
    if tiling:
        return f", {tiling.get('tile', '?')} px tiles, overlap {tiling.get('overlap', '?')}"
    if chips:
        return f", {chips.get('chip_size', '?')} px chips"
    return ""


def _chips_per_split(chips: dict) -> dict[str, int]:
    """Chips written per split (every class folder, background included) from a chips report."""
    counts = chips.get("counts", {})
    return {
        split: sum(int(n) for n in per_class.values() if isinstance(n, int))
        for split, per_class in counts.items()
        if isinstance(per_class, dict)
    }


def print_convert_summary(report: ConvertReport) -> None:
    """Print :func:`convert_summary_table` to stderr."""
    from tiledet.cli.richtext import make_console

    make_console(stderr=True).print(convert_summary_table(report))


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
        summary.add_column(esc(run.name), justify="right")
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
        per_class.add_column(f"AP {esc(run.name)}", justify="right")
        per_class.add_column(f"AP50 {esc(run.name)}", justify="right")
    hidden = 0
    for k, cls in enumerate(runs[0].per_class if runs else ()):
        if cls.num_gt == 0 and all(r.per_class[k].num_det == 0 for r in runs):
            hidden += 1  # a class nobody saw (e.g. most of xView's 60 on a small scene): CSV/JSON only
            continue
        cells = [cell for r in runs for cell in (_fmt(r.per_class[k].ap), _fmt(r.per_class[k].ap50))]
        per_class.add_row(esc(cls.name), str(cls.num_gt), *cells)
    return per_class, hidden


def render_eval(report: EvalReport, console: Console) -> None:
    """Print the ground truth line, the summary table, the per-class table and dropped-entry notes."""
    from tiledet.evaluate.report import drop_notes
    from tiledet.text import plural

    gt = report.gt
    console.print(
        f"ground truth: {esc(gt['source'])} ({esc(gt['kind'])}): {plural(gt['images'], 'image')}, "
        f"{plural(gt['annotations'], 'box')}",
        soft_wrap=True,
    )
    console.print(_eval_summary_table(report))
    per_class, hidden = _eval_per_class_table(report)
    console.print(per_class)
    if hidden:
        console.print(
            f"({plural(hidden, 'class', 'classes')} with neither ground truth nor detections not shown)",
            soft_wrap=True,
        )
    for note in drop_notes(report):
        console.print(f"[yellow]{esc(note)}[/yellow]")


def results_text(out: object) -> str:
    """The detections file(s) of a detector's summary: ``dets.json``, or ``dets.geojson (+ COCO results
    dets.json)`` for a georeferenced output."""
    from tiledet.formats.geo_results import coco_sibling, geo_format

    if out is None or geo_format(str(out)) is None:
        return str(out)
    return f"{out} (+ COCO results {coco_sibling(str(out))})"

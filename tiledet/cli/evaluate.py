"""``tiledet eval``: a thin Typer layer that builds an :class:`EvalConfig` and calls ``run_evaluation``."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import typer

from tiledet.cli.defaults import default_of, default_text, given
from tiledet.cli.options import Force, Quiet
from tiledet.errors import ConfigError
from tiledet.evaluate.config import EvalConfig
from tiledet.formats import FORMAT_CHOICES as _FORMATS

_default = functools.partial(default_of, EvalConfig)


def parse_edges(text: str | None) -> tuple[float, ...] | None:
    """``"10,100"`` or ``"10 100"`` -> ``(10.0, 100.0)``; None for None.

    Raises:
        ConfigError: naming ``area_m2_edges``, for an item that is not a number.
    """
    if text is None:
        return None
    try:
        return tuple(float(item) for item in re.split(r"[,\s]+", text.strip()))
    except ValueError as e:
        raise ConfigError(
            f"area_m2_edges must be comma-separated numbers (m²) such as 10,100, got {text!r}",
            field="area_m2_edges",
        ) from e


def eval_command(
    gt: Path = typer.Argument(
        ...,
        metavar="GT",
        help="Ground truth: a COCO JSON, a YOLO data.yaml (see --split), or any label source "
        "'tiledet convert' reads (with --images). Required.",
    ),
    dets: list[Path] = typer.Argument(
        ...,
        metavar="DETS",
        help="One or more detection runs (shown side by side): COCO results JSON files, or detections in "
        "map coordinates (.geojson, .gpkg, .parquet, as 'tiledet detect --out' writes them; needs --images): "
        "each polygon is placed on its scene by its 'scene' property, else by the raster footprint holding "
        "it, and becomes the envelope of its corners in that scene's pixels. Required.",
    ),
    split: str | None = typer.Option(
        None, "--split", help=f"YOLO ground truth: data.yaml split. Default: {_default('split')}."
    ),
    max_dets: int | None = typer.Option(
        None,
        "--max-dets",
        help=f"Detections per image and class kept (maxDets = [1, 10, N]). Default: {_default('max_dets')}.",
    ),
    iou_type: str | None = typer.Option(
        None, "--iou-type", help=f"IoU type; only bbox. Default: {_default('iou_type')}."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for metrics.json, per_class.csv, pr_curve_<run>.png, ap50_per_class.png. "
        "Default: none (print only).",
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Image folder: for label sources without image sizes, for detections in map "
        "coordinates, and for AP by object size in m² (shown when every scene's GSD is known from its "
        "georeference). Default: none."
    ),
    fmt: str | None = typer.Option(
        None, "--from", help=f"Ground-truth format: {_FORMATS}. Default: auto (detected)."
    ),
    classes: str | None = typer.Option(
        None, "--classes", help="Label sources: 'xview' or a class file. Default: the source's classes."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Unknown images/categories or bad boxes are an error. Default: off (counted)."
    ),
    output_format: str = typer.Option(
        "table", "--format", help="Terminal output: table (rich) or json (metrics only). Default: table."
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="faster (faster-coco-eval; AP/AR equal to pycocotools' to 1e-9) or pycocotools (the "
        f"reference). Default: {_default('backend')}.",
    ),
    area_m2_edges: str | None = typer.Option(
        None, "--area-m2-edges", help="Edges in m² of the ranges of AP by object size on the ground "
        "(increasing, separated by commas or spaces; 10,100: < 10 m² cars and vans, 10-100 m² trucks and "
        f"buses, > 100 m² buildings). Default: {default_text(EvalConfig, 'area_m2_edges')}."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw PNG figures with --out. Default: on."),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Score detections (COCO results, or polygons in map coordinates) against ground truth with COCO mAP;
    with georeferenced scenes (--images), also AP by object size in m²."""
    from tiledet.evaluate import run_evaluation

    if output_format not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, got {output_format!r}")
    cfg = EvalConfig(
        images_dir=images, classes=classes, strict=strict,
        **given(max_dets=max_dets, iou_type=iou_type, split=split, backend=backend,
                area_m2_edges=parse_edges(area_m2_edges)),
        fmt=None if fmt == "auto" else fmt,
    )
    report = run_evaluation(gt, dets, cfg, out=out, plots=plots, force=force)
    if not quiet:
        _show(report, output_format)


def _show(report: object, output_format: str) -> None:
    from tiledet.cli.richtext import make_console
    from tiledet.cli.tables import render_eval
    from tiledet.evaluate.report import drop_notes, metrics_json_text

    if output_format == "json":
        typer.echo(metrics_json_text(report))  # type: ignore[arg-type]
        for note in drop_notes(report):  # type: ignore[arg-type]
            typer.echo(f"warning: {note}", err=True)
        return
    console = make_console()
    render_eval(report, console)  # type: ignore[arg-type]
    _show_area_m2(report, console)
    for path in report.files:  # type: ignore[attr-defined]
        typer.echo(f"wrote {path}")


def _show_area_m2(report: object, console: object) -> None:
    """The table of AP by object size in m² (one AP and GT count per range and run), or why there is none."""
    from rich.table import Table

    from tiledet.cli.richtext import esc
    from tiledet.evaluate.report import NA

    runs = report.runs  # type: ignore[attr-defined]
    if not runs or not runs[0].by_area_m2:
        note = runs[0].area_m2_note if runs else ""
        if note:
            console.print(f"(no AP by object size in m²: {esc(note)})", soft_wrap=True)  # type: ignore[attr-defined]
        return
    table = Table(title="by object size on the ground (m²)", title_justify="left",
                  caption="areas in m² from each scene's GSD", caption_justify="left")
    table.add_column("area m²")
    table.add_column("GT", justify="right")
    for run in runs:
        table.add_column(f"AP {esc(run.name)}", justify="right")
        table.add_column(f"AP50 {esc(run.name)}", justify="right")
    for k, row in enumerate(runs[0].by_area_m2):
        values = [v for r in runs for v in (r.by_area_m2[k].ap, r.by_area_m2[k].ap50)]
        cells = [NA if math.isnan(v) else f"{v:.4f}" for v in values]
        table.add_row(row.label, str(row.num_gt), *cells)
    console.print(table)  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to ``app``."""
    app.command("eval")(eval_command)

"""``tiledet eval``: a thin Typer layer that builds an :class:`EvalConfig` and calls ``run_evaluation``."""

from __future__ import annotations

from pathlib import Path

import typer

from tiledet.errors import ConfigError
from tiledet.formats import FORMAT_CHOICES as _FORMATS


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
        help="One or more COCO results JSON files (one run each, shown side by side). Required.",
    ),
    split: str = typer.Option("val", "--split", help="YOLO ground truth: data.yaml split. Default: val."),
    max_dets: int = typer.Option(
        100, "--max-dets", help="Detections per image and class kept (maxDets = [1, 10, N]). Default: 100."
    ),
    iou_type: str = typer.Option("bbox", "--iou-type", help="IoU type; only bbox. Default: bbox."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for metrics.json, per_class.csv, pr_curve_<run>.png, ap50_per_class.png. "
        "Default: none (print only).",
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Image folder, for label sources without image sizes. Default: none."
    ),
    fmt: str = typer.Option("auto", "--from", help=f"Ground-truth format: {_FORMATS}. Default: auto."),
    classes: str | None = typer.Option(
        None, "--classes", help="Label sources: 'xview' or a class file. Default: the source's classes."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Unknown images/categories or bad boxes are an error. Default: off (counted)."
    ),
    output_format: str = typer.Option(
        "table", "--format", help="Terminal output: table (rich) or json (metrics only). Default: table."
    ),
    backend: str = typer.Option(
        "faster",
        "--backend",
        help="faster (faster-coco-eval; AP/AR equal to pycocotools' to 1e-9) or pycocotools (the "
        "reference). Default: faster.",
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw PNG figures with --out. Default: on."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty --out that tiledet did not create; its files are still never "
        "removed or overwritten. Default: off (refused).",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="Print nothing but errors (files are still written). Default: off."
    ),
) -> None:
    """Score COCO-results detections against ground truth with COCO mAP."""
    from tiledet.evaluate import EvalConfig, run_evaluation

    if output_format not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, got {output_format!r}")
    cfg = EvalConfig(
        max_dets=max_dets, iou_type=iou_type, split=split, images_dir=images,
        fmt=None if fmt == "auto" else fmt, classes=classes, strict=strict, backend=backend,
    )
    report = run_evaluation(gt, dets, cfg, out=out, plots=plots, force=force)
    if not quiet:
        _show(report, output_format)


def _show(report: object, output_format: str) -> None:
    from rich.console import Console

    from tiledet.cli.tables import render_eval
    from tiledet.evaluate.report import drop_notes, metrics_json_text

    if output_format == "json":
        typer.echo(metrics_json_text(report))  # type: ignore[arg-type]
        for note in drop_notes(report):  # type: ignore[arg-type]
            typer.echo(f"warning: {note}", err=True)
        return
    render_eval(report, Console())  # type: ignore[arg-type]
    for path in report.files:  # type: ignore[attr-defined]
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to ``app``."""
    app.command("eval")(eval_command)

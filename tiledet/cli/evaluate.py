"""``tiledet eval``: a thin Typer layer that builds an :class:`EvalConfig` and calls ``run_evaluation``."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from tiledet.cli.defaults import default_of, given
from tiledet.cli.options import Force, Quiet
from tiledet.errors import ConfigError
from tiledet.evaluate.config import EvalConfig
from tiledet.formats import FORMAT_CHOICES as _FORMATS

_default = functools.partial(default_of, EvalConfig)


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
        None, "--images", help="Image folder, for label sources without image sizes. Default: none."
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
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw PNG figures with --out. Default: on."),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Score COCO-results detections against ground truth with COCO mAP."""
    from tiledet.evaluate import run_evaluation

    if output_format not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, got {output_format!r}")
    cfg = EvalConfig(
        images_dir=images, classes=classes, strict=strict,
        **given(max_dets=max_dets, iou_type=iou_type, split=split, backend=backend),
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
    render_eval(report, make_console())  # type: ignore[arg-type]
    for path in report.files:  # type: ignore[attr-defined]
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to ``app``."""
    app.command("eval")(eval_command)

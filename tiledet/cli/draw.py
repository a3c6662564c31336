"""``tiledet draw``: a thin Typer layer that builds a :class:`DrawConfig` and calls ``draw_dataset``."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from tiledet.cli.defaults import default_of, given
from tiledet.cli.options import Force, Quiet
from tiledet.draw_config import DrawConfig
from tiledet.formats import FORMAT_CHOICES as _FORMATS

_default = functools.partial(default_of, DrawConfig)


def draw_command(
    source: Path = typer.Argument(
        ...,
        metavar="LABELS|DETECTIONS",
        help="Labels to draw (any source 'tiledet eval' reads as ground truth: COCO JSON, YOLO "
        "data.yaml, DOTA, xView GeoJSON, CSV, ...) or detections (a COCO results JSON list). Required.",
    ),
    out: Path = typer.Option(..., "--out", help="Output folder for the drawn pictures. Required."),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Folder the image names are relative to. Default: the dataset root a YOLO data.yaml "
        "declares (required for other sources).",
    ),
    gt: Path | None = typer.Option(
        None, "--gt", help="Ground truth drawn solid under the (dashed) detections. Default: none."
    ),
    score_threshold: float | None = typer.Option(
        None,
        "--score-threshold",
        help=f"Draw detections scoring at least this, in [0, 1]. Default: {_default('score_threshold')}.",
    ),
    fmt: str | None = typer.Option(
        None, "--from", help=f"Label format: {_FORMATS}. Default: auto (detected)."
    ),
    classes: str | None = typer.Option(
        None, "--classes", help="'xview' or a class file. Default: the classes the labels declare."
    ),
    split: str | None = typer.Option(
        None, "--split", help=f"YOLO data.yaml: the split to draw. Default: {_default('split')}."
    ),
    thickness: int | None = typer.Option(
        None, "--thickness", help=f"Box outline width in px. Default: {_default('thickness')}."
    ),
    labels: bool = typer.Option(
        True, "--labels/--no-labels", help="Write class names and scores next to boxes. Default: on."
    ),
    limit: int | None = typer.Option(
        None, "--limit", help=f"Draw at most this many images. Default: {_default('limit')} (all)."
    ),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Draw labels and/or detections onto their images: ground truth solid, detections dashed.

    Exit codes: 0 every image drawn; 1 some images could not be found or read (each named on stderr,
    not drawn; the others are); 2 bad input or options; 130 interrupted.
    """
    from tiledet.cli.progress import progress_bar
    from tiledet.cli.richtext import make_console
    from tiledet.cli.unreadable import exit_if_unreadable
    from tiledet.text import plural
    from tiledet.visualize import draw_dataset

    cfg = DrawConfig(
        source=source, out=out, images_dir=images, gt=gt, fmt=None if fmt == "auto" else fmt,
        classes=classes, labels=labels, force=force,
        **given(split=split, score_threshold=score_threshold, thickness=thickness, limit=limit),
    )
    console = make_console(stderr=True)
    with progress_bar("draw", show=not quiet, fixed=True, console=console) as bar:
        report = draw_dataset(cfg, progress=bar)
    if not quiet:
        _print_summary(console, report)
    others = f"the other {plural(report.images, 'image')} drawn in {report.out}"
    exit_if_unreadable(report.unreadable, report.images + len(report.unreadable), "image", others)


def _print_summary(console, report) -> None:
    from tiledet.cli.richtext import esc
    from tiledet.text import plural as _plural

    parts = [_plural(report.images, "image"), _plural(report.gt_boxes, "ground-truth box")]
    if report.detections or report.below_threshold or report.skipped_detections:
        parts.append(_plural(report.detections, "detection"))
    console.print(f"drew {', '.join(parts)} -> {esc(report.out)}")
    if report.below_threshold:
        console.print(f"{_plural(report.below_threshold, 'detection')} below the score threshold not drawn")
    if report.missing_images:
        shown = esc(", ".join(map(str, report.missing_images[:3])))
        console.print(f"[yellow]{_plural(len(report.missing_images), 'image')} not found or unreadable[/] "
                      f"(e.g. {shown})")
    for kind, n in report.skipped_detections.items():
        console.print(f"[yellow]{_plural(n, 'detection')} skipped: {esc(kind.replace('_', ' '))}[/]")


def register(app: typer.Typer) -> None:
    """Add ``tiledet draw`` to ``app``."""
    app.command("draw")(draw_command)

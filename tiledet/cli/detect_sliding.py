"""``tiledet detect sliding``: a thin Typer layer over :func:`tiledet.detect.sliding_run.run_sliding`."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from tiledet.cli.defaults import default_of, default_text, given
from tiledet.cli.options import (
    Bands,
    Device,
    ForceSaveImages,
    Quiet,
    RadiometryKind,
    SaveImages,
    radiometry_of,
)
from tiledet.cli.tables import results_text
from tiledet.detect.config import SLIDING_ENGINES, SlidingConfig, SlidingRunConfig
from tiledet.detect.merge_registry import merger_help
from tiledet.device import DEFAULT_DEVICE
from tiledet.errors import ConfigError

_default = functools.partial(default_text, SlidingConfig)
_MERGE_HELP = merger_help(
    "How the windows' boxes are merged (IoU above --iou matches)", default_of(SlidingConfig, "merge")
)


def parse_object_size(text: str | None) -> tuple[float, float] | None:
    """``"8-160"`` -> ``(8.0, 160.0)``; ``"24"`` -> ``(24.0, 24.0)``; None stays None.

    Raises:
        ConfigError: when the text is not ``MIN-MAX`` with ``0 < MIN <= MAX``.
    """
    if text is None:
        return None
    low, sep, high = text.strip().partition("-")
    try:
        values = (float(low), float(high if sep else low))
    except ValueError:
        raise ConfigError(f"--object-size must be MIN-MAX in pixels (e.g. 8-160), got {text!r}") from None
    if not (0 < values[0] <= values[1] < float("inf")):
        raise ConfigError(f"--object-size must be MIN-MAX with 0 < MIN <= MAX, got {text!r}")
    return values


def parse_threshold(text: str | None) -> tuple[float, tuple[tuple[str, float], ...]]:
    """``"0.4"`` or ``"0.4,car=0.6,bus=0.3"`` -> ``(0.4, (("car", 0.6), ("bus", 0.3)))``.

    Without a plain number (or for None) the threshold is :class:`SlidingConfig`'s default.

    Raises:
        ConfigError: on a value that is not a number.
    """
    default, per_class = None, []
    for item in (part.strip() for part in (text or "").split(",") if part.strip()):
        name, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--threshold: {item!r} is not a number or CLASS=number") from None
        if sep:
            per_class.append((name.strip(), number))
        else:
            default = number
    return (default_of(SlidingConfig, "threshold") if default is None else default), tuple(per_class)


def parse_scales(text: str | None) -> tuple[float, ...]:
    """``"1,0.5,0.25"`` -> scale factors; None -> ``()``."""
    if not text:
        return ()
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--scales must be numbers separated by commas, got {text!r}") from None


def engine_text(engine: dict) -> str:
    """Summary lines of :attr:`SlidingReport.engine`: the engine, why, each candidate's probe time."""
    lines = [f"  engine {engine.get('engine')}: {engine.get('reason')}"]
    times = engine.get("probe_seconds", {})
    for name, verdict in engine.get("agreement", {}).items():
        took = f"{times[name]:.3f} s" if name in times else "-"
        lines.append(f"    {name}: probe {took}, {verdict}")
    return "\n".join(lines)


def sliding_command(
    model: Path = typer.Argument(
        ..., help="Classifier checkpoint from 'tiledet classify train' (best.pt). Required."
    ),
    images: list[Path] = typer.Argument(
        ..., help="Scene images and/or folders (searched recursively). Required."
    ),
    out: Path = typer.Option(..., "--out", help="Results file: a COCO results JSON (dets.json), or "
        "georeferenced polygons: .geojson (EPSG:4326 lon/lat), .gpkg (each scene's CRS, one layer per CRS) "
        "or .parquet (GeoParquet in the first scene's CRS; needs pyarrow: pip install 'tiledet[geo]'). A geo "
        "file needs georeferenced scenes and also writes the COCO results JSON beside it (dets.geojson -> "
        "dets.json). Required."),
    object_size: str | None = typer.Option(
        None,
        "--object-size",
        help="MIN-MAX longer object side in scene px the image pyramid covers. "
        "Default: the training chips' sizes (chips.yaml beside the classifier's data), else 8-160.",
    ),
    scales: str | None = typer.Option(
        None,
        "--scales",
        help="Explicit image scale factors, e.g. 1,0.5 (replace --object-size). Default: none.",
    ),
    scale_step: float | None = typer.Option(
        None, "--scale-step",
        help=f"Ratio between pyramid levels. Default: {_default('scale_step')} (2^(1/4)).",
    ),
    stride_multiple: int | None = typer.Option(
        None,
        "--stride-multiple",
        help="K: score K x K shifted grids, stride / K between windows. "
        f"Default: {_default('stride_multiple')}.",
    ),
    threshold: str | None = typer.Option(
        None,
        "--threshold",
        help=f"Minimum class probability; per class as 0.5,car=0.7. Default: {_default('threshold')}.",
    ),
    merge: str | None = typer.Option(None, "--merge", help=_MERGE_HELP),
    iou: float | None = typer.Option(
        None, "--iou", help="A box whose IoU with a better box is above this is dropped or merged into it. "
        f"Default: {_default('iou')}."
    ),
    class_nms: bool | None = typer.Option(
        None,
        "--class-nms/--agnostic-nms",
        help="Merge per class, or across classes (an object often fires for several classes). "
        f"Default: {'--agnostic-nms' if default_of(SlidingConfig, 'class_agnostic') else '--class-nms'}.",
    ),
    max_det: int | None = typer.Option(
        None, "--max-det", help=f"Most detections per scene. Default: {_default('max_det')}."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help=f"Blocks per forward pass. Default: {_default('batch_size')}."
    ),
    block: int | None = typer.Option(
        None, "--block", help=f"Side of a scoring block in px (memory). Default: {_default('block_px')}."
    ),
    radiometry: RadiometryKind = None,
    bands: Bands = None,
    engine: str = typer.Option(
        default_of(SlidingRunConfig, "engine"),
        "--engine",
        help=f"What runs the network: {', '.join(SLIDING_ENGINES[:-1])} (exported once, cached beside "
        "the checkpoint; CPU only), or auto: the fastest whose class probabilities agree with torch's "
        f"within 1e-4 on a probe block of the first scene. Default: {default_of(SlidingRunConfig, 'engine')}"
        ".",
    ),
    device: Device = DEFAULT_DEVICE,
    save_images: SaveImages = None,
    force: ForceSaveImages = False,
    quiet: Quiet = False,
) -> None:
    """A trained classifier as a sliding-window detector: one fully-convolutional pass per pyramid scale.

    Exit codes: 0 every scene read (a scene smaller than the window at every scale is listed in the
    summary); 1 some scenes could not be read (each named on stderr, left out; the detections of the
    others are written); 2 bad input or options; 130 interrupted.
    """
    from tiledet.cli.progress import progress_bar
    from tiledet.cli.unreadable import exit_if_scenes_unreadable
    from tiledet.detect.sliding_run import run_sliding
    from tiledet.detect.yolo_run import collect_scenes

    default_threshold, per_class = parse_threshold(threshold)
    sliding = SlidingConfig(
        scales=parse_scales(scales), threshold=default_threshold, class_thresholds=per_class, **given(
            scale_step=scale_step, stride_multiple=stride_multiple, merge=merge, iou=iou,
            class_agnostic=None if class_nms is None else not class_nms, max_det=max_det, block_px=block,
            batch_size=batch_size,
        ),
    )  # fmt: skip
    cfg = SlidingRunConfig(
        model=model, images=tuple(images), out=out, sliding=sliding,
        object_size_px=parse_object_size(object_size), device=device, save_images=save_images, force=force,
        radiometry=radiometry_of(radiometry, bands), engine=engine,
    )  # fmt: skip
    total = len(collect_scenes(cfg.images))
    with progress_bar("detect sliding", total=total, show=not quiet, fixed=True) as bar:
        report = run_sliding(cfg, progress=bar)
    if not quiet:
        size = report.object_size_px
        typer.echo(
            f"{report.scenes} scenes, {report.boxes} boxes in {report.seconds:.1f} s -> "
            f"{results_text(report.out)}\n"
            f"  window {report.window} px, stride {report.stride} px, {len(report.scales)} scales, objects "
            f"{size['min']:g}-{size['max']:g} px ({size['source']}), exact: {'yes' if report.exact else 'no'}"
            f", radiometry {report.radiometry.get('kind')}"
        )
        typer.echo(engine_text(report.engine))
        if report.nodata_blocks:
            typer.echo(f"  {report.nodata_blocks} blocks of pure nodata not scored")
        for name, why in report.skipped.items():
            typer.echo(f"  skipped {name}: {why}")
    exit_if_scenes_unreadable(report.unreadable, total, report.out)

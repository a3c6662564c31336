"""``tiledet detect yolo|export|train-yolo|sliding``: thin Typer layer over :mod:`tiledet.detect`.

``sliding`` lives in :mod:`tiledet.cli.detect_sliding` (``sliding_command``); :func:`register` adds it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tiledet.cli.defaults import default_of, default_text, given
from tiledet.cli.options import (
    Bands,
    Device,
    Force,
    ForceSaveImages,
    Quiet,
    RadiometryKind,
    SaveImages,
    radiometry_of,
)
from tiledet.cli.tables import results_text
from tiledet.detect.config import DetectConfig, SliceConfig, TrainConfig
from tiledet.detect.export_run import ExportConfig
from tiledet.detect.merge_registry import merger_help
from tiledet.device import DEFAULT_DEVICE

if TYPE_CHECKING:
    from tiledet.detect.yolo_run import DetectReport

detect_app = typer.Typer(
    name="detect",
    help="Detect objects in whole scenes: YOLO trained on tiles, or a classifier as a sliding window.",
    no_args_is_help=True,
    add_completion=False,
)

_TRUST_HELP = (
    "Load the weights with Ultralytics' full unpickling, which can run code hidden in the file: only for "
    "files you trust. Without it, weights load with an allow-list of the classes an Ultralytics "
    "checkpoint holds, and anything else is refused. Default: off."
)
_slice = functools.partial(default_text, SliceConfig)
_train = functools.partial(default_text, TrainConfig)
_MERGE_HELP = merger_help("How boxes of overlapping tiles are merged", default_of(SliceConfig, "merge"))


@detect_app.command("yolo")
def yolo_command(
    weights: Path = typer.Argument(..., help="Ultralytics .pt detection weights (local file). Required."),
    images: list[Path] = typer.Argument(
        ..., help="Scene images and/or folders (searched recursively). Required."
    ),
    out: Path = typer.Option(..., "--out", help="Results file: a COCO results JSON (dets.json), or "
        "georeferenced polygons: .geojson (EPSG:4326 lon/lat), .gpkg (each scene's CRS, one layer per CRS) "
        "or .parquet (GeoParquet in the first scene's CRS; needs pyarrow: pip install 'tiledet[geo]'). A geo "
        "file needs georeferenced scenes and also writes the COCO results JSON beside it (dets.geojson -> "
        "dets.json). Required."),
    tile: int | None = typer.Option(
        None, "--tile", help="Tile side, px; tiles run at native resolution. "
        "Default: the imgsz the weights were trained at (640 if unknown)."
    ),
    overlap: float | None = typer.Option(
        None, "--overlap", help=f"Tile overlap fraction in [0, 1). Default: {_slice('overlap')}."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help=f"Tiles per model call. Default: {_slice('batch_size')}."
    ),
    merge: str | None = typer.Option(None, "--merge", help=_MERGE_HELP),
    match: str | None = typer.Option(
        None, "--match", help="Overlap measure for merging: ios (intersection over the smaller box) "
        f"or iou. Default: {_slice('match')}."
    ),
    merge_threshold: float | None = typer.Option(
        None, "--merge-threshold",
        help=f"Boxes merge when their overlap is >= this. Default: {_slice('merge_threshold')}.",
    ),
    full_pass: bool = typer.Option(
        False, "--full-pass",
        help="Also run the whole scene shrunk to one tile (large objects). Default: off.",
    ),
    conf: float | None = typer.Option(
        None, "--conf", help=f"Minimum confidence. Default: {_slice('conf')}."
    ),
    iou: float | None = typer.Option(
        None, "--iou", help=f"IoU of the NMS inside each tile (Ultralytics' 0.7). Default: {_slice('iou')}."
    ),
    max_det: int | None = typer.Option(
        None, "--max-det", help="Most boxes per tile and per scene after merging (Ultralytics' own "
        f"default of 300 silently caps dense scenes). Default: {_slice('max_det')}."
    ),
    device: Device = DEFAULT_DEVICE,
    engine: str | None = typer.Option(
        None, "--engine", help="auto (on the CPU: the fastest of torch, torch-bf16, onnx and openvino whose "
        "boxes agree with torch's on the first batch; on CUDA: torch-fp16 or tensorrt when installed; never "
        "INT8), torch (fp32, the same on every machine), torch-bf16, torch-fp16, onnx, openvino, "
        "openvino-int8, onnx-int8 (INT8: calibrated on --data the first time, or exported by `tiledet detect "
        "export --int8`) or tensorrt. Exports are cached beside the weights, keyed by weights, engine, "
        f"--tile and --batch-size; the summary says which engine ran and why. Default: {_slice('engine')}."
    ),
    int8_data: Path | None = typer.Option(
        None, "--data", help="With --engine openvino-int8|onnx-int8: a YOLO data.yaml whose val images "
        "calibrate the INT8 export the first time. Default: none (the INT8 export already cached)."
    ),
    radiometry: RadiometryKind = None,
    bands: Bands = None,
    save_images: SaveImages = None,
    force: ForceSaveImages = False,
    trust_weights: bool = typer.Option(False, "--trust-weights", help=_TRUST_HELP),
    quiet: Quiet = False,
) -> None:
    """Sliced YOLO inference over whole scenes: tiles batched through the model, boxes merged.

    Exit codes: 0 every scene detected on; 1 some scenes could not be read (each named on stderr, left
    out; the detections of the others are written); 2 bad input or options; 130 interrupted.
    """
    from tiledet.cli.progress import progress_bar
    from tiledet.cli.unreadable import exit_if_scenes_unreadable
    from tiledet.detect.yolo_run import collect_scenes, run_detection

    slicing = SliceConfig(
        tile=tile, full_pass=full_pass, device=device, trust_weights=trust_weights, **given(
            overlap=overlap, batch_size=batch_size, conf=conf, iou=iou, merge=merge, match=match,
            merge_threshold=merge_threshold, max_det=max_det, engine=engine,
        ), int8_data=int8_data, radiometry=radiometry_of(radiometry, bands),
    )  # fmt: skip
    cfg = DetectConfig(weights=weights, images=tuple(images), out=out, slicing=slicing,
                       save_images=save_images, force=force)
    total = len(collect_scenes(cfg.images))
    with progress_bar("detect yolo", total=total, show=not quiet, fixed=True) as bar:
        report = run_detection(cfg, progress=bar)
    if not quiet:
        _yolo_summary(report)
    exit_if_scenes_unreadable(report.unreadable, total, report.out)


def _yolo_summary(report: DetectReport) -> None:
    """``detect yolo``'s summary lines: counts, engine, windows and nodata windows, radiometry."""
    r = report.to_dict()
    eng = r["engine"]
    typer.echo(f"{r['scenes']} scenes, {r['boxes']} boxes in {r['seconds']:.1f} s "
               f"(engine {eng['engine']}: {eng['reason']}) -> {results_text(r['out'])}")
    for name, verdict in eng.get("agreement", {}).items():
        seconds = eng.get("probe_seconds", {}).get(name)
        timing = f", {seconds:.3f} s/batch" if seconds is not None else ""
        typer.echo(f"  {name}: {verdict}{timing}")
    if eng.get("model"):
        typer.echo(f"  {eng['engine']} model: {eng['model']}")
    rad = r["radiometry"]
    bands = "" if rad["bands"] is None else ", bands " + ",".join(map(str, rad["bands"]))
    typer.echo(f"  {r['windows']} windows, {r['nodata_windows']} nodata windows skipped; "
               f"radiometry {rad['kind']}{bands}")


_export = functools.partial(default_text, ExportConfig)


@detect_app.command("export")
def export_command(
    weights: Path = typer.Argument(..., help="Ultralytics .pt detection weights (local file). Required."),
    fmt: str | None = typer.Option(
        None, "--format", help=f"openvino or onnx. Default: {_export('format')}."
    ),
    int8: bool = typer.Option(
        False, "--int8", help="INT8 quantization through Ultralytics' exporter (OpenVINO: NNCF; ONNX: ONNX "
        "Runtime static), calibrated on --data; run it with detect yolo --engine openvino-int8 (or "
        "onnx-int8). Default: off (fp32)."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="A YOLO data.yaml (e.g. from 'tiledet convert --tile') whose val images "
        "calibrate --int8; needed with --int8 only. Default: none."
    ),
    imgsz: int | None = typer.Option(
        None, "--imgsz", help="Input side the export is traced and calibrated at, px: detect yolo's --tile. "
        "Default: the imgsz the weights were trained at (640 if unknown)."
    ),
    batch: int | None = typer.Option(
        None, "--batch",
        help=f"Batch size of the export: detect yolo's --batch-size. Default: {_export('batch')}.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder to write the export into (model files and key.json). Default: the "
        "engine cache beside the weights that detect yolo reads."
    ),
    force: Force = False,
    trust_weights: bool = typer.Option(False, "--trust-weights", help=_TRUST_HELP),
    quiet: Quiet = False,
) -> None:
    """Export YOLO weights to OpenVINO or ONNX (fp32 or INT8) through Ultralytics' exporter, once."""
    from tiledet.detect.export_run import run_export

    cfg = ExportConfig(weights=weights, int8=int8, data=data, imgsz=imgsz, out=out, force=force,
                       trust_weights=trust_weights, **given(format=fmt, batch=batch))
    result = run_export(cfg)
    if not quiet:
        done = "already in the cache" if result.cached else f"exported in {result.seconds:.1f} s"
        typer.echo(f"{result.engine} (imgsz {result.imgsz}, batch {result.batch}): {done} -> {result.model}")
        if cfg.out is None:
            typer.echo(f"  run it: tiledet detect yolo {weights} SCENES --engine {result.engine} "
                       f"--tile {result.imgsz} --batch-size {result.batch}")


@detect_app.command("train-yolo")
def train_yolo_command(
    data: Path = typer.Argument(
        ..., help="Dataset data.yaml (e.g. from 'tiledet convert --tile'). Required."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder (weights, curves, run.json). Required."),
    model: str | None = typer.Option(
        None, "--model", help="Model YAML shipped with Ultralytics (train from scratch) or a local "
        f".yaml/.pt (a .pt starts from its weights: faster on real imagery). Default: {_train('model')}."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", help=f"Training epochs. Default: {_train('epochs')}."
    ),
    imgsz: int | None = typer.Option(
        None, "--imgsz", help="Network input side, px. Default: the dataset's tile size (report.json), "
        "else 640."
    ),
    batch: str | None = typer.Option(
        None, "--batch", help="Images per step, or auto: planned from measured GPU memory on CUDA "
        f"(see --gpu-memory), 16 on CPU. Default: {_train('batch')}."
    ),
    gpu_memory: str | None = typer.Option(
        None, "--gpu-memory", help="CUDA memory budget such as 6GiB: the batch comes from a measured "
        "profile and the budget is enforced. Not applicable on CPU. Default: the free GPU memory."
    ),
    device: Device = DEFAULT_DEVICE,
    workers: int | None = typer.Option(
        None, "--workers", help=f"Dataloader worker processes. Default: {_train('workers')}."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help=f"Random seed (deterministic training). Default: {_train('seed')}."
    ),
    optimizer: str | None = typer.Option(
        None, "--optimizer", help="Ultralytics optimizer (auto picks lr 0.002*5/(4+nc), too low to learn "
        f"in a short run). Default: {_train('optimizer')}."
    ),
    lr0: float | None = typer.Option(None, "--lr0", help=f"Initial learning rate. Default: {_train('lr0')}."),
    nbs: int | None = typer.Option(
        None, "--nbs", help="Nominal batch size Ultralytics accumulates gradients to (its own default: 64, "
        "i.e. few updates on a small tiled dataset). Default: the batch size (a step per batch)."
    ),
    patience: int | None = typer.Option(
        None, "--patience",
        help=f"Epochs without improvement before stopping. Default: {_train('patience')}.",
    ),
    val_full: bool | None = typer.Option(
        None, "--val-full/--no-val-full", help="After training, score sliced inference on the untiled val "
        f"scenes (annotations/val_full.json) when present. Default: {_train('evaluate_full')}."
    ),
    force: Force = False,
    trust_weights: bool = typer.Option(False, "--trust-weights", help=_TRUST_HELP.replace(
        "the weights", "a .pt --model (and the checkpoints training writes)")),
    quiet: Quiet = False,
) -> None:
    """Train Ultralytics YOLO on a tiled dataset, offline, within a GPU memory budget."""
    from tiledet.detect.yolo_train import train_yolo

    cfg = TrainConfig(
        data=data, out=out, imgsz=imgsz, gpu_memory=gpu_memory, device=device, nbs=nbs, force=force,
        verbose=not quiet, trust_weights=trust_weights, **given(
            model=model, epochs=epochs, batch=int(batch) if batch and batch.isdigit() else batch,
            workers=workers, seed=seed, optimizer=optimizer, lr0=lr0, patience=patience,
            evaluate_full=val_full,
        ),
    )  # fmt: skip
    report = train_yolo(cfg)
    if not quiet:
        typer.echo(f"device {report.device}, imgsz {report.imgsz}, {report.batch_reason}")
        typer.echo(f"weights: {report.best_weights} ({report.seconds:.0f} s)")
        if report.val_full is not None:
            v = report.val_full
            typer.echo(f"untiled val scenes ({v['scenes']}), sliced inference: mAP50 {_fmt(v['AP50'])}, "
                       f"mAP50-95 {_fmt(v['AP'])}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    """Add the ``detect`` command group to ``app`` (``sliding`` from :mod:`tiledet.cli.detect_sliding`)."""
    from tiledet.cli.detect_sliding import sliding_command

    if not any(c.name == "sliding" for c in detect_app.registered_commands):
        detect_app.command("sliding")(sliding_command)
    if not any(group.name == "detect" for group in app.registered_groups):
        app.add_typer(detect_app, name="detect")

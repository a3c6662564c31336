"""``tiledet classify train|eval|predict|sweep``: thin Typer layer over :mod:`tiledet.classify`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import typer

from tiledet.classify.config import OPTIMIZERS, EvalConfig, TrainConfig
from tiledet.classify.registry import get_model, list_models
from tiledet.cli.defaults import default_text, given
from tiledet.cli.options import Device, Force, Quiet, QuietProgress
from tiledet.cli.richtext import esc, make_console
from tiledet.device import DEFAULT_DEVICE
from tiledet.errors import ConfigError

_train = functools.partial(default_text, TrainConfig)
_eval = functools.partial(default_text, EvalConfig)

classify_app = typer.Typer(
    name="classify",
    help="Train, evaluate and apply image classifiers (chips from `tiledet convert --to chips`).",
    no_args_is_help=True,
    add_completion=False,
)


def parse_settings(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["filters=32,64", "dropout=0.2"]`` -> ``{"filters": [32, 64], "dropout": 0.2}`` (YAML scalars).

    Raises:
        ConfigError: an item without ``=``.
        InputError: a value that is invalid or refused YAML (see :func:`tiledet.yamlio.load_yaml_text`).
    """
    from tiledet.yamlio import load_yaml_text

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option}: expected KEY=VALUE, got {item!r}")
        parts = [load_yaml_text(p, f"{option} {key.strip()}") for p in text.split(",")]
        out[key.strip().replace("-", "_")] = parts if "," in text else parts[0]
    return out


def _per_class_table(metrics: dict, title: str):
    """Per-class table; classes with neither samples nor predictions are left out (they are in the files)."""
    from rich.table import Table

    predicted = [sum(col) for col in zip(*metrics["confusion"], strict=True)]
    table = Table(title=esc(title), title_justify="left")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row, n_pred in zip(metrics["per_class"], predicted, strict=True):
        if not row["support"] and not n_pred:
            continue
        table.add_row(esc(row["class"]), f"{row['precision']:.4f}", f"{row['recall']:.4f}",
                      f"{row['f1']:.4f}", str(row["support"]))  # fmt: skip
    table.add_row("macro", f"{metrics['macro_precision']:.4f}", f"{metrics['macro_recall']:.4f}",
                  f"{metrics['macro_f1']:.4f}", str(metrics["n"]), style="bold")  # fmt: skip
    return table


def _model_help() -> str:
    """``--model`` help from the registry: each model with its one-line description, the default once."""
    models = ", ".join(f"{name} ({esc(get_model(name).help)})" for name in list_models())
    return f"Classifier: {models}. Default: {_train('model')} (or the --resume checkpoint's)."


def _input_size_help() -> str:
    """``--input-size`` help: the models' default input sides, from the registry."""
    sizes: dict[int, list[str]] = {}
    for name in list_models():
        sizes.setdefault(get_model(name).input_size, []).append(name)
    common, *others = sorted(sizes, key=lambda size: -len(sizes[size]))
    exceptions = "; ".join(f"{size} for {', '.join(sizes[size])}" for size in others)
    return f"Model input side in px (images are resized). Default: {common}" + (
        f" ({exceptions})." if exceptions else "."
    )


#: Options whose help lists the registered models; :func:`register` refreshes it (models registered later).
_MODEL_OPTION = typer.Option(None, "--model", help=_model_help())
_INPUT_SIZE_OPTION = typer.Option(None, "--input-size", help=_input_size_help())


@classify_app.command("train")
def train_command(
    data: Path = typer.Argument(
        ..., help="Image-folder root: ROOT/{train,val,test}/CLASS/* or ROOT/CLASS/*. Required."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder (best.pt, last.pt, history, metrics). Required."),
    model: str | None = _MODEL_OPTION,
    option: list[str] | None = typer.Option(
        None,
        "--option",
        "-o",
        help="Model option KEY=VALUE, repeatable (e.g. -o filters=32,64 -o downsample=avg). "
        "Default: the model's defaults.",
    ),
    weights: Path | None = typer.Option(
        None,
        "--weights",
        help="resnet18: local state-dict file to start from (never downloaded). Default: random init.",
    ),
    box_head: bool = typer.Option(
        False,
        "--box-head",
        help="Also learn the object box inside the chip from DATA/chips.csv. Default: off.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help=f"Maximum epochs. Default: {_train('epochs')}."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help=f"Images per step. Default: {_train('batch_size')}."
    ),
    lr: float | None = typer.Option(None, "--lr", help=f"Initial learning rate. Default: {_train('lr')}."),
    optimizer: str | None = typer.Option(
        None, "--optimizer", help=f"{'|'.join(OPTIMIZERS)}. Default: {_train('optimizer')}."
    ),
    weight_decay: float | None = typer.Option(
        None,
        "--weight-decay",
        help=f"Weight decay (L2; decoupled for adamw). Default: {_train('weight_decay')}.",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help=f"plateau (halve lr when val loss stalls)|cosine|none. Default: {_train('scheduler')}.",
    ),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help="Early stopping after N epochs without a better --monitor; 0 = off. "
        f"Default: {_train('patience')}.",
    ),
    monitor: str | None = typer.Option(
        None,
        "--monitor",
        help="Val metric picking best.pt and early stopping: macro_recall (mean per-class recall; "
        f"ties: lower loss)|accuracy|loss. Default: {_train('monitor')}.",
    ),
    input_size: int | None = _INPUT_SIZE_OPTION,
    augment: str | None = typer.Option(
        None,
        "--augment",
        help="Training augmentation: comma list of none|flip|rot90|shift|color|aerial "
        f"(= flip,rot90,color). Default: {_train('augment')}.",
    ),
    balance: str | None = typer.Option(
        None,
        "--balance",
        help="Class imbalance: none|sampler (balanced draws)|loss (class-weighted loss). "
        f"Default: {_train('balance')}.",
    ),
    val_fraction: float | None = typer.Option(
        None,
        "--val-fraction",
        help=f"Share of each class to val when DATA has no val split. Default: {_train('val_fraction')}.",
    ),
    test_fraction: float | None = typer.Option(
        None,
        "--test-fraction",
        help="Share of each class to test when DATA has no split folders. "
        f"Default: {_train('test_fraction')}.",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help=f"Seed of split, init, batch order, augmentation. Default: {_train('seed')}."
    ),
    device: Device = DEFAULT_DEVICE,
    workers: int | None = typer.Option(
        None, "--workers", help=f"Image-decoding threads / loader workers. Default: {_train('workers')}."
    ),
    box_weight: float | None = typer.Option(
        None,
        "--box-weight",
        help=f"Weight of the box loss beside the class loss (--box-head). Default: {_train('box_weight')}.",
    ),
    label_smoothing: float | None = typer.Option(
        None,
        "--label-smoothing",
        help=f"Cross-entropy label smoothing in [0, 1). Default: {_train('label_smoothing')}.",
    ),
    amp: bool | None = typer.Option(
        None, "--amp/--no-amp", help=f"Mixed precision on CUDA (ignored on CPU). Default: {_train('amp')}."
    ),
    memory_limit: float | None = typer.Option(
        None,
        "--memory-limit",
        help="Decode the data into memory when it fits in this many GiB, else stream. "
        f"Default: {_train('memory_limit_gib')}.",
    ),
    plots: bool | None = typer.Option(
        None,
        "--plots/--no-plots",
        help=f"Draw history.png, confusion.png, mistakes.png. Default: {_train('plots')}.",
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run of RUN/last.pt. Default: off."
    ),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Train a classifier on an image folder; RUN/best.pt serves `classify eval|predict`, `detect sliding`."""
    from tiledet.classify.train import train
    from tiledet.cli.progress import TrainingPrinter, progress_bar

    options = parse_settings(option, "--option")
    if weights is not None:
        options["weights"] = str(weights)
    _check_resume_model(resume, model)
    cfg = TrainConfig(
        data=data, out=out, model_options=options, box_head=box_head, device=device, resume=resume,
        force=force, **given(
            model=model or None, input_size=input_size, epochs=epochs, batch_size=batch_size, lr=lr,
            optimizer=optimizer, weight_decay=weight_decay, scheduler=scheduler, patience=patience,
            monitor=monitor, augment=augment, balance=balance, val_fraction=val_fraction,
            test_fraction=test_fraction, seed=seed, workers=workers, box_weight=box_weight,
            label_smoothing=label_smoothing, amp=amp, memory_limit_gib=memory_limit, plots=plots,
        ),
    )  # fmt: skip
    with progress_bar(show=not quiet) as bar:
        result = train(cfg, bar, TrainingPrinter(bar))
    if not quiet:
        _print_training(result)


def _check_resume_model(resume: Path | None, model: str | None) -> None:
    """``--model`` given with ``--resume`` must be the checkpoint's model."""
    if resume is None or model is None:
        return
    from tiledet.classify.checkpoint import read_checkpoint

    saved = read_checkpoint(resume)["model_name"]
    if saved != model:
        raise ConfigError(f"--resume {resume}: checkpoint of model {saved!r}, not {model!r}")


def _print_training(result: Any) -> None:
    """Per-class table of the evaluation split, one line per split, timing, skipped and written files."""
    console = make_console()
    split = result.eval_split
    console.print(
        _per_class_table(result.split_metrics[split], f"{split} split, best epoch {result.best_epoch}")
    )
    for name, m in result.split_metrics.items():
        console.print(
            f"{name:<5} accuracy {m['accuracy']:.4f}  macro recall {m['macro_recall']:.4f}  (n={m['n']})"
        )
    console.print(
        f"training: {result.train_seconds:.1f} s, {result.images_per_s:.0f} images/s, "
        f"{result.epochs_run} epochs"
    )
    if result.skipped:
        console.print(
            f"[yellow]skipped {len(result.skipped)} unreadable images (listed in skipped.txt)[/yellow]"
        )
    written = [f.name for f in result.files if f.is_file()]  # what this run wrote (no plots with --no-plots)
    console.print(f"wrote {len(written)} files to {esc(result.out)}: {esc(', '.join(written))}")


@classify_app.command("eval")
def eval_command(
    checkpoint: Path = typer.Argument(..., help="Classifier checkpoint (RUN/best.pt). Required."),
    data: Path = typer.Argument(
        ..., help="Image-folder root (split as in training: same seed and fractions). Required."
    ),
    split: str | None = typer.Option(None, "--split", help=f"train|val|test. Default: {_eval('split')}."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for metrics.json, per_class.csv, confusion.csv/png, mistakes.png. Default: none.",
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help=f"Images per forward pass. Default: {_eval('batch_size')}."
    ),
    device: Device = DEFAULT_DEVICE,
    output_format: str = typer.Option("table", "--format", help="table (rich) or json. Default: table."),
    force: Force = False,
    quiet: bool = typer.Option(
        False,
        "--quiet",
        help="Print nothing; the files in --out are the result (unlike other commands, needs --out). "
        "Default: off.",
    ),
) -> None:
    """Evaluate a checkpoint: accuracy, per-class precision/recall/F1, confusion matrix."""
    import json

    from tiledet.classify.evaluate import run_eval

    if output_format not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, got {output_format!r}")
    if quiet and out is None:
        raise ConfigError("--quiet without --out would produce nothing; give --out FOLDER")
    cfg = EvalConfig(
        checkpoint, data, out=out, device=device, force=force, **given(split=split, batch_size=batch_size)
    )
    metrics = run_eval(cfg)
    if quiet:
        return
    if output_format == "json":
        typer.echo(json.dumps({k: v for k, v in metrics.items() if k != "confusion"}, indent=2))
        return
    console = make_console()
    console.print(_per_class_table(metrics, f"{cfg.split} split"))
    console.print(
        f"accuracy {metrics['accuracy']:.4f}  macro recall {metrics['macro_recall']:.4f}  (n={metrics['n']})"
    )
    if metrics.get("box_mean_iou") is not None:
        console.print(
            f"box head: mean IoU {metrics['box_mean_iou']:.4f} on {metrics['box_samples']} object chips"
        )
    if metrics["skipped"]:
        console.print(f"[yellow]skipped {metrics['skipped']} unreadable images[/yellow]")


@classify_app.command("predict")
def predict_command(
    checkpoint: Path = typer.Argument(..., help="Classifier checkpoint (RUN/best.pt). Required."),
    images: list[Path] = typer.Argument(..., help="Image files or folders (searched recursively). Required."),
    out: Path = typer.Option(..., "--out", help="Predictions CSV (file, class, confidence, ...). Required."),
    top_k: int = typer.Option(1, "--top-k", help="Classes per image in the CSV. Default: 1."),
    batch_size: int = typer.Option(256, "--batch-size", help="Images per forward pass. Default: 256."),
    device: Device = DEFAULT_DEVICE,
    quiet: QuietProgress = False,
) -> None:
    """Classify image files; writes one CSV row per image.

    Exit codes: 0 every image classified; 1 some images could not be read (the others' rows are
    written); 2 bad input or options.
    """
    import csv
    import io

    from tiledet.classify.evaluate import predict_images
    from tiledet.cli.progress import progress_bar
    from tiledet.ioutil import atomic_write_text
    from tiledet.outdir import prepare_output_file, record_output_file

    target = prepare_output_file(out, command="classify predict", sources=[checkpoint, *images])
    with progress_bar("classifying", show=not quiet) as bar:
        header, rows, skipped = predict_images(checkpoint, images, top_k, batch_size, device, bar)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(target, buffer.getvalue())
    record_output_file(target, command="classify predict")
    typer.echo(f"wrote {len(rows)} predictions to {target}")
    if skipped:  # a run that left images out did not complete: exit 1, as detect and draw do
        typer.secho(f"error: {skipped} of {skipped + len(rows)} images could not be read; the predictions "
                    f"of the others are in {target}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@classify_app.command("sweep")
def sweep_command(
    grid: Path = typer.Argument(
        ..., help="Grid file (YAML: data, base, grid, per_model); see datasets/classify_*.yaml. Required."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for runs/NNN, sweep.csv and sweep.md. Required."),
    data: Path | None = typer.Option(None, "--data", help="Data root. Default: the grid file's `data`."),
    set_: list[str] | None = typer.Option(
        None,
        "--set",
        help="Override for every row, KEY=VALUE, repeatable (e.g. --set epochs=5). Default: none.",
    ),
    force: Force = False,
    quiet: QuietProgress = False,
) -> None:
    """Train every combination of a grid file; writes one results table (CSV and Markdown)."""
    from tiledet.classify.sweep import run_sweep
    from tiledet.cli.progress import TrainingPrinter, progress_bar

    overrides = parse_settings(set_, "--set")
    with progress_bar(show=not quiet) as bar:
        rows = run_sweep(grid, out, data, overrides, force, bar, monitor=TrainingPrinter(bar))
    typer.echo((out / "sweep.md").read_text(encoding="utf-8"))
    typer.echo(f"wrote {len(rows)} rows to {out / 'sweep.csv'} and {out / 'sweep.md'}")


def register(app: typer.Typer) -> None:
    """Add the ``classify`` command group to ``app`` (``--model`` help lists the models registered now)."""
    _MODEL_OPTION.help = _model_help()
    _INPUT_SIZE_OPTION.help = _input_size_help()
    app.add_typer(classify_app, name="classify")

"""``tiledet demo``: a thin Typer layer over :func:`tiledet.demo.run_demo` that prints steps and the table."""

from __future__ import annotations

from pathlib import Path

import typer

from tiledet.cli.options import Device
from tiledet.device import DEFAULT_DEVICE


def demo_command(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Output folder. Default: runs/demo."),
    quick: bool = typer.Option(
        False, "--quick", help="Small preset, about 3 minutes on 2 CPU cores (full: about 15). Default: off."
    ),
    device: Device = DEFAULT_DEVICE,
    seed: int = typer.Option(0, "--seed", help="Seed of every step. Default: 0."),
    redo: bool = typer.Option(False, "--redo", help="Redo steps whose outputs are complete. Default: off."),
    real: Path | None = typer.Option(
        None, "--real",
        help="Your own labelled scenes instead of synthetic ones: a folder with images/ and a label "
        "source (labelTxt/, labels/, annotations/ or one label file). Default: synthetic scenes.",
    ),
    labels: Path | None = typer.Option(
        None, "--labels",
        help="With --real: the label source, when it is not found automatically. Default: found.",
    ),
    quiet: bool = typer.Option(
        False, "--quiet",
        help="Write each step's output to OUT/logs/<step>.log; print only the table. Default: off.",
    ),
) -> None:
    """Run the main job end to end: scenes -> tiles and chips -> both detectors -> mAP, side by side.

    Generates synthetic xView-format scenes (or uses --real ones), cuts YOLO tiles and classifier chips,
    trains a CNN classifier and runs it as a fully-convolutional sliding-window detector, trains YOLO on
    tiles and runs batched sliced inference, and scores both on the untiled validation scenes. Each step
    prints the command that repeats it alone; re-running skips steps whose outputs are complete.
    """
    from tiledet.cli.richtext import esc, make_console
    from tiledet.demo import DemoConfig, run_demo

    console = make_console(stderr=True)
    cfg = DemoConfig(out=out, quick=quick, device=device, seed=seed, redo=redo, real=real, labels=labels)
    counter = {"n": 0}

    def on_event(kind: str, step: object, result: object) -> None:
        if kind in ("start", "skip"):
            counter["n"] += 1
        n = counter["n"]
        if kind == "start":
            console.rule(f"[bold]{n}. {esc(step.what)}")  # type: ignore[attr-defined]
            console.print(f"[dim]$ {esc(step.command)}[/dim]", highlight=False)  # type: ignore[attr-defined]
        elif kind == "skip":
            console.print(f"[green]✓[/green] {n}. {esc(step.name)}: outputs complete, skipped "  # type: ignore[attr-defined]
                          "(--redo redoes it)")
            console.print(f"[dim]$ {esc(step.command)}[/dim]", highlight=False)  # type: ignore[attr-defined]
        elif kind == "done":
            console.print(f"[green]✓[/green] {esc(step.name)} done in {result.wall_s:.1f} s, "  # type: ignore[attr-defined]
                          f"peak {result.peak_rss_mib:.0f} MiB")  # type: ignore[attr-defined]

    result = run_demo(cfg, on_event, quiet=quiet)
    _print_table(result, cfg)


def _print_table(result: object, cfg: object) -> None:
    from rich.table import Table

    from tiledet.cli.richtext import esc, make_console
    from tiledet.demo.steps import DETECTORS

    labels = {"sliding": "sliding window (CNN)", "yolo": "YOLO on tiles"}
    seed = cfg.seed  # type: ignore[attr-defined]
    table = Table(title=f"tiledet demo: both detectors on the validation scenes (seed {seed})")
    table.add_column("")
    for d in DETECTORS:
        table.add_column(labels[d], justify="right")
    for label, row in result.table:  # type: ignore[attr-defined]
        table.add_row(esc(label), *(esc(row.get(d, "–")) for d in DETECTORS))
    console = make_console()
    console.print(table)
    for path in result.files:  # type: ignore[attr-defined]
        console.print(f"wrote {esc(path)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``tiledet demo`` to ``app``."""
    app.command("demo")(demo_command)

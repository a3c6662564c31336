"""``tiledet synth``: generate synthetic xView-format scenes (images + GeoJSON, CSV, semicolon labels)."""

from __future__ import annotations

from pathlib import Path

import typer


def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (required); created when missing."),
    scenes: int = typer.Option(4, "--scenes", help="Number of scenes to generate. Default: 4."),
    size: tuple[int, int] = typer.Option(
        (3000, 3000), "--size", help="Scene width and height in px. Default: 3000 3000."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same bytes. Default: 0."),
    image_format: str = typer.Option("tif", "--image-format", help="tif (LZW) or png. Default: tif."),
    recipe: str = typer.Option(
        "synthetic_xview.yaml", "--recipe", help="Recipe name or YAML path. Default: synthetic_xview.yaml."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty --out that tiledet did not create; its files are still never "
        "removed or overwritten. Default: off (refused).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar or summary. Default: off."),
) -> None:
    """Generate synthetic xView-format scenes with xView type ids, and their labels in three formats."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tiledet.synth.generate import SynthConfig, generate_scenes

    cfg = SynthConfig(
        out=out, scenes=scenes, size_wh=size, seed=seed, image_format=image_format, recipe=recipe,
        force=force,
    )
    if quiet:
        generate_scenes(cfg)
        return
    console = Console(stderr=True)
    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scenes", total=cfg.scenes)
        result = generate_scenes(cfg, progress=lambda n: bar.advance(task, n))
    _print_summary(console, result)


def _print_summary(console, result) -> None:
    from rich.table import Table

    from tiledet.classes import ClassMap

    cmap = ClassMap.xview()
    names = dict(zip(cmap.ids or (), cmap.names, strict=True))
    from tiledet.text import plural

    scenes, boxes = plural(len(result.scenes), "scene"), plural(result.num_boxes, "box")
    table = Table(title=f"{scenes}, {boxes} -> {result.out}")
    table.add_column("type_id", justify="right")
    table.add_column("class")
    table.add_column("boxes", justify="right")
    for type_id, count in result.class_counts().items():
        table.add_row(str(type_id), names.get(type_id, "?"), str(count))
    console.print(table)
    for fmt, path in result.label_paths.items():
        console.print(f"{fmt}: {path}")


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth)

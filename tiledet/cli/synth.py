"""``tiledet synth``: generate synthetic xView-format scenes (images + GeoJSON, CSV, semicolon labels).

``--image-format cog`` (or ``--format cog``) writes georeferenced COGs and lon/lat labels as well.
"""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from tiledet.cli.defaults import default_of, given
from tiledet.cli.options import Force, Quiet
from tiledet.synth.config import SynthConfig

_default = functools.partial(default_of, SynthConfig)


def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (required); created when missing."),
    scenes: int | None = typer.Option(
        None, "--scenes", help=f"Number of scenes to generate. Default: {_default('scenes')}."
    ),
    size: tuple[int, int] | None = typer.Option(
        None, "--size", help="Scene width and height in px. Default: {} {}.".format(*_default("size_wh"))
    ),
    seed: int | None = typer.Option(
        None, "--seed", help=f"Random seed; same seed, same bytes. Default: {_default('seed')}."
    ),
    image_format: str | None = typer.Option(
        None, "--image-format", "--format",
        help="tif (LZW), png, or cog: georeferenced Cloud-Optimised GeoTIFFs (UTM 33N, "
        f"{_default('gsd_m'):g} m/px; labels also in lon/lat in labels.geojson). "
        f"Default: {_default('image_format')}.",
    ),
    recipe: str | None = typer.Option(
        None, "--recipe", help=f"Recipe name or YAML path. Default: {_default('recipe')}."
    ),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Generate synthetic xView-format scenes with xView type ids, and their labels in three formats."""
    from tiledet.cli.progress import progress_bar
    from tiledet.cli.richtext import make_console
    from tiledet.synth.generate import generate_scenes

    cfg = SynthConfig(
        out=out, force=force,
        **given(scenes=scenes, size_wh=size, seed=seed, image_format=image_format, recipe=recipe),
    )
    console = make_console(stderr=True)
    with progress_bar("synth", total=cfg.scenes, show=not quiet, fixed=True, console=console) as bar:
        result = generate_scenes(cfg, progress=bar)
    if not quiet:
        _print_summary(console, result)


def _print_summary(console, result) -> None:
    from rich.table import Table

    from tiledet.cli.richtext import esc
    from tiledet.labels.classes import ClassMap

    cmap = ClassMap.xview()
    names = dict(zip(cmap.ids or (), cmap.names, strict=True))
    from tiledet.text import plural

    scenes, boxes = plural(len(result.scenes), "scene"), plural(result.num_boxes, "box")
    table = Table(title=f"{scenes}, {boxes} -> {esc(result.out)}")
    table.add_column("type_id", justify="right")
    table.add_column("class")
    table.add_column("boxes", justify="right")
    for type_id, count in result.class_counts().items():
        table.add_row(str(type_id), esc(names.get(type_id, "?")), str(count))
    console.print(table)
    for fmt, path in result.label_paths.items():
        console.print(f"{esc(fmt)}: {esc(path)}")
    if result.geo_labels_path is not None:
        console.print(f"lon/lat GeoJSON: {esc(result.geo_labels_path)}")


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth)

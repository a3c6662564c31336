"""``tiledet convert``: a thin Typer layer that builds a :class:`ConvertConfig` and calls ``convert``."""

from __future__ import annotations

from pathlib import Path

import typer

from tiledet.errors import ConfigError
from tiledet.formats import FORMAT_CHOICES as _FORMATS


def parse_csv_columns(text: str | None) -> dict[str, str]:
    """``"image=File,class=Type"`` -> ``{"image": "File", "class": "Type"}``.

    Raises:
        ConfigError: on an item without ``=`` or with an empty role or header.
    """
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        role, sep, header = item.partition("=")
        if not sep or not role.strip() or not header.strip():
            raise ConfigError(f"--csv-columns: expected role=Header items separated by commas, got {item!r}")
        mapping[role.strip().lower()] = header.strip()
    return mapping


def convert_command(
    src: Path = typer.Argument(
        ..., help="Label source: a file (GeoJSON, CSV, semicolon, COCO JSON, YOLO data.yaml) or a "
        "folder (DOTA labelTxt, VisDrone annotations, YOLO labels). Required."
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Folder the labels' image names are relative to. Default: the folder the source declares "
        "(a YOLO data.yaml's dataset root; 'images' beside DOTA labelTxt or VisDrone annotations); "
        "required for other sources.",
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (created if missing). Required."),
    fmt: str = typer.Option("auto", "--from", help=f"Source format: {_FORMATS}. Default: auto (detected)."),
    to: str = typer.Option("yolo", "--to", help="Output: yolo|coco|chips. Default: yolo."),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="'xview' or a class file (YAML names/type_ids, or one class per line). "
        "Default: xview for xView formats, else the classes the source declares.",
    ),
    val_fraction: float | None = typer.Option(
        None,
        "--val-fraction",
        help="Share of source images in val, [0, 1); implies --split random. Default: 0.2.",
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="keep: the source's own train/val(/test) split; random: a new split by --val-fraction and "
        "--seed. Default: keep for sources that declare splits (YOLO data.yaml), else random.",
    ),
    skip_difficult: bool = typer.Option(
        False,
        "--skip-difficult",
        help="DOTA: leave out boxes flagged difficult (reported as 'difficult' drops). "
        "Default: off (difficult boxes are kept).",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the split and sampling. Default: 0."),
    copy: bool = typer.Option(False, "--copy", help="Copy images instead of symlinking them. Default: off."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record or box. Default: off."),
    csv_columns: str | None = typer.Option(
        None,
        "--csv-columns",
        help="CSV column override, role=Header,... (roles: image, class, and xmin ymin xmax ymax, "
        "x y w h or bounds). "
        "Default: recognised from the header.",
    ),
    tile: int | None = typer.Option(
        None, "--tile", help="Cut images into TILE x TILE px tiles. Default: off (whole images)."
    ),
    overlap: float = typer.Option(0.2, "--overlap", help="Tile overlap fraction in [0, 1). Default: 0.2."),
    min_visibility: float = typer.Option(
        0.5, "--min-visibility", help="Keep a box in a tile when this share of it is inside. Default: 0.5."
    ),
    empty_fraction: float = typer.Option(
        0.0, "--empty-fraction", help="Probability of keeping a tile without boxes. Default: 0.0."
    ),
    workers: int = typer.Option(
        0, "--workers", help="Worker processes for tiles/chips. Default: 0 (CPU count)."
    ),
    chip_size: int = typer.Option(64, "--chip-size", help="Chips: side of each chip in px. Default: 64."),
    context: float = typer.Option(
        0.5, "--context", help="Chips: side = longer box side x (1 + CONTEXT). Default: 0.5."
    ),
    background: int = typer.Option(0, "--background", help="Chips: background chips per scene. Default: 0."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar or summary table. Default: off."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty --out that tiledet did not create; its files are still never "
        "removed or overwritten. Default: off (refused).",
    ),
) -> None:
    """Convert labels to a YOLO or COCO dataset, tiles, or classification chips.

    --out is owned by tiledet: it records what it wrote in .tiledet-manifest.json and a later run
    removes only those files. Exit codes: 0 complete, 2 bad input or options (or no box written),
    130 interrupted.
    """
    from tiledet.cli.progress import progress_bar
    from tiledet.cli.tables import print_convert_summary
    from tiledet.convert.pipeline import ConvertConfig, convert

    _reject_unused_options(to, tile, overlap, min_visibility, empty_fraction, chip_size, context, background)
    tile_cfg = chips_cfg = None
    if tile is not None:
        from tiledet.convert.tiling import TileConfig

        tile_cfg = TileConfig(
            tile=tile, overlap=overlap, min_visibility=min_visibility,
            empty_fraction=empty_fraction, seed=seed, workers=workers,
        )
    if to == "chips":
        from tiledet.convert.chips import ChipConfig

        chips_cfg = ChipConfig(
            chip_size=chip_size, context=context, background=background, seed=seed, workers=workers
        )
    cfg = ConvertConfig(
        src=src, images_dir=images, out=out, fmt=fmt, to=to, classes=classes,
        seed=seed, copy=copy, strict=strict, csv_columns=parse_csv_columns(csv_columns),
        tile=tile_cfg, chips=chips_cfg, workers=workers, force=force, skip_difficult=skip_difficult,
        split="random" if split is None and val_fraction is not None else split,
        **({} if val_fraction is None else {"val_fraction": val_fraction}),
    )
    with progress_bar(f"reading labels from {src}", show=not quiet) as bar:
        report = convert(cfg, progress=bar.advance, on_start=bar.start)
    if not quiet:
        print_convert_summary(report)


def _reject_unused_options(
    to: str, tile: int | None, overlap: float, min_visibility: float, empty_fraction: float,
    chip_size: int, context: float, background: int,
) -> None:
    """Options that would be silently ignored are an error instead."""
    if tile is None:
        given = [name for name, value, default in (
            ("--overlap", overlap, 0.2), ("--min-visibility", min_visibility, 0.5),
            ("--empty-fraction", empty_fraction, 0.0),
        ) if value != default]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --tile")
    if to != "chips":
        given = [name for name, value, default in (
            ("--chip-size", chip_size, 64), ("--context", context, 0.5), ("--background", background, 0),
        ) if value != default]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --to chips")


def register(app: typer.Typer) -> None:
    """Add ``tiledet convert`` to ``app``."""
    app.command("convert")(convert_command)

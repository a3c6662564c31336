"""``tiledet convert``: a thin Typer layer that builds a :class:`ConvertConfig` and calls ``convert``."""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from tiledet.cli.defaults import default_of, given
from tiledet.cli.options import Bands, Force, Quiet, RadiometryKind, radiometry_of
from tiledet.convert.config import ChipConfig, ConvertConfig, TileConfig
from tiledet.errors import ConfigError
from tiledet.formats import FORMAT_CHOICES as _FORMATS
from tiledet.formats.geo_options import DEFAULT_CLASS_FIELDS, GeoOptions

_convert_default = functools.partial(default_of, ConvertConfig)
_tile_default = functools.partial(default_of, TileConfig)
_chip_default = functools.partial(default_of, ChipConfig)


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
        ..., help="Label source: a file (GeoJSON, CSV, semicolon, COCO JSON, YOLO data.yaml; GeoJSON, "
        "GeoPackage, Shapefile or FlatGeobuf in map coordinates, placed on the georeferenced rasters of "
        "--images) or a folder (DOTA labelTxt, VisDrone annotations, YOLO labels). Required."
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Folder the labels' image names are relative to. Default: the folder the source declares "
        "(a YOLO data.yaml's dataset root; 'images' beside DOTA labelTxt or VisDrone annotations); "
        "required for other sources.",
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (created if missing). Required."),
    fmt: str | None = typer.Option(
        None, "--from", help=f"Source format: {_FORMATS}. Default: {_convert_default('fmt')} (detected)."
    ),
    to: str | None = typer.Option(
        None, "--to", help=f"Output: yolo|coco|chips. Default: {_convert_default('to')}."
    ),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="'xview' or a class file (YAML names/type_ids, or one class per line: 'name', 'id:name', "
        "'id,name' or 'id name'). "
        "Default: xview for xView formats, else the classes the source declares.",
    ),
    val_fraction: float | None = typer.Option(
        None,
        "--val-fraction",
        help="Share of source images in val, [0, 1); implies --split random. "
        f"Default: {_convert_default('val_fraction')}.",
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="keep: the source's own train/val(/test) split; random: a new split by --val-fraction and "
        "--seed; blocks: a spatial split of tiles or chips (see --block-size). Default: keep for sources "
        "that declare splits (YOLO data.yaml), else random (blocks when --block-size is given).",
    ),
    block_size: str | None = typer.Option(
        None,
        "--block-size",
        help="With --split blocks: side of the square blocks each scene's plane is cut into, in pixels "
        "(5000px) or metres on the map (2000m: georeferenced scenes, lon/lat ones in the UTM zone of "
        "their centre; blocks align across scenes of one CRS); each block is val with probability "
        "--val-fraction (seeded by --seed), and every tile or chip goes to the split of the block "
        "holding its centre. Default: none.",
    ),
    radiometry: RadiometryKind = None,
    bands: Bands = None,
    skip_difficult: bool = typer.Option(
        False,
        "--skip-difficult",
        help="DOTA: leave out boxes flagged difficult (reported as 'difficult' drops). "
        "Default: off (difficult boxes are kept).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help=f"Random seed of the split and sampling. Default: {_convert_default('seed')}."
    ),
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
    overlap: float | None = typer.Option(
        None, "--overlap", help=f"Tile overlap fraction in [0, 1). Default: {_tile_default('overlap')}."
    ),
    min_visibility: float | None = typer.Option(
        None,
        "--min-visibility",
        help="Keep a box in a tile when this share of it is inside. "
        f"Default: {_tile_default('min_visibility')}.",
    ),
    empty_fraction: float | None = typer.Option(
        None,
        "--empty-fraction",
        help=f"Probability of keeping a tile without boxes. Default: {_tile_default('empty_fraction')}.",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help=f"Worker processes for tiles/chips. Default: {_convert_default('workers')} (CPU count).",
    ),
    chip_size: int | None = typer.Option(
        None, "--chip-size", help=f"Chips: side of each chip in px. Default: {_chip_default('chip_size')}."
    ),
    context: float | None = typer.Option(
        None,
        "--context",
        help=f"Chips: side = longer box side x (1 + CONTEXT). Default: {_chip_default('context')}.",
    ),
    background: int | None = typer.Option(
        None,
        "--background",
        help=f"Chips: background chips per scene. Default: {_chip_default('background')}.",
    ),
    structured: bool | None = typer.Option(
        None,
        "--structured-negatives/--no-structured-negatives",
        help="Chips: around every object, background chips at 0.5x and 2x its window and half a window "
        "off-centre (a sliding-window classifier then fires only on centred objects of its trained size). "
        "Default: on.",
    ),
    negatives: Path | None = typer.Option(
        None,
        "--negatives",
        help="Chips: detections (COCO results JSON, e.g. from 'tiledet detect sliding' on these scenes); "
        "those with IoU < 0.1 to every box become background chips (hard negatives). Default: none.",
    ),
    jitter: int | None = typer.Option(
        None,
        "--jitter",
        help="Chips: extra chips per object, up to 1/8 window off-centre and 2^(1/8) off-scale (teaches "
        f"a --box-head where an object sits in a window). Default: {_chip_default('jitter')}.",
    ),
    negatives_per_scene: int | None = typer.Option(
        None,
        "--negatives-per-scene",
        help=f"Chips: most hard negatives per scene, most confident first. "
        f"Default: {_chip_default('negatives_per_scene')}.",
    ),
    layer: str | None = typer.Option(
        None,
        "--layer",
        help="geo-vector: the layer to read. Default: the file's only layer (a file with several needs it).",
    ),
    class_field: str | None = typer.Option(
        None,
        "--class-field",
        help="geo-vector: the field holding each feature's class. "
        f"Default: the one of {', '.join(DEFAULT_CLASS_FIELDS)} the layer has.",
    ),
    image_field: str | None = typer.Option(
        None,
        "--image-field",
        help="geo-vector: the field naming each feature's raster (relative to --images). "
        "Default: none (a feature belongs to the raster whose footprint holds its centre).",
    ),
    size_field: str | None = typer.Option(
        None,
        "--size-field",
        help="geo-vector: the field holding each point's object size in metres (square box). Default: none.",
    ),
    point_size_m: float | None = typer.Option(
        None,
        "--point-size-m",
        help="geo-vector: square box side in metres for points without a --size-field value. Default: none.",
    ),
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Convert labels to a YOLO or COCO dataset, tiles, or classification chips.

    --out is owned by tiledet: it records what it wrote in .tiledet-manifest.json and a later run
    removes only those files. Exit codes: 0 complete, 2 bad input or options (or no box written),
    130 interrupted.
    """
    from tiledet.cli.progress import progress_bar
    from tiledet.cli.tables import print_convert_summary
    from tiledet.convert.pipeline import convert

    tile_options = given(overlap=overlap, min_visibility=min_visibility, empty_fraction=empty_fraction)
    chip_options = given(
        chip_size=chip_size, context=context, background=background, structured=structured,
        negatives=negatives, negatives_per_scene=negatives_per_scene, jitter=jitter,
    )  # fmt: skip
    kind = to if to is not None else default_of(ConvertConfig, "to")
    _reject_unused_options(kind, tile, tile_options, chip_options)
    shared = given(seed=seed, workers=workers)
    cfg = ConvertConfig(
        src=src, images_dir=images, out=out, classes=classes,
        copy=copy, strict=strict, csv_columns=parse_csv_columns(csv_columns),
        tile=None if tile is None else TileConfig(tile=tile, **tile_options, **shared),
        chips=ChipConfig(**chip_options, **shared) if kind == "chips" else None,
        force=force, skip_difficult=skip_difficult,
        geo=GeoOptions(layer=layer, class_field=class_field, image_field=image_field, size_field=size_field,
                       point_size_m=point_size_m),
        split=_split_kind(split, val_fraction, block_size), block_size=block_size,
        radiometry=radiometry_of(radiometry, bands),
        **given(fmt=fmt, to=to, seed=seed, workers=workers, val_fraction=val_fraction),
    )
    with progress_bar(f"reading labels from {src}", show=not quiet) as bar:
        report = convert(cfg, progress=bar)
    if not quiet:
        print_convert_summary(report)


def _split_kind(split: str | None, val_fraction: float | None, block_size: str | None) -> str | None:
    """``--split`` as given; else blocks with ``--block-size``, random with ``--val-fraction``."""
    if split is not None:
        return split
    if block_size is not None:
        return "blocks"
    return "random" if val_fraction is not None else None



def _reject_unused_options(
    to: str, tile: int | None, tile_options: dict[str, object], chip_options: dict[str, object]
) -> None:
    """Options that would be silently ignored are an error instead (only given options count)."""
    if tile is None and tile_options:
        names = ", ".join(f"--{name.replace('_', '-')}" for name in tile_options)
        raise ConfigError(f"{names} only apply with --tile")
    if to != "chips" and chip_options:
        names = ", ".join(f"--{name.replace('_', '-')}" for name in chip_options)
        raise ConfigError(f"{names} only apply with --to chips")


def register(app: typer.Typer) -> None:
    """Add ``tiledet convert`` to ``app``."""
    app.command("convert")(convert_command)

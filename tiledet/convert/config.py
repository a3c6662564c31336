"""The settings of ``tiledet convert``: :class:`ConvertConfig`, with :class:`TileConfig` (tiles) and
:class:`ChipConfig` (classifier chips).

Light on purpose (no conversion code): the CLI states its defaults from these classes, and
:mod:`tiledet.convert.pipeline`, :mod:`~tiledet.convert.tiling` and :mod:`~tiledet.convert.chips` use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tiledet.convert.blocks import BlockSize, parse_block_size
from tiledet.errors import ConfigError
from tiledet.formats import READERS
from tiledet.formats.geo_options import GeoOptions
from tiledet.radiometry import AUTO, Radiometry


@dataclass(frozen=True)
class TileConfig:
    """How scenes are cut into tiles.

    Attributes:
        tile: tile side in pixels (> 0); tiles at the right/bottom edge are snapped to the edge.
        overlap: fraction of a tile shared with its neighbour, in ``[0, 1)``.
        min_visibility: a box is kept in a tile when area(box ∩ tile) / area(box) >= this, in ``(0, 1]``.
        empty_fraction: probability of keeping a tile without boxes, in ``[0, 1]``.
        seed: seed of the empty-tile draws (per scene and tile, independent of ``workers``).
        workers: worker processes (>= 0); 0 means ``os.cpu_count()``.
    """

    tile: int
    overlap: float = 0.2
    min_visibility: float = 0.5
    empty_fraction: float = 0.0
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.tile, bool) or int(self.tile) != self.tile or self.tile <= 0:
            raise ConfigError(
                f"tile must be a positive whole number of pixels, got {self.tile!r}", field="tile"
            )
        if not 0.0 <= float(self.overlap) < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {self.overlap!r}", field="overlap")
        if not 0.0 < float(self.min_visibility) <= 1.0:
            raise ConfigError(
                f"min_visibility must be in (0, 1], got {self.min_visibility!r}", field="min_visibility"
            )
        if not 0.0 <= float(self.empty_fraction) <= 1.0:
            raise ConfigError(
                f"empty_fraction must be in [0, 1], got {self.empty_fraction!r}", field="empty_fraction"
            )
        if int(self.workers) != self.workers or self.workers < 0:
            raise ConfigError(f"workers must be a whole number >= 0, got {self.workers!r}", field="workers")
        if int(self.seed) != self.seed:
            raise ConfigError(f"seed must be a whole number, got {self.seed!r}", field="seed")
        object.__setattr__(self, "tile", int(self.tile))


#: Largest ``chip_size`` accepted, px (a 4096² RGB chip is 48 MiB).
MAX_CHIP_SIZE = 4096


@dataclass(frozen=True)
class ChipConfig:
    """How chips are cut.

    Attributes:
        chip_size: side of every written chip in pixels (> 0).
        context: margin around the object: chip window side = longer box side × (1 + context); >= 0.
        background: background chips requested per scene (>= 0).
        seed: seed of the background draws (per scene, independent of ``workers``).
        workers: worker processes (>= 0); 0 means ``os.cpu_count()``.
        structured: add structured negatives (wrong scale, off-centre) as background chips.
        negatives: COCO results JSON of a detector run on these scenes: its false positives become
            background chips (hard negatives); None for none.
        negatives_per_scene: at most this many hard negatives per scene (most confident first).
        jitter: extra chips per object, slightly off-centre and off-scale (``kind`` ``jitter``), so a
            box head learns where the object sits in a window that is not centred on it.
    """

    chip_size: int = 64
    context: float = 0.5
    background: int = 0
    seed: int = 0
    workers: int = 0
    structured: bool = True
    negatives: Path | None = None
    negatives_per_scene: int = 50
    jitter: int = 2

    @property
    def with_background(self) -> bool:
        """Whether any kind of background chip is asked for."""
        return self.background > 0 or self.structured or self.negatives is not None

    def __post_init__(self) -> None:
        def whole(value: object) -> bool:
            return (
                not isinstance(value, bool)
                and isinstance(value, (int, np.integer, float))
                and int(value) == value
            )

        if not whole(self.chip_size) or self.chip_size <= 0:
            raise ConfigError(
                f"chip_size must be a positive whole number of pixels, got {self.chip_size!r}",
                field="chip_size",
            )
        if self.chip_size > MAX_CHIP_SIZE:
            mib = self.chip_size**2 * 3 / 2**20
            raise ConfigError(
                f"chip_size={self.chip_size} would make chips of {mib:,.0f} MiB each "
                f"(limit {MAX_CHIP_SIZE} px)",
                field="chip_size",
            )
        if not np.isfinite(self.context) or self.context < 0:
            raise ConfigError(f"context must be >= 0, got {self.context!r}", field="context")
        if not whole(self.background) or self.background < 0:
            raise ConfigError(
                f"background must be a whole number >= 0, got {self.background!r}", field="background"
            )
        if not whole(self.workers) or self.workers < 0:
            raise ConfigError(f"workers must be a whole number >= 0, got {self.workers!r}", field="workers")
        if not whole(self.seed):
            raise ConfigError(f"seed must be a whole number, got {self.seed!r}", field="seed")
        if not whole(self.negatives_per_scene) or self.negatives_per_scene < 0:
            raise ConfigError(
                f"negatives_per_scene must be a whole number >= 0, got {self.negatives_per_scene!r}",
                field="negatives_per_scene",
            )
        if self.negatives is not None:
            object.__setattr__(self, "negatives", Path(self.negatives))
        if not whole(self.jitter) or self.jitter < 0:
            raise ConfigError(f"jitter must be a whole number >= 0, got {self.jitter!r}", field="jitter")
        for name in ("chip_size", "background", "workers", "seed", "negatives_per_scene", "jitter"):
            object.__setattr__(self, name, int(getattr(self, name)))


#: Output kinds of ``--to``.
OUTPUT_KINDS = ("yolo", "coco", "chips")
#: Roles a ``--csv-columns`` override may name.
CSV_ROLES = frozenset({"image", "xmin", "ymin", "xmax", "ymax", "x", "y", "w", "h", "bounds", "class"})


@dataclass(frozen=True)
class ConvertConfig:
    """Everything one conversion needs.

    Attributes:
        src: label source (file or folder).
        images_dir: folder the labels' image names are relative to; None uses the folder the source
            declares (:func:`tiledet.formats.layout.declared_images_dir`: a YOLO ``data.yaml``'s
            dataset root, the ``images`` folder beside DOTA/VisDrone label folders).
        out: output folder.
        fmt: source format, a key of ``tiledet.formats.READERS`` or ``"auto"`` (detect).
        to: ``"yolo"``, ``"coco"`` or ``"chips"``.
        classes: ``"xview"``, a class file, or None (the default of ``load.class_map_for``).
        val_fraction: share of source images in the validation split, ``[0, 1)``.
        seed: seed of the split (and of tiling/chips sampling when their configs keep seed 0).
        copy: copy images instead of symlinking them.
        strict: the first problem (malformed record, unknown class, missing or unreadable image,
            degenerate box) is an error instead of a reported drop.
        csv_columns: CSV column override, role -> header name.
        tile: tiling options; None writes whole images.
        chips: chips options for ``to="chips"`` (None uses ``ChipConfig()`` defaults).
        workers: worker processes for tiling/chips when their own ``workers`` is 0 (0 = CPU count).
        force: write into a non-empty ``out`` that tiledet did not create (its files are still never
            removed or overwritten).
        split: ``"keep"`` the source's own train/val(/test) assignment, ``"random"`` re-split with
            ``val_fraction`` and ``seed``, ``"blocks"`` a spatial split of tiles or chips (square blocks
            of ``block_size``, each ``val`` with probability ``val_fraction``:
            :mod:`tiledet.convert.blocks`); None keeps it when the source declares splits (YOLO
            ``data.yaml``), else splits at random.
        block_size: side of the blocks of ``split="blocks"`` (``"2000m"``, ``"5000px"`` or a
            :class:`~tiledet.convert.blocks.BlockSize`).
        radiometry: how the scenes' stored values become the 8-bit pixels of tiles and chips.
        skip_difficult: DOTA: leave out boxes flagged difficult (``difficult`` drops).
        geo: labels in map coordinates (``geo-vector``): layer, class/image/size fields, point size.
    """

    src: Path
    images_dir: Path | None
    out: Path
    fmt: str = "auto"
    to: str = "yolo"
    classes: str | None = None
    val_fraction: float = 0.2
    seed: int = 0
    copy: bool = False
    strict: bool = False
    csv_columns: Mapping[str, str] = field(default_factory=dict)
    tile: TileConfig | None = None
    chips: ChipConfig | None = None
    workers: int = 0
    force: bool = False
    split: str | None = None
    skip_difficult: bool = False
    block_size: BlockSize | None = None
    radiometry: Radiometry = AUTO
    geo: GeoOptions = field(default_factory=GeoOptions)

    def __post_init__(self) -> None:
        for name in ("src", "images_dir", "out"):
            if getattr(self, name) is not None or name != "images_dir":
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.split is not None and self.split not in ("keep", "random", "blocks"):
            raise ConfigError(f"split must be keep, random or blocks, got {self.split!r}", field="split")
        self._check_blocks()
        object.__setattr__(self, "csv_columns", dict(self.csv_columns))
        if self.fmt != "auto" and self.fmt not in READERS:
            raise ConfigError(
                f"fmt must be auto or one of {', '.join(READERS)}, got {self.fmt!r}", field="fmt"
            )
        if self.to not in OUTPUT_KINDS:
            raise ConfigError(f"to must be one of {', '.join(OUTPUT_KINDS)}, got {self.to!r}", field="to")
        if not (0.0 <= float(self.val_fraction) < 1.0):
            raise ConfigError(
                f"val_fraction must be in [0, 1), got {self.val_fraction}", field="val_fraction"
            )
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0 = CPU count), got {self.workers}", field="workers")
        unknown = set(self.csv_columns) - CSV_ROLES
        if unknown:
            raise ConfigError(
                f"csv_columns: unknown role(s) {', '.join(sorted(unknown))}; roles are "
                f"{', '.join(sorted(CSV_ROLES))}",
                field="csv_columns",
            )
        if self.tile is not None and self.to == "chips":
            raise ConfigError("tile cannot be combined with to=chips", field=("tile", "to"))
        if self.chips is not None and self.to != "chips":
            raise ConfigError(
                "chip options (`chip_size`, `context`, `background`) need to=chips",
                field=("chip_size", "context", "background", "to"),
            )
        if self.classes is not None and not str(self.classes).strip():
            raise ConfigError("classes must be 'xview' or a class file path", field="classes")

    def _check_blocks(self) -> None:
        """``split="blocks"`` needs a block size and tiles or chips; a block size needs it."""
        if self.block_size is not None:
            object.__setattr__(self, "block_size", parse_block_size(self.block_size))
        if self.split == "blocks" and self.block_size is None:
            raise ConfigError(
                "split=blocks needs `block_size` (e.g. 2000m or 5000px)", field=("split", "block_size")
            )
        if self.block_size is not None and self.split != "blocks":
            raise ConfigError("block_size applies only with split=blocks", field=("block_size", "split"))
        if self.split == "blocks" and self.tile is None and self.to != "chips":
            raise ConfigError(
                "split=blocks assigns tiles or chips to splits: it needs `tile` or to=chips",
                field=("split", "tile", "to"),
            )

"""The settings of ``tiledet synth`` (:class:`SynthConfig`) and the limits they are checked against.

Light on purpose (no rendering code): the CLI states its defaults from this class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from tiledet.errors import ConfigError

#: The recipe in ``datasets/`` used when none is given.
DEFAULT_RECIPE = "synthetic_xview.yaml"
#: ``cog``: a georeferenced Cloud-Optimised GeoTIFF (``.tif``), see :mod:`tiledet.synth.geo`.
IMAGE_FORMATS = ("tif", "png", "cog")
#: The CRS of ``cog`` scenes (WGS 84 / UTM zone 33N), metres.
GEO_CRS = "EPSG:32633"
#: Map coordinates (metres) of the north-west corner of the grid of ``cog`` scenes, its width, and the
#: gap left between neighbouring scenes.
GRID_ORIGIN_XY = (300_000.0, 5_000_000.0)
GRID_WIDTH_M = 400_000.0
SCENE_GAP_M = 100.0
#: Largest ground sample distance accepted, metres per pixel.
MAX_GSD_M = 30.0
#: Smallest scene side accepted, px (the largest objects need room).
MIN_SIDE_PX = 64
#: Largest scene accepted, pixels (8192 x 8192); rendering peaks at about
#: :data:`RENDER_BYTES_PER_PX` bytes per pixel.
MAX_SCENE_PX = 8192 * 8192
#: Peak memory of rendering one scene, bytes per pixel (measured: 163 MiB for 2000 x 2000).
RENDER_BYTES_PER_PX = 43
#: Most scenes one run may write.
MAX_SCENES = 100_000


@dataclass(frozen=True)
class SynthConfig:
    """Settings of :func:`~tiledet.synth.generate.generate_scenes`.

    Attributes:
        out: output folder (created; existing files of the same names are replaced).
        scenes: number of scenes (>= 1).
        size_wh: ``(width, height)`` of every scene, px (each >= 64).
        seed: random seed (>= 0).
        image_format: ``"tif"`` (LZW-compressed TIFF), ``"png"`` or ``"cog"`` (georeferenced COG,
            ``.tif``, labels also written in map coordinates).
        gsd_m: ground sample distance of ``cog`` scenes, metres per pixel (0 < gsd_m <= 30).
        recipe: a recipe name in ``datasets/`` or a path to a recipe YAML file.
        force: write into a non-empty ``out`` that tiledet did not create (its files are still
            never removed or overwritten).
    """

    out: Path
    scenes: int = 4
    size_wh: tuple[int, int] = (3000, 3000)
    seed: int = 0
    image_format: str = "tif"
    recipe: str | Path = DEFAULT_RECIPE
    force: bool = False
    gsd_m: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if int(self.scenes) != self.scenes or self.scenes < 1:
            raise ConfigError(f"scenes must be a whole number >= 1, got {self.scenes!r}")
        if self.scenes > MAX_SCENES:
            raise ConfigError(
                f"scenes={self.scenes:,} would write {self.scenes:,} images (limit {MAX_SCENES:,})",
                field="scenes",
            )
        if len(self.size_wh) != 2 or any(int(v) != v for v in self.size_wh):
            raise ConfigError(f"size must be two whole numbers W H, got {self.size_wh!r}")
        if min(self.size_wh) < MIN_SIDE_PX:
            raise ConfigError(f"size must be at least {MIN_SIDE_PX} px each side, got {tuple(self.size_wh)}")
        object.__setattr__(self, "size_wh", (int(self.size_wh[0]), int(self.size_wh[1])))
        pixels = self.size_wh[0] * self.size_wh[1]
        if pixels > MAX_SCENE_PX:
            gib = pixels * RENDER_BYTES_PER_PX / 2**30
            raise ConfigError(
                f"size_wh {self.size_wh[0]} {self.size_wh[1]} is {pixels:,} px per scene, about "
                f"{gib:,.1f} GiB of memory to render (limit {MAX_SCENE_PX:,} px, e.g. 8192 x 8192)",
                field="size_wh",
            )
        if int(self.seed) != self.seed or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if self.image_format not in IMAGE_FORMATS:
            choices = ", ".join(IMAGE_FORMATS)
            raise ConfigError(f"image format must be one of {choices}, got {self.image_format!r}")
        number = isinstance(self.gsd_m, int | float) and not isinstance(self.gsd_m, bool)
        if not (number and 0 < self.gsd_m <= MAX_GSD_M):
            raise ConfigError(f"gsd_m must be in (0, {MAX_GSD_M:g}] metres per pixel, got {self.gsd_m!r}",
                              field="gsd_m")  # fmt: skip
        object.__setattr__(self, "gsd_m", float(self.gsd_m))
        if self.image_format == "cog":
            _check_grid_fits(self.scenes, self.size_wh, self.gsd_m)

    @property
    def image_suffix(self) -> str:
        """The scene files' suffix: ``.tif`` for ``tif`` and ``cog``, ``.png``."""
        return ".png" if self.image_format == "png" else ".tif"


def _pitch_m(side_px: int, gsd_m: float) -> float:
    """Distance between the origins of neighbouring scenes along one axis: whole 100 m plus the gap."""
    return math.ceil(side_px * gsd_m / 100.0) * 100.0 + SCENE_GAP_M


def grid_columns(size_wh: tuple[int, int], gsd_m: float) -> int:
    """Scenes per row of the grid of ``cog`` scenes (as many as fit in :data:`GRID_WIDTH_M`, >= 1)."""
    return max(1, int(GRID_WIDTH_M // _pitch_m(size_wh[0], gsd_m)))


def scene_origin_xy(index: int, size_wh: tuple[int, int], gsd_m: float) -> tuple[float, float]:
    """Map ``(x, y)`` (metres in :data:`GEO_CRS`) of the north-west corner of ``cog`` scene ``index``.

    Rows of :func:`grid_columns` scenes go west to east from :data:`GRID_ORIGIN_XY`, then south.
    """
    row, col = divmod(int(index), grid_columns(size_wh, gsd_m))
    west, north = GRID_ORIGIN_XY
    return west + col * _pitch_m(size_wh[0], gsd_m), north - row * _pitch_m(size_wh[1], gsd_m)


def _check_grid_fits(scenes: int, size_wh: tuple[int, int], gsd_m: float) -> None:
    """The grid of ``scenes`` scenes must stay north of the equator (northings >= 0 in UTM 33N)."""
    rows = math.ceil(scenes / grid_columns(size_wh, gsd_m))
    if rows * _pitch_m(size_wh[1], gsd_m) > GRID_ORIGIN_XY[1]:
        raise ConfigError(
            f"{scenes:,} cog scenes of {size_wh[0]} x {size_wh[1]} px at {gsd_m:g} m/px do not fit in one "
            "UTM zone; use fewer `scenes`, a smaller `size_wh` or a smaller `gsd_m`",
            field=("scenes", "size_wh", "gsd_m"),
        )

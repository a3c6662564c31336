"""The settings of ``tiledet synth`` (:class:`SynthConfig`) and the limits they are checked against.

Light on purpose (no rendering code): the CLI states its defaults from this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tiledet.errors import ConfigError

#: The recipe in ``datasets/`` used when none is given.
DEFAULT_RECIPE = "synthetic_xview.yaml"
IMAGE_FORMATS = ("tif", "png")
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
        image_format: ``"tif"`` (LZW-compressed TIFF) or ``"png"``.
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

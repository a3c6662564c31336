"""Spatial train/val splits: the plane of each scene cut into square blocks, each block drawn once.

``split="blocks"`` (``--split blocks --block-size 2000m`` or ``5000px``) assigns every tile (or chip)
to the split of the block holding its centre, so neighbouring tiles of one big scene land in the same
split except along block borders, and no tile is in two splits.

- Blocks in pixels (``px``): each scene's own pixel grid, block ``(floor(x / size), floor(y / size))``;
  the blocks of different scenes are drawn independently (the scene's file name is part of the key).
- Blocks in metres (``m``): map coordinates (the tile centre through the scene's affine transform,
  rotation terms included) in metres, block ``(floor(X / size), floor(Y / size))``; the key is the
  CRS, so blocks align across scenes of one CRS: overlapping scenes of one area send a place to one
  split. A projected CRS is used as it is (its linear units converted to metres); a geographic one
  (lon/lat, e.g. xView's EPSG:4326) through the WGS 84 UTM zone of the scene's centre (pyproj), so
  lon/lat scenes align with each other and with scenes projected in that zone. Needs a georeferenced
  scene.

A block is ``val`` when ``u < val_fraction`` with ``u`` its draw in ``[0, 1)``: the first 8 bytes of
``blake2b("{seed}:{key}:{bx}:{by}")`` (digest size 8, big-endian) over ``2**64``. The draw depends
only on the seed, the key and the block index: the same for every run, worker count and tile size.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tiledet.errors import ConfigError
from tiledet.scene import DECODED_SUFFIXES

if TYPE_CHECKING:
    from tiledet.scene_base import Scene

#: Units of a block size: scene pixels, or metres on the ground (map coordinates).
BLOCK_UNITS = ("px", "m")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(px|m)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class BlockSize:
    """Side of the square blocks of a spatial split.

    Attributes:
        value: the side, > 0.
        unit: ``"px"`` (scene pixels) or ``"m"`` (metres in map coordinates).
    """

    value: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in BLOCK_UNITS:
            raise ConfigError(f"block_size unit must be px or m, got {self.unit!r}", field="block_size")
        if not np.isfinite(self.value) or self.value <= 0:
            raise ConfigError(f"block_size must be > 0, got {self.value!r}", field="block_size")
        object.__setattr__(self, "value", float(self.value))

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


def parse_block_size(text: str | BlockSize) -> BlockSize:
    """``"2000m"`` → ``BlockSize(2000.0, "m")``, ``"5000px"`` → ``BlockSize(5000.0, "px")``.

    Raises:
        ConfigError: (field ``block_size``) for anything but a positive number followed by px or m.
    """
    if isinstance(text, BlockSize):
        return text
    match = _SIZE.match(str(text))
    if match is None:
        raise ConfigError(
            f"block_size must be a positive number with a unit, like 2000m or 5000px, got {text!r}",
            field="block_size",
        )
    return BlockSize(float(match.group(1)), match.group(2).lower())


def block_draw(seed: int, key: str, block_xy: np.ndarray) -> np.ndarray:
    """(N,) float64 draws in ``[0, 1)`` of (N, 2) int block indexes (module docstring)."""
    block_xy = np.asarray(block_xy, np.int64).reshape(-1, 2)
    unique, inverse = np.unique(block_xy, axis=0, return_inverse=True)
    draws = np.empty(len(unique), np.float64)
    for i, (bx, by) in enumerate(unique.tolist()):
        digest = hashlib.blake2b(f"{int(seed)}:{key}:{bx}:{by}".encode(), digest_size=8).digest()
        draws[i] = int.from_bytes(digest, "big") / 2.0**64
    return draws[np.asarray(inverse).reshape(-1)]


@dataclass(frozen=True)
class BlockSplit:
    """A spatial split (module docstring): block side, share of blocks in ``val``, seed.

    Attributes:
        size: the block side.
        val_fraction: probability of a block being ``val``, in ``[0, 1)``.
        seed: seed of the draws.
    """

    size: BlockSize
    val_fraction: float
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", parse_block_size(self.size))
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise ConfigError(
                f"val_fraction must be in [0, 1), got {self.val_fraction}", field="val_fraction"
            )

    def blocks(self, scene: Scene, file_name: str, centres_xy: np.ndarray) -> tuple[str, np.ndarray]:
        """The key of the scene's plane and the (N, 2) int64 block of each (N, 2) pixel centre.

        Raises:
            ConfigError: naming the scene, for blocks in metres on a scene without georeference.
        """
        centres_xy = np.asarray(centres_xy, np.float64).reshape(-1, 2)
        if self.size.unit == "px":
            return f"px:{file_name}", np.floor(centres_xy / self.size.value).astype(np.int64)
        key, to_metres = metric_plane(scene)
        return key, np.floor(to_metres(centres_xy) / self.size.value).astype(np.int64)

    def splits(self, scene: Scene, file_name: str, centres_xy: np.ndarray) -> np.ndarray:
        """(N,) ``"train"``/``"val"`` of (N, 2) pixel centres of tiles or chips of ``scene``."""
        key, block_xy = self.blocks(scene, file_name, centres_xy)
        is_val = block_draw(self.seed, key, block_xy) < float(self.val_fraction)
        return np.where(is_val, "val", "train").astype(object)

    def to_dict(self) -> dict:
        """JSON-ready form (recorded in ``report.json``)."""
        return {"kind": "blocks", "block_size": str(self.size), "val_fraction": float(self.val_fraction),
                "seed": int(self.seed)}


def crs_key(crs: object) -> str:
    """A CRS as the key of its plane: ``EPSG:<code>`` when it has one, else its WKT."""
    epsg = crs.to_epsg()  # type: ignore[attr-defined]
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()  # type: ignore[attr-defined]


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding ``(lon, lat)`` (326zz north, 327zz south)."""
    zone = int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))
    return (32600 if lat >= 0 else 32700) + zone


def metric_plane(scene: Scene) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """The key of a georeferenced scene's plane in metres, and (N, 2) pixel -> (N, 2) metres in it.

    Raises:
        ConfigError: naming the scene (field ``block_size``), when it has no georeference or a CRS
            that is neither projected in linear units nor geographic.
    """
    factor = _metres_per_unit(scene.path, scene.crs, scene.georeferenced)
    if factor is not None:
        return f"m:{crs_key(scene.crs)}", lambda xy: scene.pixel_to_map(xy) * factor
    from pyproj import CRS, Transformer  # lon/lat: into the UTM zone of the scene's centre

    width, height = scene.size_wh
    lon, lat = scene.pixel_to_map([[width / 2, height / 2]])[0]
    epsg = utm_epsg(float(lon), float(lat))
    to_utm = Transformer.from_crs(CRS.from_wkt(scene.crs.to_wkt()), CRS.from_epsg(epsg), always_xy=True)
    return f"m:EPSG:{epsg}", lambda xy: np.column_stack(to_utm.transform(*scene.pixel_to_map(xy).T))


def _metres_per_unit(path: Path, crs: Any, georeferenced: bool) -> float | None:
    """Metres per map unit of a projected CRS; None for a geographic (lon/lat) one.

    Raises:
        ConfigError: naming the scene (field ``block_size``), when it is not georeferenced or its CRS
            is neither projected in linear units nor geographic.
    """
    if not georeferenced:
        raise ConfigError(
            f"{path}: the scene is not georeferenced (no CRS or geotransform); a `block_size` in metres "
            "needs one: give it in px",
            field="block_size",
        )
    if crs.is_geographic:
        return None
    try:
        return float(crs.linear_units_factor[1])
    except Exception as e:  # rasterio's CRSError: a CRS without linear units
        raise ConfigError(
            f"{path}: its CRS {crs_key(crs)} is neither projected in linear units nor geographic; a "
            "`block_size` in metres needs one: give it in px",
            field="block_size",
        ) from e


def check_georeferenced(paths: Sequence[Path]) -> None:
    """Before anything is written: every scene can hold blocks in metres (its header only is read).

    Files that cannot be opened are left to the writers (reported as unreadable scenes).

    Raises:
        ConfigError: naming the first scene that is not georeferenced (or whose CRS holds no metres).
    """
    import warnings

    import rasterio

    for path in paths:
        if path.suffix.lower() in DECODED_SUFFIXES:
            raise ConfigError(
                f"{path}: a {path.suffix} scene carries no georeference; a `block_size` in metres needs "
                "georeferenced scenes (GeoTIFF): give it in px",
                field="block_size",
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                with rasterio.open(path) as src:
                    crs, transform = src.crs, src.transform
        except rasterio.errors.RasterioIOError:
            continue
        _metres_per_unit(path, crs, bool(crs) and not transform.is_identity)  # as Scene.georeferenced

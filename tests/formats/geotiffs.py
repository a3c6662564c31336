"""Small GeoTIFFs written with rasterio for the georeferenced-detection tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np


def write_geotiff(
    path: Path, size_wh: tuple[int, int] = (120, 90), crs: str | None = "EPSG:32633",
    transform: object = None, seed: int = 0,
) -> Path:
    """A 3-band uint8 GeoTIFF; ``transform`` default: 0.5 m pixels, north up, in UTM 33N.

    ``crs=None`` and ``transform=None`` together write a TIFF without georeference.
    """
    import rasterio
    from rasterio.transform import Affine

    width, height = size_wh
    if transform is None and crs is not None:
        transform = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_500_000.0)
    pixels = np.random.default_rng(seed).integers(0, 256, (3, height, width), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 3, "dtype": "uint8"}
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(pixels)
    return path


def rotated_transform(degrees: float = 30.0, origin: tuple[float, float] = (500_000.0, 4_500_000.0)) -> Any:
    """0.5 m pixels rotated by ``degrees`` about the top-left corner ``origin`` (b, d != 0)."""
    from rasterio.transform import Affine

    return Affine.translation(*origin) @ Affine.rotation(degrees) @ Affine.scale(0.5, -0.5)

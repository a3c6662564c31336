"""Large synthetic georeferenced scenes for the benchmarks: a 3-band uint8 Cloud-Optimised GeoTIFF.

:func:`write_big_cog` writes the scene block by block (never the whole scene in memory): a tiled GTiff
is written window by window, its internal overviews are built with ``build_overviews``, and it is
copied to a COG with GDAL's ``COG`` driver (which keeps those overviews). Small rectangles
("objects") are drawn so detectors have something to find; their pixel boxes are returned and can be
written as xView-style GeoJSON (``bounds_imcoords``, pixels) which ``tiledet convert`` reads without a
geo label reader. ``write_png=True`` also writes the same pixels as a PNG (that path holds the whole
decoded scene in memory once, fine for a peer run).

Every pixel is a pure function of ``(seed, side_px, block)``, so a cached file can be reused: the cache
key is in the file name (:func:`cached_cog`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Objects are placed one per cell of this side (px), inside the cell, with probability OBJECT_RATE.
CELL_PX = 256
OBJECT_RATE = 0.5
#: Object sides (px), uniform in this range.
OBJECT_SIDE_PX = (8, 40)
#: xView type ids used for the two object classes (18 small car, 73 building).
XVIEW_TYPE_IDS = (18, 73)
BLOCK_PX = 512
#: GDAL block cache while writing, MiB (its default, 5% of RAM, would hold a large part of the scene).
CACHE_MB = 256


@dataclass(frozen=True)
class BigScene:
    """A written scene: paths, georeferencing and the objects' pixel boxes.

    Attributes:
        path: the COG.
        png_path: the PNG of the same pixels, or None.
        side_px: width = height of the scene, in px.
        crs: the CRS as a string (e.g. ``"EPSG:32633"``).
        transform: the pixel -> map affine (corner convention), an ``affine.Affine``.
        boxes_xyxy: (N, 4) int64 pixel boxes, half-open ``x0, y0, x1, y1``.
        class_ids: (N,) int64 class index (0 or 1) of each box.
    """

    path: Path
    png_path: Path | None
    side_px: int
    crs: str
    transform: object
    boxes_xyxy: np.ndarray
    class_ids: np.ndarray


def scene_objects(side_px: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The objects of a scene: one per ``CELL_PX`` cell with probability ``OBJECT_RATE``.

    Returns:
        ``(boxes_xyxy (N, 4) int64 px, class_ids (N,) int64, colours (N, 3) uint8 RGB)``.
    """
    rng = np.random.default_rng([seed, side_px, 1])
    cells = side_px // CELL_PX
    cy, cx = np.divmod(np.arange(cells * cells), cells)
    keep = rng.random(cells * cells) < OBJECT_RATE
    cx, cy = cx[keep], cy[keep]
    n = len(cx)
    w = rng.integers(*OBJECT_SIDE_PX, n, endpoint=True)
    h = rng.integers(*OBJECT_SIDE_PX, n, endpoint=True)
    x0 = cx * CELL_PX + rng.integers(0, CELL_PX - w, endpoint=True)
    y0 = cy * CELL_PX + rng.integers(0, CELL_PX - h, endpoint=True)
    class_ids = rng.integers(0, 2, n)
    colours = np.where(class_ids[:, None] == 0, [220, 40, 40], [240, 240, 60]).astype(np.uint8)
    boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1).astype(np.int64)
    return boxes, class_ids.astype(np.int64), colours


def render_window(window_xyxy: tuple[int, int, int, int], boxes: np.ndarray, colours: np.ndarray,
                  seed: int = 0) -> np.ndarray:  # fmt: skip
    """The (h, w, 3) uint8 RGB pixels of one window: a smooth ground with mild noise, plus objects.

    The ground depends on absolute pixel coordinates only, so windows tile seamlessly; the noise is
    seeded by the window's origin (a pure function of it).
    """
    x0, y0, x1, y1 = window_xyxy
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ground = 90 + 25 * np.sin(xs / 377.0) * np.cos(ys / 291.0)
    rng = np.random.default_rng([seed, x0, y0, 2])
    noise = rng.integers(-6, 7, (y1 - y0, x1 - x0), dtype=np.int16)
    base = ground.astype(np.int16) + noise
    out = np.stack([base, base + 12, base - 10], axis=-1).clip(0, 255).astype(np.uint8)
    hit = (boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1) & (boxes[:, 3] > y0)
    for (bx0, by0, bx1, by1), colour in zip(boxes[hit], colours[hit], strict=True):
        out[max(by0, y0) - y0:min(by1, y1) - y0, max(bx0, x0) - x0:min(bx1, x1) - x0] = colour
    return out


def write_big_cog(path: Path, side_px: int, *, crs: str = "EPSG:32633", gsd_m: float = 0.3, seed: int = 0,
                  objects: bool = True, write_png: bool = False,
                  origin_xy: tuple[float, float] = (500000.0, 5000000.0)) -> BigScene:  # fmt: skip
    """Write a ``side_px`` x ``side_px`` 3-band uint8 COG block by block (and optionally a PNG beside it).

    Args:
        path: the ``.tif`` to write (replaced atomically; parents created).
        side_px: width = height in px.
        crs: the CRS (a projected one; ``gsd_m`` is in its units).
        gsd_m: ground sample distance, map units per pixel.
        seed: seeds the objects and noise.
        objects: draw the objects (False: ground only, and no boxes returned).
        write_png: also write ``path.with_suffix(".png")`` with the same pixels (whole scene in memory).
        origin_xy: map coordinates of the top-left corner.

    Returns:
        The :class:`BigScene`.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    boxes, class_ids, colours = scene_objects(side_px, seed)
    if not objects:
        boxes, class_ids, colours = boxes[:0], class_ids[:0], colours[:0]
    transform = from_origin(origin_xy[0], origin_xy[1], gsd_m, gsd_m)
    profile = dict(driver="GTiff", width=side_px, height=side_px, count=3, dtype="uint8", crs=crs,
                   transform=transform, tiled=True, blockxsize=BLOCK_PX, blockysize=BLOCK_PX,
                   compress="deflate", BIGTIFF="YES", photometric="RGB")  # fmt: skip
    tmp_dir = Path(tempfile.mkdtemp(prefix=".cog-", dir=path.parent))
    try:
        staging = tmp_dir / "staging.tif"
        env = rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=CACHE_MB)
        with env, rasterio.open(staging, "w", **profile) as dst:
            for x0, y0, x1, y1 in _blocks(side_px):
                rgb = render_window((x0, y0, x1, y1), boxes, colours, seed)
                dst.write(rgb.transpose(2, 0, 1), window=Window(x0, y0, x1 - x0, y1 - y0))
            dst.build_overviews(_overview_factors(side_px), Resampling.average)
        out_tmp = tmp_dir / "out.tif"
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=CACHE_MB):
            rasterio.shutil.copy(staging, out_tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=BLOCK_PX,
                                 OVERVIEWS="FORCE_USE_EXISTING", BIGTIFF="YES")  # fmt: skip
        os.replace(out_tmp, path)
    finally:
        for p in tmp_dir.glob("*"):
            p.unlink()
        tmp_dir.rmdir()
    png_path = _write_png(path, side_px, boxes, colours, seed) if write_png else None
    return BigScene(path, png_path, side_px, crs, transform, boxes, class_ids)


def _blocks(side_px: int) -> list[tuple[int, int, int, int]]:
    """The ``BLOCK_PX`` windows of the scene, row by row, as ``(x0, y0, x1, y1)``."""
    return [(x0, y0, min(x0 + BLOCK_PX, side_px), min(y0 + BLOCK_PX, side_px))
            for y0 in range(0, side_px, BLOCK_PX) for x0 in range(0, side_px, BLOCK_PX)]  # fmt: skip


def _overview_factors(side_px: int) -> list[int]:
    factors, f = [], 2
    while side_px // f >= BLOCK_PX // 2:
        factors.append(f)
        f *= 2
    return factors


def _write_png(path: Path, side_px: int, boxes: np.ndarray, colours: np.ndarray, seed: int) -> Path:
    """The same pixels as a PNG (rendered in the same blocks, so identical)."""
    import cv2

    rgb = np.empty((side_px, side_px, 3), np.uint8)
    for x0, y0, x1, y1 in _blocks(side_px):
        rgb[y0:y1, x0:x1] = render_window((x0, y0, x1, y1), boxes, colours, seed)
    png = path.with_suffix(".png")
    tmp = png.with_name(f".{png.name}.tmp.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"could not write {png}")
    os.replace(tmp, png)
    return png


def write_xview_labels(scene: BigScene, out: Path, image_name: str | None = None) -> Path:
    """Write the scene's boxes as xView-style GeoJSON (``bounds_imcoords`` in pixels, ``type_id``).

    The geometry is the box polygon in longitude/latitude (EPSG:4326), as in xView's own file.
    """
    from pyproj import Transformer

    t = scene.transform
    to_lonlat = Transformer.from_crs(scene.crs, "EPSG:4326", always_xy=True)
    name = image_name or scene.path.name
    features = []
    for (x0, y0, x1, y1), cid in zip(scene.boxes_xyxy.tolist(), scene.class_ids.tolist(), strict=True):
        corners = ((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0))
        ring = [list(to_lonlat.transform(*(t @ (x, y)))) for x, y in corners]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"bounds_imcoords": f"{x0},{y0},{x1},{y1}",
                                        "type_id": XVIEW_TYPE_IDS[cid], "image_id": name}})  # fmt: skip
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    os.replace(tmp, out)
    return out


def bench_dir() -> Path:
    """The cache folder for benchmark scenes ($TILEDET_BENCH_DIR, default <tmp>/tiledet-bench)."""
    root = Path(os.environ.get("TILEDET_BENCH_DIR", Path(tempfile.gettempdir()) / "tiledet-bench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def cached_cog(side_px: int, *, seed: int = 0, write_png: bool = False) -> BigScene:
    """:func:`write_big_cog` into :func:`bench_dir`, reusing a file written earlier with the same key."""
    folder = bench_dir() / f"cog-{side_px}-s{seed}"
    path = folder / f"scene_{side_px}.tif"
    png = path.with_suffix(".png")
    if path.exists() and (png.exists() or not write_png):
        import rasterio

        boxes, class_ids, _ = scene_objects(side_px, seed)
        with rasterio.open(path) as src:
            return BigScene(path, png if png.exists() else None, side_px, src.crs.to_string(),
                            src.transform, boxes, class_ids)  # fmt: skip
    return write_big_cog(path, side_px, seed=seed, write_png=write_png)


def tiny_yolo_weights(folder: Path | None = None) -> Path:
    """An untrained ``yolo11n.yaml`` model (2 classes) saved as ``.pt``, built offline; cached.

    Untrained: for memory and time measurements only (its boxes mean nothing).
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = (folder or bench_dir()) / "yolo11n-untrained.pt"
    if path.is_file():
        return path
    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.model.names = {0: "car", 1: "building"}
    tmp = path.with_name(f".{path.name}.tmp.pt")
    model.save(str(tmp))
    os.replace(tmp, path)
    return path


def tiny_classifier(folder: Path | None = None) -> Path:
    """A tiny random-weights ``cnn`` classifier checkpoint (32 px input, car/building/background); cached.

    The same small exact model ``bench_sliding_memory.py`` scores with; for memory/time only.
    """
    path = (folder or bench_dir()) / "cnn-tiny-random.pt"
    if path.is_file():
        return path
    import torch

    from tiledet.classify.checkpoint import checkpoint_dict, save_checkpoint
    from tiledet.classify.models import build_model

    torch.manual_seed(0)
    options = {"filters": [4, 8], "convs_per_block": 1, "head_conv": 8, "hidden": 8}
    names = ["car", "building", "background"]
    model = build_model("cnn", len(names), 32, **options).eval()
    ckpt = checkpoint_dict(model, model_name="cnn", model_options=options, class_names=names, input_size=32,
                           mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
    save_checkpoint(path, ckpt)
    return path

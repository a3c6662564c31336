"""Scene background: textured ground, field parcels, a water body and roads with lane marks.

Everything is painted with whole-array numpy operations and cv2 drawing calls; no per-pixel Python.
Images are ``(H, W, 3)`` uint8 RGB; the region map is ``(H, W)`` uint8 with the codes below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiledet.synth.recipe import Recipe

GROUND, FIELD, ROAD, WATER = 0, 1, 2, 3
"""Region codes of :attr:`Ground.region`."""

_SHIFT = 4  # cv2 sub-pixel bits for polygon drawing
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class Road:
    """A straight road crossing the scene.

    Attributes:
        start_xy: one end, px (may lie outside the image).
        end_xy: the other end, px.
        width_px: full width (two lanes), px.
    """

    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    width_px: int

    @property
    def angle_rad(self) -> float:
        """Direction from start to end, radians (0 = +x, image y points down)."""
        return float(np.arctan2(self.end_xy[1] - self.start_xy[1], self.end_xy[0] - self.start_xy[0]))


@dataclass(frozen=True, eq=False)
class Ground:
    """The painted background of one scene.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        region: (H, W) uint8 region code per pixel (GROUND, FIELD, ROAD, WATER).
        roads: the roads painted.
    """

    image: np.ndarray
    region: np.ndarray
    roads: tuple[Road, ...]


def _pair(section: Mapping[str, Any], key: str, default: tuple[float, float]) -> tuple[float, float]:
    value = section.get(key, default)
    return float(value[0]), float(value[1])


def noise_field(rng: np.random.Generator, size_wh: tuple[int, int], octaves_px, amplitudes) -> np.ndarray:
    """Smooth value noise summed over several scales.

    Args:
        rng: random generator.
        size_wh: ``(width, height)`` of the field, px.
        octaves_px: feature size of each octave, px (e.g. 400, 120, 30, 6).
        amplitudes: standard deviation of each octave, grey levels.

    Returns:
        (H, W) float32 array with mean about 0.
    """
    import cv2

    w, h = size_wh
    out = np.zeros((h, w), np.float32)
    for cell, amp in zip(octaves_px, amplitudes, strict=True):
        cell = max(1, int(cell))
        gw, gh = w // cell + 2, h // cell + 2
        grid = rng.standard_normal((gh, gw)).astype(np.float32) * np.float32(amp)
        interp = cv2.INTER_CUBIC if cell >= 64 else cv2.INTER_LINEAR  # linear is smooth enough when fine
        big = cv2.resize(grid, (gw * cell, gh * cell), interpolation=interp)
        ox, oy = (int(v) for v in rng.integers(0, cell, size=2))
        out += big[oy : oy + h, ox : ox + w]
    return out


def _fill_poly(canvas: np.ndarray, points_xy: np.ndarray, value) -> None:
    import cv2

    pts = np.round(np.asarray(points_xy, np.float64) * _SCALE).astype(np.int32).reshape(1, -1, 2)
    cv2.fillPoly(canvas, pts, value, lineType=cv2.LINE_8, shift=_SHIFT)


def _rect_poly(center_xy, size_wh, angle: float) -> np.ndarray:
    w, h = size_wh
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float64) / 2
    c, s = np.cos(angle), np.sin(angle)
    return corners @ np.array([[c, s], [-s, c]]) + np.asarray(center_xy, np.float64)


def _paint_fields(rng, image, region, recipe: Recipe, area_ratio: float) -> None:
    sec = recipe.section("fields")
    lo, hi = _pair(sec, "count", (6, 12))
    n = int(np.round(rng.uniform(lo, hi) * area_ratio))
    palette = np.asarray(sec.get("palette_rgb", [[90, 120, 60]]), np.float64)
    size_lo, size_hi = _pair(sec, "size_px", (200, 700))
    h, w = region.shape
    for _ in range(n):
        size = rng.uniform(size_lo, size_hi, size=2)
        center = rng.uniform([0, 0], [w, h])
        angle = float(rng.choice([0.0, rng.uniform(0, np.pi)]))
        color = palette[rng.integers(len(palette))] + rng.normal(0, 6, size=3)
        period = rng.uniform(6, 14)
        depth = rng.uniform(4, 10)
        poly = _rect_poly(center, size, angle)
        x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 1, [w, h])
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        _fill_poly(mask, poly - [x0, y0], 1)
        inside = mask.astype(bool)
        # crop rows: a stripe pattern along the parcel's direction
        ys, xs = np.ogrid[y0:y1, x0:x1]
        stripes = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period)) * depth
        painted = color.astype(np.float32)[None, None, :] + stripes[:, :, None].astype(np.float32)
        np.copyto(image[y0:y1, x0:x1], painted, where=inside[:, :, None])
        np.copyto(region[y0:y1, x0:x1], np.uint8(FIELD), where=inside)


def _paint_water(rng, image, region, recipe: Recipe) -> None:
    sec = recipe.section("water")
    if rng.random() >= float(sec.get("probability", 0.7)):
        return
    h, w = region.shape
    r_lo, r_hi = _pair(sec, "radius_fraction", (0.12, 0.22))
    radius = rng.uniform(r_lo, r_hi) * min(w, h)
    center = rng.uniform([0, 0], [w, h])
    theta = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    wobble = np.ones_like(theta)
    for k in (2, 3, 5):  # an irregular shore
        wobble += rng.uniform(0.03, 0.12) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    poly = center + (radius * wobble)[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    mask = np.zeros((h, w), np.uint8)
    _fill_poly(mask, poly, 1)
    inside = mask.astype(bool)
    image[inside] = np.asarray(sec.get("rgb", [40, 70, 95]), np.float64)
    region[inside] = WATER


def _random_road(rng, size_wh, sec: Mapping[str, Any]) -> Road:
    w, h = size_wh
    lo, hi = _pair(sec, "width_px", (28, 44))
    width = int(rng.integers(int(lo), int(hi) + 1))
    if rng.random() < float(sec.get("diagonal_fraction", 0.3)):
        angle = rng.uniform(0, np.pi)
    else:
        angle = float(rng.choice([0.0, np.pi / 2]))
    center = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h])
    reach = float(np.hypot(w, h))
    d = np.array([np.cos(angle), np.sin(angle)]) * reach
    return Road(tuple((center - d).tolist()), tuple((center + d).tolist()), width)


def _paint_roads(rng, image, region, recipe: Recipe, side_ratio: float) -> tuple[Road, ...]:
    import cv2

    sec = recipe.section("roads")
    h, w = region.shape
    lo, hi = _pair(sec, "count", (3, 5))
    n = max(1, int(np.round(rng.uniform(lo, hi) * side_ratio)))
    roads = tuple(_random_road(rng, (w, h), sec) for _ in range(n))
    road_rgb = tuple(float(v) for v in sec.get("rgb", [70, 70, 72]))
    mark_rgb = tuple(float(v) for v in sec.get("lane_mark_rgb", [225, 225, 210]))
    for road in roads:
        p0 = np.round(np.asarray(road.start_xy) * _SCALE).astype(np.int64)
        p1 = np.round(np.asarray(road.end_xy) * _SCALE).astype(np.int64)
        cv2.line(image, tuple(p0.tolist()), tuple(p1.tolist()), road_rgb, road.width_px, cv2.LINE_8, _SHIFT)
        cv2.line(region, tuple(p0.tolist()), tuple(p1.tolist()), ROAD, road.width_px, cv2.LINE_8, _SHIFT)
    for road in roads:  # dashed centre line: 10 px dash, 14 px gap
        start, end = np.asarray(road.start_xy), np.asarray(road.end_xy)
        length = float(np.linalg.norm(end - start))
        t0 = np.arange(0.0, length, 24.0) / length
        t1 = np.minimum(t0 + 10.0 / length, 1.0)
        dashes = np.stack([start + t0[:, None] * (end - start), start + t1[:, None] * (end - start)], axis=1)
        dashes = np.round(dashes * _SCALE).astype(np.int32)
        cv2.polylines(image, list(dashes), False, mark_rgb, 2, cv2.LINE_8, _SHIFT)
    return roads


def paint_ground(rng: np.random.Generator, size_wh: tuple[int, int], recipe: Recipe) -> Ground:
    """Paint the background of one scene: soil, fields, water, roads, then multi-scale texture.

    Args:
        rng: random generator (the only source of randomness).
        size_wh: ``(width, height)`` in px.
        recipe: the synthetic scene recipe.
    """
    w, h = size_wh
    ref_w, ref_h = recipe.reference_size_wh
    area_ratio = (w * h) / (ref_w * ref_h)
    side_ratio = float(np.sqrt(area_ratio))
    sec = recipe.section("ground")
    base = np.asarray(sec.get("base_rgb", [112, 104, 82]), np.float32)
    image = np.empty((h, w, 3), np.float32)
    image[:] = base
    region = np.zeros((h, w), np.uint8)
    _paint_fields(rng, image, region, recipe, area_ratio)
    roads = _paint_roads(rng, image, region, recipe, side_ratio)
    _paint_water(rng, image, region, recipe)
    octaves = sec.get("octaves_px", [400, 120, 30, 6])
    amps = sec.get("amplitudes", [14, 10, 7, 5])
    texture = noise_field(rng, size_wh, octaves, amps)
    smoothness = np.ones(256, np.float32)
    smoothness[ROAD], smoothness[WATER] = 0.3, 0.4  # asphalt and water are smoother than soil
    texture *= smoothness[region]
    tint = noise_field(rng, size_wh, [octaves[0]], [6.0])  # slow colour drift
    image += texture[:, :, None]
    image[:, :, 0] += tint
    image[:, :, 2] -= tint
    np.clip(image, 0, 255, out=image)
    return Ground(image.astype(np.uint8), region, roads)

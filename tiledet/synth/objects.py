"""Object looks: each class is a few coloured polygons in a unit frame, rasterised into a sprite.

An object's design lives in a frame where its length runs along x over ``[-0.5, 0.5]``. A sprite is
the design rotated, scaled so that the longer side of its axis-aligned extent is the requested size
in px, and filled with cv2 (sub-pixel polygon vertices), together with its object mask and the mask
of the shadow it casts. The box of an object is the tight extent of its mask, never of its shadow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_SHIFT = 4
_SCALE = 1 << _SHIFT

#: Shadow length of each look, as a fraction of the object's size.
SHADOW_FRACTION = {
    "car": 0.12, "bus": 0.12, "truck": 0.12, "building": 0.16, "tank": 0.18, "aircraft": 0.08, "vessel": 0.06,
}


@dataclass(frozen=True)
class Layer:
    """One filled polygon of a design.

    Attributes:
        points: (K, 2) float64 vertices ``x, y`` in the unit object frame.
        rgb: fill colour, 0..255.
    """

    points: np.ndarray
    rgb: tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Sprite:
    """A rasterised object on a small canvas.

    Attributes:
        rgb: (h, w, 3) uint8 colours (meaningful where ``mask``).
        mask: (h, w) bool, the object's own pixels.
        shadow: (h, w) bool, shadow pixels not covered by the object.
        box_xyxy: tight extent of ``mask`` in canvas px (pixel edges: ``x_max`` is one past the last column).
    """

    rgb: np.ndarray
    mask: np.ndarray
    shadow: np.ndarray
    box_xyxy: tuple[int, int, int, int]


def _rect(x0: float, x1: float, half_w: float) -> np.ndarray:
    return np.array([[x0, -half_w], [x1, -half_w], [x1, half_w], [x0, half_w]], np.float64)


def _circle(radius: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1) * radius


def _pick(rng: np.random.Generator, palette: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    base = np.asarray(palette[int(rng.integers(len(palette)))], np.float64) + rng.normal(0, 5, size=3)
    return tuple(np.clip(base, 0, 255).tolist())  # type: ignore[return-value]


def _shade(rgb: tuple[float, float, float], factor: float) -> tuple[float, float, float]:
    return tuple(float(min(255.0, c * factor)) for c in rgb)  # type: ignore[return-value]


_CAR_COLOURS = [(235, 235, 235), (25, 25, 28), (150, 20, 25), (170, 172, 175), (30, 60, 140), (200, 200, 190)]
_BUS_COLOURS = [(235, 190, 30), (240, 240, 235), (220, 110, 30), (40, 110, 170)]
_TRAILER_COLOURS = [(240, 240, 240), (190, 190, 195), (40, 80, 160), (60, 120, 70), (200, 60, 40)]
_ROOF_COLOURS = [(175, 90, 60), (150, 150, 155), (215, 215, 210), (90, 110, 130), (120, 70, 55)]
_TANK_COLOURS = [(225, 225, 220), (200, 200, 195), (235, 230, 215)]
_PLANE_COLOURS = [(240, 240, 240), (210, 212, 218), (180, 185, 190)]
_HULL_COLOURS = [(235, 235, 235), (150, 40, 35), (60, 65, 75), (30, 60, 110)]


def _car(rng: np.random.Generator) -> list[Layer]:
    body = _pick(rng, _CAR_COLOURS)
    glass = (30.0, 35.0, 45.0)
    return [
        Layer(_rect(-0.5, 0.5, 0.225), body),
        Layer(_rect(0.1, 0.28, 0.18), glass),
        Layer(_rect(-0.4, -0.28, 0.17), glass),
    ]


def _bus(rng: np.random.Generator) -> list[Layer]:
    body = _pick(rng, _BUS_COLOURS)
    return [
        Layer(_rect(-0.5, 0.5, 0.14), body),
        Layer(_rect(-0.44, 0.44, 0.06), _shade(body, 0.8)),
        Layer(_rect(-0.1, 0.05, 0.08), (220.0, 220.0, 220.0)),
    ]


def _truck(rng: np.random.Generator) -> list[Layer]:
    cab = _pick(rng, _CAR_COLOURS)
    trailer = _pick(rng, _TRAILER_COLOURS)
    return [
        Layer(_rect(0.3, 0.5, 0.13), cab),
        Layer(_rect(0.4, 0.47, 0.11), (30.0, 35.0, 45.0)),
        Layer(_rect(-0.5, 0.26, 0.15), trailer),
    ]


def _building(rng: np.random.Generator) -> list[Layer]:
    roof = _pick(rng, _ROOF_COLOURS)
    half_w = rng.uniform(0.22, 0.45)
    layers = [Layer(_rect(-0.5, 0.5, half_w), roof)]
    layers.append(Layer(np.array([[-0.5, 0], [0.5, 0], [0.5, half_w], [-0.5, half_w]]), _shade(roof, 0.78)))
    if rng.random() < 0.35:  # an L-shaped wing
        wing_w = rng.uniform(0.15, 0.25)
        wing = np.array([[0.5 - 2 * wing_w, half_w], [0.5, half_w], [0.5, 0.5], [0.5 - 2 * wing_w, 0.5]])
        layers.append(Layer(wing, _shade(roof, 0.9)))
    if rng.random() < 0.5:  # rooftop units
        unit = _rect(-0.2, -0.08, 0.06) + np.array([rng.uniform(-0.2, 0.2), 0.0])
        layers.append(Layer(unit, _shade(roof, 1.25)))
    return layers


def _tank(rng: np.random.Generator) -> list[Layer]:
    shell = _pick(rng, _TANK_COLOURS)
    return [
        Layer(_circle(0.5), _shade(shell, 0.85)),
        Layer(_circle(0.42), shell),
        Layer(_circle(0.08) + np.array([rng.uniform(-0.1, 0.1), 0.0]), _shade(shell, 0.7)),
    ]


def _aircraft(rng: np.random.Generator) -> list[Layer]:
    paint = _pick(rng, _PLANE_COLOURS)
    fuselage = np.array([[-0.5, -0.04], [0.38, -0.05], [0.5, 0], [0.38, 0.05], [-0.5, 0.04]])
    wings = np.array([[0.12, -0.05], [-0.12, -0.47], [-0.2, -0.47], [-0.04, -0.05],
                      [-0.04, 0.05], [-0.2, 0.47], [-0.12, 0.47], [0.12, 0.05]])
    tail = np.array([[-0.36, -0.03], [-0.46, -0.17], [-0.5, -0.17], [-0.48, 0.0],
                     [-0.5, 0.17], [-0.46, 0.17], [-0.36, 0.03]])
    return [Layer(wings, _shade(paint, 0.92)), Layer(tail, _shade(paint, 0.92)), Layer(fuselage, paint)]


def _vessel(rng: np.random.Generator) -> list[Layer]:
    hull = _pick(rng, _HULL_COLOURS)
    half_w = rng.uniform(0.09, 0.14)
    shape = np.array([[-0.5, -half_w], [0.25, -half_w], [0.5, 0], [0.25, half_w], [-0.5, half_w]])
    deck = _rect(-0.42, 0.2, half_w * 0.6)
    bridge = _rect(-0.4, -0.22, half_w * 0.7)
    return [Layer(shape, hull), Layer(deck, _shade(hull, 1.2)), Layer(bridge, (235.0, 235.0, 230.0))]


DESIGNS: dict[str, Callable[[np.random.Generator], list[Layer]]] = {
    "car": _car, "bus": _bus, "truck": _truck, "building": _building,
    "tank": _tank, "aircraft": _aircraft, "vessel": _vessel,
}


def _fill(canvas: np.ndarray, points: np.ndarray, value) -> None:
    import cv2

    pts = np.round(points * _SCALE).astype(np.int32).reshape(1, -1, 2)
    cv2.fillPoly(canvas, pts, value, lineType=cv2.LINE_8, shift=_SHIFT)


def rasterize(
    layers: list[Layer],
    size_px: float,
    angle_rad: float,
    shadow_xy: tuple[float, float],
    rng: np.random.Generator,
) -> Sprite:
    """Rotate, scale and fill a design.

    Args:
        layers: the design, first layer at the bottom.
        size_px: wanted longer side of the object's axis-aligned extent, px.
        angle_rad: rotation of the object's length axis from +x (image y points down).
        shadow_xy: shadow offset ``(dx, dy)`` in px.
        rng: random generator for the fine colour noise.
    """
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    rot = np.array([[c, s], [-s, c]])
    rotated = [layer.points @ rot for layer in layers]
    allpts = np.concatenate(rotated)
    extent = allpts.max(axis=0) - allpts.min(axis=0)
    scale = (size_px - 1.0) / float(extent.max())  # a filled polygon covers about one px more than its extent
    pad = 2 + int(np.ceil(max(abs(shadow_xy[0]), abs(shadow_xy[1]))))
    origin = -allpts.min(axis=0) * scale + pad
    w, h = (int(np.ceil(v)) + 2 * pad + 1 for v in extent * scale)
    rgb = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), np.uint8)
    shadow = np.zeros((h, w), np.uint8)
    for layer, pts in zip(layers, rotated, strict=True):
        canvas_pts = pts * scale + origin
        _fill(rgb, canvas_pts, layer.rgb)
        _fill(mask, canvas_pts, 1)
        _fill(shadow, canvas_pts + np.asarray(shadow_xy), 1)
    rgb += rng.normal(0.0, 3.0, size=(h, w, 1)).astype(np.float32)
    obj = mask.astype(bool)
    cols, rows = np.flatnonzero(obj.any(axis=0)), np.flatnonzero(obj.any(axis=1))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    return Sprite(np.clip(rgb, 0, 255).astype(np.uint8), obj, shadow.astype(bool) & ~obj, box)


def make_sprite(
    look: str, rng: np.random.Generator, size_px: float, angle_rad: float, sun_xy: tuple[float, float]
) -> Sprite:
    """Design and rasterise one object of ``look``.

    Args:
        look: one of :data:`DESIGNS`.
        rng: random generator (colours, design variants).
        size_px: wanted longer side of the box, px.
        angle_rad: orientation.
        sun_xy: unit vector of the shadow direction in the scene.
    """
    length = SHADOW_FRACTION[look] * size_px
    shadow = (sun_xy[0] * max(1.0, length), sun_xy[1] * max(1.0, length))
    return rasterize(DESIGNS[look](rng), size_px, angle_rad, shadow, rng)

"""Place objects on a painted ground without overlap and composite them into the image.

Every object is tried at up to ``recipe.placement_tries`` random positions. A position is accepted
when the object's canvas lies inside the image, every object pixel lies on an allowed region (road
lane, land or water) and the rectangle around the object and its shadow, grown by
``recipe.min_gap_px``, touches no earlier object's rectangle. So boxes never overlap, and no box
contains a pixel of another object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiledet.synth.objects import Sprite, make_sprite
from tiledet.synth.recipe import ClassRecipe, Recipe
from tiledet.synth.scene import FIELD, GROUND, ROAD, WATER, Ground, Road

_SHADOW_DARKEN = np.float32(0.55)


@dataclass(frozen=True, eq=False)
class Placed:
    """The objects placed in one scene.

    Attributes:
        xyxy: (N, 4) int64 tight boxes in image px (pixel edges).
        type_ids: (N,) int64 xView type ids.
        object_mask: (H, W) bool union of object pixels, or None unless asked for.
    """

    xyxy: np.ndarray
    type_ids: np.ndarray
    object_mask: np.ndarray | None


def _count(rng: np.random.Generator, cls: ClassRecipe, area_ratio: float) -> int:
    """Objects of ``cls`` in this scene: a draw from its range, scaled by area, rounded at random."""
    lo, hi = cls.count
    expected = float(rng.integers(lo, hi + 1)) * area_ratio
    return int(np.floor(expected + rng.random()))


def _lane_pose(rng: np.random.Generator, road: Road, size_wh: tuple[int, int]) -> tuple[np.ndarray, float]:
    """A random centre in one lane of ``road`` and the heading of that lane."""
    start = np.asarray(road.start_xy)
    direction = np.asarray(road.end_xy) - start
    direction /= np.linalg.norm(direction)
    point = rng.uniform([0, 0], size_wh)
    centre = start + float((point - start) @ direction) * direction
    side = 1.0 if rng.random() < 0.5 else -1.0
    normal = np.array([-direction[1], direction[0]])
    offset = side * road.width_px / 4 + rng.uniform(-1, 1) * road.width_px / 16
    heading = road.angle_rad + (0.0 if side > 0 else np.pi)
    return centre + normal * offset, heading


class _Canvas:
    """The scene image under construction, with its occupancy and (optionally) object masks."""

    def __init__(self, ground: Ground, min_gap_px: int, keep_mask: bool) -> None:
        self.image = ground.image.copy()
        self.region = ground.region
        self.h, self.w = ground.region.shape
        self.occupied = np.zeros((self.h, self.w), bool)
        self.gap = max(0, int(min_gap_px))
        self.mask = np.zeros((self.h, self.w), bool) if keep_mask else None

    def fits(self, sprite: Sprite, x0: int, y0: int, allowed: np.ndarray) -> bool:
        sh, sw = sprite.mask.shape
        if x0 < 0 or y0 < 0 or x0 + sw > self.w or y0 + sh > self.h:
            return False
        region = self.region[y0 : y0 + sh, x0 : x0 + sw]
        if not allowed[region[sprite.mask]].all():
            return False
        fx0, fy0, fx1, fy1 = self._footprint(sprite)
        g = self.gap
        window = self.occupied[max(0, y0 + fy0 - g) : y0 + fy1 + g, max(0, x0 + fx0 - g) : x0 + fx1 + g]
        return not window.any()

    @staticmethod
    def _footprint(sprite: Sprite) -> tuple[int, int, int, int]:
        both = sprite.mask | sprite.shadow
        cols, rows = np.flatnonzero(both.any(axis=0)), np.flatnonzero(both.any(axis=1))
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1

    def paste(self, sprite: Sprite, x0: int, y0: int) -> tuple[int, int, int, int]:
        sh, sw = sprite.mask.shape
        patch = self.image[y0 : y0 + sh, x0 : x0 + sw]
        patch[sprite.shadow] = (patch[sprite.shadow] * _SHADOW_DARKEN).astype(np.uint8)
        patch[sprite.mask] = sprite.rgb[sprite.mask]
        fx0, fy0, fx1, fy1 = self._footprint(sprite)
        self.occupied[y0 + fy0 : y0 + fy1, x0 + fx0 : x0 + fx1] = True
        if self.mask is not None:
            self.mask[y0 : y0 + sh, x0 : x0 + sw] |= sprite.mask
        bx0, by0, bx1, by1 = sprite.box_xyxy
        return x0 + bx0, y0 + by0, x0 + bx1, y0 + by1


def _allowed(*codes: int) -> np.ndarray:
    table = np.zeros(256, bool)
    table[list(codes)] = True
    return table


_LAND, _ROAD, _WATER = _allowed(GROUND, FIELD), _allowed(ROAD), _allowed(WATER)


def _try_place(
    rng: np.random.Generator, canvas: _Canvas, cls: ClassRecipe, roads: tuple[Road, ...],
    sun_xy: tuple[float, float], tries: int,
) -> tuple[int, int, int, int] | None:
    """Place one object of ``cls``; its box in image px, or None when no try fitted."""
    lo, hi = cls.size_px  # sprites land within 1 px of the size asked for
    size = rng.uniform(lo + 1.0, max(lo + 1.0, hi - 1.0))
    on_road = bool(roads) and rng.random() < cls.on_road
    allowed = _WATER if cls.on_water else (_ROAD if on_road else _LAND)
    sprite = make_sprite(cls.look, rng, size, rng.uniform(0, np.pi), sun_xy)
    for _ in range(tries):
        if on_road:
            centre, heading = _lane_pose(rng, roads[int(rng.integers(len(roads)))], (canvas.w, canvas.h))
            sprite = make_sprite(cls.look, rng, size, heading, sun_xy)
        else:
            centre = rng.uniform([0, 0], [canvas.w, canvas.h])
        sh, sw = sprite.mask.shape
        x0, y0 = (int(np.round(v)) for v in (centre[0] - sw / 2, centre[1] - sh / 2))
        if canvas.fits(sprite, x0, y0, allowed):
            return canvas.paste(sprite, x0, y0)
    return None


def place_objects(rng: np.random.Generator, ground: Ground, recipe: Recipe, keep_mask: bool = False) -> tuple[
    np.ndarray, Placed
]:
    """Draw the objects of every recipe class onto ``ground``.

    Args:
        rng: random generator.
        ground: the painted background (not modified).
        recipe: classes, counts, sizes and spacing.
        keep_mask: also return the union mask of object pixels (for tests).

    Returns:
        The (H, W, 3) uint8 RGB scene and the placed boxes (largest classes are placed first).
    """
    h, w = ground.region.shape
    ref_w, ref_h = recipe.reference_size_wh
    area_ratio = (w * h) / (ref_w * ref_h)
    sun = rng.uniform(0, 2 * np.pi)
    sun_xy = (float(np.cos(sun)), float(np.sin(sun)))
    has_water = bool((ground.region == WATER).any())
    canvas = _Canvas(ground, recipe.min_gap_px, keep_mask)
    boxes: list[tuple[int, int, int, int]] = []
    type_ids: list[int] = []
    for cls in sorted(recipe.classes, key=lambda c: -c.size_px[1]):
        n = _count(rng, cls, area_ratio)
        if cls.on_water and not has_water:
            continue
        for _ in range(n):
            box = _try_place(rng, canvas, cls, ground.roads, sun_xy, recipe.placement_tries)
            if box is not None:
                boxes.append(box)
                type_ids.append(cls.type_id)
    xyxy = np.asarray(boxes, np.int64).reshape(-1, 4)
    return canvas.image, Placed(xyxy, np.asarray(type_ids, np.int64), canvas.mask)

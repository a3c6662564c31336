"""The synthetic scene recipe (``datasets/synthetic_xview.yaml``): parsed and validated.

The recipe says which xView classes appear, how each looks, its size range in pixels and how many
of it a 3000x3000 scene holds; plus the ground, road, field and water settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiledet.errors import ConfigError, InputError
from tiledet.labels.classes import ClassMap
from tiledet.recipes import load_recipe
from tiledet.synth.config import DEFAULT_RECIPE

#: The looks the painter knows (see :mod:`tiledet.synth.objects`).
LOOKS = ("car", "bus", "truck", "building", "tank", "aircraft", "vessel")


@dataclass(frozen=True)
class ClassRecipe:
    """One object class of the recipe.

    Attributes:
        type_id: xView type id (e.g. 18 for Small Car).
        name: xView class name of ``type_id``.
        look: painter name, one of :data:`LOOKS`.
        size_px: ``(min, max)`` of the longer side of the object's box, in pixels.
        count: ``(min, max)`` objects per reference-size scene (scaled by scene area).
        on_road: share of the objects placed in a road lane, oriented along the road.
        on_water: True when the objects lie on water (vessels) instead of land.
    """

    type_id: int
    name: str
    look: str
    size_px: tuple[int, int]
    count: tuple[int, int]
    on_road: float = 0.0
    on_water: bool = False


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe.

    Attributes:
        name: recipe name.
        raw: the YAML mapping as read (recorded in ``synth.yaml``).
        classes: the object classes, in recipe order.
        reference_size_wh: scene size the counts refer to, ``(width, height)`` in px.
        min_gap_px: minimum distance in px between two objects (shadows included).
        placement_tries: random positions tried per object before it is left out.
    """

    name: str
    raw: Mapping[str, Any]
    classes: tuple[ClassRecipe, ...]
    reference_size_wh: tuple[int, int]
    min_gap_px: int
    placement_tries: int

    def section(self, key: str) -> Mapping[str, Any]:
        """A settings section (``ground``, ``roads``, ``fields``, ``water``) as a mapping."""
        value = self.raw.get(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"recipe {self.name!r}: section {key!r} must be a mapping")
        return value


def _range(value: object, where: str, lo: float = 0) -> tuple[int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise ConfigError(f"{where}: expected [min, max] integers, got {value!r}")
    a, b = int(value[0]), int(value[1])
    if a < lo or b < a:
        raise ConfigError(f"{where}: need {lo:g} <= min <= max, got {value!r}")
    return a, b


def _class_recipe(item: object, index: int, where: str, xview_names: Mapping[int, str]) -> ClassRecipe:
    at = f"{where}: classes[{index}]"
    if not isinstance(item, Mapping):
        raise ConfigError(f"{at}: expected a mapping")
    try:
        type_id = int(item["type_id"])
        name = str(item["name"])
        look = str(item["look"])
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{at}: needs type_id (int), name and look ({e})") from e
    if xview_names.get(type_id) != name:
        raise ConfigError(f"{at}: type id {type_id} is {xview_names.get(type_id)!r} in xView, not {name!r}")
    if look not in LOOKS:
        raise ConfigError(f"{at}: unknown look {look!r}; choose one of {', '.join(LOOKS)}")
    on_road = float(item.get("on_road", 0.0))
    if not 0.0 <= on_road <= 1.0:
        raise ConfigError(f"{at}: on_road must be in [0, 1], got {on_road}")
    return ClassRecipe(
        type_id=type_id,
        name=name,
        look=look,
        size_px=_range(item.get("size_px"), f"{at}.size_px", lo=4),
        count=_range(item.get("count"), f"{at}.count"),
        on_road=on_road,
        on_water=bool(item.get("on_water", False)),
    )


def parse_recipe(data: Mapping[str, Any], where: str = "recipe") -> Recipe:
    """Validate a recipe mapping.

    Raises:
        ConfigError: naming the entry at fault, e.g. a type id that is not the xView id of its name.
    """

    xview = ClassMap.xview()
    xview_names = dict(zip(xview.ids or (), xview.names, strict=True))
    items = data.get("classes")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: 'classes' must be a non-empty list")
    classes = tuple(_class_recipe(item, i, where, xview_names) for i, item in enumerate(items))
    if len({c.type_id for c in classes}) != len(classes):
        raise ConfigError(f"{where}: each type id may appear once in 'classes'")
    ref = _range(data.get("reference_size_wh", [3000, 3000]), f"{where}: reference_size_wh", lo=1)
    return Recipe(
        name=str(data.get("name", "synthetic")),
        raw=dict(data),
        classes=classes,
        reference_size_wh=ref,
        min_gap_px=int(data.get("min_gap_px", 3)),
        placement_tries=max(1, int(data.get("placement_tries", 40))),
    )


def load_synth_recipe(recipe: str | Path = DEFAULT_RECIPE) -> Recipe:
    """Load a recipe: a file path, or the name of a recipe in ``datasets/``.

    Raises:
        InputError: when the file is missing or not YAML; ConfigError when its content is invalid.
    """
    from tiledet.yamlio import read_yaml_file

    path = Path(recipe)
    if path.is_file():
        data = read_yaml_file(path, "recipe")
        if not isinstance(data, dict):
            raise InputError(f"{path}: recipe is not a YAML mapping")
        return parse_recipe(data, str(path))
    return parse_recipe(load_recipe(str(recipe)), str(recipe))

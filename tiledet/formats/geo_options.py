"""Options of the ``geo-vector`` reader (labels in map coordinates): :class:`GeoOptions`.

Light on purpose (no GDAL, no pyproj): the CLI states its defaults from this class, and
:class:`tiledet.formats.ReadOptions` carries one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tiledet.errors import ConfigError

#: Fields taken as the class when the layer has exactly one of them (compared case-insensitively).
DEFAULT_CLASS_FIELDS = ("class", "class_name", "classname", "label", "type_id", "category")

#: The source format these options belong to.
GEO_FORMAT = "geo-vector"

#: Suffixes of the vector files ``--from auto`` takes as ``geo-vector`` (GeoJSON is sniffed instead).
VECTOR_SUFFIXES = (".gpkg", ".shp", ".fgb")


@dataclass(frozen=True)
class GeoOptions:
    """How a vector label layer (GeoJSON, GeoPackage, Shapefile, FlatGeobuf) becomes pixel boxes.

    Attributes:
        layer: the layer to read; None reads the only layer (an error when the file has several).
        class_field: the field holding each feature's class (name or integer id); None takes the one
            field of :data:`DEFAULT_CLASS_FIELDS` the layer has (an error when it has none or several).
        image_field: a field naming each feature's raster (a path relative to the images folder);
            None matches features to rasters by footprint (the geometry's centre inside the raster).
        size_field: points only: a field holding each point's object size in metres on the ground
            (the side of the square box); None uses ``point_size_m``.
        point_size_m: points only: the side of the square box in metres on the ground, for points
            without a ``size_field`` value; None: such points are dropped as ``malformed``.
    """

    layer: str | None = None
    class_field: str | None = None
    image_field: str | None = None
    size_field: str | None = None
    point_size_m: float | None = None

    def __post_init__(self) -> None:
        for name in ("layer", "class_field", "image_field", "size_field"):
            value = getattr(self, name)
            if value is not None and not str(value).strip():
                raise ConfigError(f"{name} must be a non-empty name, got {value!r}", field=name)
        size = self.point_size_m
        if size is not None:
            number = isinstance(size, (int, float)) and not isinstance(size, bool)
            if not number or not math.isfinite(size) or size <= 0:
                raise ConfigError(
                    f"point_size_m must be a positive number of metres, got {size!r}", field="point_size_m"
                )
            object.__setattr__(self, "point_size_m", float(size))

    @property
    def given(self) -> tuple[str, ...]:
        """Names of the options that differ from their defaults."""
        return tuple(
            name
            for name in ("layer", "class_field", "image_field", "size_field", "point_size_m")
            if getattr(self, name) is not None
        )


def check_geo_options(fmt: str, options: GeoOptions) -> None:
    """Refuse options that would be silently ignored: they apply to ``geo-vector`` sources only.

    Raises:
        ConfigError: ``fmt`` is another format and some option was given, naming the options.
    """
    given = options.given
    if given and fmt != GEO_FORMAT:
        raise ConfigError(
            f"{', '.join(f'`{name}`' for name in given)} only apply to {GEO_FORMAT} labels "
            f"(the source is {fmt})",
            field=given,
        )

"""Label containers: raw boxes as read from a source, and the resolved per-image dataset.

A reader turns a label source into :class:`RawLabels` (columnar, class keys not yet mapped, boxes not
yet clipped). :func:`tiledet.labels.load.resolve` then maps class keys through a
:class:`~tiledet.labels.classes.ClassMap`, learns image sizes, clips, and returns a :class:`LabeledDataset`
plus a list of :class:`Drop` records, so every input box is either kept or accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiledet.boxes import Boxes
from tiledet.errors import FormatError

#: Reasons a box (or record) can be dropped; every conversion report uses exactly these words.
DROP_REASONS = (
    "unknown_class",  # class key not in the class map (e.g. xView type ids 75 and 82)
    "degenerate",  # clipped width or height below 1 px
    "missing_image",  # the image file the box belongs to does not exist
    "unreadable_image",  # the image file exists but its header cannot be read
    "malformed",  # the record itself cannot be parsed
    "outside_tiles",  # tiling: the box reaches the min-visibility ratio in no tile
    "nodata",  # tiling: the box is only in tiles of pure nodata (not written)
    "unsafe_name",  # the image name leaves the images folder (absolute, ``..``) or is not a usable name
    "out_of_bounds",  # a coordinate lies more than one image size outside the image
    "ignored_region",  # VisDrone: a region marked "ignored" (category 0 or score 0), not an object
    "difficult",  # DOTA: a box flagged difficult, skipped with --skip-difficult
    "outside_rasters",  # labels in map coordinates: the feature lies inside none of the rasters
)

#: Drops that follow the source's own instructions, not problems: never an error in strict mode.
INTENDED_DROPS = frozenset({"ignored_region", "difficult"})

ClassKey = int | str


@dataclass(frozen=True)
class Drop:
    """One dropped box or record, with where it came from and why.

    Attributes:
        source: the label file (or other input) the record came from.
        location: where inside it, e.g. ``"line 12"``, ``"feature 3051"``, ``"annotation id 7"``.
        reason: one of :data:`DROP_REASONS`.
        detail: free text, e.g. the offending value.
        image: the image the box belonged to, when known.
    """

    source: str
    location: str
    reason: str
    detail: str = ""
    image: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form used in ``report.json``."""
        return {
            "source": self.source,
            "location": self.location,
            "reason": self.reason,
            "detail": self.detail,
            "image": self.image,
        }


@dataclass(frozen=True, eq=False)
class RawLabels:
    """Boxes as read from one label source, before class mapping, size lookup and clipping.

    Attributes:
        images: every image the source names, in first-seen order, mapped to its ``(width, height)``
            when the source declares it (COCO), else None. Images without boxes are included.
        box_images: (N,) image name of each box (a key of ``images``).
        xyxy: (N, 4) float64 absolute pixel boxes as written in the source (may reach outside the image).
        class_keys: (N,) raw class key of each box: an int id (xView type id, COCO category id, YOLO
            index) or a class name (DOTA, CSV with names).
        box_sources: (N,) int index into ``sources`` of the file each box came from.
        box_locations: (N,) int line number / feature index / annotation id of each box.
        sources: the label files read.
        location_unit: word for ``box_locations``: ``"line"``, ``"feature"`` or ``"annotation id"``.
        class_names: class names the source declares, in index order (YOLO ``names``, COCO categories
            sorted by id), or None.
        class_ids: the external ids of ``class_names`` (COCO category ids), or None.
        drops: records that could not be parsed (reason ``malformed``) or were left out on purpose
            (``ignored_region``, ``difficult``).
        image_splits: ``image -> split`` (``train``/``val``/``test``) for sources that declare splits
            (a YOLO ``data.yaml``); empty otherwise.
        notes: JSON-ready findings of the reader that are no drop (e.g. ``geo_vector``: features inside
            several rasters; ``xview_geometry``: geometries that disagree with ``bounds_imcoords``),
            by topic; written to the conversion report.
    """

    images: dict[str, tuple[int, int] | None]
    box_images: list[str]
    xyxy: np.ndarray
    class_keys: list[ClassKey]
    box_sources: np.ndarray
    box_locations: np.ndarray
    sources: list[str]
    location_unit: str = "line"
    class_names: tuple[str, ...] | None = None
    class_ids: tuple[int, ...] | None = None
    drops: list[Drop] = field(default_factory=list)
    image_splits: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.box_images)

    def location(self, i: int) -> tuple[str, str]:
        """``(source, location)`` strings of box ``i`` for drop records and error messages."""
        return self.sources[int(self.box_sources[i])], f"{self.location_unit} {int(self.box_locations[i])}"


class RawLabelsBuilder:
    """Accumulates boxes record by record; :meth:`build` freezes them into :class:`RawLabels`.

    Args:
        location_unit: word used for record locations (``"line"``, ``"feature"``, ...).
        strict: when True, :meth:`drop` raises :class:`~tiledet.errors.FormatError` instead of recording.
    """

    def __init__(self, location_unit: str = "line", strict: bool = False) -> None:
        self.location_unit = location_unit
        self.strict = strict
        self.images: dict[str, tuple[int, int] | None] = {}
        self.box_images: list[str] = []
        self.coords: list[tuple[float, float, float, float]] = []
        self.class_keys: list[ClassKey] = []
        self.box_sources: list[int] = []
        self.box_locations: list[int] = []
        self.sources: list[str] = []
        self.drops: list[Drop] = []
        self.image_splits: dict[str, str] = {}

    def add_source(self, source: str) -> int:
        """Register a label file; returns its index for :meth:`add_box`."""
        self.sources.append(str(source))
        return len(self.sources) - 1

    def add_image(self, name: str, size_wh: tuple[int, int] | None = None) -> None:
        """Declare an image (possibly without boxes); a known size overrides an unknown one."""
        if size_wh is not None or name not in self.images:
            self.images[name] = size_wh

    def add_box(
        self,
        image: str,
        xyxy: tuple[float, float, float, float],
        class_key: ClassKey,
        source_index: int,
        location: int,
    ) -> None:
        """Append one box (absolute pixels, as in the source) of ``image``."""
        if image not in self.images:
            self.images[image] = None
        self.box_images.append(image)
        self.coords.append(xyxy)
        self.class_keys.append(class_key)
        self.box_sources.append(source_index)
        self.box_locations.append(location)

    def drop(self, source_index: int, location: int, detail: str, image: str = "") -> None:
        """Record a malformed record (or raise :class:`FormatError` in strict mode)."""
        source = self.sources[source_index]
        where = f"{self.location_unit} {location}"
        if self.strict:
            raise FormatError(source, where, detail)
        self.drops.append(Drop(source, where, "malformed", detail, image))

    def skip(self, source_index: int, location: int, reason: str, detail: str = "", image: str = "") -> None:
        """Record a well-formed record left out on purpose (e.g. ``ignored_region``); never raises."""
        where = f"{self.location_unit} {location}"
        self.drops.append(Drop(self.sources[source_index], where, reason, detail, image))

    def build(
        self, class_names: tuple[str, ...] | None = None, class_ids: tuple[int, ...] | None = None
    ) -> RawLabels:
        """Freeze the accumulated records."""
        xyxy = np.asarray(self.coords, dtype=np.float64).reshape(-1, 4)
        return RawLabels(
            images=dict(self.images),
            box_images=list(self.box_images),
            xyxy=xyxy,
            class_keys=list(self.class_keys),
            box_sources=np.asarray(self.box_sources, dtype=np.int64),
            box_locations=np.asarray(self.box_locations, dtype=np.int64),
            sources=list(self.sources),
            location_unit=self.location_unit,
            class_names=class_names,
            class_ids=class_ids,
            drops=list(self.drops),
            image_splits=dict(self.image_splits),
        )


@dataclass(frozen=True, eq=False)
class ImageLabels:
    """The boxes of one image.

    Attributes:
        file_name: image path relative to the images folder, with ``/`` separators.
        size_wh: ``(width, height)`` of the image in pixels.
        boxes: its boxes, clipped to the image.
    """

    file_name: str
    size_wh: tuple[int, int]
    boxes: Boxes


@dataclass(frozen=True, eq=False)
class LabeledDataset:
    """Images with boxes and one list of class names (index = class id)."""

    class_names: tuple[str, ...]
    images: tuple[ImageLabels, ...]

    @property
    def num_boxes(self) -> int:
        """Total number of boxes over all images."""
        return sum(len(im.boxes) for im in self.images)

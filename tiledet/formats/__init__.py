"""Label formats. Each module parses text into :class:`~tiledet.labels.RawLabels` (no file needed)
and offers ``read(path, options)``; writers consume :class:`~tiledet.labels.LabeledDataset`.

Normalised YOLO ``cx cy w h`` and COCO ``x y w h`` exist only inside these modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tiledet.errors import InputError
from tiledet.formats.geo_options import GeoOptions
from tiledet.label_records import RawLabels

#: Reader of each source format: ``"module:function"``, imported lazily.
READERS: dict[str, str] = {
    "xview-geojson": "tiledet.formats.xview_geometry:read",
    "csv": "tiledet.formats.csv_labels:read",
    "semicolon": "tiledet.formats.semicolon:read",
    "dota": "tiledet.formats.dota:read",
    "coco": "tiledet.formats.coco:read",
    "yolo": "tiledet.formats.yolo_dataset:read",
    "visdrone": "tiledet.formats.visdrone:read",
    "geo-vector": "tiledet.formats.geo_vector:read",
}

#: ``--from`` choices for the help texts: ``auto`` (detect) or a reader's name.
FORMAT_CHOICES = "|".join(["auto", *READERS])

#: Source formats whose class keys are xView type ids, so ``--classes xview`` is their default.
XVIEW_FORMATS = frozenset({"xview-geojson", "csv", "semicolon"})


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader accepts (each uses the ones that apply to it).

    Attributes:
        strict: raise :class:`~tiledet.errors.FormatError` on the first malformed record instead of
            recording it as a ``malformed`` drop.
        csv_columns: CSV only: override of the column mapping, role -> header name; roles are
            ``image``, ``xmin``, ``ymin``, ``xmax``, ``ymax``, ``x``, ``y``, ``w``, ``h``, ``bounds``
            and ``class``.
        split: YOLO only: which split of a ``data.yaml`` to read (``train``, ``val``, ``test``);
            None reads every split listed.
        images_dir: the image folder, for readers whose labels name images by stem only (DOTA,
            VisDrone, YOLO label folders) to find each image's real file name (and, for YOLO, its size).
        skip_difficult: DOTA only: leave out boxes flagged ``difficult`` (reported as ``difficult``
            drops); False keeps them.
        geo: ``geo-vector`` only: layer, class/image/size fields and point size
            (:class:`~tiledet.formats.geo_options.GeoOptions`).
    """

    strict: bool = False
    csv_columns: Mapping[str, str] = field(default_factory=dict)
    split: str | None = None
    images_dir: Path | None = None
    skip_difficult: bool = False
    geo: GeoOptions = field(default_factory=GeoOptions)


Reader = Callable[[Path, ReadOptions], RawLabels]


def get_reader(fmt: str) -> Reader:
    """The ``read(path, options)`` function of source format ``fmt``."""
    try:
        target = READERS[fmt]
    except KeyError as e:
        raise InputError(f"unknown label format {fmt!r}; choose one of {', '.join(READERS)}") from e
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)

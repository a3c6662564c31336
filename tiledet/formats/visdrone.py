"""VisDrone-DET labels: one ``.txt`` per image, ``x,y,w,h,score,category,truncation,occlusion`` per line.

``x, y`` is the top-left corner and ``w, h`` the size of the box in pixels. Category 0 marks an
*ignored region* (crowds, reflections) and a score of 0 a box the benchmark ignores: both are
reported as ``ignored_region`` drops, never as boxes. The other categories are the classes of
:data:`VISDRONE_CLASSES` (``1 pedestrian`` .. ``10 motor``, ``11 others``), keyed by their id.
A trailing comma, a UTF-8 BOM, CRLF line ends and blank lines are tolerated; a line that is not
8 numbers (or whose ``w``/``h`` is negative) is a ``malformed`` drop (or a
:class:`~tiledet.errors.FormatError` in strict mode). Locations are 1-based line numbers.

Layout of the official release: ``VisDrone2019-DET-val/annotations/<stem>.txt`` next to
``VisDrone2019-DET-val/images/<stem>.jpg``; each label file's image is ``<stem>`` plus the suffix of
the matching file in ``ReadOptions.images_dir`` (``.jpg`` when none is found).
"""

from __future__ import annotations

import math
from pathlib import Path

from tiledet.errors import InputError
from tiledet.formats import ReadOptions
from tiledet.formats.dota import image_names_by_stem
from tiledet.ioutil import read_text_file
from tiledet.label_records import RawLabels, RawLabelsBuilder

#: VisDrone-DET category id -> name (0, "ignored regions", is not a class).
VISDRONE_CLASSES: dict[int, str] = {
    1: "pedestrian", 2: "people", 3: "bicycle", 4: "car", 5: "van", 6: "truck",
    7: "tricycle", 8: "awning-tricycle", 9: "bus", 10: "motor", 11: "others",
}  # fmt: skip
IGNORED_CATEGORY = 0
DEFAULT_SUFFIX = ".jpg"
_FIELDS = "x,y,w,h,score,category,truncation,occlusion"


def is_visdrone_line(line: str) -> bool:
    """True for a line of 8 comma-separated integers (an optional trailing comma allowed)."""
    cells = line.strip().rstrip(",").split(",")
    return len(cells) == 8 and all(c.strip().lstrip("-").isdigit() for c in cells)


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read one VisDrone label file, or every ``*.txt`` directly in a folder (sorted by name).

    Args:
        path: a ``.txt`` annotation file or an ``annotations`` folder.
        options: ``strict`` and ``images_dir`` (to find each image's real suffix) apply.

    Raises:
        InputError: missing path, unreadable file, or a folder without ``.txt`` files.
    """

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
        if not files:
            raise InputError(f"{path}: folder holds no VisDrone annotation files (*.txt)")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"{path}: label file or folder not found")
    names = image_names_by_stem(options.images_dir)
    builder = RawLabelsBuilder(location_unit="line", strict=options.strict)
    for file in files:
        image = names.get(file.stem, file.stem + DEFAULT_SUFFIX)
        _parse_into(builder, read_text_file(file), image, builder.add_source(str(file)))
    return _build(builder)


def parse_text(text: str, image: str, source: str = "<text>", strict: bool = False) -> RawLabels:
    """Parse the text of one annotation file whose image is named ``image``.

    Returns:
        Boxes with integer category keys and the VisDrone class list; ignored regions in ``drops``.
    """
    builder = RawLabelsBuilder(location_unit="line", strict=strict)
    _parse_into(builder, text, image, builder.add_source(source))
    return _build(builder)


def _build(builder: RawLabelsBuilder) -> RawLabels:
    return builder.build(class_names=tuple(VISDRONE_CLASSES.values()), class_ids=tuple(VISDRONE_CLASSES))


def _parse_into(builder: RawLabelsBuilder, text: str, image: str, src: int) -> None:
    """Add the image, its boxes and its ignored regions to ``builder``."""
    builder.add_image(image)
    for lineno, raw_line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        line = raw_line.strip().rstrip(",")
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            values = []
        if len(cells) != 8 or len(values) != 8 or not all(math.isfinite(v) for v in values):
            builder.drop(src, lineno, f"expected 8 numbers '{_FIELDS}', got {line[:60]!r}", image)
            continue
        x, y, w, h, score, category = values[:6]
        if w < 0 or h < 0:
            builder.drop(src, lineno, f"negative width or height ({w:g}, {h:g})", image)
            continue
        if category == IGNORED_CATEGORY or score == 0:
            why = "category 0 (ignored region)" if category == IGNORED_CATEGORY else "score 0 (ignored box)"
            builder.skip(src, lineno, "ignored_region", f"{why} at x,y,w,h {x:g},{y:g},{w:g},{h:g}", image)
            continue
        key = int(category) if category == int(category) else cells[5]
        builder.add_box(image, (x, y, x + w, y + h), key, src, lineno)

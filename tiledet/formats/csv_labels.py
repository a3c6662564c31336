"""CSV labels: one row per box, with a header naming the columns.

Columns are found by header name, case-insensitively and ignoring surrounding spaces (see
:data:`ALIASES`): an image column, either the four ``xmin ymin xmax ymax`` columns, the four
``x y w h`` columns (top-left corner and size), or one ``bounds_imcoords`` column holding
``"xmin,ymin,xmax,ymax"``, and a class column. ``ReadOptions.csv_columns``
(role -> header name) overrides the search for any role. When several forms of box are present,
the corner columns win, then ``x y w h``, unless the override names another form's columns.

Class keys are ints when the cell is an integer (xView type ids), else the stripped name string.
Boxes keep the pixel values as written. Locations are 1-based physical line numbers (``"line 7"``).
A UTF-8 BOM, CRLF line ends, blank lines and rows of empty cells are tolerated; a row with a missing
cell, an empty image or class, or a coordinate that is not a finite number is recorded as a
``malformed`` drop (or raises :class:`~tiledet.errors.FormatError` in strict mode) and the rest is read.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path

from tiledet.errors import ConfigError, InputError
from tiledet.formats import ReadOptions
from tiledet.ioutil import read_text_file
from tiledet.label_records import ClassKey, RawLabels, RawLabelsBuilder

#: Accepted header names of each column role, in order of preference.
ALIASES: dict[str, tuple[str, ...]] = {
    "image": ("image", "image_id", "file", "filename", "file_name", "image_name"),
    "xmin": ("xmin", "x_min", "x1"),
    "ymin": ("ymin", "y_min", "y1"),
    "xmax": ("xmax", "x_max", "x2"),
    "ymax": ("ymax", "y_max", "y2"),
    "bounds": ("bounds_imcoords", "bounds"),
    "x": ("x", "left", "x_left"),
    "y": ("y", "top", "y_top"),
    "w": ("w", "width", "box_width"),
    "h": ("h", "height", "box_height"),
    "class": ("class", "type_id", "label", "category", "class_name", "class_id", "category_id"),
}

_CORNERS = ("xmin", "ymin", "xmax", "ymax")
_XYWH = ("x", "y", "w", "h")


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read a CSV label file (see :func:`parse_text`); uses ``strict`` and ``csv_columns``."""
    path = Path(path)
    text = read_text_file(path)
    return parse_text(text, str(path), strict=options.strict, columns=options.csv_columns)


def parse_text(
    text: str, source: str = "<text>", strict: bool = False, columns: Mapping[str, str] | None = None
) -> RawLabels:
    """Parse CSV text with a header row.

    Args:
        text: the whole file.
        source: name of the input for drop records and error messages.
        strict: raise :class:`~tiledet.errors.FormatError` on the first malformed row.
        columns: role -> header name overrides (roles are the keys of :data:`ALIASES`).

    Raises:
        InputError: the text has no header, or required columns are missing.
        ConfigError: ``columns`` names an unknown role.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    if header is None:
        raise InputError(f"{source}: CSV file is empty (no header row)")
    index = _column_index(header, columns or {}, source)
    builder = RawLabelsBuilder(location_unit="line", strict=strict)
    src = builder.add_source(source)
    needed = max(index.values()) + 1
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < needed:
            builder.drop(src, line, f"row has {len(row)} cells, the header has {len(header)}")
            continue
        image = row[index["image"]].strip()
        problem, xyxy = _row_box(row, index)
        key = _class_key(row[index["class"]])
        if not image:
            problem = problem or "empty image name"
        if key == "":
            problem = problem or "empty class"
        if problem or xyxy is None:
            builder.drop(src, line, problem, image)
            continue
        builder.add_box(image, xyxy, key, src, line)
    return builder.build()


def _column_index(header: list[str], overrides: Mapping[str, str], source: str) -> dict[str, int]:
    """Column position of each role needed (``image``, ``class`` and the box columns)."""
    unknown = sorted(set(overrides) - set(ALIASES))
    if unknown:
        raise ConfigError(f"unknown CSV column role(s) {unknown}; roles are {', '.join(ALIASES)}")
    names = [cell.strip().casefold() for cell in header]
    position: dict[str, int] = {}
    for role, aliases in ALIASES.items():
        wanted = (overrides[role],) if role in overrides else aliases
        for alias in wanted:
            if alias.strip().casefold() in names:
                position[role] = names.index(alias.strip().casefold())
                break
        else:
            if role in overrides:
                raise InputError(
                    f"{source}: column {overrides[role]!r} given for {role!r} is not in the header {header}"
                )
    box_roles = _box_roles(position, overrides)
    required = ("image", *box_roles, "class")
    missing = [role for role in required if role not in position]
    if missing:
        accepted = "; ".join(f"{role}: {', '.join(ALIASES[role])}" for role in ALIASES)
        raise InputError(
            f"{source}: missing CSV column(s) for {', '.join(missing)}; header is {header}; "
            f"accepted names (case-insensitive) are {accepted} (xmin..ymax, x y w h, or bounds); "
            "or name them with the column override"
        )
    return {role: position[role] for role in required}


def _box_roles(position: Mapping[str, int], overrides: Mapping[str, str]) -> tuple[str, ...]:
    """Which box columns to use: named ones first, then corners, then ``x y w h``, else ``bounds``."""
    if "bounds" in overrides:
        return ("bounds",)
    if any(role in overrides for role in _XYWH):
        return _XYWH
    if any(role in overrides for role in _CORNERS) or all(c in position for c in _CORNERS):
        return _CORNERS
    if all(c in position for c in _XYWH):
        return _XYWH
    return ("bounds",)


def _row_box(row: list[str], index: dict[str, int]) -> tuple[str, tuple[float, float, float, float] | None]:
    """``("", xyxy)`` for a usable box, else ``(problem, None)``."""
    if "w" in index:
        return _xywh_box(row, index)
    if "bounds" in index:
        cell = row[index["bounds"]]
        values = cell.split(",")
        if len(values) != 4:
            return f"bounds {cell!r} is not 'xmin,ymin,xmax,ymax'", None
        labelled = list(zip(_CORNERS, values, strict=True))
    else:
        labelled = [(role, row[index[role]]) for role in _CORNERS]
    coords = []
    for role, cell in labelled:
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            return f"{role} {cell.strip()!r} is not a finite number", None
        coords.append(value)
    return "", (coords[0], coords[1], coords[2], coords[3])


def _xywh_box(row: list[str], index: dict[str, int]) -> tuple[str, tuple[float, float, float, float] | None]:
    """A box from ``x, y`` (top-left) and ``w, h`` columns; a negative size is a problem."""
    values = []
    for role in _XYWH:
        cell = row[index[role]]
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            return f"{role} {cell.strip()!r} is not a finite number", None
        values.append(value)
    x, y, w, h = values
    if w < 0 or h < 0:
        return f"negative width or height ({w:g}, {h:g})", None
    return "", (x, y, x + w, y + h)


def _class_key(cell: str) -> ClassKey:
    """An int for an integer cell (e.g. an xView type id), else the stripped name."""
    text = cell.strip()
    if text.lstrip("+-").isdigit():
        return int(text)
    return text


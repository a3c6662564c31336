"""Guess the format of a label source (``--from auto``) from its name and first few KB.

Rules, first match wins:

* a folder: the first ``.txt`` file inside (sorted, directly or in sub-folders) that sniffs as DOTA
  ``labelTxt``, YOLO or VisDrone labels decides (empty files and others such as ``classes.txt`` are skipped);
* ``.gpkg``, ``.shp``, ``.fgb``: ``geo-vector`` (labels in map coordinates);
* ``.geojson``, or JSON whose head mentions ``"FeatureCollection"`` or ``"features"``: ``geo-vector``
  when the head shows a feature (``"Feature"``) but no ``bounds_imcoords``, else ``xview-geojson``;
* JSON whose head mentions ``"images"``, ``"annotations"`` or ``"categories"``: ``coco``;
* ``.yaml`` / ``.yml``: ``yolo`` (a ``data.yaml``); ``.csv``: ``csv``;
* other text: a non-comment line with ``;`` -> ``semicolon``; an ``imagesource:`` / ``gsd:`` line or
  lines of 9-10 tokens starting with 8 numbers -> ``dota``; lines of 5 numbers -> ``yolo``; lines of
  8 comma-separated integers -> ``visdrone``; a header line with commas naming known CSV columns -> ``csv``.

Only the first :data:`SNIFF_BYTES` of a file are read.
"""

from __future__ import annotations

from pathlib import Path

from tiledet.errors import InputError
from tiledet.formats import READERS
from tiledet.formats.csv_labels import ALIASES
from tiledet.formats.geo_options import GEO_FORMAT, VECTOR_SUFFIXES
from tiledet.formats.visdrone import is_visdrone_line

#: How much of a file is read to guess its format.
SNIFF_BYTES = 8192
#: How many ``.txt`` files of a folder are looked at before giving up on finding a non-empty one.
MAX_FOLDER_FILES = 200


def detect_format(path: Path) -> str:
    """The :data:`~tiledet.formats.READERS` key of the label source at ``path``.

    Raises:
        InputError: the path does not exist or its format cannot be told; the message names the path
            and lists the ``--from`` choices.
    """
    path = Path(path)
    if path.is_dir():
        return _detect_folder(path)
    if not path.is_file():
        raise InputError(f"{path}: label file or folder not found")
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        return GEO_FORMAT
    if suffix == ".geojson":
        return _feature_collection_format(_head(path))
    if suffix in {".yaml", ".yml"}:
        return "yolo"
    if suffix == ".csv":
        return "csv"
    fmt = _sniff_text(_head(path))
    if fmt is None:
        raise _unknown(path, "its first lines match no known label format")
    return fmt


def _detect_folder(path: Path) -> str:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    for file in files[:MAX_FOLDER_FILES]:  # skips empty files and others such as classes.txt
        fmt = _sniff_text(_head(file))
        if fmt in {"dota", "yolo", "visdrone"}:
            return fmt
    if not files:
        raise _unknown(path, "it holds no .txt label files")
    count = min(len(files), MAX_FOLDER_FILES)
    raise _unknown(path, f"none of its first {count} .txt files is DOTA, YOLO or VisDrone")


def _head(path: Path) -> str:
    """The first :data:`SNIFF_BYTES` of ``path`` as text, without a cut-off last line."""
    try:
        with path.open("rb") as f:
            data = f.read(SNIFF_BYTES + 1)
    except OSError as e:
        raise InputError(f"{path}: cannot read label file ({e})") from e
    text = data[:SNIFF_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
    if len(data) > SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]
    return text


def _sniff_text(head: str) -> str | None:
    """Format of a file from its head, or None."""
    stripped = head.lstrip()
    if stripped.startswith(("{", "[")):
        if '"FeatureCollection"' in head or '"features"' in head:
            return _feature_collection_format(head)
        if any(f'"{key}"' in head for key in ("images", "annotations", "categories")):
            return "coco"
        return None
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    content = [line for line in lines if line[0] not in "#@"]
    if any(";" in line for line in content):
        return "semicolon"
    if any(line.lower().startswith(("imagesource:", "gsd:")) for line in lines):
        return "dota"
    if content and all(_is_dota_line(line) for line in content):
        return "dota"
    if content and all(_is_yolo_line(line) for line in content):
        return "yolo"
    if content and all(is_visdrone_line(line) for line in content):
        return "visdrone"
    if content and "," in content[0] and _names_csv_columns(content[0]):
        return "csv"
    return None


def _feature_collection_format(head: str) -> str:
    """``geo-vector`` when the head shows a feature without xView's pixel ``bounds_imcoords``."""
    plain = '"Feature"' in head and "bounds_imcoords" not in head
    return GEO_FORMAT if plain else "xview-geojson"


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_dota_line(line: str) -> bool:
    tokens = line.split()
    return len(tokens) in (9, 10) and all(_is_number(t) for t in tokens[:8]) and not _is_number(tokens[8])


def _is_yolo_line(line: str) -> bool:
    tokens = line.split()
    return len(tokens) == 5 and all(_is_number(t) for t in tokens)


def _names_csv_columns(header: str) -> bool:

    names = {cell.strip().strip('"').casefold() for cell in header.split(",")}
    return any(alias in names for alias in ALIASES["image"]) and any(
        alias in names for alias in ALIASES["class"]
    )


def _unknown(path: Path, reason: str) -> InputError:
    return InputError(
        f"{path}: cannot detect the label format ({reason}); pass --from with one of: {', '.join(READERS)}"
    )

"""DOTA ``labelTxt`` labels: one file per image, oriented quadrilaterals.

Each file may start with the header lines ``imagesource:...`` and ``gsd:...``; every other non-blank
line is ``x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]`` (float pixels, corners in any order). Each quad
becomes its enclosing axis-aligned box ``(min x, min y, max x, max y)``; the class key is the class name
string; boxes flagged ``difficult`` (last token ``1``) are kept unless ``ReadOptions.skip_difficult``,
which reports them as ``difficult`` drops. CRLF line ends and
blank lines are tolerated; locations are 1-based line numbers. A line with a wrong number of tokens or a
coordinate that is not a finite number is a ``malformed`` drop (or raises
:class:`~tiledet.errors.FormatError` in strict mode) and the rest of the file is read.

A label file names its image only by its stem: the image is ``<stem><suffix>`` where the suffix is that
of a file ``<stem>.*`` found in ``ReadOptions.images_dir`` (first of
:data:`tiledet.ioutil.IMAGE_SUFFIXES`), else ``.png``. Every label file's image is declared, also when
the file holds no boxes.
"""

from __future__ import annotations

import math
from pathlib import Path

from tiledet.errors import InputError
from tiledet.formats import ReadOptions
from tiledet.ioutil import IMAGE_SUFFIXES, read_text_file
from tiledet.label_records import RawLabels, RawLabelsBuilder

#: Image suffix assumed when the image folder is not given or holds no file of the label's stem.
DEFAULT_SUFFIX = ".png"
_HEADERS = ("imagesource:", "gsd:")


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read one DOTA label file, or every ``*.txt`` directly in a folder (sorted by name).

    Args:
        path: a ``.txt`` label file or a ``labelTxt`` folder.
        options: ``strict`` and ``images_dir`` (to find each image's real suffix) apply.

    Raises:
        InputError: missing path, unreadable file, or a folder without ``.txt`` files.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
        if not files:
            raise InputError(f"{path}: folder holds no DOTA label files (*.txt)")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"{path}: label file or folder not found")
    names = image_names_by_stem(options.images_dir)
    builder = RawLabelsBuilder(location_unit="line", strict=options.strict)
    for file in files:
        text = read_text_file(file)
        image = names.get(file.stem, file.stem + DEFAULT_SUFFIX)
        _parse_into(builder, text, image, builder.add_source(str(file)), options.skip_difficult)
    return builder.build()


def parse_text(
    text: str, image: str, source: str = "<text>", strict: bool = False, skip_difficult: bool = False
) -> RawLabels:
    """Parse the text of one label file whose image is named ``image``.

    Returns:
        Boxes (enclosing axis-aligned boxes of the quads) with class-name keys; ``image`` is declared
        even when there are none.
    """
    builder = RawLabelsBuilder(location_unit="line", strict=strict)
    _parse_into(builder, text, image, builder.add_source(source), skip_difficult)
    return builder.build()


def _parse_into(
    builder: RawLabelsBuilder, text: str, image: str, src: int, skip_difficult: bool = False
) -> None:
    """Add the image and the boxes of one label file to ``builder``."""
    builder.add_image(image)
    for lineno, raw_line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        line = raw_line.strip()
        if not line or line.lower().startswith(_HEADERS):
            continue
        tokens = line.split()
        if len(tokens) not in (9, 10):
            detail = f"expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]', got {len(tokens)} tokens"
            builder.drop(src, lineno, detail, image)
            continue
        try:
            coords = [float(t) for t in tokens[:8]]
        except ValueError:
            coords = [math.nan]
        if not all(math.isfinite(c) for c in coords):
            builder.drop(src, lineno, f"coordinates {tokens[:8]} are not 8 finite numbers", image)
            continue
        xs, ys = coords[0::2], coords[1::2]
        if skip_difficult and len(tokens) == 10 and tokens[9] == "1":
            builder.skip(src, lineno, "difficult", f"{tokens[8]} flagged difficult", image)
            continue
        builder.add_box(image, (min(xs), min(ys), max(xs), max(ys)), tokens[8], src, lineno)


def image_names_by_stem(images_dir: Path | None) -> dict[str, str]:
    """``stem -> file name`` of the images directly in ``images_dir`` (preferring earlier suffixes)."""
    if images_dir is None or not Path(images_dir).is_dir():
        return {}
    rank = {suffix: i for i, suffix in enumerate(IMAGE_SUFFIXES)}
    best: dict[str, tuple[int, str]] = {}
    for entry in sorted(Path(images_dir).iterdir()):
        order = rank.get(entry.suffix.lower())
        if order is None or not entry.is_file():
            continue
        if entry.stem not in best or order < best[entry.stem][0]:
            best[entry.stem] = (order, entry.name)
    return {stem: name for stem, (_, name) in best.items()}

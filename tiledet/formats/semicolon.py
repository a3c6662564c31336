"""The per-image semicolon format used in university courses on xView.

One line per image::

    relpath;N;obj_id;x1,y1,x2,y2;type_id;obj_id;x1,y1,x2,y2;type_id;...

``relpath`` is the image path relative to the image folder (backslashes become ``/``), ``N`` the
number of objects, then one ``obj_id;x1,y1,x2,y2;type_id`` triple per object (absolute pixels, xView
type ids). Lines starting with ``#`` or ``@`` are comments; blank lines, surrounding spaces, CRLF line
ends and one trailing ``;`` are tolerated. Locations are 1-based line numbers (every box of a line
shares it).

What is still used when a line is damaged (each problem is one ``malformed`` drop with the line number,
or raises :class:`~tiledet.errors.FormatError` in strict mode):

* an empty ``relpath``: nothing on the line can be placed, the whole line is one drop;
* otherwise the image is declared (so ``N=0`` declares an image without boxes), and every complete
  triple whose coordinates are 4 finite numbers and whose ``type_id`` is an integer is kept; each
  other triple is one drop (``object k``, 1-based);
* ``N`` that is not an integer, that differs from the number of triples found, or fields left over
  after the last complete triple: one drop for the line, the complete triples are still kept.
"""

from __future__ import annotations

import math
from pathlib import Path

from tiledet.errors import InputError
from tiledet.formats import ReadOptions
from tiledet.ioutil import read_text_file
from tiledet.label_records import RawLabels, RawLabelsBuilder


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read a semicolon label file (see :func:`parse_text`); uses ``options.strict``."""
    path = Path(path)
    text = read_text_file(path)
    return parse_text(text, str(path), strict=options.strict)


def parse_text(text: str, source: str = "<text>", strict: bool = False) -> RawLabels:
    """Parse the semicolon format.

    Args:
        text: the whole file.
        source: name of the input for drop records and error messages.
        strict: raise :class:`~tiledet.errors.FormatError` on the first problem.

    Raises:
        InputError: the text holds no image line at all (empty or only comments).
    """
    builder = RawLabelsBuilder(location_unit="line", strict=strict)
    src = builder.add_source(source)
    seen_line = False
    for lineno, raw_line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        line = raw_line.strip()
        if not line or line[0] in "#@":
            continue
        seen_line = True
        _parse_line(builder, src, lineno, line)
    if not seen_line:
        raise InputError(f"{source}: semicolon label file has no image lines (empty or only comments)")
    return builder.build()


def _parse_line(builder: RawLabelsBuilder, src: int, lineno: int, line: str) -> None:
    """Add the image and boxes of one non-comment line, recording its problems."""
    fields = [f.strip() for f in line.split(";")]
    if len(fields) > 1 and fields[-1] == "":
        fields.pop()  # one trailing ';'
    image = fields[0].replace("\\", "/")
    if not image:
        builder.drop(src, lineno, "empty image path")
        return
    builder.add_image(image)
    rest = fields[2:]
    triples = len(rest) // 3
    for k in range(triples):
        obj_id, bounds, type_text = rest[3 * k : 3 * k + 3]
        problem, xyxy = _box(bounds)
        type_id = int(type_text) if type_text.lstrip("+-").isdigit() else None
        if xyxy is None or type_id is None:
            problem = problem or f"type_id {type_text!r} is not an integer"
            builder.drop(src, lineno, f"object {k + 1} (id {obj_id!r}): {problem}", image)
            continue
        builder.add_box(image, xyxy, type_id, src, lineno)
    count_text = fields[1] if len(fields) > 1 else ""
    problems = []
    if not count_text.lstrip("+-").isdigit():
        problems.append(f"object count {count_text!r} is not an integer")
    elif int(count_text) != triples:
        problems.append(f"object count says {int(count_text)} but the line has {triples} objects")
    if len(rest) % 3:
        problems.append(f"{len(rest) % 3} field(s) left over after the last complete object")
    if problems:
        builder.drop(src, lineno, "; ".join(problems), image)


def _box(bounds: str) -> tuple[str, tuple[float, float, float, float] | None]:
    """``("", xyxy)`` from ``"x1,y1,x2,y2"``, else ``(problem, None)``."""
    parts = bounds.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return f"box {bounds!r} is not 4 finite numbers 'x1,y1,x2,y2'", None
    return "", (values[0], values[1], values[2], values[3])

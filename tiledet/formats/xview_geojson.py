"""xView GeoJSON labels (``xView_train.geojson``), read as a stream.

The file is one FeatureCollection; each feature's ``properties`` carry

* ``bounds_imcoords``: a *string* ``"xmin,ymin,xmax,ymax"`` in absolute image pixels,
* ``type_id``: the integer xView class id (11..94 with gaps; real files also hold 75 and 82, which the
  class map drops later as ``unknown_class``),
* ``image_id``: the image file name, e.g. ``"2355.tif"``.

Boxes keep the pixel values as written; class mapping, image sizes and clipping happen in
:func:`tiledet.labels.load.resolve`. Locations are 0-based feature indices (``"feature 17"``).

Streaming: the real file is hundreds of MB with ~600k features, so it is never held in memory as a
whole. The file is decoded in 1 MB chunks; the top-level object is walked key by key and each element
of ``features`` is decoded on its own with :meth:`json.JSONDecoder.raw_decode` (the C scanner) and
discarded after its box is recorded. Geometry coordinates (unused, and most of the decoding cost) are
blanked to ``null`` by one regular-expression pass per chunk before decoding. This was measured
against ``ijson`` (yajl2_c backend) in ``benchmarks/bench_geojson_parse.py`` and is the faster.

The registered reader is :func:`tiledet.formats.xview_geometry.read`: this one, then (with an images
folder holding georeferenced rasters) each box checked against its feature's geometry.

Bad input: a feature that is valid JSON but lacks a usable ``bounds_imcoords`` (missing, empty, not 4
finite numbers), ``image_id`` (missing or empty) or integer ``type_id`` is recorded as a ``malformed``
drop with its feature index (or raises :class:`~tiledet.errors.FormatError` in strict mode); its image
is not declared by that feature alone. Invalid JSON, or JSON that is not a FeatureCollection, raises
:class:`~tiledet.errors.FormatError` naming the file and the byte offset.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from pathlib import Path
from typing import IO, Any

from tiledet.errors import FormatError, InputError
from tiledet.formats import ReadOptions
from tiledet.label_records import RawLabels, RawLabelsBuilder

#: Characters decoded per read; a feature straddling a chunk boundary is decoded again after the next read.
CHUNK_CHARS = 1 << 20
#: Largest single JSON value (one feature, or a top-level value) accepted before giving up, in characters.
MAX_VALUE_CHARS = 256 << 20

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_COORDINATES = re.compile(r'("coordinates"\s*:\s*)(\[[-+0-9.eE,\[\]\s]*\])(?=\s*\})', re.ASCII)


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read an xView GeoJSON file.

    Args:
        path: the ``.geojson`` file.
        options: only ``options.strict`` applies.

    Raises:
        InputError: the file cannot be opened or is empty.
        FormatError: invalid JSON, not a FeatureCollection, or (strict) a malformed feature.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            return parse_stream(f, str(path), strict=options.strict)
    except OSError as e:
        raise InputError(f"{path}: cannot read label file ({e})") from e


def parse_text(text: str, source: str = "<text>", strict: bool = False) -> RawLabels:
    """Parse GeoJSON text already in memory (see :func:`parse_stream`)."""
    return _Parser(None, source, strict, text).parse()


def parse_stream(fileobj: IO[bytes] | IO[str], source: str, strict: bool = False) -> RawLabels:
    """Parse a FeatureCollection from a binary (UTF-8) or text file object, chunk by chunk.

    Args:
        fileobj: open file; only ``read(n)`` is used.
        source: name of the input for drop records and error messages.
        strict: raise :class:`~tiledet.errors.FormatError` on the first malformed feature.

    Returns:
        One box per usable feature; ``location_unit`` is ``"feature"`` (0-based index).
    """
    return _Parser(fileobj, source, strict, "").parse()


class _Parser:
    """Walks one FeatureCollection held in a sliding text buffer.

    Subclasses that need the geometry (:mod:`tiledet.formats.xview_geometry`) set ``blank_geometry``
    False and override :meth:`_feature`; the top-level ``crs`` member is kept in ``crs_member``.
    """

    blank_geometry = True

    def __init__(self, fileobj: IO[Any] | None, source: str, strict: bool, text: str) -> None:
        self.fileobj = fileobj
        self.source = source
        self.crs_member: Any = None
        self.buf = self._prepare(text)
        self.carry = ""  # read and decoded, not yet in buf
        self.pos = 0
        self.base_bytes = 0  # UTF-8 bytes before buf[0], for error offsets
        self.eof = fileobj is None
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.builder = RawLabelsBuilder(location_unit="feature", strict=strict)
        self.src = self.builder.add_source(source)
        self.names: dict[str, str] = {}  # image_id as written -> image name, once it has a box

    # -- buffer -------------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Drop the consumed prefix and append the next chunk; False at end of file.

        Text after the chunk's last ``}`` waits in ``carry`` so that every geometry ``coordinates``
        array reaches :func:`_blank_coordinates` whole.
        """
        if self.eof:
            return False
        assert self.fileobj is not None
        chunk = self.fileobj.read(CHUNK_CHARS)
        if isinstance(chunk, bytes):
            try:
                text = self.utf8.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                offset = self._byte_offset(len(self.buf)) + len(self.carry.encode("utf-8")) + e.start
                raise FormatError(self.source, f"byte {offset}", "not UTF-8") from e
        else:
            text = chunk
        text = self.carry + text
        self.carry = ""
        if not chunk:
            self.eof = True
        else:
            cut = text.rfind("}") + 1
            if cut or len(text) < 4 * CHUNK_CHARS:
                text, self.carry = self._prepare(text[:cut]), text[cut:]
        if not text:  # keep positions valid for a caller that reports an error next
            return not self.eof
        self.base_bytes += len(self.buf[: self.pos].encode("utf-8"))
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def _prepare(self, text: str) -> str:
        return _blank_coordinates(text) if self.blank_geometry else text

    def _byte_offset(self, pos: int) -> int:
        return self.base_bytes + len(self.buf[:pos].encode("utf-8"))

    def _error(self, reason: str, pos: int | None = None) -> FormatError:
        return FormatError(self.source, f"byte {self._byte_offset(self.pos if pos is None else pos)}", reason)

    def _peek(self) -> str:
        """Skip whitespace and return the next character ('' at end of input)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _expect(self, char: str, what: str) -> None:
        found = self._peek()
        if found != char:
            raise self._error(f"invalid JSON: expected {what}, found {_shown(found)}")
        self.pos += 1

    def _value(self) -> Any:
        """Decode the JSON value at the cursor, reading more input while it may be cut off."""
        self._peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                truncated = e.pos >= len(self.buf) - 64 or e.msg.startswith("Unterminated string")
                if truncated and len(self.buf) - self.pos < MAX_VALUE_CHARS and self._fill():
                    continue
                raise self._error(f"invalid JSON: {e.msg}", e.pos) from e
            if end >= len(self.buf) and self._fill():  # a number may continue in the next chunk
                continue
            self.pos = end
            return value

    # -- structure ----------------------------------------------------------------------------
    def parse(self) -> RawLabels:
        if self.buf.startswith("\ufeff"):
            self.buf = self.buf[1:]
        first = self._peek()
        if first == "\ufeff":
            self.pos += 1
            first = self._peek()
        if not first:
            raise InputError(f"{self.source}: label file is empty")
        if first != "{":
            raise self._error("not a GeoJSON FeatureCollection (the file does not start with a JSON object)")
        self.pos += 1
        seen_type = seen_features = False
        char = self._peek()
        while char != "}":
            key = self._key()
            if key == "features":
                self._features()
                seen_features = True
            elif key == "type":
                value = self._value()
                if value != "FeatureCollection":
                    raise self._error(f"not a GeoJSON FeatureCollection (type is {value!r})")
                seen_type = True
            elif key == "crs":
                self.crs_member = self._value()
            else:
                self._value()
            char = self._peek()
            if char == ",":
                self.pos += 1
            elif char != "}":
                raise self._error(f"invalid JSON: expected ',' or '}}', found {_shown(char)}")
        self.pos += 1
        if self._peek():
            raise self._error("invalid JSON: extra data after the FeatureCollection")
        if not seen_type:
            raise FormatError(self.source, "", 'not a GeoJSON FeatureCollection (no "type" member)')
        if not seen_features:
            raise FormatError(self.source, "", 'the FeatureCollection has no "features" array')
        return self.builder.build()

    def _key(self) -> str:
        if self._peek() != '"':
            raise self._error(f"invalid JSON: expected a member name, found {_shown(self._peek())}")
        key = self._value()
        self._expect(":", "':' after a member name")
        return key

    def _features(self) -> None:
        """Walk the ``features`` array; the inner loop decodes features already in the buffer."""
        self._expect("[", "the 'features' array")
        if self._peek() == "]":
            self.pos += 1
            return
        decode, skip_ws, record = _DECODER.raw_decode, _WS.match, self._feature
        index = 0
        while True:
            buf, pos = self.buf, self.pos
            while True:  # fast path: complete features followed by a separator, all in the buffer
                try:
                    feature, end = decode(buf, pos)
                except json.JSONDecodeError:
                    break
                sep = skip_ws(buf, end).end()
                if sep >= len(buf) or buf[sep] != ",":
                    break
                record(index, feature)
                index += 1
                pos = skip_ws(buf, sep + 1).end()
            self.pos = pos  # slow path: one element with refills and error reporting
            record(index, self._value())
            index += 1
            char = self._peek()
            if char == "]":
                self.pos += 1
                return
            if char != ",":
                raise self._error(f"invalid JSON: expected ',' or ']' in 'features', found {_shown(char)}")
            self.pos += 1
            self._peek()

    def _feature(self, index: int, feature: Any) -> None:
        """Record the box of one decoded feature; anything unusual goes to :meth:`_check_feature`."""
        try:
            props = feature["properties"]
            image = self.names[props["image_id"]]
            type_id = props["type_id"]
            x0, y0, x1, y1 = map(float, props["bounds_imcoords"].split(","))
        except (TypeError, KeyError, ValueError, AttributeError):
            self._check_feature(index, feature)
            return
        total = x0 + y0 + x1 + y1
        if type(type_id) is not int or total - total != 0.0:  # bool, float id; NaN or inf coordinate
            self._check_feature(index, feature)
            return
        b = self.builder
        b.box_images.append(image)
        b.coords.append((x0, y0, x1, y1))
        b.class_keys.append(type_id)
        b.box_sources.append(self.src)
        b.box_locations.append(index)

    def _check_feature(self, index: int, feature: Any) -> None:
        """Slow path of :meth:`_feature`: validate each field, record the box or a ``malformed`` drop."""
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            self.builder.drop(self.src, index, "feature has no 'properties' object")
            return
        raw_image = props.get("image_id")
        if not isinstance(raw_image, str) or not raw_image.strip():
            self.builder.drop(self.src, index, f"missing or empty image_id: {raw_image!r}")
            return
        image = raw_image.strip()
        type_id = _int_or_none(props.get("type_id"))
        if type_id is None:
            self.builder.drop(self.src, index, f"type_id {props.get('type_id')!r} is not an integer", image)
            return
        xyxy = _bounds_or_none(props.get("bounds_imcoords"))
        if xyxy is None:
            detail = f"bounds_imcoords {props.get('bounds_imcoords')!r} is not 4 finite numbers"
            self.builder.drop(self.src, index, detail, image)
            return
        self.names.setdefault(raw_image, image)  # later features of this image take the fast path
        self.builder.add_box(image, xyxy, type_id, self.src, index)


def _blank_coordinates(text: str) -> str:
    """Replace each geometry ``"coordinates": [...]`` value by ``null`` padded to the same length.

    Decoding thousands of unused floats per MB is most of the cost of a feature; blanking them keeps
    every character offset (so error positions stay exact). Only a value made of nothing but
    numbers, brackets, commas and whitespace and directly followed by ``}`` is replaced, i.e. the
    whole value of a ``coordinates`` member ending its object.
    """
    return _COORDINATES.sub(_pad_null, text)


def _pad_null(match: re.Match[str]) -> str:
    width = len(match.group(2))
    return match.group(0) if width < 4 else match.group(1) + "null" + " " * (width - 4)


def _shown(char: str) -> str:
    return repr(char) if char else "end of file"


def _int_or_none(value: Any) -> int | None:
    """``value`` as an int when it is an integer (or a string of one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
    return None


def _bounds_or_none(value: Any) -> tuple[float, float, float, float] | None:
    """``"xmin,ymin,xmax,ymax"`` (or a list of 4 numbers) as 4 finite floats, else None."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and not any(isinstance(v, bool) for v in value):
        parts = value
    else:
        return None
    if len(parts) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x0) and math.isfinite(y0) and math.isfinite(x1) and math.isfinite(y1)):
        return None
    return (x0, y0, x1, y1)

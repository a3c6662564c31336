"""File helpers: atomic writes and cheap image-size lookups."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from tiledet.errors import InputError
from tiledet.ultra import pil_image_open


@functools.cache
def _umask() -> int:
    """The process umask (read once: reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the suffix (so e.g. ``cv2.imwrite`` picks the right codec). If the
    body raises, the temporary file is removed and ``path`` is left untouched, so an interrupted run
    never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Bounded temporary name: a final name near the 255-byte limit must not fail because of the temp one.
    suffix = path.suffix if len(path.suffix.encode("utf-8", "surrogateescape")) <= 16 else ""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem[:40]}.", suffix=f".tmp{suffix}", dir=path.parent)
    try:
        # mkstemp creates 0600: give the file normal permissions now, through its descriptor. Never
        # chmod the path afterwards: the body may have replaced it with a symlink to a user's file,
        # and chmod follows links.
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically, with ``\\n`` line ends on every platform."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: object, indent: int | None = 2) -> None:
    """Serialise ``obj`` as JSON (keys in insertion order) and write it atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


@functools.cache
def _no_alias_dumper() -> type:
    """A ``yaml.SafeDumper`` that writes a shared object out again instead of as an ``&id``/``*id`` alias."""
    import yaml

    class NoAliasDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True

    return NoAliasDumper


def yaml_text(obj: object) -> str:
    """``obj`` as YAML: keys in insertion order, Unicode kept, block style (the one YAML writer).

    Objects referenced twice are written twice: tiledet's YAML reader
    (:func:`tiledet.yamlio.load_yaml_text`) refuses aliases.
    """
    import yaml

    return yaml.dump(obj, Dumper=_no_alias_dumper(), sort_keys=False, allow_unicode=True)


def atomic_write_yaml(path: str | Path, obj: object) -> None:
    """Write ``obj`` as YAML (:func:`yaml_text`) atomically."""
    atomic_write_text(path, yaml_text(obj))


def parse_json_text(text: str, source: str) -> object:
    """``json.loads`` whose error is one line naming ``source``, the line and the column.

    Raises:
        InputError: ``"<source>:line L column C: invalid JSON (<reason>)"``.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{source}:line {e.lineno} column {e.colno}: invalid JSON ({e.msg})") from e


def read_json_file(path: str | Path, what: str = "JSON file") -> object:
    """Parse a UTF-8 JSON file (BOM allowed); every failure is one :class:`InputError` line.

    Raises:
        InputError: missing or unreadable file (see :func:`read_text_file`) or invalid JSON
            (see :func:`parse_json_text`).
    """
    return parse_json_text(read_text_file(path, what), str(path))


def read_text_file(path: str | Path, what: str = "label file") -> str:
    """Read a UTF-8 text file (a leading BOM is dropped).

    Raises:
        InputError: ``"<path>: <what> not found"`` or ``"<path>: cannot read <what> (<reason>)"``.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InputError(f"{path}: {what} not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read {what} ({e})") from e


def _png_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk (no size limit, unlike Pillow's decompression-bomb
    check, which refuses headers over ~179 Mpx); None when ``path`` is not a readable PNG."""
    if path.suffix.lower() != ".png":
        return None
    try:
        with path.open("rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return (width, height) if width >= 1 and height >= 1 else None


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image, read from its header without decoding the pixels.

    Raises:
        InputError: when the file is missing or its header cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    png = _png_size(path)
    if png is not None:
        return png
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with pil_image_open()(path) as im:
                width, height = im.size
    except FileNotFoundError as e:
        raise InputError(f"{path}: image not found") from e
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"{path}: cannot read image header ({e})") from e
    if width < 1 or height < 1:
        raise InputError(f"{path}: image header gives an empty size {width}x{height}")
    return int(width), int(height)


IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".webp")

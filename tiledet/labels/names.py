"""Image names from label files, made safe before anything is read or written with them.

Label files name their images freely; a name is only ever used relative to the images folder (to read)
and relative to an output folder (to write). :func:`safe_image_name` turns a name into a normalised
relative POSIX path that stays inside the images folder, or says why it cannot:

- ``./a.png``, ``sub//a.png`` -> ``a.png``, ``sub/a.png`` (normalised);
- absolute names and names with ``..`` are resolved against the images folder: kept, as their path
  relative to it, when they lie inside it (``/data/images/sub/a.png`` -> ``sub/a.png``), else unsafe;
- names with a NUL character, empty names and names with a component longer than
  :data:`tiledet.outdir.MAX_NAME_BYTES` bytes are unsafe.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tiledet.outdir import MAX_NAME_BYTES, UnsafePathError, safe_relpath


class UnsafeName(Exception):
    """An image name that cannot be used safely; ``str(e)`` says why (internal: becomes a drop)."""


def _inside(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` (POSIX) when it lies strictly inside it, else None."""
    rel = os.path.relpath(path, base)
    if rel == "." or rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return PurePosixPath(Path(rel).as_posix()).as_posix()


def _resolve_against(name: str, images_dir: Path) -> str:
    """Resolve an absolute or ``..`` name against ``images_dir``; its path inside it, or UnsafeName."""
    base = os.path.abspath(images_dir)
    full = os.path.normpath(os.path.join(base, name))
    rel = _inside(full, base)
    if rel is None:  # the images folder may be reached through a symlink: compare real paths
        real_full = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
        rel = _inside(real_full, os.path.realpath(base))
    if rel is None:
        raise UnsafeName(f"{name!r} lies outside the images folder {images_dir}")
    return rel


def safe_image_name(name: str, images_dir: Path | None) -> str:
    """The safe relative form of image ``name`` (see the module docstring).

    Args:
        name: the image name as written in the labels.
        images_dir: the images folder names are relative to; None when no file is read (then
            absolute and ``..`` names are unsafe).

    Returns:
        A normalised relative POSIX path without ``.``/``..`` parts, inside ``images_dir``.

    Raises:
        UnsafeName: with the reason.
    """
    text = str(name)
    if "\x00" in text:
        raise UnsafeName(f"{text!r} contains a NUL character")
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        if images_dir is None:
            raise UnsafeName(f"{text!r} is absolute or climbs out with '..', and there is no images folder")
        text = _resolve_against(text, Path(images_dir))
    try:
        return safe_relpath(text).as_posix()
    except UnsafePathError as e:
        too_long = any(len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for p in path.parts)
        if too_long:
            raise UnsafeName(
                f"{text[:60]!r}... has a file or folder name longer than {MAX_NAME_BYTES} bytes, "
                "which file systems do not allow"
            ) from e
        raise UnsafeName(str(e)) from e

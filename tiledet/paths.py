"""Output names and places: checked relative names, and outputs that never overlap their inputs.

Used by :mod:`tiledet.outdir` (which re-exports these names) and by anything that builds output paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from tiledet.errors import ConfigError

#: Longest file or folder name (bytes, UTF-8) that common file systems accept.
MAX_NAME_BYTES = 255


class UnsafePathError(ConfigError):
    """A name would leave the output folder or is not a usable file name."""


def safe_relpath(name: str | os.PathLike[str]) -> PurePosixPath:
    """Check a relative output name and return it as a normalised POSIX path.

    Args:
        name: relative name such as ``"labels/train/a.txt"`` (``/`` separators; ``.`` parts dropped).

    Raises:
        UnsafePathError: when the name is empty, absolute, contains ``..``, a NUL character, or a
            component longer than :data:`MAX_NAME_BYTES` bytes.
    """
    text = os.fspath(name)
    if "\x00" in text:
        raise UnsafePathError(f"{text!r}: file name contains a NUL character")
    path = PurePosixPath(text.replace(os.sep, "/"))
    if path.is_absolute() or text.startswith(("/", "\\")):
        raise UnsafePathError(f"{text!r}: absolute path where a relative output name is needed")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise UnsafePathError(f"{text!r}: empty output name")
    if ".." in parts:
        raise UnsafePathError(f"{text!r}: output name climbs out of its folder with '..'")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise UnsafePathError(f"{part[:40]}…: name longer than {MAX_NAME_BYTES} bytes")
    return PurePosixPath(*parts)


def real_path(path: Path) -> Path:
    """``path`` with every symlink resolved."""
    return Path(os.path.realpath(path))


def is_within(child: Path, parent: Path) -> bool:
    """True when ``child`` is ``parent`` or lies below it (compare real paths)."""
    return child == parent or parent in child.parents


def check_not_source(
    out: Path, sources: Iterable[str | os.PathLike[str] | None], what: str = "--out"
) -> None:
    """Refuse an output that equals, lies inside, or contains any of ``sources`` (real paths).

    Raises:
        ConfigError: naming the output and the source.
    """
    real_out = real_path(Path(out))
    for source in sources:
        if source is None:
            continue
        real_src = real_path(Path(source))
        if is_within(real_out, real_src) or is_within(real_src, real_out):
            raise ConfigError(
                f"{what} {out} overlaps the input {source}: outputs must lie outside the inputs "
                "(tiledet never writes into its sources)"
            )

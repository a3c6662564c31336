"""File-system snapshots for the safety tests: every file under a folder with its bytes (links as links)."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """``relative path -> (kind, content)`` of everything under ``root`` (not following symlinks).

    ``kind`` is ``"file"`` (content: its bytes), ``"link"`` (content: the link target) or ``"dir"``.
    """
    root = Path(root)
    entries: dict[str, tuple[str, bytes]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                entries[rel] = ("link", os.readlink(path).encode())
            elif path.is_dir():
                entries[rel] = ("dir", b"")
            else:
                entries[rel] = ("file", path.read_bytes())
    return entries


def assert_preserved(before: dict[str, tuple[str, bytes]], root: Path, inside: str | None = None) -> None:
    """Every entry of ``before`` is still under ``root`` with the same kind and bytes.

    Args:
        before: a :func:`snapshot` of ``root`` taken earlier.
        root: the folder.
        inside: when given, entries that are new since ``before`` may appear only under this
            relative folder (e.g. the output folder), never elsewhere.
    """
    after = snapshot(root)
    changed = [rel for rel, entry in before.items() if after.get(rel) != entry]
    assert not changed, f"pre-existing entries removed or changed: {changed[:10]}"
    if inside is not None:
        prefix = inside.rstrip("/") + "/"
        new = [rel for rel in after if rel not in before and rel != inside and not rel.startswith(prefix)]
        assert not new, f"written outside {inside}: {new[:10]}"

"""Class maps: from the raw class keys of a label source to contiguous class indices 0..K-1.

A key is either an external integer id (xView ``type_id``, COCO ``category_id``) or a class name.
Names match case-insensitively and ignoring surrounding whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiledet.errors import InputError
from tiledet.ioutil import read_text_file
from tiledet.recipes import load_recipe


def _norm(name: str) -> str:
    return " ".join(str(name).split()).casefold()


#: ``73:Building``, ``73,Building``, ``73 Building``, ``73\tBuilding`` (spaces around separators ok).
_ID_LINE = re.compile(r"(-?\d+)\s*(?:[:,;=\t]|\s)\s*(\S.*)")
#: A header line of an id/name class file, e.g. ``id,name`` or ``type_id: class``.
_HEADER = re.compile(r"[A-Za-z_ ]+\s*[:,;=\t ]\s*[A-Za-z_ ]+")
#: Characters that mean a plain-name line is really something else (``Building:73``, JSON, CSV).
_NOT_A_NAME = re.compile(r"[:,;=\t{}\[\]]")


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


def _plain_name(line: str, path: Path, lineno: int) -> str:
    """A class name on a line of its own; a bare number or separators make it unreadable."""
    if line.lstrip("-").isdigit() or _NOT_A_NAME.search(line):
        raise InputError(
            f"{path}:line {lineno}: cannot read {line[:40]!r} as a class; expected 'name', 'id:name', "
            "'id,name' or 'id name'"
        )
    return _unquote(line)


@dataclass(frozen=True)
class ClassMap:
    """Contiguous class indices with names and, optionally, external integer ids.

    Attributes:
        names: class names; the position is the class index.
        ids: the external id of each class (e.g. xView type ids 11..94), or None when classes are
            identified by index (YOLO) or name only.
    """

    names: tuple[str, ...]
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.names:
            raise InputError("a class map needs at least one class")
        if len({_norm(n) for n in self.names}) != len(self.names):
            raise InputError(f"class names must be unique (case-insensitive): {list(self.names)}")
        if self.ids is not None and (len(self.ids) != len(self.names) or len(set(self.ids)) != len(self.ids)):
            raise InputError("class ids must be unique and one per class name")

    @classmethod
    def xview(cls) -> ClassMap:
        """The official 60 xView classes; index = rank of the type id (matches Ultralytics' xView.yaml)."""

        type_ids = load_recipe("xview.yaml")["type_ids"]
        pairs = sorted((int(k), str(v)) for k, v in type_ids.items())
        return cls(tuple(n for _, n in pairs), tuple(i for i, _ in pairs))

    @classmethod
    def from_names(cls, names: Sequence[str]) -> ClassMap:
        """Classes identified by name, or by index into ``names``."""
        return cls(tuple(str(n) for n in names))

    @classmethod
    def from_file(cls, path: str | Path) -> ClassMap:
        """Read a class file.

        Accepted forms: a YAML file with ``names`` (list or ``{index: name}``, as in Ultralytics'
        ``data.yaml``) or ``type_ids`` (``{id: name}``, as in ``datasets/xview.yaml``); or a text file
        with one class per line, either ``name`` or ``id:name`` / ``id,name`` / ``id name`` (as in
        xView's ``xview_class_labels.txt``; ``#`` starts a comment).

        Raises:
            InputError: naming the file and the first line that cannot be read.
        """
        path = Path(path)
        text = read_text_file(path, "class file")
        try:
            if path.suffix.lower() in {".yaml", ".yml"}:
                return cls._from_yaml(text, path)
            return cls._from_lines(text, path)
        except InputError as e:
            if str(e).startswith(str(path)):
                raise
            raise InputError(f"{path}: {e}") from e

    @classmethod
    def _from_yaml(cls, text: str, path: Path) -> ClassMap:
        from tiledet.yamlio import load_yaml_text

        data = load_yaml_text(text, str(path))
        if isinstance(data, dict) and isinstance(data.get("type_ids"), dict):
            pairs = sorted((int(k), str(v)) for k, v in data["type_ids"].items())
            return cls(tuple(n for _, n in pairs), tuple(i for i, _ in pairs))
        if isinstance(data, list) or (isinstance(data, dict) and data and "names" not in data
                                      and all(isinstance(k, int) for k in data)):
            data = {"names": data}  # a bare list of names, or a bare {index: name} mapping
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, dict):
            keys = sorted(int(k) for k in names)
            if keys != list(range(len(keys))):
                raise InputError(f"{path}: 'names' indices must be 0..{len(keys) - 1}")
            return cls(tuple(str(names[k]) for k in keys))
        if isinstance(names, list):
            return cls(tuple(str(n) for n in names))
        raise InputError(f"{path}: expected 'names' (list or mapping) or 'type_ids' (mapping)")

    @classmethod
    def _from_lines(cls, text: str, path: Path) -> ClassMap:
        """One class per line: ``name``, or ``id:name`` / ``id,name`` / ``id name`` (tab too).

        A first line such as ``id,name`` (a header) is skipped when every other line has an id.
        """
        lines = [(n, raw.split("#", 1)[0].strip()) for n, raw in enumerate(text.splitlines(), start=1)]
        lines = [(n, line) for n, line in lines if line]
        if not lines:
            raise InputError(f"{path}: class file lists no classes")
        parsed = [(n, line, _ID_LINE.fullmatch(line)) for n, line in lines]
        with_id = [p for p in parsed if p[2] is not None]
        if not with_id:
            return cls(tuple(_plain_name(line, path, n) for n, line, _ in parsed))
        if parsed[0][2] is None and len(with_id) == len(parsed) - 1 and _HEADER.fullmatch(parsed[0][1]):
            parsed = parsed[1:]  # a header line such as "id,name" or "type_id:label"
        for n, line, match in parsed:
            if match is None:
                raise InputError(
                    f"{path}:line {n}: cannot read {line[:40]!r} as a class; expected 'id:name', "
                    f"'id,name' or 'id name' like line {with_id[0][0]}"
                )
        pairs = sorted((int(m.group(1)), _unquote(m.group(2))) for _, _, m in parsed)  # type: ignore[union-attr]
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"{path}: class id {dup} is listed twice")
        return cls(tuple(n for _, n in pairs), tuple(ids))

    def lookup(self, keys: Sequence[int | str]) -> np.ndarray:
        """Map raw class keys to indices.

        Integer keys are external ids when the map has ``ids``, else indices; strings are names
        (a string of digits is treated as an integer key). Unknown keys map to -1.

        Returns:
            (N,) int64 array of class indices, -1 where the key is unknown.
        """
        by_name = {_norm(n): i for i, n in enumerate(self.names)}
        by_int = {k: i for i, k in enumerate(self.ids)} if self.ids is not None else dict(
            (i, i) for i in range(len(self.names))
        )
        cache: dict[int | str, int] = {}
        out = np.empty(len(keys), dtype=np.int64)
        for j, key in enumerate(keys):
            idx = cache.get(key)
            if idx is None:
                idx = self._resolve(key, by_int, by_name)
                cache[key] = idx
            out[j] = idx
        return out

    @staticmethod
    def _resolve(key: int | str, by_int: dict[int, int], by_name: dict[str, int]) -> int:
        if isinstance(key, str):
            stripped = key.strip()
            if stripped.lstrip("-").isdigit():
                return by_int.get(int(stripped), -1)
            return by_name.get(_norm(stripped), -1)
        return by_int.get(int(key), -1)

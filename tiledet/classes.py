"""Class maps: from the raw class keys of a label source to contiguous class indices 0..K-1.

A key is either an external integer id (xView ``type_id``, COCO ``category_id``) or a class name.
Names match case-insensitively and ignoring surrounding whitespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiledet.errors import InputError
from tiledet.ioutil import read_text_file


def _norm(name: str) -> str:
    return " ".join(str(name).split()).casefold()


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
        from tiledet.recipes import load_recipe

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
        with one class per line, either ``name`` or ``id name`` (``#`` starts a comment).
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
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"{path}: invalid YAML ({e})") from e
        if isinstance(data, dict) and isinstance(data.get("type_ids"), dict):
            pairs = sorted((int(k), str(v)) for k, v in data["type_ids"].items())
            return cls(tuple(n for _, n in pairs), tuple(i for i, _ in pairs))
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
        names: list[str] = []
        ids: list[int] = []
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            first, _, rest = line.partition(" ")
            if first.lstrip("-").isdigit() and rest.strip():
                ids.append(int(first))
                names.append(rest.strip())
            elif ids:
                raise InputError(f"{path}:line {lineno}: expected 'id name' like the lines before")
            else:
                names.append(line)
        if ids and len(ids) != len(names):
            raise InputError(f"{path}: mix of 'id name' and 'name' lines")
        if not names:
            raise InputError(f"{path}: class file lists no classes")
        if ids:
            pairs = sorted(zip(ids, names, strict=True))
            return cls(tuple(n for _, n in pairs), tuple(i for i, _ in pairs))
        return cls(tuple(names))

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

"""``chips.yaml``: the typed record of a chips dataset (``tiledet convert --to chips``).

Written next to the class folders; read by classifier training (class order, chip geometry) and by
the sliding-window detector (object size range). One class instead of raw YAML keys in each place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiledet.errors import InputError
from tiledet.ioutil import atomic_write_yaml
from tiledet.numbers import is_finite_number, is_int

#: File name of the manifest inside a chips dataset.
CHIPS_YAML = "chips.yaml"
#: Name of the background class (present when background chips were written).
BACKGROUND = "background"


@dataclass(frozen=True)
class ChipsManifest:
    """What a chips dataset holds.

    Attributes:
        chip_size: side of every chip in pixels.
        context: window side = longer box side x (1 + context); the object fills the central
            ``1 / (1 + context)`` of the chip.
        class_names: class names in index order (``background`` last when background chips exist).
        class_folders: class name -> folder name under ``{split}/``.
        seed: seed of the background draws.
        background_per_scene: background chips requested per scene.
        object_size_px: longer box side over all scenes: ``min``, ``p02``, ``median``, ``p98``, ``max``.
        extra: every other key of the file (counts, placement statistics...), kept in file order.
    """

    chip_size: int
    context: float
    class_names: tuple[str, ...]
    class_folders: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    background_per_scene: int = 0
    object_size_px: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def background_index(self) -> int | None:
        """Index of the background class, or None without background chips."""
        return self.class_names.index(BACKGROUND) if BACKGROUND in self.class_names else None

    def object_size_range(self, widen: float = 1.0) -> tuple[float, float] | None:
        """``(p02 / widen, p98 * widen)`` of the objects' longer side in px; None when not recorded."""
        low, high = self.object_size_px.get("p02"), self.object_size_px.get("p98")
        if not (is_finite_number(low) and is_finite_number(high) and 0 < low <= high):  # type: ignore[operator]
            return None
        return float(low) / widen, float(high) * widen  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """The YAML document: geometry and classes first, then ``extra``, then object sizes."""
        return {
            "chip_size": self.chip_size,
            "context": self.context,
            "seed": self.seed,
            "background_per_scene": self.background_per_scene,
            "class_names": list(self.class_names),
            "class_folders": dict(self.class_folders),
            **self.extra,
            "object_size_px": dict(self.object_size_px),
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/chips.yaml`` atomically; returns its path."""
        path = Path(folder) / CHIPS_YAML
        atomic_write_yaml(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, data: object, source: str) -> ChipsManifest:
        """Check and type a parsed ``chips.yaml``.

        Raises:
            InputError: one line naming ``source`` and the first bad key.
        """
        if not isinstance(data, dict):
            raise InputError(f"{source}: chips.yaml is not a mapping")
        names = data.get("class_names")
        if not isinstance(names, list) or not names:
            raise InputError(f"{source}: chips.yaml needs a non-empty class_names list")
        if not is_int(data.get("chip_size")) or data["chip_size"] < 1:
            raise InputError(f"{source}: chip_size must be an integer >= 1, got {data.get('chip_size')!r}")
        if not is_finite_number(data.get("context")) or data["context"] < 0:
            raise InputError(f"{source}: context must be a number >= 0, got {data.get('context')!r}")
        folders = data.get("class_folders") or {}
        sizes = data.get("object_size_px") or {}
        if not isinstance(folders, dict) or not isinstance(sizes, dict):
            raise InputError(f"{source}: class_folders and object_size_px must be mappings")
        known = {"chip_size", "context", "seed", "background_per_scene", "class_names", "class_folders"}
        return cls(
            chip_size=int(data["chip_size"]),
            context=float(data["context"]),
            class_names=tuple(str(n) for n in names),
            class_folders={str(k): str(v) for k, v in folders.items()},
            seed=int(data.get("seed") or 0),
            background_per_scene=int(data.get("background_per_scene") or 0),
            object_size_px={str(k): v for k, v in sizes.items()},
            extra={k: v for k, v in data.items() if k not in known and k != "object_size_px"},
        )

    @classmethod
    def load(cls, folder: str | Path) -> ChipsManifest | None:
        """``folder/chips.yaml``, or None when the folder has none.

        Raises:
            InputError: unreadable file, invalid YAML or bad keys (one line naming the file).
        """
        from tiledet.yamlio import read_yaml_file

        path = Path(folder) / CHIPS_YAML
        if not path.is_file():
            return None
        return cls.from_dict(read_yaml_file(path, "chips.yaml"), str(path))

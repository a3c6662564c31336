"""Checks of a YOLO training dataset and model source before Ultralytics sees them.

Ultralytics reports a missing label folder or a model YAML it cannot find deep inside training (or
tries to download what is missing); these checks give one clear message instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tiledet.detect.offline import offline_ultralytics
from tiledet.errors import ConfigError, InputError
from tiledet.ioutil import IMAGE_SUFFIXES, yaml_text

#: Network input side when neither ``--imgsz`` nor the dataset's tile size is known.
DEFAULT_IMGSZ = 640


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`inspect_dataset` found.

    Attributes:
        yaml_path: the ``data.yaml``.
        root: the dataset root (``path`` of the yaml, resolved).
        data: the parsed yaml, with ``path`` made absolute.
        class_names: class names by index.
        tile: tile side from ``report.json`` (``tiledet convert --tile``), or None.
        overlap: tile overlap from ``report.json``, or None.
        train_images: number of training images.
        train_labels: number of non-empty training label files.
        val_full: ``annotations/val_full.json`` when present.
    """

    yaml_path: Path
    root: Path
    data: dict
    class_names: tuple[str, ...]
    tile: int | None
    overlap: float | None
    train_images: int
    train_labels: int
    val_full: Path | None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def default_imgsz(self) -> tuple[int, str]:
        """``(imgsz, why)``: the tile size rounded up to a multiple of 32, else 640."""
        if self.tile:
            imgsz = -(-int(self.tile) // 32) * 32
            return imgsz, f"the dataset's tile size {self.tile} px (report.json), rounded up to 32 px"
        return DEFAULT_IMGSZ, f"default {DEFAULT_IMGSZ} (the dataset's report.json names no tile size)"


def _load_yaml(path: Path) -> dict:
    from tiledet.yamlio import read_yaml_file

    if not path.is_file():
        raise InputError(f"{path}: dataset yaml not found")
    data = read_yaml_file(path, "dataset yaml")
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a dataset yaml (expected a mapping with path, train, val, names)")
    return data


def _class_names(data: dict, path: Path) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict) and names:
        return tuple(str(names[k]) for k in sorted(names, key=int))
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    raise InputError(f"{path}: dataset yaml has no class names ('names')")


def _split_dirs(entry: object, root: Path, path: Path, split: str) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    dirs = []
    for item in entries:
        if not isinstance(item, str) or not item:
            raise InputError(f"{path}: split {split!r} must name an images folder, got {item!r}")
        folder = Path(item) if Path(item).is_absolute() else root / item
        if not folder.is_dir():
            raise InputError(f"{path}: split {split!r}: images folder {folder} not found")
        dirs.append(folder)
    return dirs


def _labels_dir(images_dir: Path) -> Path:
    """Ultralytics' rule: the last ``images`` path component becomes ``labels``."""
    parts = list(images_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return images_dir


def _count(images_dirs: list[Path]) -> tuple[int, int]:
    n_images = n_labels = 0
    for folder in images_dirs:
        n_images += sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        labels = _labels_dir(folder)
        if labels.is_dir():
            n_labels += sum(1 for p in labels.rglob("*.txt") if p.stat().st_size > 0)
    return n_images, n_labels


def _tiling(root: Path) -> tuple[int | None, float | None]:
    try:
        tiling = json.loads((root / "report.json").read_text(encoding="utf-8")).get("tiling") or {}
    except (OSError, ValueError, AttributeError):
        return None, None
    tile, overlap = tiling.get("tile"), tiling.get("overlap")
    return (int(tile) if isinstance(tile, int) else None), (
        float(overlap) if isinstance(overlap, (int, float)) and not isinstance(overlap, bool) else None
    )


def inspect_dataset(yaml_path: str | Path) -> DatasetInfo:
    """Check a YOLO ``data.yaml`` and what it points at.

    Raises:
        InputError: missing/unreadable yaml, no class names, a missing split folder, no training
            images, or no labels at all.
    """
    path = Path(yaml_path)
    data = _load_yaml(path)
    names = _class_names(data, path)
    root_entry = data.get("path")
    root = Path(root_entry) if root_entry else path.parent
    if not root.is_absolute():
        root = path.parent / root
    if not root.is_dir():
        root = path.parent
    root = root.resolve()
    for split in ("train", "val"):
        if split not in data:
            raise InputError(f"{path}: dataset yaml has no {split!r} split")
    n_images, n_labels = _count(_split_dirs(data["train"], root, path, "train"))
    _split_dirs(data["val"], root, path, "val")
    if n_images == 0:
        raise InputError(f"{path}: the train split holds no images")
    if n_labels == 0:
        raise InputError(f"{path}: the train split has no labels (no non-empty .txt under its labels folder)")
    tile, overlap = _tiling(root)
    val_full = root / "annotations" / "val_full.json"
    return DatasetInfo(path, root, {**data, "path": str(root)}, names, tile, overlap, n_images, n_labels,
                       val_full if val_full.is_file() else None)


def resolve_model_source(model: str | Path) -> Path:
    """A local model file, or the name of a model YAML shipped with Ultralytics (kept as given, since
    Ultralytics reads the scale from it: ``yolo11n.yaml`` is ``yolo11.yaml`` at scale ``n``).

    Raises:
        ConfigError: a suffix other than .yaml/.yml/.pt, or a YAML name Ultralytics does not ship.
        InputError: a ``.pt`` that is not a local file (tiledet never downloads weights).
    """
    path = Path(model)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".pt"):
        raise ConfigError(
            f"model {model}: expected a model .yaml (e.g. yolo11n.yaml) or a local .pt file", field="model"
        )
    if path.is_file():
        return path
    if suffix == ".pt":
        raise InputError(
            f"--model {model}: weights file not found (tiledet never downloads weights; give a local .pt, "
            "or a model YAML such as yolo11n.yaml to train from scratch)"
        )
    if path.parent != Path("."):
        raise InputError(f"--model {model}: model YAML not found")

    offline_ultralytics()
    import re

    from ultralytics.utils.checks import check_yaml

    unified = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", path.stem) + path.suffix  # Ultralytics' own rule
    for name in (unified, path.name):
        try:
            if check_yaml(name, hard=False):
                return path
        except Exception:
            continue
    raise ConfigError(
        f"model {model}: neither a local file nor a model YAML shipped with Ultralytics", field="model"
    )


def write_resolved_yaml(info: DatasetInfo) -> str:
    """The dataset yaml text with an absolute ``path`` (Ultralytics would resolve a relative one
    against its own datasets folder)."""

    return yaml_text(info.data)

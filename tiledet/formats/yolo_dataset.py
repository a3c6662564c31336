"""YOLO datasets read into :class:`~tiledet.label_records.RawLabels` (the line format itself is
:mod:`tiledet.formats.yolo`).

Reading: :func:`read` accepts an Ultralytics ``data.yaml`` (``path``; ``train``/``val``/``test`` as a
folder, a ``.txt`` list of images, or a list of those; ``names`` as list or ``{index: name}``) or a
folder of label files plus ``ReadOptions.images_dir``. Labels are found the Ultralytics way: the last
``/images/`` segment of the image path becomes ``/labels/`` and the suffix ``.txt``; a label file in
the ``labels`` folder of a split's image folder that no image has is not lost: its boxes are dropped
as ``missing_image`` (an empty one is listed as an unusable image). A relative
``path`` in a ``data.yaml`` is taken relative to the yaml file's folder (Ultralytics would use its
global datasets folder) and, when that folder does not exist, the yaml's own folder is the root.
Relative entries of a ``.txt`` image list are relative to the list's folder. A ``classes.txt`` in a
label folder gives the class names. Segment lines (``cls x1 y1 x2 y2 ...``, 3+ points) become their
enclosing box, as Ultralytics' detection loader does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tiledet.errors import InputError
from tiledet.formats import ReadOptions
from tiledet.formats.yolo import (
    YOLO_IMAGE_SUFFIXES,
    denormalize_cxcywh,
    label_path_for,
    parse_label_lines,
)
from tiledet.ioutil import read_text_file
from tiledet.label_records import Drop, RawLabels, RawLabelsBuilder
from tiledet.scene import scene_size


def _images_in(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in YOLO_IMAGE_SUFFIXES and p.is_file())


def _add_image(builder: RawLabelsBuilder, name: str, image_path: Path, label_path: Path | None) -> None:
    """Declare one image with its size and add the boxes of its label file (if any)."""
    text = ""
    if label_path is not None and label_path.is_file():
        text = read_text_file(label_path)
    class_ids, cxcywh, line_nos, bad = parse_label_lines(text)
    src = builder.add_source(str(label_path)) if text else -1
    for line_no, reason in bad:
        builder.drop(src, line_no, reason, image=name)
    try:
        size = scene_size(image_path) if image_path.is_file() else None  # any size (header only)
        problem = ("missing_image", f"{image_path}: image not found")
    except InputError as e:
        size, problem = None, ("unreadable_image", str(e))
    if size is None:
        _drop_image(builder, name, image_path, src, line_nos, problem)
        return
    builder.add_image(name, size)
    xyxy = denormalize_cxcywh(cxcywh, size)
    for cls, box, line_no in zip(class_ids.tolist(), xyxy.tolist(), line_nos.tolist(), strict=True):
        builder.add_box(name, tuple(box), cls, src, line_no)  # type: ignore[arg-type]


def _drop_image(
    builder: RawLabelsBuilder,
    name: str,
    image_path: Path,
    src: int,
    line_nos: np.ndarray,
    problem: tuple[str, str],
) -> None:
    """Account for the boxes (or, without boxes, the image) of an image whose size cannot be read."""
    reason, detail = problem
    if builder.strict:
        raise InputError(detail)
    if len(line_nos) == 0:
        builder.drops.append(Drop(str(image_path), "image", reason, detail, name))
    for line_no in line_nos.tolist():
        builder.drops.append(Drop(builder.sources[src], f"line {line_no}", reason, detail, name))


def _relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators, or absolute when outside ``root``."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _split_images(entry: str, root: Path, yaml_path: Path, split: str) -> list[Path]:
    """Image paths of one ``data.yaml`` split entry: a folder, a ``.txt`` list or one image."""
    target = Path(entry) if Path(entry).is_absolute() else root / entry
    target = Path(os.path.abspath(target))
    if target.is_dir():
        return _images_in(target)
    if target.is_file() and target.suffix.lower() in YOLO_IMAGE_SUFFIXES:
        return [target]
    if target.is_file():
        try:
            lines = target.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{target}: cannot read image list of split {split!r} ({e})") from e
        paths = [Path(s.strip()) for s in lines if s.strip() and not s.lstrip().startswith("#")]
        return [Path(os.path.abspath(p if p.is_absolute() else target.parent / p)) for p in paths]
    raise InputError(f"{yaml_path}: split {split!r}: {target} is neither a folder nor an image list")


def _yaml_names(data: dict, yaml_path: Path) -> tuple[str, ...]:
    """Class names from ``names`` (list or ``{index: name}``) or, without names, ``nc``."""
    names = data.get("names")
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError) as e:
            raise InputError(f"{yaml_path}: 'names' keys must be integers") from e
        if keys != list(range(len(keys))):
            raise InputError(f"{yaml_path}: 'names' indices must be 0..{len(keys) - 1}")
        return tuple(str(names[k] if k in names else names[str(k)]) for k in keys)
    if isinstance(data.get("nc"), int) and data["nc"] > 0:
        return tuple(str(i) for i in range(data["nc"]))
    raise InputError(f"{yaml_path}: expected 'names' (list or mapping) or 'nc'")


def _load_yaml(path: Path) -> dict:
    from tiledet.yamlio import read_yaml_file

    data = read_yaml_file(path, "data.yaml")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with 'path', 'train', 'val' and 'names'")
    return data


def _dataset_root(value: object, yaml_path: Path) -> Path:
    """The dataset root of a ``data.yaml``: its ``path`` (relative to the yaml's folder), falling back
    to the yaml's folder when that does not exist (e.g. Ultralytics' ``path: ../datasets/coco8``)."""
    folder = Path(os.path.abspath(yaml_path.parent))
    if not value:
        return folder
    root = Path(str(value))
    root = Path(os.path.abspath(root if root.is_absolute() else folder / root))
    return root if root.is_dir() else folder


def declared_images_root(path: Path) -> Path | None:
    """The folder a YOLO source's image names are relative to, when the source says so.

    Args:
        path: a ``data.yaml`` or a folder holding one; anything else returns None.

    Returns:
        The dataset root (``path`` of the yaml, see :func:`_dataset_root`), or None.
    """
    path = Path(path)
    if path.is_dir() and (path / "data.yaml").is_file():
        path = path / "data.yaml"
    if not (path.is_file() and path.suffix.lower() in {".yaml", ".yml"}):
        return None
    return _dataset_root(_load_yaml(path).get("path"), path)


def read_data_yaml(path: Path, options: ReadOptions) -> RawLabels:
    """Read the splits of an Ultralytics ``data.yaml``.

    Image names are relative to its dataset root (``path``), or to ``options.images_dir`` when given
    (so that :func:`~tiledet.labels.load.resolve` finds them there); images outside that folder are
    named by their absolute path. Each image's split is recorded in ``image_splits`` (the first split
    that lists it).
    """
    data = _load_yaml(path)
    root = _dataset_root(data.get("path"), path)
    base = Path(os.path.abspath(options.images_dir)) if options.images_dir else root
    splits = [options.split] if options.split else [s for s in ("train", "val", "test") if data.get(s)]
    if options.split and not data.get(options.split):
        raise InputError(f"{path}: split {options.split!r} is not listed")
    if not splits:
        raise InputError(f"{path}: lists no split ('train', 'val' or 'test')")
    names = _yaml_names(data, path)
    builder = RawLabelsBuilder(location_unit="line", strict=options.strict)
    used: set[Path] = set()
    label_dirs: dict[Path, Path] = {}  # labels folder -> its images folder
    for split in splits:
        entries = data[split] if isinstance(data[split], list) else [data[split]]
        for entry in entries:
            label_dirs.update(_label_dir(str(entry), root))
            for image_path in _split_images(str(entry), root, path, split):
                name = _relative_name(image_path, base)
                used.add(label_path_for(image_path))
                if name not in builder.images:
                    _add_image(builder, name, image_path, label_path_for(image_path))
                    builder.image_splits[name] = split
    for labels, images in label_dirs.items():
        for label in sorted(p for p in labels.rglob("*.txt") if p not in used and p.name != "classes.txt"):
            image = (images / label.relative_to(labels)).with_suffix("")  # its suffix is not known
            _drop_orphan(builder, label, _relative_name(image, base))
    return builder.build(class_names=names)


def _label_dir(entry: str, root: Path) -> dict[Path, Path]:
    """``{labels folder: images folder}`` of a split entry that is an image folder with a separate
    ``labels`` folder (Ultralytics' ``/images/`` -> ``/labels/``); empty otherwise."""
    target = Path(os.path.abspath(Path(entry) if Path(entry).is_absolute() else root / entry))
    if not target.is_dir():
        return {}
    labels = label_path_for(target / "x.jpg").parent
    return {labels: target} if labels != target and labels.is_dir() else {}


def _drop_orphan(builder: RawLabelsBuilder, label: Path, name: str) -> None:
    """Account for a label file without an image (``name``: the image's name, no suffix): its boxes,
    or the file itself when it has none, are dropped as ``missing_image``."""
    _, _, line_nos, bad = parse_label_lines(read_text_file(label))
    src = builder.add_source(str(label))
    for line_no, reason in bad:
        builder.drop(src, line_no, reason, image=name)
    problem = ("missing_image", f"{label}: no image for this label file")
    _drop_image(builder, name, label, src, line_nos, problem)


def read_label_folder(folder: Path, options: ReadOptions) -> RawLabels:
    """Read a folder of label ``.txt`` files whose images are in ``options.images_dir`` (same stems).

    Images without a label file are declared without boxes; label files without an image have their
    boxes dropped as ``missing_image``. Image names are relative to ``options.images_dir``.
    """
    images_dir = options.images_dir
    if images_dir is None or not Path(images_dir).is_dir():
        raise InputError(f"{folder}: reading YOLO label files needs the image folder (got {images_dir})")
    images_dir = Path(images_dir)
    labels = sorted(folder.rglob("*.txt")) if folder.is_dir() else [folder]
    names = _classes_txt(folder / "classes.txt") if folder.is_dir() else None
    labels = [p for p in labels if p != folder / "classes.txt"]
    by_stem: dict[str, Path] = {}
    for p in _images_in(images_dir):
        by_stem.setdefault(p.relative_to(images_dir).with_suffix("").as_posix(), p)
    builder = RawLabelsBuilder(location_unit="line", strict=options.strict)
    seen: set[str] = set()
    base = folder if folder.is_dir() else folder.parent
    for label in labels:
        stem = label.relative_to(base).with_suffix("").as_posix()
        image = by_stem.get(stem)
        if image is None:
            image = images_dir / f"{stem}.jpg"  # reported as missing
        name = image.relative_to(images_dir).as_posix()
        seen.add(stem)
        _add_image(builder, name, image, label)
    if folder.is_dir():
        for stem, image in by_stem.items():
            if stem not in seen:
                _add_image(builder, image.relative_to(images_dir).as_posix(), image, None)
    return builder.build(class_names=names)


def _classes_txt(path: Path) -> tuple[str, ...] | None:
    """Class names from a ``classes.txt`` (one per line, as written by labelImg/Label Studio), if any."""
    if not path.is_file():
        return None
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read class names ({e})") from e
    return names or None


def read(path: Path, options: ReadOptions) -> RawLabels:
    """Read YOLO labels from a ``data.yaml``, a folder of label files or one label file.

    Args:
        path: an Ultralytics ``data.yaml``; or a folder (or single file) of label ``.txt`` files
            with ``options.images_dir`` holding the images; or a folder containing ``data.yaml``.
        options: ``split`` selects one split of a ``data.yaml``; ``strict`` raises on the first
            malformed line; ``images_dir`` is the image folder for label folders.

    Returns:
        Boxes in absolute pixels with class keys = YOLO class indices and every image's size declared.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() in {".yaml", ".yml"}:
        return read_data_yaml(path, options)
    if path.is_dir() and options.images_dir is None and (path / "data.yaml").is_file():
        return read_data_yaml(path / "data.yaml", options)
    if not path.exists():
        raise InputError(f"{path}: YOLO label source not found")
    return read_label_folder(path, options)

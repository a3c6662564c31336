"""Write a plain (untiled) YOLO or COCO dataset, link or copy its images, and remove stale files.

Layout under ``OUT``: ``images/{split}/<file_name>`` (symlinks with absolute targets, or copies),
``labels/{split}/<file_name stem>.txt`` (YOLO) or ``annotations/{split}.json`` (COCO).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from tiledet.errors import InputError
from tiledet.ioutil import atomic_path
from tiledet.labels import ImageLabels, LabeledDataset

#: Folders under OUT that hold the dataset of one run; files in them that the run did not write are removed.
MANAGED_DIRS = ("images", "labels", "annotations")
#: Single files under OUT that only some kinds of output have.
MANAGED_FILES = ("data.yaml", "chips.yaml", "chips.csv")


def place_image(source: Path, dest: Path, copy: bool) -> None:
    """Put ``source`` at ``dest``: a symlink with an absolute target, or (``copy``) a copy.

    Both are atomic (temporary name beside ``dest``, then rename) and skipped when ``dest`` already
    is that link, or a copy with the same size and modification time.
    """
    target = os.path.abspath(source)
    if copy:
        if dest.is_file() and not dest.is_symlink():
            src_stat, dst_stat = os.stat(target), os.stat(dest)
            if (src_stat.st_size, src_stat.st_mtime_ns) == (dst_stat.st_size, dst_stat.st_mtime_ns):
                return
        with atomic_path(dest) as tmp:
            shutil.copy2(target, tmp)
        return
    if dest.is_symlink() and os.readlink(dest) == target:
        return
    with atomic_path(dest) as tmp:
        tmp.unlink()
        os.symlink(target, tmp)


def output_relpath(file_name: str) -> str:
    """Where an image goes inside ``images/{split}/``: its sub-folders without ``images``/``labels`` ones.

    Ultralytics finds a label by replacing the last ``/images/`` of the image path with ``/labels/``;
    a source name such as ``images/val/a.jpg`` (a YOLO dataset as input) kept verbatim would put
    the image under ``images/train/images/val/`` where that rule finds no label. So those path
    segments are dropped: ``images/val/a.jpg`` -> ``val/a.jpg``.
    """
    parts = [p for p in PurePosixPath(file_name).parts if p not in ("images", "labels")]
    return PurePosixPath(*parts).as_posix() if parts else file_name


def label_relpath(file_name: str) -> str:
    """Label file of an image, relative to ``labels/{split}``: same sub-folders, ``.txt`` suffix."""
    return PurePosixPath(output_relpath(file_name)).with_suffix(".txt").as_posix()


def check_unique_outputs(
    splits: Mapping[str, Sequence[ImageLabels]], output_key: Callable[[str], str], what: str
) -> None:
    """Two images of one split must not write the same output (e.g. ``a.tif`` and ``a.png``).

    Args:
        splits: split name -> its images.
        output_key: image ``file_name`` -> the name of what it writes (label file, tile or chip stem).
        what: words for the message, e.g. ``"label files"``.

    Raises:
        InputError: naming both images, the split and the clashing output.
    """
    for split, images in splits.items():
        seen: dict[str, str] = {}
        for image in images:
            key = output_key(image.file_name)
            if key in seen:
                raise InputError(
                    f"images {seen[key]!r} and {image.file_name!r} of split {split!r} would write the same "
                    f"{what} ({key!r}); rename one of them"
                )
            seen[key] = image.file_name


def write_plain_dataset(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    out: Path,
    class_names: Sequence[str],
    to: str,
    copy: bool = False,
    progress: Callable[[int], None] | None = None,
) -> set[Path]:
    """Write every split as a YOLO (``to="yolo"``) or COCO (``to="coco"``) dataset.

    Args:
        splits: split name -> its images (with boxes in absolute ``xyxy`` pixels of the image).
        images_dir: folder the ``file_name`` of every image is relative to.
        out: output folder.
        class_names: class names, index = class id.
        to: ``"yolo"`` or ``"coco"``.
        copy: copy images instead of linking them.
        progress: called with 1 after each image.

    Returns:
        The paths of every file written (or kept because it was already up to date).
    """
    from tiledet.formats.coco import write_coco_json
    from tiledet.formats.yolo import write_label_file

    if to == "yolo":
        check_unique_outputs(splits, label_relpath, "label file")
    written: set[Path] = set()
    for split, images in splits.items():
        for image in images:
            dest = out / "images" / split / output_relpath(image.file_name)
            place_image(images_dir / image.file_name, dest, copy)
            written.add(dest)
            if to == "yolo":
                label = out / "labels" / split / label_relpath(image.file_name)
                write_label_file(label, image.boxes, image.size_wh)
                written.add(label)
            if progress is not None:
                progress(1)
        if to == "coco":
            path = out / "annotations" / f"{split}.json"
            info = {"description": f"tiledet convert: {split} split", "images_dir": f"images/{split}"}
            renamed = tuple(ImageLabels(output_relpath(im.file_name), im.size_wh, im.boxes) for im in images)
            write_coco_json(path, LabeledDataset(tuple(class_names), renamed), info=info)
            written.add(path)
    return written


def remove_stale(out: Path, keep: Iterable[Path], dirs: Sequence[str] = MANAGED_DIRS) -> int:
    """Delete files under ``out/<dir>`` for each of ``dirs`` that are not in ``keep``; prune empty folders.

    Symlinks are removed as links (their targets are never touched).

    Returns:
        The number of files removed.
    """
    keep_set = {os.path.abspath(p) for p in keep}
    removed = 0
    for name in dirs:
        root = out / name
        if root.is_symlink() or root.is_file():
            root.unlink()
            removed += 1
            continue
        if not root.is_dir():
            continue
        for folder, subdirs, files in os.walk(root, topdown=False):
            for file in files + [d for d in subdirs if os.path.islink(os.path.join(folder, d))]:
                path = os.path.abspath(os.path.join(folder, file))
                if path not in keep_set:
                    os.unlink(path)
                    removed += 1
            if not os.listdir(folder):
                os.rmdir(folder)
    return removed


def clear_outputs(out: Path, keep_files: Iterable[str] = ()) -> None:
    """Remove every output of a previous run from ``out`` (before a tiled or chips run writes anew).

    Deletes ``out/images``, ``out/labels``, ``out/annotations``, the managed top-level files not in
    ``keep_files``, and ``out/train``, ``out/val`` only when ``out/chips.yaml`` shows they hold chips.
    """
    if (out / "chips.yaml").is_file():
        remove_stale(out, (), ("train", "val"))
    remove_stale(out, (), MANAGED_DIRS)
    remove_top_level(out, keep_files)


def remove_top_level(out: Path, keep_files: Iterable[str]) -> None:
    """Delete the managed top-level files of ``out`` (``data.yaml``, ``chips.*``) not in ``keep_files``."""
    keep = set(keep_files)
    for name in MANAGED_FILES:
        if name not in keep:
            (out / name).unlink(missing_ok=True)

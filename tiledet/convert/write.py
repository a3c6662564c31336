"""Write a plain (untiled) YOLO or COCO dataset, link or copy its images; safe output paths.

Layout under ``OUT``: ``images/{split}/<file_name>`` (symlinks with absolute targets, or copies),
``labels/{split}/<file_name stem>.txt`` (YOLO) or ``annotations/{split}.json`` (COCO).

Every file goes through a :class:`tiledet.outdir.OutputDir` (checked relative name, inside ``OUT``,
never over a file tiledet did not write, recorded in the manifest). Worker processes, which cannot
share the ``OutputDir``, use :class:`WorkerOutput` and the parent records what they wrote.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from tiledet.errors import ConfigError, InputError
from tiledet.formats.coco import write_coco_json
from tiledet.formats.yolo import write_label_file
from tiledet.ioutil import atomic_path
from tiledet.label_records import ImageLabels, LabeledDataset
from tiledet.outdir import MANIFEST, MAX_NAME_BYTES, OutputDir, UnsafePathError, safe_relpath
from tiledet.progress import Progress, as_progress

T = TypeVar("T")


@contextlib.contextmanager
def output_dir(out: Path | OutputDir) -> Iterator[OutputDir]:
    """``out`` itself when it is an open :class:`OutputDir`; else one opened on the folder ``out``.

    A plain folder (library use) is opened with ``force=True``: writing into a non-empty folder is
    allowed, but files tiledet did not write are still never overwritten.
    """
    if isinstance(out, OutputDir):
        yield out
        return
    with OutputDir(Path(out), command="convert", force=True) as od:
        yield od


@dataclass(frozen=True)
class WorkerOutput:
    """What a worker process needs to write safely into an :class:`OutputDir`'s folder.

    Attributes:
        root: the output folder.
        real_root: its real path (symlinks resolved).
        protected: relative names of existing files tiledet did not write (never overwritten).
    """

    root: Path
    real_root: Path
    protected: frozenset[str]

    @staticmethod
    def of(od: OutputDir, under: Iterable[str]) -> WorkerOutput:
        """For ``od``, protecting the files under the sub-folders ``under`` that tiledet did not write."""
        return WorkerOutput(od.root, Path(os.path.realpath(od.root)), od.watch(under))

    def path(self, rel: str) -> Path:
        """Checked absolute path of ``rel`` (parents created); same rules as ``OutputDir.check``.

        Raises:
            UnsafePathError: an unsafe name, or one that resolves outside the folder.
            ConfigError: the path holds a file tiledet did not write.
        """
        key = safe_relpath(rel)
        path = self.root / key
        if str(key) in self.protected:
            raise ConfigError(f"{path} exists and was not written by tiledet; refusing to overwrite it")
        path.parent.mkdir(parents=True, exist_ok=True)
        real_parent = Path(os.path.realpath(path.parent))
        if real_parent != self.real_root and self.real_root not in real_parent.parents:
            raise UnsafePathError(f"{rel}: resolves outside the output folder {self.root}")
        return path


def unowned_files(od: OutputDir, under: Iterable[str]) -> set[str]:
    """Relative names of files and links under ``od.root/<u>`` (``u`` in ``under``) not written by us."""
    return od.unowned(under)


def record_new_files(od: OutputDir, under: Iterable[str], protected: frozenset[str]) -> None:
    """After an interrupted worker phase: record every file under ``under`` not in ``protected``.

    Workers may have written files the parent never heard of; recording them (the manifest is then
    marked incomplete) lets the next run remove them.
    """
    new = unowned_files(od, under) - protected
    od.record(rel for rel in new if PurePosixPath(rel).name != MANIFEST)


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
            long = [p for p in PurePosixPath(key).parts if len(p.encode("utf-8")) > MAX_NAME_BYTES]
            if long:
                raise InputError(
                    f"image {image.file_name[:60]!r}... would write {what} named {long[0][:60]!r}..., longer "
                    f"than the {MAX_NAME_BYTES} bytes file systems allow; shorten the image name"
                )


def write_plain_dataset(
    splits: Mapping[str, Sequence[ImageLabels]],
    images_dir: Path,
    out: Path | OutputDir,
    class_names: Sequence[str],
    to: str,
    copy: bool = False,
    progress: Progress | None = None,
) -> set[Path]:
    """Write every split as a YOLO (``to="yolo"``) or COCO (``to="coco"``) dataset.

    Args:
        splits: split name -> its images (with boxes in absolute ``xyxy`` pixels of the image).
        images_dir: folder the ``file_name`` of every image is relative to.
        out: output folder, or an open :class:`OutputDir` (see :func:`output_dir`).
        class_names: class names, index = class id.
        to: ``"yolo"`` or ``"coco"``.
        copy: copy images instead of linking them.
        progress: advanced by 1 after each image (the caller starts the phase).

    Returns:
        The paths of every file written (or kept because it was already up to date).
    """

    check_unique_outputs(splits, output_relpath, "image")
    if to == "yolo":
        check_unique_outputs(splits, label_relpath, "label file")
    written: set[Path] = set()
    progress = as_progress(progress)
    with output_dir(out) as od:
        for split, images in splits.items():
            for image in images:
                dest = od.path(f"images/{split}/{output_relpath(image.file_name)}")
                place_image(images_dir / image.file_name, dest, copy)
                written.add(dest)
                if to == "yolo":
                    label = od.path(f"labels/{split}/{label_relpath(image.file_name)}")
                    write_label_file(label, image.boxes, image.size_wh)
                    written.add(label)
                progress.advance(1)
            if to == "coco":
                path = od.path(f"annotations/{split}.json")
                info = {"description": f"tiledet convert: {split} split", "images_dir": f"images/{split}"}
                renamed = tuple(
                    ImageLabels(output_relpath(im.file_name), im.size_wh, im.boxes) for im in images
                )
                write_coco_json(path, LabeledDataset(tuple(class_names), renamed), info=info)
                written.add(path)
    return written


def record_results(
    od: OutputDir,
    target: WorkerOutput,
    under: Sequence[str],
    results: Iterable[T],
    names_of: Callable[[T], Iterable[str]],
) -> Iterator[T]:
    """Pass worker ``results`` through, recording the files each one wrote (``names_of(result)``).

    If the loop ends with an exception (including Ctrl-C), every new file under ``under`` is recorded
    (see :func:`record_new_files`) before it propagates, so the next run can remove them.
    """
    try:
        for result in results:
            od.record(names_of(result))
            yield result
    except BaseException:
        close = getattr(results, "close", None)
        if callable(close):
            close()  # stop the worker pool first, so that nothing is written after the scan
        record_new_files(od, under, target.protected)
        raise

"""Output folders tiledet owns: a manifest of the files it wrote, and nothing else is ever touched.

Every command that writes a folder (``convert``, ``synth``, ``eval``, classifier runs, detections, the
demo) goes through :class:`OutputDir`; a command that writes one file (a detections JSON) goes through
:func:`prepare_output_file` and :func:`record_output_file`. The rules:

- **Ownership that cannot be borrowed.** A folder holds ``.tiledet-manifest.json`` listing the files
  tiledet wrote there with their fingerprints, signed with this user's key and bound to the folder's
  real path (:mod:`tiledet.ownership`). Clean-up removes only files of a manifest that verifies and
  whose fingerprint still matches; anything else is the user's and is never removed or overwritten.
  A manifest that does not verify (planted, edited, copied, from an older tiledet) makes the folder
  untouchable. A non-empty folder without a manifest is refused unless ``force`` (which still
  deletes and overwrites nothing tiledet did not write).
- **One command, one kind of folder.** The manifest names the command that wrote it; another command
  refuses the folder (``synth`` never cleans a ``classify train`` run), ``force`` or not. A single
  output file is recorded in its own sidecar, so it never makes its folder tiledet's.
- **One run at a time.** A run holds an exclusive lock on ``.tiledet.lock`` in its folder; a second
  concurrent run is refused.
- **Sources are read-only.** An output equal to, inside, or containing any input (real paths,
  symlinks followed) is refused before anything is written.
- **Containment.** Every path is built from a checked relative name (no absolute paths, no ``..``,
  no NUL, no over-long components) and must resolve inside the folder.
- **Honest state.** The manifest is rewritten when the block ends; if it ends with an exception
  (including Ctrl-C) it is marked ``"complete": false`` and still lists every file written, so the
  next run can clean them up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType

from tiledet.errors import ConfigError
from tiledet.ioutil import atomic_write_bytes, atomic_write_json
from tiledet.ownership import (
    INTERNAL,
    MANIFEST,
    Fingerprint,
    Ownership,
    RunLock,
    fingerprint,
    read_ownership,
    sidecar_ownership,
    sidecar_path,
    sidecar_record,
    write_manifest,
    write_sidecar,
)
from tiledet.paths import (
    MAX_NAME_BYTES,
    UnsafePathError,
    check_not_source,
    is_within,
    real_path,
    safe_relpath,
)

__all__ = ["MANIFEST", "MAX_NAME_BYTES", "OutputDir", "UnsafePathError", "check_not_source",
           "prepare_output_file", "record_output_file", "safe_relpath"]

class OutputDir:
    """A folder tiledet writes into, with ownership tracking (see the module docstring).

    Use as a context manager::

        with OutputDir(run_dir, command="classify train", sources=[data_root]) as od:
            od.write_json("metrics.json", metrics)
            torch.save(state, od.path("best.pt"))

    Args:
        root: the output folder (created when missing).
        command: the command that owns folders of this kind (e.g. ``"convert"``); recorded in the
            manifest, and a folder another command wrote is refused.
        force: write into a non-empty folder that has no manifest (still never touching files
            tiledet did not write).
        sources: input files/folders the output must not overlap.
        what: how messages name the folder (e.g. ``"--out"``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        command: str,
        force: bool = False,
        sources: Sequence[str | os.PathLike[str] | None] = (),
        what: str = "--out",
    ) -> None:
        self.root = Path(root)
        self.command = command
        self.force = force
        self.sources = tuple(sources)
        self.what = what
        self.previous: dict[str, Fingerprint] = {}
        self.previous_complete = True
        self.written: set[str] = set()
        self._open = False
        self._lock = RunLock(self.root, what)
        self._watched: list[tuple[tuple[str, ...], frozenset[str]]] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def check_target(self) -> None:
        """The checks of :meth:`open` (folder, sources, ownership, lock), writing nothing.

        Call it before long work (e.g. reading labels) to fail early; :meth:`open` runs it again.
        """
        self._check_place()
        if self.root.is_dir():
            self._lock.check_free()
            self._judge(read_ownership(self.root, files=False))

    def _check_place(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.what} {self.root} exists and is not a folder")
        check_not_source(self.root, self.sources, self.what)

    def _judge(self, own: Ownership) -> None:
        """Refuse a folder this command may not write into (see the module docstring)."""
        if own.present and not own.trusted:
            raise ConfigError(
                f"{self.what} {self.root} holds a tiledet manifest that proves nothing ({own.reason}); "
                "tiledet will not touch this folder: choose another folder"
            )
        if own.trusted and own.command != self.command:
            raise ConfigError(
                f"{self.what} {self.root} was written by `tiledet {own.command}`; `tiledet "
                f"{self.command}` does not write into another command's folder: choose another folder"
            )
        if own.present or self.force:
            return
        entries = sorted(p.name for p in self.root.iterdir() if p.name not in INTERNAL)
        if entries:
            raise ConfigError(
                f"{self.what} {self.root} is not empty and was not written by tiledet "
                f"(it holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, e.g. "
                f"{entries[0]!r}); choose an empty folder, or pass --force to write into it "
                "without touching its files"
            )

    def open(self) -> OutputDir:
        """Run the checks, create the folder, take its lock and read the previous manifest."""
        self.check_target()  # judges the folder before anything is written into it
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"{self.what} {self.root}: cannot create folder ({e.strerror})") from e
        self._lock.acquire()
        try:
            own = read_ownership(self.root)  # again, under the lock
            self._judge(own)
            self.previous, self.previous_complete = dict(own.files), own.complete
            self._real_root = real_path(self.root)
            # Mark the folder ours (and this run incomplete) before the first file is written.
            write_manifest(self.root, self.command, self.previous, complete=False)
        except BaseException:
            self._lock.release()
            raise
        self._open = True
        return self

    def __enter__(self) -> OutputDir:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(complete=exc_type is None)

    def close(self, complete: bool = True) -> None:
        """Write the manifest (this run's files plus earlier files of ours unchanged) and unlock."""
        if not self._open:
            return
        try:
            if not complete:  # other processes may have written files this process never heard of
                for under, protected in self._watched:
                    self.record(self.unowned(under) - protected)
            files = {k: fp for k, fp in self.previous.items() if fingerprint(self.root / k) == fp}
            for key in self.written:
                now = fingerprint(self.root / key)
                if now is not None:
                    files[key] = now
            write_manifest(self.root, self.command, files, complete=complete)
        finally:
            self._open = False
            self._lock.release()

    # -- paths ---------------------------------------------------------------------------------
    def owns(self, rel: str | os.PathLike[str]) -> bool:
        """True when tiledet wrote ``rel`` (in the previous manifest, unchanged, or in this run)."""
        key = str(safe_relpath(rel))
        return key in self.previous or key in self.written

    def check(self, rel: str | os.PathLike[str]) -> Path:
        """The absolute path of ``rel`` inside the folder, after every safety check; records nothing.

        Raises:
            UnsafePathError: an unsafe or reserved name, or one that resolves outside the folder (a
                symlinked sub-folder pointing elsewhere).
            ConfigError: the path holds a file tiledet did not write.
        """
        if not self._open:
            raise RuntimeError("OutputDir used outside its `with` block")
        key = safe_relpath(rel)
        if str(key) in INTERNAL:
            raise UnsafePathError(f"{rel}: name reserved for tiledet's own records")
        path = self.root / key
        parent_real = real_path(path.parent)
        if not is_within(parent_real, self._real_root):
            raise UnsafePathError(f"{rel}: resolves outside {self.what} {self.root}")
        if os.path.lexists(path) and str(key) not in self.previous and str(key) not in self.written:
            raise ConfigError(
                f"{path} exists and was not written by tiledet; refusing to overwrite it "
                "(move it away or choose another output folder)"
            )
        if path.is_dir() and not path.is_symlink():
            raise ConfigError(f"{path} is a folder where tiledet would write a file")
        return path

    def path(self, rel: str | os.PathLike[str]) -> Path:
        """Checked absolute path for ``rel`` (parents created), recorded as written by this run."""
        path = self.check(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.written.add(str(safe_relpath(rel)))
        return path

    def record(self, rels: Iterable[str | os.PathLike[str]]) -> None:
        """Record files written by other processes (e.g. workers) under their relative names."""
        for rel in rels:
            key = str(safe_relpath(rel))
            if key not in INTERNAL:
                self.written.add(key)

    def unowned(self, under: Iterable[str]) -> set[str]:
        """Relative names of files and links under ``root/<u>`` (``u`` in ``under``) tiledet did not write."""
        found: set[str] = set()
        for name in under:
            top = self.root / name
            if not top.is_dir() or top.is_symlink():
                if os.path.lexists(top) and not self.owns(name):
                    found.add(name)
                continue
            for folder, dirs, files in os.walk(top):
                for entry in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                    rel = Path(folder, entry).relative_to(self.root).as_posix()
                    if not self.owns(rel):
                        found.add(rel)
        return found

    def watch(self, under: Iterable[str]) -> frozenset[str]:
        """Let other processes (workers) write under the sub-folders ``under``.

        Returns the files already there that tiledet did not write (never to be overwritten). If the
        run then ends incomplete (an exception anywhere, Ctrl-C, SIGTERM), every other new file under
        ``under`` is recorded as this run's when the manifest is written, so the next run can remove it.
        """
        names = tuple(under)
        protected = frozenset(self.unowned(names))
        self._watched.append((names, protected))
        return protected

    def write_bytes(self, rel: str | os.PathLike[str], data: bytes) -> Path:
        """Write ``data`` atomically at ``rel``; returns the path."""
        path = self.path(rel)
        atomic_write_bytes(path, data)
        return path

    def write_text(self, rel: str | os.PathLike[str], text: str) -> Path:
        """Write UTF-8 ``text`` atomically at ``rel``; returns the path."""
        return self.write_bytes(rel, text.encode("utf-8"))

    def write_json(self, rel: str | os.PathLike[str], obj: object, indent: int | None = 2) -> Path:
        """Write ``obj`` as JSON atomically at ``rel``; returns the path."""
        path = self.path(rel)
        atomic_write_json(path, obj, indent=indent)
        return path

    def remove(self, rel: str | os.PathLike[str]) -> bool:
        """Remove ``rel`` when tiledet wrote it (links as links); returns whether it was removed.

        A file of the previous manifest is removed only while its fingerprint still matches.
        """
        key = str(safe_relpath(rel))
        if key not in self.previous and key not in self.written:
            return False
        path = self.root / key
        if not is_within(real_path(path.parent), self._real_root):
            return False
        if key in self.previous and key not in self.written and fingerprint(path) != self.previous[key]:
            self.previous.pop(key)  # changed under us: the user's now
            return False
        removed = os.path.lexists(path)
        if removed:
            os.unlink(path)
        self.written.discard(key)
        self.previous.pop(key, None)
        self._prune_empty_dirs(path.parent)
        return removed

    def remove_stale(self, under: Iterable[str] | None = None) -> int:
        """Delete files of the previous manifest that this run did not write.

        Args:
            under: only files whose first path component is one of these (None: all).

        Returns:
            The number of files removed.
        """
        prefixes = None if under is None else set(under)
        stale = sorted(set(self.previous) - self.written)
        count = 0
        for key in stale:
            if prefixes is not None and PurePosixPath(key).parts[0] not in prefixes:
                continue
            count += int(self.remove(key))
        return count

    def _prune_empty_dirs(self, folder: Path) -> None:
        """Remove ``folder`` and its parents while empty, stopping at the output root."""
        while folder != self.root and is_within(real_path(folder), self._real_root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent


def prepare_output_file(
    path: str | os.PathLike[str],
    *,
    command: str,
    sources: Sequence[str | os.PathLike[str] | None] = (),
    what: str = "--out",
) -> Path:
    """Check a single output file before writing it (e.g. a detections JSON).

    Refuses a path inside (or equal to) an input, and an existing file that this command did not
    write (no sidecar record that verifies, or one that another command wrote): tiledet never
    overwrites a file it did not write. Creates the parent folder. Write the file atomically, then
    call :func:`record_output_file`.

    Raises:
        ConfigError: naming the file and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a file name such as {path / 'detections.json'}")
    check_not_source(path, sources, what)
    if path.name in INTERNAL or path.name.endswith(".tiledet.json"):
        raise ConfigError(f"{what} {path}: name reserved for tiledet's own records")
    if os.path.lexists(path):
        owned, by, reason = sidecar_ownership(path)
        if not owned:
            raise ConfigError(
                f"{what} {path} exists and was not written by tiledet ({reason}); refusing to overwrite "
                "it (move it away or choose another file name)"
            )
        if by != command:
            raise ConfigError(
                f"{what} {path} was written by `tiledet {by}`; `tiledet {command}` does not replace "
                "another command's output: choose another file name"
            )
    elif os.path.lexists(sidecar_path(path)):
        record, reason = sidecar_record(path)
        if record is None:
            raise ConfigError(
                f"{what} {path}: {sidecar_path(path).name} beside it is not a record tiledet can "
                f"verify ({reason}); refusing to replace it (choose another file name)"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot create folder {path.parent} ({e.strerror})") from e
    return path


def record_output_file(path: str | os.PathLike[str], *, command: str) -> None:
    """Record a file tiledet just wrote in its sidecar (see :func:`prepare_output_file`)."""
    write_sidecar(path, command)

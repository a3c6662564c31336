"""Proof that tiledet wrote a file: signed manifests with file fingerprints, sidecars, and run locks.

A folder that a tiledet command writes holds ``.tiledet-manifest.json``; a single output file (a
detections JSON) gets a sidecar ``.<name>.tiledet.json`` beside it instead, so writing one file never
makes its folder tiledet's. Either record says which command wrote it, the real path it was written
for, and each file's fingerprint ``[size, mtime_ns, inode]`` (``lstat``: a link is fingerprinted as a
link). A record proves ownership only when

- its HMAC-SHA256 signature verifies under this user's key (``manifest.key`` in ``$TILEDET_STATE_DIR``,
  else ``$XDG_STATE_HOME/tiledet``, else ``~/.local/state/tiledet``; created ``0600`` on first use),
  so a planted or hand-edited manifest proves nothing;
- it was written for this very folder (a copied or moved folder is not trusted);
- and, file by file, the fingerprint still matches: a file the user replaced or edited since is the
  user's again.

A run holds an exclusive ``flock`` on ``.tiledet.lock`` in its folder, so a second concurrent run is
refused instead of interleaving.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tiledet.errors import ConfigError
from tiledet.ioutil import atomic_write_json

#: Name of the manifest file in every folder tiledet writes.
MANIFEST = ".tiledet-manifest.json"
#: Name of the lock file a run holds in its folder.
LOCK = ".tiledet.lock"
#: Manifest format version (1: names only, trusted blindly; no longer accepted as proof).
VERSION = 2
#: Entries tiledet keeps for itself in an output folder (never a user's file, never listed).
INTERNAL = frozenset({MANIFEST, LOCK})

Fingerprint = tuple[int, int, int]


def fingerprint(path: str | os.PathLike[str]) -> Fingerprint | None:
    """``(size, mtime_ns, inode)`` of ``path`` without following a symlink; None when missing."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (int(st.st_size), int(st.st_mtime_ns), int(st.st_ino))


def state_dir() -> Path:
    """Folder of this user's tiledet key (see the module docstring)."""
    if os.environ.get("TILEDET_STATE_DIR"):
        return Path(os.environ["TILEDET_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "tiledet"


def _key() -> bytes:
    """This user's secret signing key, created on first use (32 random bytes, mode 0600).

    Read once per process and key file (the state folder comes from the environment).
    """
    return _key_at(state_dir() / "manifest.key")


@functools.cache
def _key_at(path: Path) -> bytes:
    """The key stored at ``path``; made when missing, published whole (a link), so a process racing
    to make it too reads either none or a complete key."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable tiledet key ({e}); remove it to make a new one") from e
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".manifest.key.", dir=path.parent)  # mode 0600
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return bytes.fromhex(path.read_text(encoding="ascii").strip())  # another process was first
        finally:
            os.unlink(tmp)
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{path}: cannot create tiledet's signing key ({e}); set TILEDET_STATE_DIR to a writable "
            "folder"
        ) from e
    return bytes.fromhex(key)


def _signature(payload: Mapping[str, object]) -> str:
    body = json.dumps({k: v for k, v in payload.items() if k != "signature"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hmac.new(_key(), body.encode("ascii"), hashlib.sha256).hexdigest()


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _file_key(path: Path) -> str:
    """A single file's identity: the real path of its folder, and its own name (a link stays a link)."""
    return os.path.join(_real(path.parent), path.name)


@dataclass
class Ownership:
    """What a manifest (or sidecar) proves.

    Attributes:
        present: a manifest file exists.
        trusted: it verifies (signature, real path) and ``files`` can be believed.
        reason: why it is not trusted (empty when it is or when none exists).
        command: the command that wrote it (empty when untrusted).
        complete: that run completed.
        files: relative name -> fingerprint, only for files whose fingerprint still matches.
    """

    present: bool = False
    trusted: bool = False
    reason: str = ""
    command: str = ""
    complete: bool = True
    files: dict[str, Fingerprint] = field(default_factory=dict)


def _load_record(path: Path, kind: str) -> tuple[dict | None, str]:
    """A record's JSON and, when it proves nothing, why."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, f"unreadable ({e})"
    if not isinstance(data, dict) or data.get("tool") != "tiledet":
        return None, f"not a tiledet {kind}"
    if data.get("version") != VERSION:
        return None, "written by an older tiledet that recorded no fingerprints"
    if not isinstance(data.get("signature"), str) or not hmac.compare_digest(
        data["signature"], _signature(data)
    ):
        return None, "its signature does not verify (not written by tiledet as this user, or edited)"
    return data, ""


def read_ownership(folder: str | os.PathLike[str], files: bool = True) -> Ownership:
    """Read and verify the manifest of ``folder`` (see the module docstring).

    Args:
        folder: the output folder.
        files: also check every listed file's fingerprint (one ``lstat`` each); without it
            ``Ownership.files`` is empty (enough to judge whether the folder may be written).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return Ownership()
    if path.is_symlink() or not path.is_file():
        return Ownership(present=True, reason="it is not a regular file")
    data, reason = _load_record(path, "manifest")
    if data is None:
        return Ownership(present=True, reason=reason)
    if data.get("root") != _real(folder):
        where = data.get("root")
        return Ownership(present=True, reason=f"it was written for {where} (a copied or moved folder)")
    owned: dict[str, Fingerprint] = {}
    for name, recorded in dict(data.get("files", {}) if files else {}).items():
        key = str(PurePosixPath(name))  # signed by us; still never followed out of the folder
        if key.startswith("/") or ".." in PurePosixPath(key).parts:
            continue
        now = fingerprint(folder / key)
        if now is not None and list(now) == list(recorded):
            owned[key] = now
    return Ownership(True, True, "", str(data.get("command", "")), bool(data.get("complete")), owned)


def write_manifest(folder: Path, command: str, files: Mapping[str, Fingerprint], complete: bool) -> None:
    """Write ``folder``'s signed manifest atomically."""
    payload = {
        "tool": "tiledet", "version": VERSION, "command": command, "root": _real(folder),
        "complete": complete, "files": {k: list(files[k]) for k in sorted(files)},
    }
    payload["signature"] = _signature(payload)
    atomic_write_json(folder / MANIFEST, payload, indent=None)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar that records a single output file: ``.<name>.tiledet.json`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tiledet.json")


def sidecar_record(path: str | os.PathLike[str]) -> tuple[dict | None, str]:
    """The verified sidecar record of a single output file, or None and why it proves nothing."""
    path = Path(path)
    side = sidecar_path(path)
    if not os.path.lexists(side):
        return None, "no tiledet record"
    if side.is_symlink() or not side.is_file():
        return None, "its record is not a regular file"
    data, reason = _load_record(side, "record")
    if data is not None and data.get("path") != _file_key(path):
        return None, f"recorded for {data.get('path')} (a copied or moved file)"
    return data, reason


def sidecar_ownership(path: str | os.PathLike[str]) -> tuple[bool, str, str]:
    """``(owned, command, reason)`` for a single output file, from its sidecar."""
    data, reason = sidecar_record(path)
    if data is None:
        return False, "", reason
    now = fingerprint(path)
    if now is None or list(now) != list(data.get("fingerprint", [])):
        return False, str(data.get("command", "")), "changed since tiledet wrote it"
    return True, str(data.get("command", "")), ""


def output_complete(path: str | os.PathLike[str]) -> bool:
    """A folder whose manifest verifies and says complete, or a file tiledet wrote and still holds.

    A file counts when its own sidecar verifies, or when the nearest manifest above it verifies,
    is complete and lists it unchanged.
    """
    path = Path(path)
    if path.is_dir():
        own = read_ownership(path)
        return own.trusted and own.complete
    if not path.is_file():
        return False
    if os.path.lexists(sidecar_path(path)):
        return sidecar_ownership(path)[0]
    for folder in path.parents:  # the nearest folder with a manifest owns the file (or nobody does)
        if os.path.lexists(folder / MANIFEST):
            own = read_ownership(folder)
            return own.trusted and own.complete and path.relative_to(folder).as_posix() in own.files
    return False


def write_sidecar(path: str | os.PathLike[str], command: str) -> None:
    """Record a single output file tiledet just wrote (its sidecar, signed)."""
    path = Path(path)
    now = fingerprint(path)
    if now is None:
        raise ConfigError(f"{path}: cannot record an output file that does not exist")
    payload = {"tool": "tiledet", "version": VERSION, "command": command, "path": _file_key(path),
               "fingerprint": list(now), "complete": True}
    payload["signature"] = _signature(payload)
    atomic_write_json(sidecar_path(path), payload, indent=1)


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``folder/.tiledet.lock`` for the length of a run."""

    def __init__(self, folder: Path, what: str = "--out") -> None:
        self.folder = Path(folder)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`ConfigError` naming the folder.

        Raises:
            ConfigError: another run holds the lock, or the lock file is not a regular file.
        """
        path = self.folder / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise ConfigError(f"{path}: cannot open tiledet's lock file ({e.strerror})") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(
                    f"{self.what} {self.folder}: another tiledet run is writing into this folder; wait "
                    "for it to finish or choose another folder"
                ) from e
            raise ConfigError(f"{path}: cannot lock ({e.strerror})") from e
        self._fd = fd

    def release(self) -> None:
        """Release the lock (the file stays: removing it would race with a waiting run)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def check_free(self) -> None:
        """Raise like :meth:`acquire` when another run holds the lock; takes nothing."""
        if (self.folder / LOCK).is_file():
            self.acquire()
            self.release()

"""The cache of exported inference models, keyed by (weights sha256, engine, imgsz, batch).

Shared by every detector that exports its network to an inference engine (ONNX Runtime, OpenVINO,
INT8 variants). An entry is a folder::

    <weights>.tiledet-engines/<sha256[:16]>/<engine>-imgsz<imgsz>-batch<batch>/
        key.json            # the whole key (full sha256, engine, imgsz, batch, extra) and the model file
        <model files>       # whatever the exporter wrote (e.g. model.onnx, model_openvino_model/)

beside the weights, or under ``$XDG_CACHE_HOME/tiledet/engines/`` (``~/.cache``) when the weights'
folder is not writable; ``TILEDET_ENGINE_CACHE`` names another root. An entry is complete when its
``key.json`` equals the key asked for and its model file exists.

:func:`export_once` runs an export at most once per key, also across processes: under an exclusive
``flock`` on ``.<entry>.lock`` it writes into a temporary folder beside the entry, then renames the
folder into place, so no process ever sees a half-written export, and a second process that waited
for the lock finds the entry complete and exports nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tiledet.errors import ConfigError, InputError
from tiledet.ioutil import _umask, atomic_write_json

#: Environment variable naming the cache root (instead of beside the weights / ``~/.cache``).
CACHE_ENV = "TILEDET_ENGINE_CACHE"
#: The key file of an entry.
KEY_FILE = "key.json"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks; remembered per path, size and mtime)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    return h.hexdigest()


@dataclass(frozen=True)
class ExportKey:
    """What an exported model depends on.

    Attributes:
        weights_sha256: hex SHA-256 of the weights file.
        engine: engine name (``onnx``, ``openvino``, ``openvino-int8``, ...).
        imgsz: side of the input the export was traced or calibrated at, px.
        batch: batch size of the export (the trace / calibration batch).
        extra: further settings recorded in ``key.json`` (strings; e.g. the INT8 calibration data's
            digest). They are part of the key but not of the folder name: an entry of the same folder
            with other ``extra`` is replaced by a new export.
    """

    weights_sha256: str
    engine: str
    imgsz: int
    batch: int
    extra: dict[str, str] = field(default_factory=dict)

    def folder_name(self) -> str:
        """The entry's folder name, e.g. ``openvino-imgsz640-batch16``."""
        return f"{self.engine}-imgsz{int(self.imgsz)}-batch{int(self.batch)}"

    def to_dict(self) -> dict:
        """JSON-ready form (as written to ``key.json``, without the model path)."""
        return asdict(self)


def cache_root(weights: Path, weights_sha256: str) -> Path:
    """Folder of the entries of one weights file (see the module docstring for where it lies)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env) / weights_sha256[:16]
    beside = weights.parent / f"{weights.name}.tiledet-engines"
    if os.access(weights.parent, os.W_OK) and (not beside.exists() or os.access(beside, os.W_OK)):
        return beside / weights_sha256[:16]
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return home / "tiledet" / "engines" / weights_sha256[:16]


def entry_dir(weights: Path, key: ExportKey) -> Path:
    """The folder of ``key``'s entry (it may not exist yet)."""
    return cache_root(weights, key.weights_sha256) / key.folder_name()


def read_key(folder: Path) -> dict | None:
    """The ``key.json`` of an entry folder, or None when absent or unreadable."""
    try:
        data = json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cached_model(folder: Path, key: ExportKey | None = None) -> Path | None:
    """The model file of a complete entry, or None.

    Args:
        folder: the entry folder.
        key: the key it must hold; None accepts any complete entry (its ``extra`` included).
    """
    recorded = read_key(folder)
    if recorded is None or not isinstance(recorded.get("model"), str):
        return None
    if key is not None and {k: v for k, v in recorded.items() if k != "model"} != key.to_dict():
        return None
    model = folder / recorded["model"]
    return model if model.exists() else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created), held for the block; blocks until free."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _make_parent(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or e
        raise ConfigError(f"cannot create the engine cache {folder} ({reason}); set {CACHE_ENV} to a "
                          "writable folder") from e


def export_once(weights: Path, key: ExportKey, model_relpath: str, export: Callable[[Path], None]) -> Path:
    """The model file of ``key``'s cache entry, exported by ``export`` when the entry is missing.

    Args:
        weights: the weights file (decides where the cache lies).
        key: the entry's key.
        model_relpath: path of the model file inside the entry, e.g. ``model.onnx``.
        export: writes the export into the folder it is given (a fresh temporary folder), so that
            ``folder / model_relpath`` exists afterwards; it runs only on a cache miss.

    Returns:
        The model file inside the complete entry.

    Raises:
        InputError: when ``export`` did not write ``model_relpath``; whatever ``export`` raises.
        ConfigError: when the cache folder cannot be created.
    """
    folder = entry_dir(weights, key)
    hit = cached_model(folder, key)
    if hit is not None:
        return hit
    _make_parent(folder.parent)
    with _locked(folder.parent / f".{folder.name}.lock"):
        hit = cached_model(folder, key)  # another process may have exported it while we waited
        if hit is not None:
            return hit
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            export(staging)
            if not (staging / model_relpath).exists():
                raise InputError(f"{weights}: the {key.engine} export wrote no {model_relpath}")
            atomic_write_json(staging / KEY_FILE, {**key.to_dict(), "model": model_relpath})
            os.chmod(staging, 0o777 & ~_umask())
            _replace_dir(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder / model_relpath


def _replace_dir(staging: Path, folder: Path) -> None:
    """Rename ``staging`` onto ``folder``; an old entry there (other key, or incomplete) goes first."""
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
        os.replace(folder, old / folder.name)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(staging, folder)

"""The one place tiledet deals with Ultralytics: imported offline, never auto-installing packages.

Also undoes, for tiledet's own image reading, Ultralytics' process-wide patch of ``PIL.Image.open``
(:func:`pil_image_open`), and keeps the CPU thread count the user asked for (:func:`cpu_threads`):
importing Ultralytics sets ``OMP_NUM_THREADS=1`` when it is unset, and its ``select_device`` sets
torch to ``cores - 1`` threads (1 on a 2-core machine) -- settings meant for its training loop,
which halve inference speed on small machines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def import_ultralytics() -> ModuleType:
    """Import and return the ``ultralytics`` package configured for offline use.

    Sets, unless the user already set them, ``YOLO_OFFLINE=1`` (no hub or asset downloads) and
    ``YOLO_AUTOINSTALL=false`` (Ultralytics must never pip-install packages at run time), and
    ``YOLO_VERBOSE=false``. Called lazily by the commands that need Ultralytics, never at import time.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    if "ultralytics" not in sys.modules:
        _USER_OMP_THREADS.setdefault("value", os.environ.get("OMP_NUM_THREADS"))
    import ultralytics

    return ultralytics


#: ``OMP_NUM_THREADS`` as it was before tiledet first imported Ultralytics (which sets it to 1).
_USER_OMP_THREADS: dict[str, str | None] = {}


def _initial_environ(name: str, default: str | None) -> str | None:
    """``name`` in the environment this process started with (Linux ``/proc``); ``default`` when that
    environment cannot be read."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return default
    prefix = name.encode() + b"="
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def user_omp_threads() -> str | None:
    """``OMP_NUM_THREADS`` as the user set it, not as Ultralytics' import set it (None when unset).

    Recorded by :func:`import_ultralytics`. When something else imported Ultralytics first, a value
    other than Ultralytics' ``"1"`` is the user's; a ``"1"`` is the user's only when the process
    started with it (Linux; elsewhere it is taken as the user's).
    """
    if "value" in _USER_OMP_THREADS:
        return _USER_OMP_THREADS["value"]
    current = os.environ.get("OMP_NUM_THREADS")
    if "ultralytics" not in sys.modules or current != "1":
        return current
    return _initial_environ("OMP_NUM_THREADS", current)


def cpu_threads() -> int:
    """Threads for tiledet's CPU inference: the user's ``OMP_NUM_THREADS`` when they set one, else
    every core this process may run on."""
    user = user_omp_threads()
    if user is not None and user.strip().isdigit() and int(user) > 0:
        return int(user)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pil_image_open() -> Callable[..., Any]:
    """PIL's own ``Image.open``, even after Ultralytics has monkey-patched it.

    Importing Ultralytics replaces ``PIL.Image.open`` process-wide with a wrapper that tries to
    pip-install ``pi-heif`` when a file fails to open; tiledet never installs anything at run time, so
    every image tiledet opens with PIL goes through the original, returned here. Does not import
    Ultralytics.
    """
    from PIL import Image

    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open) if patches is not None else Image.open

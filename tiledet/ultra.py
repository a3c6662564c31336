"""The one place tiledet imports Ultralytics: offline, never auto-installing packages."""

from __future__ import annotations

import os
from types import ModuleType


def import_ultralytics() -> ModuleType:
    """Import and return the ``ultralytics`` package configured for offline use.

    Sets, unless the user already set them, ``YOLO_OFFLINE=1`` (no hub or asset downloads) and
    ``YOLO_AUTOINSTALL=false`` (Ultralytics must never pip-install packages at run time), and
    ``YOLO_VERBOSE=false``. Called lazily by the commands that need Ultralytics, never at import time.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    import ultralytics

    return ultralytics

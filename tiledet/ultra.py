"""The one place tiledet deals with Ultralytics: imported offline, never auto-installing packages.

Also undoes, for tiledet's own image reading, Ultralytics' process-wide patch of ``PIL.Image.open``
(:func:`pil_image_open`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
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
    import ultralytics

    return ultralytics


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

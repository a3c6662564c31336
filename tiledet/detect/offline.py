"""Ultralytics made offline for detection: nothing is downloaded, nothing written into a dataset.

Ultralytics is imported through :func:`tiledet.ultra.import_ultralytics` (``YOLO_OFFLINE=1``,
``YOLO_AUTOINSTALL=false``). :func:`offline_ultralytics` additionally closes the two network paths
those settings leave open:

- ``check_font`` (called by every ``check_det_dataset`` and by plotting) probes and downloads
  ``Arial.ttf`` from Ultralytics' assets; it is replaced by one that returns a font matplotlib ships
  (DejaVu Sans), so plots are drawn with a local font and nothing is fetched;
- ``check_amp`` (CUDA training) downloads ``yolo26n.pt`` to compare fp32 and AMP outputs; it is
  replaced by one that enables AMP on CUDA without that download (and keeps it off on CPU).

It also keeps Ultralytics from writing ``labels/*.cache`` files into the dataset folder (an input):
label scans are simply not cached.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from tiledet.ultra import import_ultralytics

log = logging.getLogger(__name__)

_PATCHED = False


def local_font_path() -> str:
    """Path of the DejaVu Sans TrueType font that matplotlib ships (always present offline)."""
    from matplotlib import font_manager

    return font_manager.findfont("DejaVu Sans", fallback_to_default=True)


def _offline_check_font(font: str = "Arial.ttf") -> Path:
    """Stand-in for Ultralytics' ``check_font``: a local font, never a download."""
    return Path(local_font_path())


def _offline_check_amp(model: object) -> bool:
    """Stand-in for Ultralytics' ``check_amp``: AMP on CUDA, off elsewhere, without downloading weights."""
    import torch

    params = getattr(model, "parameters", None)
    device = next(params()).device if params is not None else torch.device("cpu")
    return device.type == "cuda"


def _no_cache_file(prefix: str, path: Path, x: dict, version: str) -> None:
    """Stand-in for Ultralytics' ``save_dataset_cache_file``: never write into the dataset."""
    x["version"] = version  # the caller expects the key the original adds in place
    log.debug("not writing Ultralytics label cache %s (tiledet never writes into inputs)", path)


def offline_ultralytics() -> ModuleType:
    """Import Ultralytics offline and patch its font and AMP checks so nothing is downloaded.

    Idempotent. Returns the ``ultralytics`` module.
    """
    global _PATCHED

    ultralytics = import_ultralytics()
    if _PATCHED:
        return ultralytics
    import ultralytics.data.dataset as dataset
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting

    for module in (checks, data_utils, plotting):
        module.check_font = _offline_check_font  # type: ignore[attr-defined]
    checks.check_amp = _offline_check_amp  # type: ignore[attr-defined]
    trainer.check_amp = _offline_check_amp  # type: ignore[attr-defined]
    dataset.save_dataset_cache_file = _no_cache_file  # type: ignore[attr-defined]
    _PATCHED = True
    return ultralytics


@contextlib.contextmanager
def ultralytics_verbosity(verbose: bool) -> Iterator[None]:
    """Let Ultralytics print (progress bars, tables, export notes) only when ``verbose``."""
    import ultralytics.utils as uu

    old_verbose, old_level = uu.VERBOSE, uu.LOGGER.level
    uu.VERBOSE = verbose
    uu.LOGGER.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        uu.VERBOSE = old_verbose
        uu.LOGGER.setLevel(old_level)

"""The one way tiledet turns a ``device`` setting into a torch device: ``auto|cpu|cuda|cuda:N|mps``.

Every command that runs a network (classify train/eval/predict, detect sliding, detect yolo,
detect train-yolo, demo) takes the same names. :func:`check_device_name` checks the spelling only
(no torch import: config classes call it when they are built); :func:`resolve_device` also checks that
the device exists on this machine. :data:`DEVICE_HELP` is the ``--device`` help of every command.
This is a bottom-layer module: it imports only :mod:`tiledet.errors`, and torch inside functions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tiledet.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: The device of every config class and command when none is given.
DEFAULT_DEVICE = "auto"
#: ``--device`` help of every command.
DEVICE_HELP = f"auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N or mps. Default: {DEFAULT_DEVICE}."
#: The accepted forms, as error messages list them.
DEVICE_FORMS = "auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps"
_NAME = re.compile(r"(auto|cpu|mps|cuda)(?::(\d+))?")


def check_device_name(name: str) -> str:
    """The normalised device name (stripped, lower case, ``cuda:01`` -> ``cuda:1``); spelling only.

    Args:
        name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, in any case, with spaces around.

    Raises:
        ConfigError: on any other name.
    """
    text = name.strip().lower() if isinstance(name, str) else ""
    match = _NAME.fullmatch(text)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ConfigError(f"device {name!r}: not a device name; use {DEVICE_FORMS}")
    kind, index = match.groups()
    return kind if index is None else f"{kind}:{int(index)}"


def resolve_device(name: str) -> torch.device:
    """The torch device of a device name: ``auto`` picks CUDA, else MPS when available, else the CPU.

    Args:
        name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (see :func:`check_device_name`).

    Raises:
        ConfigError: on an unknown name, or a CUDA device / MPS this machine does not have.
    """
    text = check_device_name(name)
    import torch

    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise ConfigError(f"device {name!r}: MPS is not available on this machine (use cpu or auto)")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine (use cpu or auto)")
    index = text.partition(":")[2]
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise ConfigError(f"device {name!r}: no such CUDA device ({count} available)")
    return torch.device(text)


def ultralytics_device(device: torch.device) -> str:
    """The ``device=`` string Ultralytics takes for a torch device: ``cpu``, ``mps`` or a CUDA index.

    ``cuda`` without an index is CUDA device ``0``, as Ultralytics reads ``device="cuda"``.
    """
    if device.type == "cuda":
        return str(device.index if device.index is not None else 0)
    return str(device.type)


def _mps_available() -> bool:
    """True when torch's Apple-silicon (MPS) backend can run here."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())

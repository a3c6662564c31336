"""Ultralytics ``.pt`` checkpoints read without running code, unless the user trusts the file.

Ultralytics unpickles checkpoints with ``torch.load(weights_only=False)``: a crafted ``__reduce__``
runs before any error. Inside :func:`weights_loading` (what tiledet wraps around every Ultralytics
call that reads weights) each of those reads goes instead through :func:`read_yolo_checkpoint`:
torch's ``weights_only=True`` unpickler with an allow-list (:func:`allowed_globals`) of the classes an
Ultralytics checkpoint holds. The file is read once, into memory, and those bytes are unpickled (no
check-then-reload race); a checkpoint that names any other global is refused with a one-line
:class:`~tiledet.errors.InputError`.

The allow-list holds classes only, never functions. An allow-listed class can still be *called* by a
pickle (``REDUCE``), and Ultralytics' model classes build themselves from a config dict: Ultralytics
evaluates its ``activation`` string with ``eval`` and looks its layer names up among its module
globals (``torch_load`` among them); rebuilding a model from a checkpoint's ``yaml``
(``train-yolo --model X.pt``) does the same. So, inside the safe context, :func:`check_model_config`
vets every config Ultralytics parses: the activation must be a ``nn.<Class>(literal args)`` call and
each layer a ``torch.nn.Module`` class.

``weights_loading(weights, trust=True)`` (``--trust-weights``) restores Ultralytics' own loading and
logs that it can run code.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import io
import logging
import pickle
import pkgutil
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tiledet.detect.offline import offline_ultralytics
from tiledet.errors import ConfigError, InputError

log = logging.getLogger(__name__)

#: Packages whose ``torch.nn.Module`` classes (defined in them, not re-exported) are allow-listed.
LAYER_PACKAGES = ("torch.nn.modules", "ultralytics.nn.modules", "ultralytics.nn.tasks")
#: Plain-data classes of Ultralytics checkpoints: ``IterableSimpleNamespace`` holds a model's ``args``.
DATA_CLASSES = ("ultralytics.utils.IterableSimpleNamespace",)
_TRUST_HINT = "(pass --trust-weights if you trust this file)"
#: Where the weights_only unpickler names what it refused, in its error message.
_REFUSED = (
    re.compile(r"GLOBAL (\S+) was not an allowed global"),
    re.compile(r"unsupported GLOBAL (\S+) whose module"),
    re.compile(r"reduce for unrecognized function (.+?)(?: which belongs|$)", re.M),
    re.compile(r"(?:Can only create new object|Can only build).* but got (.+)$", re.M),
)

_LOCK = threading.RLock()
#: Active policies, innermost last: (trusted, what is being loaded). Process-wide, so a thread
#: Ultralytics starts is covered too.
_POLICIES: list[tuple[bool, str]] = []
#: Ultralytics' own functions, saved when the dispatchers are installed.
_ORIGINALS: dict[str, Callable[..., Any]] = {}


def _classes_in(package: str) -> list[type]:
    """``torch.nn.Module`` subclasses defined in ``package`` and its direct submodules."""
    import torch

    root = importlib.import_module(package)
    names = [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules(getattr(root, "__path__", []))]
    return [obj for name in names for obj in vars(importlib.import_module(name)).values()
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module) and obj.__module__ == name]


@functools.lru_cache(maxsize=1)
def allowed_globals() -> tuple[type, ...]:
    """The classes an Ultralytics checkpoint may hold: every ``torch.nn.Module`` class defined in
    :data:`LAYER_PACKAGES` (torch's layers, Ultralytics' layers and model classes) and
    :data:`DATA_CLASSES`. Classes only: no function, builtin or ``functools.partial``."""

    offline_ultralytics()
    found: dict[str, type] = {}
    for package in LAYER_PACKAGES:
        found.update({f"{c.__module__}.{c.__qualname__}": c for c in _classes_in(package)})
    for name in DATA_CLASSES:
        module, _, attr = name.rpartition(".")
        found[name] = getattr(importlib.import_module(module), attr)
    return tuple(found[name] for name in sorted(found))


def refused_global(error: BaseException) -> str:
    """What the ``weights_only`` unpickler refused (e.g. ``posix.system``), from its error message."""
    text = str(error)
    for pattern in _REFUSED:
        match = pattern.search(text)
        if match:
            return match.group(1).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _is_refusal(error: BaseException) -> bool:
    return any(pattern.search(str(error)) for pattern in _REFUSED)


def _needed_globals(data: io.BytesIO) -> list[type]:
    """The allow-listed classes ``data`` names (the whole list when it cannot be scanned): torch's
    unpickler rebuilds its lookup of allowed globals at every object, so a short list loads faster."""
    import torch

    scan = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    try:
        needed = set(scan(data)) if scan is not None else None
    except Exception:  # not a zip checkpoint: torch.load reports what is wrong with it
        needed = None
    finally:
        data.seek(0)
    allowed = allowed_globals()
    return [g for g in allowed if needed is None or f"{g.__module__}.{g.__qualname__}" in needed]


def read_yolo_checkpoint(file: str | Path | Any, map_location: Any = "cpu") -> Any:
    """Unpickle a ``.pt`` with torch's ``weights_only=True`` unpickler and :func:`allowed_globals`.

    The file is read once, into memory; model configs parsed while it loads are vetted by
    :func:`check_model_config`.

    Raises:
        InputError: the file names a global outside the allow-list (one line, naming file and global),
            or holds a model config that would run code. Other load errors propagate unchanged.
        ConfigError: torch is older than 2.5 (no ``torch.serialization.safe_globals``).
    """
    import torch

    if not hasattr(torch.serialization, "safe_globals"):
        raise ConfigError(f"{file}: loading YOLO weights safely needs torch >= 2.5 (this is "
                          f"{torch.__version__}); upgrade torch, or {_TRUST_HINT[1:-1]}")
    _install()
    if hasattr(file, "read"):
        data, allowed = file, list(allowed_globals())
    else:
        data = io.BytesIO(Path(file).read_bytes())
        allowed = _needed_globals(data)
    with _policy(False, str(file)):
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(data, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            if not _is_refusal(e):
                raise
            what = refused_global(e)
            raise InputError(f"{file}: refusing to load: it would run {what} {_TRUST_HINT}") from e


def _is_layer_class(name: object) -> bool:
    """Whether Ultralytics' ``parse_model`` resolves layer ``name`` to a ``torch.nn.Module`` class."""
    import torch
    import ultralytics.nn.tasks as tasks

    if not isinstance(name, str):
        return True  # parse_model fails on it by itself, running nothing
    if name.startswith("nn."):
        obj = getattr(torch.nn, name[3:], None)
    elif name.startswith("torchvision.ops."):
        obj = getattr(importlib.import_module("torchvision.ops"), name[16:], None)
    else:
        obj = vars(tasks).get(name)
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def _is_literal_nn_call(spec: str) -> bool:
    """Whether ``spec`` is ``nn.<Module class>(literal args)`` (``torch.nn.`` too): all that ``eval``
    may see."""
    try:
        call = ast.parse(spec.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            return False
        path = ast.unparse(call.func.value)
        for node in [*call.args, *(kw.value for kw in call.keywords)]:
            ast.literal_eval(node)
    except (SyntaxError, ValueError, TypeError, RecursionError):
        return False
    if path not in ("nn", "torch.nn") or any(kw.arg is None for kw in call.keywords):
        return False
    return _is_layer_class(f"nn.{call.func.attr}")


def check_model_config(cfg: Mapping[str, Any], source: str) -> None:
    """Refuse a model config (YAML dict) whose parsing by Ultralytics would run code.

    Raises:
        InputError: the ``activation`` is not ``nn.<Class>(literal args)``, or a layer is not a
            ``torch.nn.Module`` class.
    """
    act = cfg.get("activation")
    if act and not (isinstance(act, str) and _is_literal_nn_call(act)):
        raise InputError(f"{source}: refusing to build the model: its activation {act!r} would run as code "
                         f"{_TRUST_HINT}")
    for layer in [*(cfg.get("backbone") or []), *(cfg.get("head") or [])]:
        name = layer[2] if isinstance(layer, (list, tuple)) and len(layer) == 4 else None
        if not _is_layer_class(name):
            raise InputError(f"{source}: refusing to build the model: layer {name!r} is not a torch or "
                             f"Ultralytics layer class {_TRUST_HINT}")


# -- routing Ultralytics' loads ------------------------------------------------------------------------
def _safe_source() -> str | None:
    """What is being loaded when the innermost policy is the safe one, else None."""
    with _LOCK:
        trusted, source = _POLICIES[-1] if _POLICIES else (True, "")
    return None if trusted else source


def _torch_load(*args: Any, **kwargs: Any) -> Any:
    """Stand-in for ``ultralytics.utils.patches.torch_load``: the safe reader inside a safe policy."""
    if _safe_source() is None:
        return _ORIGINALS["torch_load"](*args, **kwargs)
    file = args[0] if args else kwargs["f"]
    map_location = args[1] if len(args) > 1 else kwargs.get("map_location", "cpu")
    return read_yolo_checkpoint(file, map_location)


def _parse_model(d: Any, *args: Any, **kwargs: Any) -> Any:
    """Stand-in for ``ultralytics.nn.tasks.parse_model``: vets the config inside a safe policy."""
    source = _safe_source()
    if source is not None and isinstance(d, Mapping):
        check_model_config(d, source)
    return _ORIGINALS["parse_model"](d, *args, **kwargs)


def _install() -> None:
    """Route Ultralytics' ``torch_load`` (in every module that imported it) and ``parse_model``
    through the dispatchers above. Idempotent; outside any policy they call the originals."""
    with _LOCK:
        if _ORIGINALS:
            return
        from tiledet.detect.offline import offline_ultralytics

        offline_ultralytics()
        import ultralytics.nn.tasks as tasks
        import ultralytics.utils.patches as patches

        _ORIGINALS["torch_load"], _ORIGINALS["parse_model"] = patches.torch_load, tasks.parse_model
        original = _ORIGINALS["torch_load"]
        for name, module in list(sys.modules.items()):
            if name.startswith("ultralytics") and getattr(module, "torch_load", None) is original:
                module.torch_load = _torch_load  # type: ignore[attr-defined]
        tasks.parse_model = _parse_model  # type: ignore[attr-defined]


@contextlib.contextmanager
def _policy(trusted: bool, source: str) -> Iterator[None]:
    entry = (trusted, source)
    with _LOCK:
        _POLICIES.append(entry)
    try:
        yield
    finally:
        with _LOCK:
            index = max(i for i, e in enumerate(_POLICIES) if e is entry)
            del _POLICIES[index]


@contextlib.contextmanager
def weights_loading(weights: str | Path, trust: bool = False) -> Iterator[None]:
    """Within it, every checkpoint Ultralytics reads goes through :func:`read_yolo_checkpoint`
    (``trust=False``), or through Ultralytics' full unpickling (``trust=True``, logged as a warning).

    Args:
        weights: the user's weights (or model) file, named in errors and in the warning.
        trust: the user's ``--trust-weights``.
    """
    _install()
    with _LOCK:
        already_trusted = bool(_POLICIES) and _POLICIES[-1][0]
    if trust and not already_trusted:
        log.warning("loading %s with full unpickling (--trust-weights): it can run code", weights)
    with _policy(bool(trust), str(weights)):
        yield

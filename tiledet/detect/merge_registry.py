"""The registry of mergers (:mod:`tiledet.detect.merge`) and the checks of merge options, without the
merging code: the detector configs check merger names with it and the CLI lists them, at no import cost.

A registered merger is a name, the factory that builds it (``(metric, threshold, *, class_agnostic,
order, **options) -> Merger``) and the phrase that describes it in ``--merge --help``. The built-in
factories are named by ``"module:function"`` and imported on first use (as :data:`tiledet.formats.READERS`
names the readers); :func:`register_merger` adds a factory object.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from tiledet.boxes import OVERLAP_METRICS
from tiledet.errors import ConfigError

if TYPE_CHECKING:
    from tiledet.boxes import Boxes

#: A merger: detections in, merged detections out (with scores, highest first).
Merger = Callable[["Boxes"], "Boxes"]
#: Builds a merger: ``(metric, threshold, *, class_agnostic, order, **options) -> Merger``.
MergerFactory = Callable[..., Merger]

MATCH_METRICS = OVERLAP_METRICS
#: How equal scores are visited (see :mod:`tiledet.detect.merge`).
ORDERS = ("sahi", "torchvision")

#: Name -> (factory, or the ``"module:function"`` of a built-in one; phrase), in registration order.
_MERGERS: dict[str, tuple[MergerFactory | str, str]] = {
    "nms": ("tiledet.detect.merge:nms_merger", "keep the best box, drop the boxes matching it"),
    "greedy-nmm": (
        "tiledet.detect.merge:greedy_nmm_merger",
        "merge the boxes matching the best one into it: union box, best score; SAHI's default",
    ),
    "cluster-mean": (
        "tiledet.detect.merge:cluster_mean_merger",
        "keep the best box, moved to the score-weighted mean of the boxes matching it",
    ),
}


def register_merger(name: str, phrase: str) -> Callable[[MergerFactory], MergerFactory]:
    """Decorator adding a merger factory under ``name``; ``phrase`` describes it in ``--merge --help``."""

    def add(factory: MergerFactory) -> MergerFactory:
        _MERGERS[name] = (factory, phrase)
        return factory

    return add


def merger_names() -> tuple[str, ...]:
    """The registered merger names, in registration order."""
    return tuple(_MERGERS)


def merger_help(what: str, default: str) -> str:
    """``--merge`` help: ``what`` (e.g. "How boxes of overlapping tiles are merged"), every merger, the
    default."""
    names = [f"{name} ({text})" for name, (_, text) in _MERGERS.items()]
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return f"{what}: {listed}. Default: {default}."


def merger_factory(name: str) -> MergerFactory:
    """The factory registered as ``name`` (a built-in one imported now); ``name`` must be registered."""
    factory = _MERGERS[name][0]
    if isinstance(factory, str):
        module_name, func_name = factory.split(":")
        factory = getattr(importlib.import_module(module_name), func_name)
    return factory


def check_name_and_metric(name: str, metric: str) -> None:
    """Raise :class:`ConfigError` naming ``merge`` or ``match`` for an unknown merger or metric."""
    if name not in _MERGERS:
        raise ConfigError(f"merge must be one of {', '.join(_MERGERS)}, got {name!r}", field="merge")
    if metric not in MATCH_METRICS:
        raise ConfigError(f"match must be one of {', '.join(MATCH_METRICS)}, got {metric!r}", field="match")


def check_merge_options(method: str, match: str, threshold: float) -> None:
    """Raise :class:`ConfigError` naming the option when a ``detect yolo`` merge setting is out of
    range (``--merge-threshold`` in (0, 1])."""
    check_name_and_metric(method, match)
    if not 0.0 < float(threshold) <= 1.0:
        raise ConfigError(f"merge_threshold must be in (0, 1], got {threshold}", field="merge_threshold")

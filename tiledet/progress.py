"""The one progress protocol of the library: how far along a long call is, and nothing else.

A library function that takes ``progress`` calls :meth:`Progress.start` as each phase begins (its
description and the number of items, or None when unknown), :meth:`Progress.advance` as items are
done (the advances of a phase add up to its total), and :meth:`Progress.close` once it is over
(returned, or failed after its first start). Functions a caller runs inside its own phase only
advance. ``None`` means no progress (:func:`as_progress` turns it into a :class:`NullProgress`); the
library itself never prints.

Classifier training reports more than how far along it is (each batch's running loss and accuracy,
each epoch's history row, each sweep row): that goes to a separate, explicit :class:`TrainingMonitor`,
never through ``progress``. The command line draws both with rich (:mod:`tiledet.cli.progress`).

This is a bottom-layer module: it imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Progress(Protocol):
    """How far along a library call is: phases with a total, items done, the end."""

    def start(self, desc: str, total: int | None) -> None:
        """Begin a phase: ``desc`` says what is being done, ``total`` items (None: unknown); count 0."""

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items of the current phase as done."""

    def close(self) -> None:
        """The call is over; a later :meth:`start` may begin a new call. Closing twice does nothing."""


class NullProgress:
    """A :class:`Progress` that does nothing (what ``progress=None`` means)."""

    def start(self, desc: str, total: int | None) -> None:
        """Ignore the phase."""

    def advance(self, n: int = 1) -> None:
        """Ignore the items."""

    def close(self) -> None:
        """Nothing to close."""


def as_progress(progress: Progress | None) -> Progress:
    """``progress`` itself, or a :class:`NullProgress` for None."""
    return NullProgress() if progress is None else progress


class TrainingMonitor(Protocol):
    """What classifier training reports besides its progress: the metrics the CLI prints.

    ``classify train`` and ``classify sweep`` take one as ``monitor`` beside ``progress``; their
    phases (``decoding images``, ``epoch E/N``) go to ``progress`` as for any other call.
    """

    def batch(self, epoch: int, loss: float, accuracy: float) -> None:
        """After each training batch: the running mean loss and accuracy of ``epoch`` so far."""

    def epoch(self, record: Mapping[str, Any]) -> None:
        """After each epoch: its history row (``epoch``, ``train_loss``, ``val_accuracy``, ...)."""

    def row(self, index: int, total: int, point: Mapping[str, Any]) -> None:
        """``classify sweep`` only: row ``index`` (from 0) of ``total``, with grid ``point``, begins."""


class NullMonitor:
    """A :class:`TrainingMonitor` that ignores everything (what ``monitor=None`` means)."""

    def batch(self, epoch: int, loss: float, accuracy: float) -> None:
        """Ignore the batch."""

    def epoch(self, record: Mapping[str, Any]) -> None:
        """Ignore the epoch."""

    def row(self, index: int, total: int, point: Mapping[str, Any]) -> None:
        """Ignore the row."""


def as_monitor(monitor: TrainingMonitor | None) -> TrainingMonitor:
    """``monitor`` itself, or a :class:`NullMonitor` for None."""
    return NullMonitor() if monitor is None else monitor

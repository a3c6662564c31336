"""Items of an iterator computed on a worker thread ahead of the caller (bounded queue).

The sliding-window detector reads and resamples the next batches of blocks here while the network
scores the current one: window reads (GDAL), resampling (OpenCV) and the network (torch) all release
the GIL, so the two overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _END = "item", "error", "end"

#: Seconds between checks, by a worker blocked on a full queue, of whether the caller stopped.
_POLL_S = 0.05


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of ``items`` in order, computed on one worker thread up to ``depth`` items ahead.

    Memory holds at most ``depth`` finished items waiting, one the worker is computing and the one
    the caller has. An exception raised while computing an item is raised here, in the caller's
    thread, in that item's place. When the caller stops early (closes this iterator, or an exception
    passes through it), the worker stops after the item in flight and ``items`` is closed.

    Args:
        items: the items; only the worker thread advances it.
        depth: items computed ahead (>= 1); 0 computes each one in the caller's thread when asked.

    Yields:
        The items of ``items``.
    """
    if depth < 1:
        yield from items
        return
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(items, slots, stop), name="tiledet-read-ahead",
                              daemon=True)  # fmt: skip
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def _produce(items: Iterable[T], slots: queue.Queue, stop: threading.Event) -> None:
    """The worker: every item (or the exception computing one raised), then the end."""
    iterator = iter(items)
    try:
        for item in iterator:
            if not _offer(slots, (_ITEM, item), stop):
                return
    except BaseException as e:  # handed to the caller's thread, raised there
        _offer(slots, (_ERROR, e), stop)
        return
    finally:
        close = getattr(iterator, "close", None)
        if close is not None and stop.is_set():
            close()
    _offer(slots, (_END, None), stop)


def _offer(slots: queue.Queue, entry: tuple[str, object], stop: threading.Event) -> bool:
    """Put ``entry`` once there is room; False when the caller stopped first."""
    while not stop.is_set():
        try:
            slots.put(entry, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False

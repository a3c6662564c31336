"""Rich progress bars for the commands: the library reports through plain callbacks, this draws them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Bar:
    """One progress task on stderr, fed by a library's callbacks.

    Pass :meth:`advance` as a library's ``progress`` callback and :meth:`start` as its ``on_start``
    callback (when it has one: the total becomes known only after loading).
    """

    def __init__(self, progress: object | None, task: object | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        if self._progress is not None:
            self._progress.advance(self._task, n)  # type: ignore[attr-defined]

    def start(self, description: str, total: int | None = None) -> None:
        """Begin the next stage: new description, ``total`` items (None: unknown), count reset."""
        if self._progress is not None:
            self._progress.reset(self._task, total=total, description=description)  # type: ignore[attr-defined]


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None, show: bool = True) -> Iterator[Bar]:
    """A rich progress bar on stderr (a pulsing one while ``total`` is unknown); no output unless ``show``.

    Yields:
        a :class:`Bar` whose ``advance``/``start`` methods are the library callbacks.
    """
    if not show:
        yield Bar(None, None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield Bar(progress, progress.add_task(description, total=total))

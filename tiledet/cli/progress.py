"""Rich progress bars for the commands: the library reports through plain callbacks, this draws them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


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


def make_progress(label: str | None = None, console: Console | None = None) -> Progress:
    """A transient rich progress display: label, bar, count, elapsed time.

    Args:
        label: fixed text before every bar; None shows each task's description instead. Either is
            printed literally (no rich markup: descriptions carry file and class names).
        console: where to draw; default :func:`~tiledet.cli.richtext.make_console` on stderr.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tiledet.cli.richtext import make_console

    fmt = "{task.description}" if label is None else label.replace("{", "{{").replace("}", "}}")
    columns = (TextColumn(fmt, markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console or make_console(stderr=True), transient=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None, show: bool = True) -> Iterator[Bar]:
    """A rich progress bar on stderr (a pulsing one while ``total`` is unknown); no output unless ``show``.

    Yields:
        a :class:`Bar` whose ``advance``/``start`` methods are the library callbacks.
    """
    if not show:
        yield Bar(None, None)
        return
    with make_progress() as progress:
        yield Bar(progress, progress.add_task(description, total=total))

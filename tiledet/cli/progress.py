"""Rich progress bars for the commands: the one implementation of :class:`tiledet.progress.Progress`.

Every command that reports progress opens :func:`progress_bar` and hands the bar to the library as
``progress``; ``--quiet`` is ``show=False`` (nothing drawn, nothing printed). Classifier training's
metrics go to a :class:`TrainingPrinter` over the same bar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tiledet.cli.richtext import esc

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichDisplay
    from rich.progress import TaskID


class Bar:
    """A :class:`tiledet.progress.Progress` drawn as one rich task on stderr; inert without a display.

    Each phase (:meth:`start`) resets the task: new description and total, count 0. :meth:`close`
    removes it; the next :meth:`start` adds it again (a sweep trains many times over one bar).
    """

    def __init__(self, display: RichDisplay | None) -> None:
        self._display = display
        self._task: TaskID | None = None
        self._description = ""

    def start(self, desc: str, total: int | None) -> None:
        """Begin a phase: ``desc``, ``total`` items (None: a pulsing bar), count reset."""
        if self._display is None:
            return
        self._description = desc
        if self._task is None:
            self._task = self._display.add_task(desc, total=total)
        else:
            self._display.reset(self._task, total=total, description=desc)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        if self._display is not None and self._task is not None:
            self._display.advance(self._task, n)

    def close(self) -> None:
        """Remove the bar (a later :meth:`start` draws a new one)."""
        if self._display is not None and self._task is not None:
            self._display.remove_task(self._task)
        self._task = None

    def note(self, text: str) -> None:
        """Show ``text`` after the phase's description (replacing the previous note)."""
        if self._display is not None and self._task is not None:
            self._display.update(self._task, description=f"{self._description} {text}")

    def print(self, text: str) -> None:
        """Print a line of rich markup above the bar (nothing without a display)."""
        if self._display is not None:
            self._display.console.print(text)


class TrainingPrinter:
    """A :class:`tiledet.progress.TrainingMonitor` on a :class:`Bar`: loss and accuracy in the bar,
    one line per epoch and per sweep row above it."""

    def __init__(self, bar: Bar) -> None:
        self._bar = bar

    def batch(self, epoch: int, loss: float, accuracy: float) -> None:
        """The epoch's running loss and accuracy after the bar's ``epoch E/N``."""
        self._bar.note(f"loss {loss:.4f} acc {accuracy:.3f}")

    def epoch(self, record: Mapping[str, Any]) -> None:
        """One line with the epoch's train and val metrics and speed."""
        self._bar.print(
            f"epoch {record['epoch']:>3}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:.4f} | "
            f"val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f} "
            f"macro recall {record['val_macro_recall']:.4f} | {record['images_per_s']:.0f} img/s"
        )

    def row(self, index: int, total: int, point: Mapping[str, Any]) -> None:
        """``row I/N`` and the grid point, before the row's training."""
        self._bar.print(f"[bold]row {index + 1}/{total}[/bold] {esc(point)}")


def _rich_display(label: str | None = None, console: Console | None = None) -> RichDisplay:
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
def progress_bar(
    description: str | None = None,
    total: int | None = None,
    show: bool = True,
    *,
    fixed: bool = False,
    console: Console | None = None,
) -> Iterator[Bar]:
    """A rich progress bar on stderr, to hand to the library as ``progress``; no output unless ``show``.

    Args:
        description: the bar shown until the library starts its first phase (None: no bar until then).
        total: that first bar's total (None: pulsing).
        show: draw anything at all (False for ``--quiet``).
        fixed: show ``description`` (the command's name) before every bar instead of the phases'
            own descriptions.
        console: where to draw; default stderr.

    Yields:
        a :class:`Bar` (a :class:`tiledet.progress.Progress`).
    """
    if not show:
        yield Bar(None)
        return
    with _rich_display(description if fixed else None, console) as display:
        bar = Bar(display)
        if description is not None:
            bar.start(description, total)
        yield bar

"""The one way a command reports inputs it could not read and went on without: exit code 1."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import typer


def exit_if_unreadable(unreadable: Mapping[str, str], total: int, noun: str, others: str) -> None:
    """Name each input that could not be read on stderr, then exit with code 1 (none: return).

    Args:
        unreadable: input name -> why it could not be read.
        total: inputs given.
        noun: what an input is, singular (``"scene"``, ``"image"``).
        others: what became of the rest, e.g. ``"the detections of the other 2 are in d.json"``.

    Raises:
        typer.Exit: code 1, after the messages, when ``unreadable`` is not empty.
    """
    from tiledet.text import plural

    if not unreadable:
        return
    for name, why in unreadable.items():
        typer.echo(f"warning: cannot read {noun} {name}: {why}", err=True)
    names = list(unreadable)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    typer.secho(
        f"error: {len(names)} of {plural(total, noun)} could not be read: {shown} ({others})",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(1)


def exit_if_scenes_unreadable(unreadable: Mapping[str, str], total: int, out: Path | None) -> None:
    """:func:`exit_if_unreadable` for a detector: the other scenes' detections went to ``out``.

    Args:
        unreadable: scene name -> why it could not be read.
        total: scenes given.
        out: the results file the other scenes' detections went to.
    """
    from tiledet.text import plural

    others = f"detections of the other {plural(total - len(unreadable), 'scene')} written to {out}"
    exit_if_unreadable(unreadable, total, "scene", others)

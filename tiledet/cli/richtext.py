"""Rich output that prints user-controlled text literally.

Class names, file names, paths and library messages come from the user's files: a class named
``[/red]`` or ``[bold]x`` must print as written, not as rich markup (a stray closing tag is a
``MarkupError`` that used to end complete runs with exit code 1), and ``:car:`` must not become an
emoji. Every command builds its consoles with :func:`make_console` (emoji codes off) and passes
user text through :func:`esc` wherever the rest of the string is markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def esc(value: object) -> str:
    """``str(value)`` with rich markup escaped: ``"[/red]"`` -> ``"\\[/red]"`` (prints as ``[/red]``)."""
    from rich.markup import escape

    return escape(str(value))


def make_console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) that leaves ``:name:`` emoji codes as they are."""
    from rich.console import Console

    return Console(stderr=stderr, emoji=False)

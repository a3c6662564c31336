"""The few exception types tiledet raises on bad input or configuration.

Every error message names the file, line, feature or option at fault and the reason; the CLI turns
any :class:`TiledetError` into a one-line message and a non-zero exit code, without a traceback.
"""

from __future__ import annotations


class TiledetError(Exception):
    """Base class of every error tiledet raises on purpose."""


class ConfigError(TiledetError, ValueError):
    """An option or argument is out of range or inconsistent (e.g. overlap outside [0, 1))."""


class InputError(TiledetError):
    """An input file or folder is missing, unreadable, empty or of an unknown format."""


class FormatError(InputError):
    """A label record could not be parsed.

    Args:
        source: file path (or another description of the input) that holds the record.
        location: where inside it, e.g. ``"line 12"`` or ``"feature 3051"``; empty when unknown.
        reason: what is wrong, in a few words.
    """

    def __init__(self, source: str, location: str, reason: str) -> None:
        self.source = str(source)
        self.location = location
        self.reason = reason
        where = f"{self.source}:{location}" if location else self.source
        super().__init__(f"{where}: {reason}")

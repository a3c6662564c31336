"""The few exception types tiledet raises on bad input or configuration.

Every error message names the file, line, feature or option at fault and the reason; the CLI turns
any :class:`TiledetError` into a one-line message and a non-zero exit code, without a traceback.
"""

from __future__ import annotations


class TiledetError(Exception):
    """Base class of every error tiledet raises on purpose."""


class ConfigError(TiledetError, ValueError):
    """An option or argument is out of range or inconsistent (e.g. overlap outside [0, 1)).

    The message names settings as the config classes spell them, and ``field`` says which: as its
    first word (``overlap must be in [0, 1), got 1.5``), as ``field=value`` (``use split=random``) or
    in backticks elsewhere (``use a smaller `overlap```). The command line shows each as its flag
    (``--overlap must be ...``, ``use --split random``, ``use a smaller --overlap``).

    Args:
        message: one line.
        field: the config field the message names, or several (a tuple); None when it names none.
    """

    def __init__(self, message: str = "", *, field: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def fields(self) -> tuple[str, ...]:
        """The config fields the message names (``field`` as a tuple)."""
        if self.field is None:
            return ()
        return (self.field,) if isinstance(self.field, str) else tuple(self.field)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, Slurm) raised like Ctrl-C, so every clean-up path runs.

    The CLI installs the handler (:func:`install_sigterm`); it exits with 143 (128 + SIGTERM).
    """


_MAIN_PID: list[int] = []
_RECEIVED: list[bool] = [False]


def sigterm_received() -> bool:
    """True once SIGTERM reached this process since :func:`install_sigterm`."""
    return _RECEIVED[0]


def _on_sigterm(signum: int, frame: object) -> None:
    import os
    import signal

    if _MAIN_PID and os.getpid() != _MAIN_PID[0]:  # a forked worker: die as SIGTERM means
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _RECEIVED[0] = True
    raise Terminated()


def install_sigterm() -> object:
    """Make SIGTERM raise :class:`Terminated` in this process (forked workers keep the default).

    Returns:
        The previous handler (``signal.signal``'s return value), or None off the main thread.
    """
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    _MAIN_PID[:] = [os.getpid()]
    _RECEIVED[0] = False
    return signal.signal(signal.SIGTERM, _on_sigterm)

"""The ``tiledet`` command line: a thin Typer layer over the library.

Each sub-command lives in its own module with a ``register(app)`` function; it builds a frozen config
and calls one library function. Heavy libraries are imported inside the commands, never here.
The library logs (``logging.getLogger(__name__)``) and never prints; :func:`main` shows tiledet's
WARNING and above on stderr, and INFO too with the global ``--verbose`` option.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator

import typer

from tiledet.errors import Terminated, TiledetError, install_sigterm, sigterm_received

app = typer.Typer(
    name="tiledet",
    help="Find small objects in very large aerial and satellite images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Set by the ``--debug`` global option for the current :func:`main` call.
_STATE = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        from tiledet import __version__

        typer.echo(f"tiledet {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of unexpected errors. Default: off."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", help="Show tiledet's log messages (INFO and above). Default: off."
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Find small objects in very large aerial and satellite images."""
    _STATE["debug"] = debug
    if verbose:
        logging.getLogger("tiledet").setLevel(logging.INFO)


class _StderrHandler(logging.Handler):
    """Each record as one plain line on the current ``sys.stderr`` (as Python's last-resort handler)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """For one :func:`main` call: tiledet's WARNING and above on stderr (``--verbose`` lowers it to INFO)."""
    logger = logging.getLogger("tiledet")
    handler, level = _StderrHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _register_commands() -> None:
    from tiledet.cli import classify, convert, demo, detect, draw, evaluate, synth

    for module in (convert, synth, evaluate, draw, classify, detect, demo):
        module.register(app)


def _command():
    """The click command tree of :data:`app`, with help a person can read (:mod:`.helptext`)."""
    from tiledet.cli.helptext import tidy_help

    return tidy_help(typer.main.get_command(app))


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Exception classes of command-line usage errors, without importing ``click``.

    Typer >= 0.29 vendors click (its errors derive from ``typer.TyperException``); older Typer uses
    the real ``click``, which it has already imported by then. ``import click`` would fail on a
    clean install of a recent Typer, so it is only looked up in ``sys.modules``.
    """
    types: list[type[BaseException]] = []
    typer_exception = getattr(typer, "TyperException", None)
    if isinstance(typer_exception, type):
        types.append(typer_exception)
    click = sys.modules.get("click")
    click_exception = getattr(getattr(click, "exceptions", None), "ClickException", None)
    if isinstance(click_exception, type):
        types.append(click_exception)
    return tuple(types)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tiledet`` console script; returns the exit code.

    Exit codes: 0 for a complete run; 2 for errors tiledet raises on purpose
    (:class:`~tiledet.errors.TiledetError`, a one-line ``error: ...`` message) and for usage errors
    (Typer's own message); 130 when interrupted (Ctrl-C); 143 when terminated (SIGTERM, handled like
    Ctrl-C: outputs are marked incomplete and a re-run recovers); 1 for any other failure, reported
    in one line (``tiledet --debug ...`` or ``TILEDET_DEBUG=1`` shows the traceback).
    """
    previous = install_sigterm()
    try:
        with _log_to_stderr():
            return _interrupted_as(_main(argv))
    except Terminated:
        return _interrupted_as(143)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _interrupted_as(code: int) -> int:
    """``code``, with the interruption message for 130 (SIGINT) and 143 (SIGTERM)."""
    if code == 130 and sigterm_received():  # Typer reports any KeyboardInterrupt as 130
        code = 143
    if code in (130, 143):
        typer.secho("interrupted: outputs of this run are incomplete", fg=typer.colors.RED, err=True)
    return code


def _error_text(error: TiledetError, root: object, argv: list[str] | None) -> str:
    """The message of ``error`` with the config fields it names shown as the command's flags."""
    from tiledet.cli.flags import invoked_command, option_flags, user_message

    command, cmd = invoked_command(root, sys.argv[1:] if argv is None else argv)
    return user_message(error, command, option_flags(cmd))


def _main(argv: list[str] | None) -> int:
    """:func:`main` without the SIGTERM handler (see there for the exit codes)."""
    _register_commands()
    _STATE["debug"] = False
    root = _command()
    try:
        code = root(args=argv, standalone_mode=False)  # Typer >= 0.29 returns codes (130: Ctrl-C)
    except TiledetError as e:
        typer.secho(f"error: {_error_text(e, root, argv)}", fg=typer.colors.RED, err=True)
        return 2
    except (typer.Exit, SystemExit) as e:
        code = getattr(e, "exit_code", getattr(e, "code", 0))
        return int(code or 0) if isinstance(code, (int, type(None))) else 1
    except (KeyboardInterrupt, typer.Abort) as e:
        return 143 if isinstance(e, Terminated) else 130
    except _usage_error_types() as e:
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {e}", err=True)
        code = getattr(e, "exit_code", 2)
        return code if isinstance(code, int) else 2
    except Exception as e:
        if _STATE["debug"] or os.environ.get("TILEDET_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        message = str(e).splitlines()[0] if str(e) else ""
        typer.secho(
            f"error: unexpected {type(e).__name__}: {message} (run with --debug for the traceback)",
            fg=typer.colors.RED,
            err=True,
        )
        return 1
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        return code
    return 0


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()

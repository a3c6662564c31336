"""The ``tiledet`` command line: a thin Typer layer over the library.

Each sub-command lives in its own module with a ``register(app)`` function; it builds a frozen config
and calls one library function. Heavy libraries are imported inside the commands, never here.
"""

from __future__ import annotations

import sys

import typer

from tiledet.errors import TiledetError

app = typer.Typer(
    name="tiledet",
    help="Find small objects in very large aerial and satellite images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from tiledet.cli import convert, evaluate, synth

    for module in (convert, synth, evaluate):
        module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tiledet`` console script; returns the exit code.

    Errors tiledet raises on purpose (:class:`~tiledet.errors.TiledetError`) become a one-line
    message on stderr and exit code 2, without a traceback.
    """
    _register_commands()
    try:
        app(args=argv, standalone_mode=False)
    except TiledetError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        return 2
    except (typer.Exit, SystemExit) as e:
        code = getattr(e, "exit_code", getattr(e, "code", 0))
        return int(code or 0)
    except typer.Abort:
        typer.secho("aborted", err=True)
        return 130
    except Exception as e:  # click usage errors carry their own exit code
        import click

        if isinstance(e, click.ClickException):
            e.show()
            return e.exit_code
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):  # typer's vendored click
            e.show()
            return e.exit_code
        raise
    return 0


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()

"""Help a person can read: plain value names instead of Python types, each default stated once.

Option help texts state their default in words (``Default: 0.2.``), so Typer's own
``[default: ...]`` and ``[required]`` tags are left out where they would say it twice; value types
are shown as ``PATH``, ``INTEGER``, ``NUMBER``, ``TEXT`` (lists as ``PATH...``) rather than
``<list[Path]>``, and flags show no type at all. Applied to the click command tree Typer builds
(no ``click`` import).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: Typer's type names -> what ``--help`` shows.
_TYPE_WORDS = {
    "path": "PATH", "int": "INTEGER", "float": "NUMBER", "str": "TEXT", "bool": "",
    "Path": "PATH", "datetime": "DATE", "uuid": "UUID",
}  # fmt: skip


def plain_type_name(typer_type: str | None) -> str | None:
    """``"<list[Path]>"`` -> ``"PATH..."``, ``"<float>"`` -> ``"NUMBER"``, ``"<bool>"`` -> ``""``.

    Choices (``"a|b"``) stay as they are; anything unrecognised is shown without angle brackets.
    """
    if typer_type is None:
        return None
    text = typer_type.strip()
    dots = text.endswith("...")
    text = text.removesuffix("...").strip("<>")
    match = re.fullmatch(r"list\[(.*)\]", text)
    if match:
        text, dots = match.group(1), True
    if "," in text:  # a tuple: its values are listed one by one
        dots = False
    parts = [_TYPE_WORDS.get(p.strip(), p.strip()) for p in text.split(",")]
    word = " ".join(p for p in parts if p)
    return f"{word}..." if dots and word else word


def _plain_display(original: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def display(ctx: Any) -> str | None:
        return plain_type_name(original(ctx))

    return display


def _says(param: Any, word: str) -> bool:
    return word.casefold() in str(getattr(param, "help", "") or "").casefold()


def _tidy_param(param: Any) -> Any:
    if _says(param, "default"):  # the text states it; Typer's "[default: x]" would repeat it
        param.show_default = False
    if hasattr(param, "display_type_rich") and not getattr(param, "_tiledet_tidy", False):
        param.display_type_rich = _plain_display(param.display_type_rich)
        param._tiledet_tidy = True
    return param


def _tidy_help_option(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def get_help_option(ctx: Any) -> Any:
        option = original(ctx)
        return None if option is None else _tidy_param(option)

    return get_help_option


def _without_required_tag(original: Callable[..., Any]) -> Callable[..., Any]:
    """Typer's help column minus its ``[required]`` tag (the help texts say "Required." already)."""

    def parameter_help(**kwargs: Any) -> Any:
        columns = original(**kwargs)
        param = kwargs.get("param")
        if getattr(param, "required", False) and _says(param, "required") and hasattr(columns, "renderables"):
            columns.renderables = [r for r in columns.renderables if str(r).strip() != "[required]"]
        return columns

    parameter_help._tiledet_tidy = True  # type: ignore[attr-defined]
    return parameter_help


def tidy_help(command: Any) -> Any:
    """Apply the rules of this module to ``command`` and all its sub-commands, in place; returns it."""
    import typer.rich_utils as rich_utils

    if not getattr(rich_utils._get_parameter_help, "_tiledet_tidy", False):
        rich_utils._get_parameter_help = _without_required_tag(rich_utils._get_parameter_help)
    stack = [command]
    while stack:
        cmd = stack.pop()
        for param in getattr(cmd, "params", ()):
            _tidy_param(param)
        if hasattr(cmd, "get_help_option"):
            cmd.get_help_option = _tidy_help_option(cmd.get_help_option)
        stack.extend(getattr(cmd, "commands", {}).values())
    return command

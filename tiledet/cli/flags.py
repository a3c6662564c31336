"""Which command-line flag sets which config field, for every command, and errors in terms of flags.

The rule is ``--`` + the field name with ``-`` for ``_`` (``val_fraction`` -> ``--val-fraction``);
:data:`COMMAND_FLAGS` lists, per command, the fields whose flag is named otherwise. Library errors
name config fields (:class:`~tiledet.errors.ConfigError` ``field``); :func:`user_message` shows the
command's flags instead, so the user reads ``--overlap must be in [0, 1)`` and ``--split keep``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

#: Fields of the label-source configs (``convert``, ``eval``, ``draw``) named otherwise on the command line.
_LABEL_SOURCE = {"fmt": "--from", "images_dir": "--images"}

#: Command (``"classify train"``) -> config field -> its flag, where the flag is not the rule's.
COMMAND_FLAGS: dict[str, dict[str, str]] = {
    "convert": {**_LABEL_SOURCE, "structured": "--structured-negatives"},
    "eval": _LABEL_SOURCE,
    "draw": _LABEL_SOURCE,
    "synth": {"size_wh": "--size"},
    "classify train": {"memory_limit_gib": "--memory-limit", "model_options": "--option"},
    "detect train-yolo": {"evaluate_full": "--val-full"},
    "detect yolo": {"int8_data": "--data"},
    "detect sliding": {
        "block_px": "--block",
        "object_size_px": "--object-size",
        "class_thresholds": "--threshold",
    },
}


def flag_of(command: str, field: str) -> str:
    """The flag of config field ``field`` in ``command`` (``"synth"``, ``"detect sliding"``, ...).

    Args:
        command: the command path, words separated by one space (without ``tiledet``).
        field: a config field name, e.g. ``"size_wh"``.

    Returns:
        The flag, e.g. ``"--size"``; ``--`` + ``field`` with ``-`` for ``_`` unless listed.
    """
    return COMMAND_FLAGS.get(command, {}).get(field, "--" + field.replace("_", "-"))


def invoked_command(root: Any, args: Sequence[str]) -> tuple[str, Any]:
    """The command path ``args`` run (``"detect sliding"``) and its click command (``root`` for none).

    Global options are flags without values, so the first words that name sub-commands are the path.
    """
    path, cmd = [], root
    for arg in args:
        if arg.startswith("-"):
            continue
        sub = (getattr(cmd, "commands", None) or {}).get(arg)
        if sub is None:
            break
        path.append(arg)
        cmd = sub
    return " ".join(path), cmd


def option_flags(cmd: Any) -> set[str]:
    """Every ``--flag`` of a click command (both of an on/off pair)."""
    params = getattr(cmd, "params", ())
    return {flag for p in params for flag in (*p.opts, *p.secondary_opts) if flag.startswith("--")}


def user_message(error: BaseException, command: str, flags: Collection[str]) -> str:
    """``str(error)`` with the config fields it names (``error.fields``) written as ``command``'s flags.

    Where the message names a field (see :class:`~tiledet.errors.ConfigError`): as its first word
    (``overlap must be ...`` -> ``--overlap must be ...``), as ``field=value`` (-> ``--flag value``) or
    in backticks (`` `field` `` -> ``--flag``). A field that is no option of the command (an argument,
    or another command's option) keeps its name.
    """
    text = str(error)
    for field in getattr(error, "fields", ()):
        flag = flag_of(command, field)
        if flag not in flags:
            continue
        name = re.escape(field)
        text = re.sub(rf"^{name}(?=$|[\s:;,)])", flag, text)
        text = re.sub(rf"(?<![^\s(]){name}=(?=\S)", flag + " ", text)
        text = text.replace(f"`{field}`", flag)
    return text

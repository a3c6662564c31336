"""Which command-line flag sets which config field, for every command.

The rule is ``--`` + the field name with ``-`` for ``_`` (``val_fraction`` -> ``--val-fraction``);
:data:`COMMAND_FLAGS` lists, per command, the fields whose flag is named otherwise. Used to check that
each option's default is its config field's (``tests/test_cli_defaults.py``).
"""

from __future__ import annotations

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
    "detect sliding": {"block_px": "--block", "object_size_px": "--object-size"},
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

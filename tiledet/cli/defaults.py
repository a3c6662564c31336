"""Defaults stated once: command options default to None and the config classes own the values.

A command passes only the options the user gave (:func:`given`) to a config class, so the value used
when an option is left out is the dataclass field's default, and its ``--help`` text quotes that same
default (:func:`default_of`, in words: :func:`default_text`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tiledet.radiometry import Radiometry


def given(**options: Any) -> dict[str, Any]:
    """The options that were given on the command line (those that are not None)."""
    return {name: value for name, value in options.items() if value is not None}


def default_of(config_class: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``config_class`` (for help texts and checks).

    Raises:
        KeyError: when the class has no such field or the field has no default.
    """
    for field in dataclasses.fields(config_class):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            raise KeyError(f"{config_class.__name__}.{name} has no default")
    raise KeyError(f"{config_class.__name__} has no field {name!r}")


def shown(value: Any) -> str:
    """A default as ``--help`` states it: ``on``/``off``, ``0.001`` (not ``1e-03``), ``1024 1024``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return " ".join(map(shown, value))
    if isinstance(value, Radiometry):  # --radiometry names the kind (--bands the bands)
        return value.kind
    return "none" if value is None else str(value)


def default_text(config_class: type, name: str) -> str:
    """``shown(default_of(config_class, name))``: the words after ``Default:`` in a help text."""
    return shown(default_of(config_class, name))

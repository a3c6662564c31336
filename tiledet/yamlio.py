"""The one YAML reader for every YAML input (``data.yaml``, ``--classes``, grids, recipes, ...).

:func:`load_yaml_text` parses with a :class:`yaml.SafeLoader` subclass that refuses what a
configuration file never needs and an attacker can abuse:

* anchors and aliases (``&a`` / ``*a``): a "billion laughs" document of a few hundred bytes
  expands into a structure that takes minutes to walk;
* explicit tags (``!!python/object``, ``!custom``, ``!!str``, ...): only the implicit resolution
  of plain scalars (``3`` is an int, ``true`` a bool) is kept;
* nesting deeper than :data:`MAX_DEPTH` levels (the composer recurses once per level).

Every failure, including a syntax error, is one :class:`~tiledet.errors.InputError` line naming
the source and the line. YAML tiledet writes (:func:`tiledet.ioutil.yaml_text`) has none of these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tiledet.errors import InputError
from tiledet.ioutil import read_text_file

MAX_DEPTH = 64
"""Deepest nesting of sequences and mappings accepted."""


class _Refused(yaml.YAMLError):
    """A construct the strict loader refuses; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors, aliases, explicit tags or very deep nesting."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Check the next node's event, then compose it as SafeLoader does."""
        event = self.peek_event()
        line = event.start_mark.line + 1
        anchor = getattr(event, "anchor", None)  # an AliasEvent names the anchor it refers to
        if anchor is not None:
            mark = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise _Refused(line, f"YAML aliases are not accepted ({mark}{anchor}; write the values out)")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _Refused(line, f"YAML tags are not accepted (tag {_short_tag(tag)}; write plain values)")
        if self._depth >= MAX_DEPTH:
            raise _Refused(line, f"YAML nested deeper than {MAX_DEPTH} levels is not accepted")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:python/object`` -> ``!!python/object``; other tags as written."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag


def load_yaml_text(text: str, source: str) -> Any:
    """Parse one YAML document with :class:`StrictSafeLoader`.

    Args:
        text: the document.
        source: what to name in errors (a path, or e.g. an option name).

    Returns:
        The parsed value (None for an empty document).

    Raises:
        InputError: ``"<source>:line L: YAML aliases are not accepted (...)"``, the same for tags
            and deep nesting, or ``"<source>:line L column C: invalid YAML (<reason>)"``.
    """
    try:
        return yaml.load(text, Loader=StrictSafeLoader)  # a SafeLoader subclass
    except _Refused as e:
        raise InputError(f"{source}:line {e.line}: {e.message}") from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:line {mark.line + 1} column {mark.column + 1}" if mark else source
        reason = ", ".join(part for part in (e.context, e.problem) if part) or "syntax error"
        raise InputError(f"{where}: invalid YAML ({reason})") from e
    except yaml.YAMLError as e:
        raise InputError(f"{source}: invalid YAML ({str(e).splitlines()[0] if str(e) else 'error'})") from e


def read_yaml_file(path: str | Path, what: str = "YAML file") -> Any:
    """Read a UTF-8 YAML file (BOM allowed) with :func:`load_yaml_text`.

    Raises:
        InputError: ``"<path>: <what> not found"``, ``"<path>: cannot read <what> (...)"`` or a
            :func:`load_yaml_text` error naming the path.
    """
    return load_yaml_text(read_text_file(path, what), str(path))

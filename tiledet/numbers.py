"""The one check of what counts as a number in parsed JSON/YAML: not ``bool``; NaN/inf are not finite."""

from __future__ import annotations

import math


def is_number(value: object) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool`` (NaN and infinities included)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool``, NaN or infinite."""
    return is_number(value) and math.isfinite(value)  # type: ignore[arg-type]


def is_int(value: object) -> bool:
    """True for an ``int`` that is not a ``bool`` (``1.0`` is not an int here)."""
    return isinstance(value, int) and not isinstance(value, bool)

"""Small helpers for messages people read: counts with correct plurals."""

from __future__ import annotations

_IRREGULAR = {"box": "boxes", "class": "classes", "index": "indices", "entry": "entries"}


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 box"``, ``"2 boxes"``, ``"0 images"``: the count and the word in the right number.

    Args:
        count: how many.
        singular: the word for one (the last word of a phrase is inflected: ``"ground-truth box"``).
        plural_form: the word for several; default: known irregulars, else ``singular + "s"``.
    """
    if count == 1:
        return f"{count} {singular}"
    if plural_form is None:
        head, _, last = singular.rpartition(" ")
        last = _IRREGULAR.get(last, f"{last}s")
        plural_form = f"{head} {last}" if head else last
    return f"{count} {plural_form}"

"""tiledet.text.plural: hand-written expectations."""

from __future__ import annotations

import pytest

from tiledet.text import plural


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (0, "image", "0 images"),
        (1, "image", "1 image"),
        (2, "box", "2 boxes"),
        (1, "box", "1 box"),
        (3, "ground-truth box", "3 ground-truth boxes"),
        (5, "class", "5 classes"),
        (2, "empty tile", "2 empty tiles"),
    ],
)
def test_plural(count: int, word: str, expected: str) -> None:
    assert plural(count, word) == expected


def test_explicit_plural_form() -> None:
    assert plural(4, "child", "children") == "4 children"
    assert plural(1, "child", "children") == "1 child"

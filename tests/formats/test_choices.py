from __future__ import annotations

from tiledet.formats import FORMAT_CHOICES, READERS


def test_format_choices_are_derived_from_the_readers():
    assert FORMAT_CHOICES.split("|") == ["auto", *READERS]
    assert {"xview-geojson", "csv", "semicolon", "dota", "coco", "yolo"} <= set(READERS)


def test_cli_help_texts_name_every_reader():
    from tiledet.cli import convert, draw, evaluate

    for module in (convert, evaluate, draw):
        assert module._FORMATS == FORMAT_CHOICES

"""The strict YAML reader: aliases, tags and deep nesting refused; plain YAML and tiledet's own loads."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tiledet.errors import InputError
from tiledet.ioutil import yaml_text
from tiledet.yamlio import MAX_DEPTH, load_yaml_text, read_yaml_file

#: Nine levels of nine aliases each: 9**9 strings once expanded (the classic "billion laughs").
BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 9)]
    + ["names: *a8", "path: .", "train: images", "val: images"]
) + "\n"

ULTRALYTICS_DATA_YAML = """\
# Ultralytics YOLO, a dataset yaml as `yolo` writes it
path: ../datasets/coco8 # dataset root dir
train: images/train # train images (relative to 'path')
val: images/val
test: # optional

names:
  0: person
  1: bicycle
  2: 'yes'
download: https://github.com/ultralytics/assets/releases/download/v0.0.0/coco8.zip
"""


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text(BILLION_LAUGHS, "evil.yaml")
    assert str(info.value) == "evil.yaml:line 1: YAML aliases are not accepted (&a0; write the values out)"


def test_an_alias_alone_is_refused() -> None:
    with pytest.raises(InputError, match=r"^d\.yaml:line 2: YAML aliases are not accepted \(\*x;"):
        load_yaml_text("a: 1\nb: *x\n", "d.yaml")


def test_merge_keys_need_aliases_and_are_refused() -> None:
    with pytest.raises(InputError, match="YAML aliases are not accepted"):
        load_yaml_text("base: &b {lr: 0.1}\nrun:\n  <<: *b\n", "grid.yaml")


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("x: !!python/object/apply:os.system ['true']\n", "!!python/object/apply:os.system"),
        ("x: !!python/name:os.system\n", "!!python/name:os.system"),
        ("x: !custom 3\n", "!custom"),
        ("x: !!str 3\n", "!!str"),
        ("x: ! 3\n", "!"),
        ("--- !!map\nx: 1\n", "!!map"),
        ("x: !!set {a, b}\n", "!!set"),
        ("%TAG !e! tag:example.com,2000:\n---\nx: !e!thing 1\n", "tag:example.com,2000:thing"),
    ],
)
def test_explicit_tags_are_refused(text: str, tag: str) -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text(text, "t.yaml")
    message = str(info.value)
    assert message.startswith("t.yaml:line ") and f"YAML tags are not accepted (tag {tag};" in message
    assert "\n" not in message


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    text = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(InputError, match=f"deeper than {MAX_DEPTH} levels"):
        load_yaml_text(text, "deep.yaml")
    assert load_yaml_text("[" * MAX_DEPTH + "]" * MAX_DEPTH, "ok.yaml") is not None


def test_plain_scalars_still_resolve() -> None:
    text = "i: 3\nf: 0.5\nb: true\nn: ~\ns: '3'\nd: 2024-05-01\nl: [a, 1]\nm: {k: v}\n"
    assert load_yaml_text(text, "p.yaml") == {
        "i": 3, "f": 0.5, "b": True, "n": None, "s": "3", "d": datetime.date(2024, 5, 1), "l": ["a", 1],
        "m": {"k": "v"},
    }  # fmt: skip
    assert load_yaml_text("", "empty.yaml") is None


def test_an_ultralytics_data_yaml_loads() -> None:
    data = load_yaml_text(ULTRALYTICS_DATA_YAML, "coco8.yaml")
    assert data["names"] == {0: "person", 1: "bicycle", 2: "yes"} and data["test"] is None
    assert data["train"] == "images/train"


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("names: [a\n", "line 2 column 1", "expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", "line 2 column 1", "expected a single document in the stream"),
        ("\tx: 1\n", "line 1 column 1", "found character '\\t' that cannot start any token"),
    ],
)
def test_syntax_errors_are_one_line_naming_file_and_line(text: str, where: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith(f"bad.yaml:{where}: invalid YAML (") and reason in message
    assert "\n" not in message


def test_read_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    with pytest.raises(InputError, match=r"x\.yaml: grid file not found"):
        read_yaml_file(path, "grid file")
    path.write_bytes(b"\xef\xbb\xbfnames: [a]\n")  # a BOM is fine
    assert read_yaml_file(path) == {"names": ["a"]}
    path.write_text("a: &x 1\n")
    with pytest.raises(InputError, match=rf"^{path}:line 1: YAML aliases"):
        read_yaml_file(path)


def test_yaml_tiledet_writes_loads_back_even_with_shared_objects() -> None:
    shared = {"car": 3, "truck": 1}
    names = ["car", "truck"]
    obj = {"names": names, "again": names, "counts": {"train": shared, "val": shared}, "when": "2024-05-01",
           "odd": ["&a", "*b", "!!str", "[/red]", "yes", "", None, 1.5]}  # fmt: skip
    text = yaml_text(obj)
    assert "&" not in text.replace("'&a'", "") and "*id" not in text
    assert load_yaml_text(text, "written.yaml") == obj

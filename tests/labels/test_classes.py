from __future__ import annotations

import pytest

from tiledet.errors import InputError
from tiledet.labels.classes import ClassMap


def test_xview_map_has_60_classes_ranked_by_type_id():
    cm = ClassMap.xview()
    assert len(cm.names) == 60
    assert cm.ids[0] == 11 and cm.ids[-1] == 94
    assert list(cm.ids) == sorted(cm.ids)
    # hand-checked against Ultralytics' xView.yaml: 18 Small Car -> 5, 73 Building -> 48, 94 Tower -> 59
    assert cm.lookup([18, 73, 94, 11]).tolist() == [5, 48, 59, 0]
    assert cm.names[5] == "Small Car"
    # 75 and 82 occur in real xView labels but are not classes
    assert cm.lookup([75, 82, 0]).tolist() == [-1, -1, -1]
    # digits in strings count as ids, names match case-insensitively
    assert cm.lookup(["18", " small  car ", "nope"]).tolist() == [5, 5, -1]


@pytest.mark.realdata
def test_xview_map_matches_official_mapping(realdata):
    rows = (realdata / "xview_meta" / "xview_type_id_mapping.tsv").read_text().splitlines()[1:]
    cm = ClassMap.xview()
    for row in rows:
        type_id, name, _, index = row.split("\t")
        assert cm.lookup([int(type_id)]).tolist() == [int(index)]
        assert cm.names[int(index)] == name


def test_names_map_by_index_and_name():
    cm = ClassMap.from_names(["car", "truck"])
    assert cm.lookup([1, 0, "TRUCK", 2]).tolist() == [1, 0, 1, -1]


@pytest.mark.parametrize(
    ("filename", "text", "names", "ids"),
    [
        ("c.txt", "car\ntruck\n", ("car", "truck"), None),
        (
            "c.txt",
            "# comment\n18 Small Car\n\n11 Fixed-wing Aircraft  # x\n",
            ("Fixed-wing Aircraft", "Small Car"),
            (11, 18),
        ),
        ("d.yaml", "names:\n  0: a\n  1: b\n", ("a", "b"), None),
        ("d.yaml", "names: [a, b]\n", ("a", "b"), None),
        ("d.yaml", "type_ids:\n  20: b\n  10: a\n", ("a", "b"), (10, 20)),
    ],
)
def test_from_file(tmp_path, filename, text, names, ids):
    path = tmp_path / filename
    path.write_text(text)
    cm = ClassMap.from_file(path)
    assert cm.names == names and cm.ids == ids


@pytest.mark.parametrize(
    ("filename", "text"),
    [("c.txt", ""), ("c.txt", "car\ncar\n"), ("d.yaml", "names:\n  0: a\n  2: b\n"), ("d.yaml", "foo: 1\n"),
     ("d.yaml", "names: [a\n")],
)
def test_bad_class_files(tmp_path, filename, text):
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(InputError, match=str(path)):
        ClassMap.from_file(path)


def test_missing_class_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.txt: class file not found"):
        ClassMap.from_file(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    "text",
    [
        "73:Building\n18:Small Car\n",
        "73,Building\n18,Small Car\n",
        "73 Building\n18 Small Car\n",
        "73\tBuilding\n18\tSmall Car\n",
        "73 : Building\r\n18: Small Car\r\n",
        'id,name\n73,"Building"\n18,Small Car\n',
        "# xView classes\n73:Building  # comment\n\n18:Small Car\n",
    ],
)
def test_id_name_class_files(tmp_path, text):
    path = tmp_path / "classes.txt"
    path.write_text(text)
    cm = ClassMap.from_file(path)
    assert cm.names == ("Small Car", "Building") and cm.ids == (18, 73)
    assert cm.lookup([73, 18, 11, "building"]).tolist() == [1, 0, -1, 1]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Building:73\nSmall Car:18\n", 1),  # name first: no line parses
        ("73:Building\nSmall Car\n", 2),  # one line without an id among id lines
        ("car\n42\n", 2),  # a bare number is not a name
        ('{"73": "Building"}\n', 1),
    ],
)
def test_unreadable_class_file_names_first_bad_line(tmp_path, text, line):
    path = tmp_path / "classes.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"classes\.txt:line {line}: cannot read"):
        ClassMap.from_file(path)


def test_duplicate_ids_rejected(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("1:a\n1:b\n")
    with pytest.raises(InputError, match="class id 1 is listed twice"):
        ClassMap.from_file(path)


@pytest.mark.parametrize(("text", "names"), [("- a\n- b\n", ("a", "b")), ("0: a\n1: b\n", ("a", "b"))])
def test_bare_yaml_names(tmp_path, text, names):
    path = tmp_path / "names.yaml"
    path.write_text(text)
    assert ClassMap.from_file(path).names == names


@pytest.mark.realdata
@pytest.mark.parametrize("folder", ["data_utilities", "xView1_baseline"])
def test_official_xview_class_labels_file(realdata, folder):
    """The official ``73:Building`` file gives the same ids and index order as the built-in xView map."""
    path = realdata / "xview_meta" / folder / "xview_class_labels.txt"
    cm = ClassMap.from_file(path)
    builtin = ClassMap.xview()
    assert cm.ids == builtin.ids
    assert cm.lookup([73, 18, 94]).tolist() == [48, 5, 59]
    assert cm.names[48] == "Building"

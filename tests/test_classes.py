from __future__ import annotations

import pytest

from tiledet.classes import ClassMap
from tiledet.errors import InputError


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

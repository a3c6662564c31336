from __future__ import annotations

from dataclasses import replace

import pytest

from tiledet.errors import ConfigError, FormatError, InputError
from tiledet.formats import ReadOptions
from tiledet.formats.csv_labels import parse_text, read
from tiledet.labels.classes import ClassMap
from tiledet.labels.load import resolve


@pytest.mark.parametrize(
    "text",
    [
        "image_id,xmin,ymin,xmax,ymax,type_id\n2355.tif,10,20,30.5,40,73\n2355.tif,0,0,5,5,18\n",
        "File , X_MIN,Y_Min,x_max,YMAX,Label\r\n2355.tif,10,20,30.5,40,73\r\n2355.tif,0,0,5,5,18\r\n",
        "filename,x1,y1,x2,y2,class\n2355.tif,10,20,30.5,40,73\n2355.tif,0,0,5,5,18",
        'image,bounds_imcoords,type_id\n2355.tif,"10,20,30.5,40",73\n2355.tif,"0,0,5,5",18\n',
        "\ufeffimage_id,extra,xmin,ymin,xmax,ymax,category\n2355.tif,q,10,20,30.5,40,73\n2355.tif,q,0,0,5,5,18\n",
        "image,x,y,w,h,class\n2355.tif,10,20,20.5,20,73\n2355.tif,0,0,5,5,18\n",
        "File,Left,Top,Width,Height,Label\n2355.tif,10,20,20.5,20,73\n2355.tif,0,0,5,5,18\n",
    ],
    ids=["xview-names", "crlf-mixed-case", "x1y1-no-final-newline", "bounds", "bom-extra-columns", "xywh",
         "left-top-width-height"],
)
def test_hand_computed_rows_in_every_column_form(text):
    raw = parse_text(text, source="l.csv")
    assert raw.xyxy.tolist() == [[10, 20, 30.5, 40], [0, 0, 5, 5]]
    assert raw.class_keys == [73, 18]
    assert raw.box_images == ["2355.tif", "2355.tif"]
    assert raw.box_locations.tolist() == [2, 3]
    assert raw.location(0) == ("l.csv", "line 2") and raw.drops == []


def test_class_names_stay_strings_and_blank_lines_keep_line_numbers():
    text = "image,xmin,ymin,xmax,ymax,class\n\na.png,1,2,3,4, small car \n,,,,,\n\nb.png,5,6,7,8,12\n"
    raw = parse_text(text)
    assert raw.class_keys == ["small car", 12]
    assert raw.box_locations.tolist() == [3, 6]
    assert list(raw.images) == ["a.png", "b.png"] and raw.drops == []


@pytest.mark.parametrize(
    ("row", "detail"),
    [
        ("a.png,x,2,3,4,5", "xmin 'x' is not a finite number"),
        ("a.png,1,2,3,inf,5", "ymax 'inf' is not a finite number"),
        ("a.png,1,2,3,,5", "ymax '' is not a finite number"),
        ("a.png,1,2,3", "row has 4 cells, the header has 6"),
        (",1,2,3,4,5", "empty image name"),
        ("a.png,1,2,3,4,  ", "empty class"),
    ],
)
def test_malformed_row_reported_with_line_and_rest_read(row, detail):
    text = f"image,xmin,ymin,xmax,ymax,class\na.png,1,1,2,2,11\n{row}\nb.png,1,1,2,2,12\n"
    raw = parse_text(text, source="l.csv")
    assert raw.class_keys == [11, 12] and raw.box_locations.tolist() == [2, 4]
    assert [(d.source, d.location, d.reason, d.detail) for d in raw.drops] == [
        ("l.csv", "line 3", "malformed", detail)
    ]
    with pytest.raises(FormatError, match=r"^l\.csv:line 3: "):
        parse_text(text, source="l.csv", strict=True)


def test_bounds_cell_with_wrong_count_is_malformed():
    raw = parse_text('image,bounds_imcoords,type_id\na.tif,"1,2,3",11\n')
    assert len(raw) == 0 and "is not 'xmin,ymin,xmax,ymax'" in raw.drops[0].detail


def test_quoted_multiline_cell_reports_the_last_physical_line():
    raw = parse_text('image,xmin,ymin,xmax,ymax,class\n"a\nb.png",1,2,3,4,car\nc.png,1,2,3,4,car\n')
    assert raw.box_images == ["a\nb.png", "c.png"] and raw.box_locations.tolist() == [3, 4]


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_empty_input_raises(text):
    with pytest.raises(InputError, match=r"e\.csv: CSV file is empty"):
        parse_text(text, source="e.csv")


def test_header_only_gives_no_boxes():
    raw = parse_text("image,xmin,ymin,xmax,ymax,class\n")
    assert len(raw) == 0 and raw.images == {}


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("picture,xmin,ymin,xmax,ymax,class", "image"),
        ("image,xmin,ymin,xmax,class", "bounds"),
        ("image,xmin,ymin,xmax,ymax,kind", "class"),
        ("foo,bar", "image, bounds, class"),
    ],
)
def test_unknown_columns_error_lists_header_and_accepted_names(header, missing):
    with pytest.raises(InputError) as info:
        parse_text(header + "\n1,2,3,4,5,6\n", source="l.csv")
    message = str(info.value)
    assert message.startswith(f"l.csv: missing CSV column(s) for {missing};")
    assert str(header.split(",")) in message
    assert "image_id" in message and "bounds_imcoords" in message and "type_id" in message


def test_column_override_by_role():
    text = "Pic,L,T,R,B,Kind,image\np.png,1,2,3,4,boat,wrong.png\n"
    columns = {"image": "pic", "xmin": "L", "ymin": "t", "xmax": "R", "ymax": "B", "class": "KIND"}
    raw = parse_text(text, columns=columns)
    assert raw.box_images == ["p.png"] and raw.xyxy.tolist() == [[1, 2, 3, 4]] and raw.class_keys == ["boat"]


def test_override_of_bounds_wins_over_corner_columns():
    text = 'image,xmin,ymin,xmax,ymax,box,class\na.png,0,0,1,1,"5,6,7,8",3\n'
    raw = parse_text(text, columns={"bounds": "box"})
    assert raw.xyxy.tolist() == [[5, 6, 7, 8]]


def test_bad_overrides():
    with pytest.raises(ConfigError, match="unknown CSV column role"):
        parse_text("image,xmin\n", columns={"colour": "x"})
    with pytest.raises(InputError, match="column 'pic' given for 'image' is not in the header"):
        parse_text("image,xmin,ymin,xmax,ymax,class\n", columns={"image": "pic"})


def test_read_file_and_resolve_with_xview_classes(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b"\xef\xbb\xbfimage_id,xmin,ymin,xmax,ymax,type_id\r\n1.tif,-4,2,30,40,73\r\n1.tif,1,1,9,9,75\r\n")
    raw = read(path, ReadOptions())
    assert raw.sources == [str(path)] and raw.class_keys == [73, 75]
    xview = ClassMap.xview()
    result = resolve(replace(raw, images={"1.tif": (20, 100)}), xview, None)
    boxes = result.dataset.images[0].boxes
    assert boxes.xyxy.tolist() == [[0, 2, 20, 40]]
    assert boxes.class_ids.tolist() == [xview.ids.index(73)]
    assert [(d.location, d.reason) for d in result.drops] == [("line 3", "unknown_class")]
    with pytest.raises(InputError, match=r"missing\.csv: label file not found"):
        read(tmp_path / "missing.csv", ReadOptions())


def test_csv_columns_override_for_xywh():
    text = "img,c1,c2,c3,c4,kind\na.png,10,20,5,6,car\na.png,1,1,-2,3,car\n"
    cols = {"image": "img", "x": "c1", "y": "c2", "w": "c3", "h": "c4", "class": "kind"}
    raw = parse_text(text, source="l.csv", columns=cols)
    assert raw.xyxy.tolist() == [[10, 20, 15, 26]]  # x + w, y + h by hand
    assert [(d.reason, d.location) for d in raw.drops] == [("malformed", "line 3")]
    assert "negative width" in raw.drops[0].detail

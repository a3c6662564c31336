from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiledet.errors import FormatError, InputError
from tiledet.formats import ReadOptions, xview_geojson
from tiledet.formats.xview_geojson import parse_stream, parse_text, read
from tiledet.labels.classes import ClassMap
from tiledet.labels.load import resolve


def _feature(bounds: object = "10,20,30,40", type_id: object = 73, image: object = "5.tif") -> dict:
    props: dict = {"edited_by": "x", "index_right": 1}
    if bounds is not None:
        props["bounds_imcoords"] = bounds
    if type_id is not None:
        props["type_id"] = type_id
    if image is not None:
        props["image_id"] = image
    ring = [[-90.5, 14.5], [-90.5, 14.6], [-90.4, 14.6], [-90.4, 14.5], [-90.5, 14.5]]
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _collection(features: list, indent: int | None = None, type_last: bool = False) -> str:
    obj: dict = {"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}}
    if not type_last:
        obj["type"] = "FeatureCollection"
    obj["features"] = features
    if type_last:
        obj["type"] = "FeatureCollection"
    return json.dumps(obj, indent=indent)


@pytest.mark.parametrize("indent", [None, 4])
@pytest.mark.parametrize("type_last", [False, True])
def test_hand_computed_boxes(indent, type_last):
    text = _collection(
        [_feature("2712,1145,2746,1177", 73, "2355.tif"), _feature("0.5,1.25,7,9.75", 18, "10.tif")],
        indent=indent,
        type_last=type_last,
    )
    raw = parse_text(text, source="train.geojson")
    assert raw.xyxy.tolist() == [[2712, 1145, 2746, 1177], [0.5, 1.25, 7, 9.75]]
    assert raw.class_keys == [73, 18]
    assert raw.box_images == ["2355.tif", "10.tif"]
    assert list(raw.images) == ["2355.tif", "10.tif"] and raw.images["2355.tif"] is None
    assert raw.box_locations.tolist() == [0, 1]
    assert raw.location(1) == ("train.geojson", "feature 1")
    assert raw.location_unit == "feature" and raw.drops == []


def test_empty_feature_collection_gives_no_boxes():
    raw = parse_text('{"type": "FeatureCollection", "features": []}')
    assert len(raw) == 0 and raw.images == {} and raw.xyxy.shape == (0, 4)


@pytest.mark.parametrize(
    ("feature", "detail"),
    [
        (_feature(bounds=None), "bounds_imcoords None"),
        (_feature(bounds=""), "bounds_imcoords ''"),
        (_feature(bounds="1,2,3"), "bounds_imcoords '1,2,3'"),
        (_feature(bounds="1,2,3,x"), "bounds_imcoords '1,2,3,x'"),
        (_feature(bounds="1,2,3,nan"), "bounds_imcoords '1,2,3,nan'"),
        (_feature(bounds=12), "bounds_imcoords 12"),
        (_feature(image=None), "image_id: None"),
        (_feature(image="  "), "image_id: '  '"),
        (_feature(type_id=None), "type_id None"),
        (_feature(type_id=7.5), "type_id 7.5"),
        (_feature(type_id="car"), "type_id 'car'"),
        (_feature(type_id=True), "type_id True"),
        ({"type": "Feature", "geometry": None}, "no 'properties'"),
        ([1, 2], "no 'properties'"),
    ],
)
def test_malformed_feature_is_dropped_and_the_rest_read(feature, detail):
    text = _collection([_feature("1,1,5,5", 11, "a.tif"), feature, _feature("2,2,6,6", 12, "a.tif")])
    raw = parse_text(text, source="labels.geojson")
    assert raw.class_keys == [11, 12] and raw.box_locations.tolist() == [0, 2]
    assert len(raw.drops) == 1
    drop = raw.drops[0]
    assert (drop.source, drop.location, drop.reason) == ("labels.geojson", "feature 1", "malformed")
    assert detail in drop.detail


def test_strict_mode_raises_with_the_feature_index():
    text = _collection([_feature(), _feature(), _feature(bounds="1,2")])
    with pytest.raises(FormatError, match=r"labels\.geojson:feature 2: bounds_imcoords '1,2'"):
        parse_text(text, source="labels.geojson", strict=True)


def test_image_of_only_malformed_features_is_not_declared():
    raw = parse_text(_collection([_feature(bounds="bad", image="x.tif"), _feature(image="y.tif")]))
    assert list(raw.images) == ["y.tif"]


def test_lenient_values_integer_string_type_and_list_bounds():
    raw = parse_text(_collection([_feature(bounds=[1, 2, 3, 4], type_id="82", image=" 7.tif ")]))
    assert raw.xyxy.tolist() == [[1, 2, 3, 4]] and raw.class_keys == [82] and raw.box_images == ["7.tif"]


def test_unknown_xview_type_ids_reach_raw_labels_unchanged_and_resolve_drops_them():
    raw = parse_text(_collection([_feature(type_id=75), _feature(type_id=82), _feature(type_id=11)]))
    assert raw.class_keys == [75, 82, 11]
    result = resolve(replace(raw, images={"5.tif": (100, 100)}), ClassMap.xview(), None)
    assert [(d.location, d.reason) for d in result.drops] == [
        ("feature 0", "unknown_class"),
        ("feature 1", "unknown_class"),
    ]
    assert result.dataset.images[0].boxes.class_ids.tolist() == [0]  # type id 11 -> index 0


_FC = '{"type": "FeatureCollection", "features": '  # 43 characters


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", r"src\.json:byte 0: not a GeoJSON FeatureCollection"),
        ('{"type": "Feature", "features": []}', r"type is 'Feature'"),
        ('{"features": []}', r'no "type" member'),
        ('{"type": "FeatureCollection"}', r'no "features" array'),
        (_FC + '[{"a": 1}', r"src\.json:byte 51: invalid JSON.*end of file"),
        (_FC + '[{"a": 1} {"b": 2}]}', r"byte 52: invalid JSON: expected"),
        (_FC + '[{"a": tru}]}', r"byte 49: invalid JSON: Expecting value"),
        ('{"type": "FeatureCollection", "features": []} x', r"byte 46: invalid JSON: extra data"),
        ('{"type": "FeatureCollection" "features": []}', r"byte 29: invalid JSON: expected ',' or '}'"),
    ],
)
def test_not_a_feature_collection_or_invalid_json_names_source_and_byte(text, message):
    with pytest.raises(FormatError, match=message):
        parse_text(text, source="src.json")
    with pytest.raises(FormatError, match=message):
        parse_stream(io.BytesIO(text.encode()), "src.json")


@pytest.mark.parametrize("text", ["", "  \n "])
def test_empty_input_raises_input_error(text):
    with pytest.raises(InputError, match="empty"):
        parse_text(text, source="e.geojson")


def test_stream_across_tiny_chunks_matches_whole_text(monkeypatch):
    features = [_feature(f"{i},{i + 1},{i + 10.5},{i + 20}", 11 + i % 3, f"{i % 4}.tif") for i in range(40)]
    features[7] = _feature(bounds="oops")
    text = "\ufeff" + _collection(features, indent=2).replace('"edited_by": "x"', '"edited_by": "é✓"')
    whole = parse_text(text)
    monkeypatch.setattr(xview_geojson, "CHUNK_CHARS", 7)
    for fileobj in (io.BytesIO(text.encode("utf-8")), io.StringIO(text)):
        streamed = parse_stream(fileobj, "<text>")
        np.testing.assert_array_equal(streamed.xyxy, whole.xyxy)
        assert streamed.class_keys == whole.class_keys and list(streamed.images) == list(whole.images)
        assert streamed.box_locations.tolist() == whole.box_locations.tolist()
        assert [d.location for d in streamed.drops] == ["feature 7"]
    assert len(whole) == 39


def test_error_byte_offset_counts_utf8_bytes_across_chunks(monkeypatch):
    text = '{"type": "FeatureCollection", "note": "ééé", "features": [{"a": 1}, ]}'
    expected = len(text[: text.index("]")].encode("utf-8"))
    monkeypatch.setattr(xview_geojson, "CHUNK_CHARS", 5)
    with pytest.raises(FormatError, match=f"byte {expected}: invalid JSON"):
        parse_stream(io.BytesIO(text.encode("utf-8")), "s")


def test_not_utf8_is_a_format_error():
    with pytest.raises(FormatError, match="not UTF-8"):
        parse_stream(io.BytesIO(b'{"type": "\xff"}'), "bad.geojson")


def test_coordinates_are_blanked_keeping_length_and_other_values():
    text = '{"b": {"type": "P", "coordinates": [[1.5, -2e3], [3, 4]] }, "coordinates": [1, 2], "c": [[1]]}'
    blanked = xview_geojson._blank_coordinates(text)
    assert len(blanked) == len(text)  # byte offsets in error messages stay exact
    assert json.loads(blanked) == {"b": {"type": "P", "coordinates": None}, "coordinates": [1, 2], "c": [[1]]}
    assert xview_geojson._blank_coordinates('{"coordinates": []}') == '{"coordinates": []}'
    mixed = '{"coordinates": [[1, 2], ["a"]]}'  # not numbers only: left alone
    assert xview_geojson._blank_coordinates(mixed) == mixed


def test_read_file_and_missing_file(tmp_path):
    path = tmp_path / "xView_train.geojson"
    path.write_text(_collection([_feature()]), encoding="utf-8")
    raw = read(path, ReadOptions())
    assert raw.sources == [str(path)] and raw.xyxy.tolist() == [[10, 20, 30, 40]]
    with pytest.raises(InputError, match=r"nope\.geojson"):
        read(tmp_path / "nope.geojson", ReadOptions())
    with pytest.raises(FormatError, match=r"feature 0"):
        path.write_text(_collection([_feature(image="")]), encoding="utf-8")
        read(path, ReadOptions(strict=True))


@pytest.mark.realdata
def test_real_xview_features(realdata: Path):
    path = realdata / "xview_meta" / "xview_train_geojson_example_features.json"
    raw = read(path, ReadOptions())
    assert raw.xyxy.tolist() == [[2712, 1145, 2746, 1177], [2720, 2233, 2760, 2288]]
    assert raw.class_keys == [73, 73] and raw.box_images == ["2355.tif", "2355.tif"]
    assert raw.drops == []
    xview = ClassMap.xview()
    result = resolve(replace(raw, images={"2355.tif": (3000, 3000)}), xview, None)
    assert result.dataset.images[0].boxes.class_ids.tolist() == [xview.ids.index(73)] * 2
    assert xview.names[xview.ids.index(73)] == "Building"


def test_feature_to_yolo_line_hand_computed():
    from tiledet.formats.yolo import format_label_text

    raw = parse_text(_collection([_feature("2712,1145,2746,1177", 73, "2355.tif")]))
    result = resolve(replace(raw, images={"2355.tif": (3000, 3000)}), ClassMap.xview(), None)
    image = result.dataset.images[0]
    # class 73 (Building) is index 48; centre ((2712+2746)/2, (1145+1177)/2) = (2729, 1161); size 34 x 32
    assert format_label_text(image.boxes, image.size_wh) == "48 0.909667 0.387000 0.011333 0.010667\n"


@settings(max_examples=40, deadline=None)
@given(
    boxes=st.lists(st.tuples(*[st.integers(-50, 5000)] * 4, st.integers(0, 100)), max_size=12),
    chunk=st.integers(1, 300),
    indent=st.sampled_from([None, 0, 2]),
)
def test_stream_round_trip_property(boxes, chunk, indent):
    features = [_feature(",".join(map(str, b[:4])), b[4], f"{b[4] % 3}.tif") for b in boxes]
    text = _collection(features, indent=indent)
    original = xview_geojson.CHUNK_CHARS
    xview_geojson.CHUNK_CHARS = chunk
    try:
        raw = parse_stream(io.BytesIO(text.encode()), "p")
    finally:
        xview_geojson.CHUNK_CHARS = original
    assert raw.xyxy.tolist() == [list(b[:4]) for b in boxes]
    assert raw.class_keys == [b[4] for b in boxes] and raw.box_locations.tolist() == list(range(len(boxes)))

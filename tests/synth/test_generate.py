"""`tiledet synth`: determinism, label consistency across the three formats, box validity and tightness."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tiledet.boxes import Boxes
from tiledet.errors import ConfigError
from tiledet.labels import ImageLabels, LabeledDataset
from tiledet.labels.classes import ClassMap
from tiledet.synth import generate_scenes, render_scene
from tiledet.synth.config import SynthConfig
from tiledet.synth.recipe import load_synth_recipe

SIZE = (384, 320)


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes, but tiledet's own records (their fingerprints name inodes and times)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (".tiledet-manifest.json", ".tiledet.lock")}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("synth")
    return generate_scenes(SynthConfig(out, scenes=3, size_wh=SIZE, seed=7))


@pytest.mark.parametrize("image_format", ["tif", "png"])
def test_same_seed_gives_same_bytes(tmp_path: Path, image_format: str) -> None:
    kw = {"scenes": 2, "size_wh": SIZE, "seed": 11, "image_format": image_format}
    a = generate_scenes(SynthConfig(tmp_path / "a", **kw))
    b = generate_scenes(SynthConfig(tmp_path / "b", **kw))
    files_a, files_b = _files(a.out), _files(b.out)
    expected = {
        f"images/synth_0000.{image_format}", f"images/synth_0001.{image_format}",
        "xView_train.geojson", "labels.csv", "labels_semicolon.txt", "synth.yaml", "classes.txt",
    }
    assert set(files_a) == expected and (a.out / ".tiledet-manifest.json").is_file()
    assert files_a == files_b
    assert a.num_boxes > 0


def test_rerun_into_same_folder_replaces_files_identically(tmp_path: Path) -> None:
    cfg = SynthConfig(tmp_path, scenes=1, size_wh=SIZE, seed=5, image_format="png")
    generate_scenes(cfg)
    first = _files(tmp_path)
    generate_scenes(cfg)
    assert _files(tmp_path) == first


def test_different_seed_gives_different_scenes(tmp_path: Path) -> None:
    a = generate_scenes(SynthConfig(tmp_path / "a", scenes=1, size_wh=SIZE, seed=1, image_format="png"))
    b = generate_scenes(SynthConfig(tmp_path / "b", scenes=1, size_wh=SIZE, seed=2, image_format="png"))
    assert a.image_paths[0].read_bytes() != b.image_paths[0].read_bytes()
    assert (a.out / "labels.csv").read_bytes() != (b.out / "labels.csv").read_bytes()


def test_scenes_of_one_seed_differ_from_each_other(synth_dir) -> None:
    images = [p.read_bytes() for p in synth_dir.image_paths]
    assert len(set(images)) == len(images)


def _parse_geojson(text: str) -> set[tuple]:
    out = set()
    for feature in json.loads(text)["features"]:
        props = feature["properties"]
        assert isinstance(props["bounds_imcoords"], str)
        box = tuple(int(v) for v in props["bounds_imcoords"].split(","))
        assert feature["geometry"]["type"] == "Polygon"
        assert len(feature["geometry"]["coordinates"][0]) == 5
        out.add((props["image_id"], *box, int(props["type_id"])))
    return out


def _parse_csv(text: str) -> set[tuple]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["image_id", "xmin", "ymin", "xmax", "ymax", "type_id"]
    keys = ("xmin", "ymin", "xmax", "ymax", "type_id")
    return {(r["image_id"], *(int(r[k]) for k in keys)) for r in reader}


def _parse_semicolon(text: str) -> set[tuple]:
    out = set()
    lines = text.splitlines()
    assert lines[0].startswith("#")
    for line in lines[1:]:
        fields = line.split(";")
        relpath, n = fields[0], int(fields[1])
        assert len(fields) == 2 + 3 * n
        for k in range(n):
            _obj_id, coords, type_id = fields[2 + 3 * k : 5 + 3 * k]
            out.add((relpath, *(int(v) for v in coords.split(",")), int(type_id)))
    return out


def test_three_label_files_describe_the_same_boxes(synth_dir) -> None:
    expected = {
        (s.file_name, *map(int, box), int(t))
        for s in synth_dir.scenes
        for box, t in zip(s.xyxy.tolist(), s.type_ids.tolist(), strict=True)
    }
    assert len(expected) == synth_dir.num_boxes > 0
    assert _parse_geojson(synth_dir.label_paths["xview-geojson"].read_text()) == expected
    assert _parse_csv(synth_dir.label_paths["csv"].read_text()) == expected
    assert _parse_semicolon(synth_dir.label_paths["semicolon"].read_text()) == expected


def test_feature_ids_are_unique_and_shared_by_geojson_and_semicolon(synth_dir) -> None:
    features = json.loads(synth_dir.label_paths["xview-geojson"].read_text())["features"]
    geo_ids = [f["properties"]["feature_id"] for f in features]
    assert len(set(geo_ids)) == len(geo_ids) == synth_dir.num_boxes
    semi_ids = []
    for line in synth_dir.label_paths["semicolon"].read_text().splitlines()[1:]:
        fields = line.split(";")
        semi_ids += [int(fields[2 + 3 * k]) for k in range(int(fields[1]))]
    assert semi_ids == geo_ids


def test_boxes_inside_image_in_size_range_with_valid_type_ids(synth_dir) -> None:
    recipe = load_synth_recipe()
    size_range = {c.type_id: c.size_px for c in recipe.classes}
    xview_ids = set(ClassMap.xview().ids or ())
    for scene in synth_dir.scenes:
        xyxy = scene.xyxy
        w, h = scene.size_wh
        assert (xyxy[:, 0] >= 0).all() and (xyxy[:, 1] >= 0).all()
        assert (xyxy[:, 2] <= w).all() and (xyxy[:, 3] <= h).all()
        assert (xyxy[:, 2] > xyxy[:, 0]).all() and (xyxy[:, 3] > xyxy[:, 1]).all()
        longer = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
        for side, type_id in zip(longer.tolist(), scene.type_ids.tolist(), strict=True):
            assert type_id in xview_ids
            lo, hi = size_range[type_id]
            assert lo <= side <= hi, (type_id, side)


def test_full_size_scene_has_many_objects_of_every_class() -> None:
    scene = render_scene((3000, 3000), 0, 0, load_synth_recipe())
    counts = dict(zip(*np.unique(scene.type_ids, return_counts=True), strict=True))
    assert 200 <= len(scene.type_ids) <= 400
    for type_id in (18, 19, 23, 73, 86, 11, 12):
        assert counts.get(type_id, 0) >= 3, type_id
    # small cars are the commonest class, mostly 8-20 px
    assert counts[18] == max(counts.values())


@pytest.mark.parametrize("index", [0, 1, 2])
def test_boxes_are_tight_around_painted_objects_and_never_overlap(index: int) -> None:
    scene = render_scene((512, 512), 3, index, load_synth_recipe(), debug=True)
    mask, image, ground = scene.object_mask, scene.image, scene.ground
    assert mask is not None and ground is not None
    in_boxes = np.zeros_like(mask)
    for x0, y0, x1, y1 in scene.xyxy.tolist():
        inside = mask[y0:y1, x0:x1]
        # tight: the first and last row and column of the box hold object pixels
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        assert not in_boxes[y0:y1, x0:x1].any(), "two boxes overlap"
        in_boxes[y0:y1, x0:x1] = True
    assert not (mask & ~in_boxes).any(), "object pixels outside every box"
    diff = np.abs(image.astype(np.int32) - ground.astype(np.int32)).sum(axis=2)
    assert (diff[~in_boxes & ~_dilate(in_boxes, 26)] == 0).all()  # beyond the longest shadow: untouched
    for x0, y0, x1, y1 in scene.xyxy.tolist():
        assert diff[y0:y1, x0:x1][mask[y0:y1, x0:x1]].mean() > 15  # the object stands out of its ground


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def test_synth_yaml_records_settings_and_recipe(synth_dir) -> None:
    import yaml

    doc = yaml.safe_load((synth_dir.out / "synth.yaml").read_text())
    assert doc["seed"] == 7 and doc["scenes"] == 3 and doc["size_wh"] == list(SIZE)
    assert doc["image_format"] == "tif"
    assert doc["boxes"] == synth_dir.num_boxes
    recorded = [c["type_id"] for c in doc["recipe"]["classes"]]
    assert recorded == [c.type_id for c in load_synth_recipe().classes]


def test_class_list_names_the_recipe_classes_and_converts_every_box(synth_dir, tmp_path: Path) -> None:
    from tiledet.convert.config import ConvertConfig
    from tiledet.convert.pipeline import convert

    lines = (synth_dir.out / "classes.txt").read_text().splitlines()
    recipe = load_synth_recipe()
    assert lines == [f"{t}:{n}" for t, n in sorted({(c.type_id, c.name) for c in recipe.classes})]
    classes = ClassMap.from_file(synth_dir.out / "classes.txt")
    assert list(classes.names) == [line.split(":", 1)[1] for line in lines]
    report = convert(ConvertConfig(
        src=synth_dir.out / "xView_train.geojson", images_dir=synth_dir.out / "images", out=tmp_path / "y",
        classes=str(synth_dir.out / "classes.txt"),
    ))
    assert report.class_names == tuple(classes.names)
    assert report.input_boxes == report.written_boxes == synth_dir.num_boxes  # none unknown_class


def test_images_have_the_requested_size(synth_dir) -> None:
    from tiledet.ioutil import image_size

    assert [p.name for p in synth_dir.image_paths] == ["synth_0000.tif", "synth_0001.tif", "synth_0002.tif"]
    assert all(image_size(p) == SIZE for p in synth_dir.image_paths)


def _expected_dataset(synth) -> LabeledDataset:
    """The generator's in-memory labels over the 60 xView classes (the reference for the readers)."""
    cmap = ClassMap.xview()
    images = tuple(
        ImageLabels(s.file_name, s.size_wh, Boxes(s.xyxy, cmap.lookup(s.type_ids.tolist())))
        for s in synth.scenes
    )
    return LabeledDataset(cmap.names, images)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scenes": 0},
        {"scenes": -3},
        {"size_wh": (0, 512)},
        {"size_wh": (512, -1)},
        {"size_wh": (32, 512)},
        {"size_wh": (512,)},
        {"size_wh": (100.5, 200)},
        {"seed": -1},
        {"image_format": "jpg"},
    ],
)
def test_bad_options_raise_config_error(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        SynthConfig(tmp_path, **kwargs)


@pytest.mark.parametrize("fmt", ["xview-geojson", "csv", "semicolon"])
def test_label_files_load_through_tiledet_readers(synth_dir, fmt: str) -> None:
    from tiledet.labels.load import load_dataset

    result = load_dataset(synth_dir.label_paths[fmt], fmt, synth_dir.images_dir)
    assert result.drops == [] and result.input_boxes == synth_dir.num_boxes
    expected = _expected_dataset(synth_dir)
    assert result.dataset.class_names == expected.class_names
    got = {im.file_name: im for im in result.dataset.images}
    for want in expected.images:
        if len(want.boxes) == 0:
            continue
        have = got[want.file_name]
        assert have.size_wh == want.size_wh
        order_have = np.lexsort(have.boxes.xyxy.T[::-1])
        order_want = np.lexsort(want.boxes.xyxy.T[::-1])
        assert np.array_equal(have.boxes.xyxy[order_have], want.boxes.xyxy[order_want])
        assert np.array_equal(have.boxes.class_ids[order_have], want.boxes.class_ids[order_want])


def test_label_files_are_auto_detected(synth_dir) -> None:
    from tiledet.formats.detect import detect_format

    for fmt, path in synth_dir.label_paths.items():
        assert detect_format(path) == fmt

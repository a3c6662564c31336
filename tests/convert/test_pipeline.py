"""The convert pipeline: split, plain YOLO/COCO writing, report accounting, re-runs, strict mode.

Most tests read a tiny test-only label format ("fake", registered for the test via monkeypatch) so
they exercise the pipeline independently of the real readers: one record per line,
``image;x0,y0,x1,y1;xview_type_id``, or ``image;`` for an image without boxes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiledet.convert.config import ConvertConfig
from tiledet.convert.pipeline import convert
from tiledet.convert.split import split_images, split_names, val_count
from tiledet.errors import ConfigError, FormatError, InputError
from tiledet.formats import READERS, ReadOptions
from tiledet.labels import DROP_REASONS, RawLabels, RawLabelsBuilder


def fake_read(path: Path, options: ReadOptions) -> RawLabels:
    """Reader of the test-only format described in the module docstring."""
    builder = RawLabelsBuilder(location_unit="line", strict=options.strict)
    src = builder.add_source(str(path))
    for lineno, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(";")
        if len(parts) == 2 and not parts[1]:
            builder.add_image(parts[0])
            continue
        try:
            image, coords, type_id = parts
            x0, y0, x1, y1 = (float(v) for v in coords.split(","))
            builder.add_box(image, (x0, y0, x1, y1), int(type_id), src, lineno)
        except ValueError:
            builder.drop(src, lineno, f"cannot parse {line!r}")
    return builder.build()


@pytest.fixture(autouse=True)
def _fake_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(READERS, "fake", f"{__name__}:fake_read")


def make_scene(tmp_path: Path, records: list[str], sizes: dict[str, tuple[int, int]]) -> tuple[Path, Path]:
    """Write PNGs of the given sizes and a label file; returns ``(labels, images_dir)``."""
    images = tmp_path / "images_src"
    images.mkdir(exist_ok=True)
    for i, (name, (w, h)) in enumerate(sizes.items()):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((h, w), (i * 40) % 256, np.uint8)).save(images / name)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(records) + "\n")
    return labels, images


def cfg_for(tmp_path: Path, labels: Path, images: Path, **kw: object) -> ConvertConfig:
    kw.setdefault("out", tmp_path / "out")
    return ConvertConfig(src=labels, images_dir=images, fmt="fake", classes="xview", **kw)  # type: ignore[arg-type]


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file under ``root``: relative path -> bytes (``-> target`` for symlinks, the listed names
    for the manifest; the lock file left out)."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.name == ".tiledet.lock":
            continue
        if path.name == ".tiledet-manifest.json":  # fingerprints name inodes and times: compare names
            out[rel] = "files: " + " ".join(json.loads(path.read_text())["files"])
        elif path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


# ---------------------------------------------------------------------------------------------- split


@pytest.mark.parametrize(
    ("n", "fraction", "expected"),
    [(0, 0.2, 0), (1, 0.2, 0), (1, 0.9, 0), (2, 0.2, 1), (2, 0.0, 0), (10, 0.2, 2), (10, 0.25, 2),
     (10, 0.26, 3), (3, 0.9, 2), (5, 0.01, 1), (847, 0.1, 85)],
)
def test_val_count_table(n: int, fraction: float, expected: int) -> None:
    assert val_count(n, fraction) == expected


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_val_count_rejects_fraction_outside_0_1(fraction: float) -> None:
    with pytest.raises(ConfigError, match="val_fraction") as e:
        val_count(5, fraction)
    assert e.value.fields == ("val_fraction",)


def test_split_is_deterministic_disjoint_and_order_independent() -> None:
    names = [f"img_{i:03d}.png" for i in range(50)]
    first = split_names(names, 0.2, seed=7)
    assert split_names(list(reversed(names)), 0.2, seed=7) == first
    assert set(first) == set(names)
    assert sum(v == "val" for v in first.values()) == 10
    other = split_names(names, 0.2, seed=8)
    assert other != first  # the seed matters (50 choose 10 assignments)


def test_split_images_sorted_and_no_image_in_two_splits(tmp_path: Path) -> None:
    from tiledet.boxes import Boxes
    from tiledet.labels import ImageLabels

    images = [ImageLabels(f"{c}.png", (10, 10), Boxes.empty()) for c in "edcba"]
    splits = split_images(images, 0.4, seed=0)
    names = {s: [im.file_name for im in ims] for s, ims in splits.items()}
    assert sorted(names["train"] + names["val"]) == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    assert not set(names["train"]) & set(names["val"])
    assert all(v == sorted(v) for v in names.values())
    assert len(names["val"]) == 2


# -------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"fmt": "nope"}, "fmt"),
        ({"to": "voc"}, "to"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.5}, "val_fraction"),
        ({"workers": -1}, "workers"),
        ({"csv_columns": {"colour": "C"}}, "csv_columns"),
        ({"chips": object()}, "to=chips"),
        ({"to": "chips", "tile": object()}, "tile"),
    ],
)
def test_config_validation_names_the_field(tmp_path: Path, kw: dict, field: str) -> None:
    base = {"src": tmp_path / "l.txt", "images_dir": tmp_path / "im", "out": tmp_path / "out"}
    with pytest.raises(ConfigError, match=field) as e:
        ConvertConfig(**(base | kw))  # type: ignore[arg-type]
    assert field.partition("=")[0] in e.value.fields and "--" not in str(e.value)


def test_convert_refuses_out_equal_to_images(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a.png;1,1,9,9;18\n")
    with pytest.raises(ConfigError, match="--out"):
        convert(ConvertConfig(src=tmp_path / "a.txt", images_dir=tmp_path, out=tmp_path, fmt="semicolon"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


# ------------------------------------------------------------------------------------- YOLO end to end


def test_yolo_labels_hand_computed_links_and_data_yaml(tmp_path: Path) -> None:
    # 100x80 image; xView type 18 = "Small Car" = index 5, type 73 = "Building" = index 48.
    labels, images = make_scene(
        tmp_path,
        ["a.png;10,20,30,60;18", "a.png;-10,0,20,40;73", "b.png;"],
        {"a.png": (100, 80), "b.png": (50, 50)},
    )
    report = convert(cfg_for(tmp_path, labels, images, val_fraction=0.0))
    out = tmp_path / "out"
    # centre x = (10 + 30) / 2 / 100 = 0.2; y = 40 / 80 = 0.5; w = 0.2; h = 0.5.
    # second box is clipped to x in [0, 20]: cx = 0.1, cy = 0.25, w = 0.2, h = 0.5.
    assert (out / "labels/train/a.txt").read_text() == (
        "5 0.200000 0.500000 0.200000 0.500000\n48 0.100000 0.250000 0.200000 0.500000\n"
    )
    assert (out / "labels/train/b.txt").read_text() == ""  # image without boxes: empty label file
    link = out / "images/train/a.png"
    assert link.is_symlink() and os.path.isabs(os.readlink(link))
    assert Path(os.readlink(link)) == (images / "a.png").resolve()
    import yaml

    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["path"] == str(out.resolve()) and data["train"] == "images/train"
    assert data["val"] == "images/train"  # no val images: val points at train (documented)
    assert data["names"][5] == "Small Car" and len(data["names"]) == 60
    assert report.input_boxes == 2 and report.written_boxes == 2
    assert report.images_per_split == {"train": 2, "val": 0}


def test_nested_image_names_keep_their_subfolders(tmp_path: Path) -> None:
    labels, images = make_scene(
        tmp_path, ["sub/x.png;1,1,5,5;18", "y.png;1,1,5,5;18"], {"sub/x.png": (20, 20), "y.png": (20, 20)}
    )
    convert(cfg_for(tmp_path, labels, images, val_fraction=0.0))
    out = tmp_path / "out"
    assert (out / "images/train/sub/x.png").is_symlink()
    assert (out / "labels/train/sub/x.txt").read_text().startswith("5 ")


def test_images_sharing_a_label_stem_are_an_error(tmp_path: Path) -> None:
    labels, images = make_scene(
        tmp_path, ["x.png;1,1,5,5;18", "x.tif;1,1,5,5;18"], {"x.png": (20, 20), "x.tif": (20, 20)}
    )
    with pytest.raises(InputError, match=r"x\.txt"):
        convert(cfg_for(tmp_path, labels, images, val_fraction=0.0))


# --------------------------------------------------------------------------------------- accounting

ACCOUNTING_RECORDS = [
    "a.png;10,10,20,20;18",  # line 1 kept
    "a.png;30,30,50,45;73",  # line 2 kept
    "a.png;10,10,20,20;75",  # line 3 unknown_class (75 is not an xView class)
    "a.png;99.5,10,130,20;18",  # line 4 degenerate (0.5 px wide after clipping)
    "gone.png;1,1,5,5;18",  # line 5 missing_image
    "bad.png;1,1,5,5;18",  # line 6 unreadable_image
    "a.png;1,2,three,4;18",  # line 7 malformed
    "b.png;5,5,15,15;18",  # line 8 kept
]


def _accounting_inputs(tmp_path: Path) -> tuple[Path, Path]:
    labels, images = make_scene(tmp_path, ACCOUNTING_RECORDS, {"a.png": (100, 80), "b.png": (40, 40)})
    (images / "bad.png").write_bytes(b"this is not a png")
    return labels, images


def test_report_accounts_for_every_box_once(tmp_path: Path) -> None:
    labels, images = _accounting_inputs(tmp_path)
    report = convert(cfg_for(tmp_path, labels, images, val_fraction=0.5))
    data = json.loads((tmp_path / "out/report.json").read_text())
    assert data["input_boxes"] == 8
    assert data["written_boxes"] == 3
    assert data["input_boxes"] == data["written_boxes"] + sum(data["dropped"].values())
    assert data["dropped_boxes"] == 5
    used = ("unknown_class", "degenerate", "missing_image", "unreadable_image", "malformed")
    assert data["dropped"] == {r: (1 if r in used else 0) for r in DROP_REASONS}
    where = {d["reason"]: (d["location"], d["image"]) for d in data["drops"]}
    assert where == {
        "unknown_class": ("line 3", "a.png"),
        "degenerate": ("line 4", "a.png"),
        "missing_image": ("line 5", "gone.png"),
        "unreadable_image": ("line 6", "bad.png"),
        "malformed": ("line 7", ""),
    }
    assert all(d["source"] == str(labels) for d in data["drops"])
    assert data["images"] == {"train": 1, "val": 1}
    assert sum(data["boxes"].values()) == 3
    assert data["format"] == "fake" and data["to"] == "yolo" and len(data["class_names"]) == 60
    assert report.to_dict() == data
    # the label files hold exactly the written boxes
    lines = [ln for p in (tmp_path / "out/labels").rglob("*.txt") for ln in p.read_text().splitlines()]
    assert len(lines) == 3


def test_boxless_missing_image_is_listed_but_not_counted_as_a_box(tmp_path: Path) -> None:
    labels, images = make_scene(tmp_path, ["a.png;1,1,9,9;18", "ghost.png;"], {"a.png": (20, 20)})
    report = convert(cfg_for(tmp_path, labels, images))
    data = report.to_dict()
    assert data["input_boxes"] == data["written_boxes"] == 1
    assert data["skipped_images"] == {"missing_image": 1}
    assert [d["image"] for d in data["drops"]] == ["ghost.png"]


# ------------------------------------------------------------------------------------ re-runs, stale


def test_rerun_gives_identical_bytes(tmp_path: Path) -> None:
    labels, images = _accounting_inputs(tmp_path)
    cfg = cfg_for(tmp_path, labels, images, val_fraction=0.5)
    convert(cfg)
    first = tree(tmp_path / "out")
    convert(cfg)
    assert tree(tmp_path / "out") == first
    assert "report.json" in first and "data.yaml" in first


def test_rerun_with_other_split_removes_stale_files(tmp_path: Path) -> None:
    names = {f"s{i}.png": (16, 16) for i in range(8)}
    labels, images = make_scene(tmp_path, [f"{n};1,1,9,9;18" for n in names], names)
    out = tmp_path / "out"
    convert(cfg_for(tmp_path, labels, images, val_fraction=0.5, seed=1))
    (out / "labels/train/leftover.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # the user's: never removed
    convert(cfg_for(tmp_path, labels, images, val_fraction=0.5, seed=2))
    assert (out / "labels/train/leftover.txt").read_text() == "0 0.5 0.5 0.1 0.1\n"
    for kind, suffix in (("images", ".png"), ("labels", ".txt")):
        train = {p.name for p in (out / kind / "train").iterdir()} - {"leftover.txt"}
        val = {p.name for p in (out / kind / "val").iterdir()}
        assert not train & val
        assert train | val == {Path(n).with_suffix(suffix).name for n in names}
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == {"train": 4, "val": 4}


def test_switching_yolo_to_coco_removes_yolo_files(tmp_path: Path) -> None:
    labels, images = _accounting_inputs(tmp_path)
    out = tmp_path / "out"
    convert(cfg_for(tmp_path, labels, images))
    convert(cfg_for(tmp_path, labels, images, to="coco"))
    assert not (out / "labels").exists() and not (out / "data.yaml").exists()
    assert sorted(p.name for p in (out / "annotations").iterdir()) == ["train.json", "val.json"]


def test_copy_then_symlink(tmp_path: Path) -> None:
    labels, images = make_scene(tmp_path, ["a.png;1,1,9,9;18"], {"a.png": (20, 20)})
    out = tmp_path / "out"
    convert(cfg_for(tmp_path, labels, images, copy=True))
    copied = out / "images/train/a.png"
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == (images / "a.png").read_bytes()
    convert(cfg_for(tmp_path, labels, images, copy=True))  # up to date: kept
    assert not copied.is_symlink()
    convert(cfg_for(tmp_path, labels, images))
    assert copied.is_symlink() and copied.read_bytes() == (images / "a.png").read_bytes()


def test_copy_replaces_an_outdated_copy(tmp_path: Path) -> None:
    labels, images = make_scene(tmp_path, ["a.png;1,1,9,9;18"], {"a.png": (20, 20)})
    out = tmp_path / "out"
    convert(cfg_for(tmp_path, labels, images, copy=True))
    Image.fromarray(np.full((20, 20), 200, np.uint8)).save(images / "a.png")
    os.utime(images / "a.png", ns=(1, 10**18))
    convert(cfg_for(tmp_path, labels, images, copy=True))
    assert (out / "images/train/a.png").read_bytes() == (images / "a.png").read_bytes()


# --------------------------------------------------------------------------------------------- strict


@pytest.mark.parametrize(
    ("record", "location", "reason"),
    [
        ("a.png;1,2,three,4;18", "line 2", "cannot parse"),
        ("a.png;1,1,9,9;75", "line 2", "unknown_class"),
        ("gone.png;1,1,9,9;18", "line 2", "missing_image"),
        ("a.png;1,1,1.5,9;18", "line 2", "degenerate"),
    ],
)
def test_strict_stops_at_first_problem_naming_it(
    tmp_path: Path, record: str, location: str, reason: str
) -> None:
    labels, images = make_scene(tmp_path, ["a.png;1,1,9,9;18", record], {"a.png": (20, 20)})
    with pytest.raises(FormatError, match=reason) as info:
        convert(cfg_for(tmp_path, labels, images, strict=True))
    assert str(info.value).startswith(f"{labels}:{location}: ")
    assert not (tmp_path / "out/report.json").exists()


def test_strict_passes_clean_input(tmp_path: Path) -> None:
    labels, images = make_scene(tmp_path, ["a.png;1,1,9,9;18"], {"a.png": (20, 20)})
    report = convert(cfg_for(tmp_path, labels, images, strict=True))
    assert report.written_boxes == 1 and not report.drops


# ----------------------------------------------------------------------------------------------- COCO


def test_coco_output_loads_in_pycocotools(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    labels, images = make_scene(
        tmp_path,
        ["a.png;10,20,30,60;18", "a.png;0,0,5,5;73", "b.png;2,2,12,7;18", "c.png;"],
        {"a.png": (100, 80), "b.png": (40, 40), "c.png": (30, 30)},
    )
    report = convert(cfg_for(tmp_path, labels, images, to="coco", val_fraction=0.0))
    coco = COCO(str(tmp_path / "out/annotations/train.json"))
    assert sorted(im["file_name"] for im in coco.dataset["images"]) == ["a.png", "b.png", "c.png"]
    assert len(coco.getCatIds()) == 60 and coco.loadCats(6)[0]["name"] == "Small Car"
    a_id = next(im["id"] for im in coco.dataset["images"] if im["file_name"] == "a.png")
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[a_id]))
    assert [(a["category_id"], a["bbox"], a["area"]) for a in anns] == [
        (6, [10.0, 20.0, 20.0, 40.0], 800.0),
        (49, [0.0, 0.0, 5.0, 5.0], 25.0),
    ]
    assert (tmp_path / "out/images/train/c.png").is_symlink()
    assert report.boxes_per_split["train"] == 3


# ---------------------------------------------------------------------------------------- bad inputs


def test_missing_image_folder(tmp_path: Path) -> None:
    labels, _ = make_scene(tmp_path, ["a.png;1,1,9,9;18"], {})
    with pytest.raises(InputError, match="image folder not found"):
        convert(cfg_for(tmp_path, labels, tmp_path / "nope"))


def test_missing_label_source(tmp_path: Path) -> None:
    _, images = make_scene(tmp_path, [], {"a.png": (5, 5)})
    with pytest.raises(InputError, match="label source not found"):
        convert(cfg_for(tmp_path, tmp_path / "nope.txt", images))


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_input(tmp_path: Path, content: str) -> None:
    _, images = make_scene(tmp_path, [], {"a.png": (5, 5)})
    labels = tmp_path / "empty.txt"
    labels.write_text(content)
    with pytest.raises(InputError, match="empty"):
        convert(cfg_for(tmp_path, labels, images))


def test_no_usable_image_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    labels, images = make_scene(tmp_path, ["x.png;1,1,9,9;18"], {"a.png": (20, 20)})
    with pytest.raises(InputError, match="none of the images") as info:
        convert(cfg_for(tmp_path, labels, images))
    assert str(images) in str(info.value) and "missing_image" in str(info.value)


# ---------------------------------------------------------------------------------------------- tiles


def test_tiled_yolo_accounts_for_outside_tiles_and_replaces_a_plain_run(tmp_path: Path) -> None:
    from tiledet.convert.config import TileConfig

    # 100x100 scenes, 40 px tiles without overlap: windows start at 0, 40, 60 on each axis (3x3).
    records = ["a.png;5,5,15,15;18", "a.png;0,0,100,100;73", "b.png;50,50,58,58;18", "b.png;1,1,2,2;75"]
    labels, images = make_scene(tmp_path, records, {"a.png": (100, 100), "b.png": (100, 100)})
    out = tmp_path / "out"
    convert(cfg_for(tmp_path, labels, images))  # plain run first: must vanish
    tile = TileConfig(tile=40, overlap=0.0, min_visibility=0.9, workers=1)
    report = convert(cfg_for(tmp_path, labels, images, tile=tile, val_fraction=0.5))
    data = json.loads((out / "report.json").read_text())
    assert data["tiled"] is True and data["input_boxes"] == 4
    # the 100x100 box covers at most 40*40/100^2 = 16 % of itself in any tile < 90 %: outside_tiles
    assert data["dropped"]["outside_tiles"] == 1 and data["dropped"]["unknown_class"] == 1
    assert data["written_boxes"] == 2 == data["input_boxes"] - data["dropped_boxes"]
    assert data["tiling"]["tile"] == 40
    assert report.tiled
    # empty tiles are skipped (empty_fraction 0); the plain run's whole-scene links are gone
    tiles = sorted(p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*.png"))
    assert sorted(t.split("/")[1] for t in tiles) == ["a__x0_y0.png", "b__x40_y40.png"]
    assert {t.split("/")[0] for t in tiles} == {"train", "val"}
    assert (out / "annotations/val_full.json").is_file() and (out / "data.yaml").is_file()
    # the piece of a.png's small box lies in tile (0, 0) and nowhere else
    lines = {p.name: p.read_text() for p in (out / "labels").rglob("a__x*_y*.txt") if p.read_text()}
    assert lines == {"a__x0_y0.txt": "5 0.250000 0.250000 0.250000 0.250000\n"}


# ------------------------------------------------------------------------ real readers, chips, realdata


def _geojson_feature(bounds: str, type_id: object, image: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"bounds_imcoords": bounds, "type_id": type_id, "image_id": image, "feature_id": 1},
        "geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]]},
    }


def test_xview_geojson_detected_and_converted(tmp_path: Path) -> None:
    _, images = make_scene(tmp_path, [], {"7.png": (100, 80)})
    features = [
        _geojson_feature("10,20,30,60", 18, "7.png"),
        _geojson_feature("0,0,5,5", 75, "7.png"),  # unknown class
        _geojson_feature("1,2,3", 18, "7.png"),  # malformed bounds
    ]
    src = tmp_path / "xView_train.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    cfg = ConvertConfig(src=src, images_dir=images, out=tmp_path / "out", val_fraction=0.0)
    report = convert(cfg)
    assert report.fmt == "xview-geojson"
    assert (tmp_path / "out/labels/train/7.txt").read_text() == "5 0.200000 0.500000 0.200000 0.500000\n"
    where = {d.reason: d.location for d in report.drops}
    assert where == {"unknown_class": "feature 1", "malformed": "feature 2"}


def test_chips_through_the_pipeline(tmp_path: Path) -> None:
    from tiledet.convert.config import ChipConfig

    labels, images = make_scene(
        tmp_path, ["a.png;10,10,30,30;18", "b.png;40,40,60,52;73"], {"a.png": (100, 100), "b.png": (100, 100)}
    )
    out = tmp_path / "out"
    convert(cfg_for(tmp_path, labels, images))  # a YOLO run first: must vanish
    chips = ChipConfig(chip_size=16, background=1, workers=1, jitter=0)
    report = convert(cfg_for(tmp_path, labels, images, to="chips", chips=chips, val_fraction=0.5))
    data = json.loads((out / "report.json").read_text())
    assert data["to"] == "chips" and data["chips"]["chip_size"] == 16
    assert data["written_boxes"] == 2 == data["input_boxes"] - data["dropped_boxes"]
    assert sorted(p.name for p in out.iterdir()) == [
        ".tiledet-manifest.json", ".tiledet.lock", "chips.csv", "chips.yaml", "report.json", "train", "val"
    ]
    object_chips = [p for p in out.rglob("*.png") if p.parent.name != "background"]
    assert len(object_chips) == 2 and report.chips is not None
    assert all(Image.open(p).size == (16, 16) for p in object_chips)


@pytest.mark.realdata
def test_real_dota_vehicles_account_for_every_box(realdata: Path, tmp_path: Path) -> None:
    demo = realdata / "dota_vehicles" / "DOTA_demo"
    cfg = ConvertConfig(src=demo / "labelTxt", images_dir=demo / "images", out=tmp_path / "out")
    data = convert(cfg).to_dict()
    assert data["format"] == "dota" and data["input_boxes"] == 587  # PROVENANCE: 587 vehicles
    assert data["input_boxes"] == data["written_boxes"] + data["dropped_boxes"]
    lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / "out/labels").rglob("*.txt"))
    assert lines == data["written_boxes"] and data["images"]["val"] == 1


def _truncated_scene(tmp_path: Path) -> tuple[Path, Path]:
    """a.png fine with a box; b.png without boxes, its header intact but its pixel data cut off."""
    sizes = {"a.png": (64, 64), "b.png": (64, 64)}
    labels, images = make_scene(tmp_path, ["a.png;5,5,15,15;18", "b.png;"], sizes)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(images / "b.png")
    data = (images / "b.png").read_bytes()
    (images / "b.png").write_bytes(data[: len(data) // 2])
    return labels, images


def test_tiling_reports_a_scene_whose_pixels_cannot_be_read(tmp_path: Path) -> None:
    from tiledet.convert.config import TileConfig

    labels, images = _truncated_scene(tmp_path)
    tile = TileConfig(tile=32, overlap=0.0, workers=1)
    cfg = cfg_for(tmp_path, labels, images, tile=tile, val_fraction=0.0)
    data = convert(cfg).to_dict()
    assert data["skipped_images"] == {"unreadable_image": 1}
    assert [(d["image"], d["location"]) for d in data["drops"]] == [("b.png", "image")]
    assert data["written_boxes"] == data["input_boxes"] == 1
    with pytest.raises(FormatError, match="unreadable_image") as info:
        convert(cfg_for(tmp_path, labels, images, tile=tile, strict=True))
    assert "b.png" in str(info.value)

"""ChipsManifest reads what the chips writer writes, round-trips, and rejects bad files in one line."""

from __future__ import annotations

import pytest
import yaml

import tiledet
from tiledet.convert import chips
from tiledet.convert.chips_manifest import BACKGROUND, CHIPS_YAML, ChipsManifest
from tiledet.errors import InputError


@pytest.fixture(scope="module")
def chips_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("chips")
    synth = tiledet.generate_scenes(tiledet.SynthConfig(root / "synth", scenes=2, size_wh=(256, 256)))
    cfg = tiledet.ConvertConfig(
        src=synth.label_paths["csv"], images_dir=synth.images_dir, out=root / "out", to="chips",
        chips=tiledet.ChipConfig(chip_size=24, context=0.25, background=2, workers=1),
    )  # fmt: skip
    tiledet.convert_labels(cfg)
    return root / "out"


def test_reads_the_chips_writers_file(chips_dir):
    raw = yaml.safe_load((chips_dir / CHIPS_YAML).read_text(encoding="utf-8"))
    manifest = ChipsManifest.load(chips_dir)
    assert manifest.chip_size == 24 and manifest.context == 0.25
    assert list(manifest.class_names) == raw["class_names"] and manifest.class_folders == raw["class_folders"]
    assert BACKGROUND == chips.BACKGROUND
    assert manifest.background_index == raw["class_names"].index("background")
    sizes = raw["object_size_px"]
    assert manifest.object_size_range() == (sizes["p02"], sizes["p98"])
    low, high = manifest.object_size_range(widen=2.0)
    assert low == sizes["p02"] / 2 and high == sizes["p98"] * 2
    assert manifest.extra["counts"] == raw["counts"]  # untyped keys are kept


def test_round_trip(tmp_path, chips_dir):
    manifest = ChipsManifest.load(chips_dir)
    manifest.save(tmp_path)
    assert ChipsManifest.load(tmp_path) == manifest
    assert ChipsManifest.load(tmp_path / "nothing_here") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "not a mapping"),
        ("chip_size: 64\ncontext: 0.5\n", "class_names"),
        ("chip_size: 0\ncontext: 0.5\nclass_names: [car]\n", "chip_size"),
        ("chip_size: 64\ncontext: .nan\nclass_names: [car]\n", "context"),
        ("chip_size: [64\n", "invalid YAML"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    (tmp_path / CHIPS_YAML).write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        ChipsManifest.load(tmp_path)
    assert "\n" not in str(info.value) and CHIPS_YAML in str(info.value)


def test_sliding_detector_reads_object_sizes_through_the_manifest(chips_dir, tmp_path):
    from types import SimpleNamespace

    from tiledet.detect.sliding_run import chips_object_size

    expected = ChipsManifest.load(chips_dir).object_size_range(widen=2**0.25)
    assert chips_object_size(SimpleNamespace(config={"data": str(chips_dir)})) == expected
    assert chips_object_size(SimpleNamespace(config={"data": str(tmp_path)})) is None  # no chips.yaml
    (tmp_path / CHIPS_YAML).write_text("oops: [", encoding="utf-8")
    assert chips_object_size(SimpleNamespace(config={"data": str(tmp_path)})) is None  # unreadable: default

"""Property: no image name (absolute, ``..``, unicode, very long) makes tiledet write outside ``--out``."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tiledet.cli import main
from tiledet.convert.chips import _flat_stem
from tiledet.convert.tiling import tile_file_name
from tiledet.convert.write import label_relpath, output_relpath
from tiledet.labels.names import UnsafeName, safe_image_name

from .snapshot import assert_preserved, snapshot

ROOT = "{ROOT}"  # replaced by the test's temporary folder: absolute names that point somewhere real

_segment = st.one_of(
    st.sampled_from(["..", ".", "", "images", "labels", "victim", "src", "a.png", "sub", "out", ROOT]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=12),
    st.text(alphabet="xé漢🙂", min_size=60, max_size=90),  # up to 360 bytes in UTF-8
)
names = st.builds(
    lambda absolute, parts, suffix: ("/" if absolute else "") + "/".join(parts) + suffix,
    st.booleans(),
    st.lists(_segment, min_size=1, max_size=5),
    st.sampled_from([".png", ".jpg", ".tif", ""]),
)


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    return path.startswith(folder + os.sep)


@settings(max_examples=400, deadline=None)
@given(name=names)
def test_safe_names_stay_inside_images_and_outputs_inside_out(name: str) -> None:
    root = "/data/proj"
    images, out = f"{root}/ds/images", f"{root}/out"
    name = name.replace(ROOT, root)
    try:
        rel = safe_image_name(name, Path(images))
    except UnsafeName:
        return
    parts = PurePosixPath(rel).parts
    assert not PurePosixPath(rel).is_absolute() and ".." not in parts and "." not in parts and parts
    assert _inside(os.path.join(images, rel), images)
    for output in (
        f"images/train/{output_relpath(rel)}",
        f"labels/train/{label_relpath(rel)}",
        f"images/val/{tile_file_name(rel, 0, 0)}",
        f"train/car/{_flat_stem(rel)}__00000.png",
    ):
        assert _inside(os.path.join(out, output), out), (name, output)


def _png_at(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            Image.fromarray(np.full((40, 40, 3), 77, np.uint8)).save(path, format="PNG")
    except (OSError, ValueError):
        pass  # a name the file system rejects: the run must still stay inside --out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(names, min_size=1, max_size=4), mode=st.sampled_from(["copy", "tile", "coco", "chips"]))
def test_convert_never_writes_outside_out(batch: list[str], mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        images = root / "ds" / "images"
        _png_at(images / "ok.png")
        (root / "victim").mkdir()
        (root / "victim" / "notes.txt").write_text("the victim's file\n")
        rows = [["ok.png", 2, 2, 20, 20, 18]]
        for name in (n.replace(ROOT, str(root)) for n in batch):
            target = os.path.normpath(os.path.join(images, name))
            if _inside(target, str(root)) and "\x00" not in target:
                _png_at(Path(target))  # the file the name points at exists, inside or outside --images
            rows.append([name, 2, 2, 20, 20, 18])
        labels = root / "ds" / "labels.csv"
        with labels.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["image", "xmin", "ymin", "xmax", "ymax", "class"], *rows])
        before = snapshot(root)
        extra = {
            "copy": ["--copy"], "tile": ["--tile", "16"], "coco": ["--to", "coco"], "chips": ["--to", "chips"]
        }
        args = ["convert", str(labels), "--images", str(images), "--out", str(root / "out"), "--quiet",
                "--workers", "1", "--val-fraction", "0", *extra[mode]]
        code = main(args)
        assert code in (0, 2)  # success, or a one-line refusal (e.g. two names for one output)
        assert_preserved(before, root, inside="out")

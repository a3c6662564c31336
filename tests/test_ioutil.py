from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from tiledet.errors import InputError
from tiledet.ioutil import atomic_path, atomic_write_text, atomic_write_yaml, image_size, read_json_file


def test_image_size_from_header(tmp_path):
    Image.new("L", (37, 21)).save(tmp_path / "a.png")
    Image.new("RGB", (5, 9)).save(tmp_path / "b.tif")
    assert image_size(tmp_path / "a.png") == (37, 21)
    assert image_size(tmp_path / "b.tif") == (5, 9)


@pytest.mark.parametrize(
    ("name", "data", "message"), [("x.png", None, "not found"), ("y.png", b"junk", "header")]
)
def test_image_size_errors_name_the_file(tmp_path, name, data, message):
    if data is not None:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=message) as info:
        image_size(tmp_path / name)
    assert name in str(info.value)


def test_image_size_after_ultralytics_patch_never_installs(tmp_path):
    # Ultralytics monkey-patches PIL.Image.open to pip-install pi-heif on failure; tiledet must bypass it.
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    code = textwrap.dedent(
        f"""
        import os
        os.environ["YOLO_OFFLINE"] = "1"
        import ultralytics.utils.patches
        from tiledet.errors import InputError
        from tiledet.ioutil import image_size
        try:
            image_size({str(bad)!r})
        except InputError as e:
            print("INPUTERROR", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "INPUTERROR" in out.stdout, out.stdout + out.stderr
    assert "pi-heif" not in out.stdout + out.stderr


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_files_get_normal_permissions(tmp_path):
    import os

    target = tmp_path / "x.txt"
    atomic_write_text(target, "a")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_read_json_file_one_line_errors(tmp_path):
    good = tmp_path / "good.json"
    good.write_bytes(b'\xef\xbb\xbf{"a": [1, 2]}')  # a UTF-8 BOM is accepted
    assert read_json_file(good) == {"a": [1, 2]}
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": [1,\n  }\n')
    cases = [
        (tmp_path / "missing.json", "missing.json: detections file not found"),
        (bad, "bad.json:line 3 column 3: invalid JSON"),
    ]
    for path, message in cases:
        with pytest.raises(InputError, match=message) as info:
            read_json_file(path, "detections file")
        assert "\n" not in str(info.value)
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(InputError, match="cannot read JSON file"):
        read_json_file(tmp_path / "latin1.json")


def test_atomic_write_yaml_keeps_order_and_unicode(tmp_path):
    import yaml

    obj = {"zeta": 1, "names": {0: "Fahrzeug ä", 1: "bus"}, "alpha": [1.5, None]}
    atomic_write_yaml(tmp_path / "a.yaml", obj)
    text = (tmp_path / "a.yaml").read_text(encoding="utf-8")
    assert text.index("zeta") < text.index("names") < text.index("alpha")  # insertion order
    assert "Fahrzeug ä" in text  # not escaped
    assert yaml.safe_load(text) == obj


def test_png_size_from_its_header_beyond_pillows_bomb_limit(tmp_path) -> None:
    import struct
    import zlib

    import cv2
    import numpy as np

    from tiledet.ioutil import image_size

    ihdr = struct.pack(">IIBBBBB", 20000, 15000, 8, 2, 0, 0, 0)  # 300 Mpx: Pillow refuses this header
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    assert image_size(tmp_path / "big.png") == (20000, 15000)
    assert cv2.imwrite(str(tmp_path / "small.png"), np.zeros((7, 11, 3), np.uint8))
    assert image_size(tmp_path / "small.png") == (11, 7)  # what OpenCV wrote

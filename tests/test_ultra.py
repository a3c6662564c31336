"""tiledet.ultra: PIL's own Image.open survives Ultralytics' process-wide patch."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_pil_image_open_is_the_original_after_ultralytics_patch(tmp_path):
    bad = tmp_path / "bad.webp"  # cv2 cannot read it either: scene_io falls back to Pillow
    bad.write_bytes(b"junk")
    code = textwrap.dedent(
        f"""
        import os
        os.environ["YOLO_OFFLINE"] = "1"
        from PIL import Image
        from tiledet.ultra import pil_image_open
        assert pil_image_open() is Image.open  # nothing patched yet
        import ultralytics.utils.patches
        assert Image.open is not pil_image_open(), "Ultralytics no longer patches Image.open"
        assert pil_image_open().__module__ == "PIL.Image"
        from pathlib import Path
        from tiledet.convert.scene_io import read_scene
        try:
            read_scene(Path({str(bad)!r}), (4, 4))
        except Exception as e:
            print("ERROR", type(e).__name__, e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERROR UnreadableImage" in out.stdout, out.stdout + out.stderr
    assert "pi-heif" not in out.stdout + out.stderr

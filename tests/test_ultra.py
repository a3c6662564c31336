"""tiledet.ultra: PIL's own Image.open survives Ultralytics' process-wide patch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


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
        from tiledet.decode import read_scene
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


_THREADS_CODE = textwrap.dedent(
    """
    import os, sys
    if len(sys.argv) > 2:  # set at run time, as in a notebook
        os.environ["OMP_NUM_THREADS"] = sys.argv[2]
    if sys.argv[1] == "ultralytics-first":  # as when another library (SAHI, say) imports it first
        import ultralytics
    from tiledet.ultra import cpu_threads, import_ultralytics
    import_ultralytics()  # sets OMP_NUM_THREADS=1 when unset
    import torch
    from ultralytics.utils.torch_utils import select_device
    select_device("cpu", verbose=False)  # sets torch to cores - 1 threads
    from tiledet.detect.engines import TorchEngine
    model = torch.nn.Conv2d(3, 2, 1)
    engine = TorchEngine(model, torch.device("cpu"), channels_last=True)
    engine(__import__("numpy").zeros((1, 8, 8, 3), "uint8"))
    print("THREADS", cpu_threads(), torch.get_num_threads(), len(os.sched_getaffinity(0)))
    """
)


def _threads(env_threads: str | None, order: str, runtime: str | None = None) -> tuple[int, int, int]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if env_threads is not None:
        env["OMP_NUM_THREADS"] = env_threads
    env["YOLO_OFFLINE"] = "1"
    argv = [sys.executable, "-c", _THREADS_CODE, order, *([runtime] if runtime else [])]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("THREADS"))
    chosen, torch_threads, cores = (int(v) for v in line.split()[1:])
    return chosen, torch_threads, cores


@pytest.mark.parametrize("order", ["tiledet-first", "ultralytics-first"])
def test_torch_inference_uses_every_core_despite_ultralytics_thread_settings(order):
    chosen, torch_threads, cores = _threads(None, order)
    assert chosen == cores
    assert torch_threads == cores


@pytest.mark.parametrize("order", ["tiledet-first", "ultralytics-first"])
def test_torch_inference_keeps_the_users_omp_num_threads(order):
    chosen, torch_threads, _ = _threads("1", order)
    assert (chosen, torch_threads) == (1, 1)


@pytest.mark.parametrize("order", ["tiledet-first", "ultralytics-first"])
def test_omp_num_threads_set_at_run_time_is_kept(order):
    chosen, torch_threads, _ = _threads(None, order, runtime="3")
    assert (chosen, torch_threads) == (3, 3)

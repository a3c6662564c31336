"""A real Ctrl-C (SIGINT to the process group) during ``convert --tile`` with worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiledet.synth.config import SynthConfig
from tiledet.synth.generate import generate_scenes

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT delivery are POSIX-only")
def test_sigint_during_tiling_exits_130_and_lists_every_partial_file(tmp_path: Path) -> None:
    syn = generate_scenes(SynthConfig(tmp_path / "syn", scenes=2, size_wh=(1000, 1000), image_format="png"))
    out = tmp_path / "out"
    args = [
        sys.executable, "-c", "from tiledet.cli import run; run()",
        "convert", str(syn.label_paths["csv"]), "--images", str(syn.images_dir), "--out", str(out),
        "--tile", "32", "--overlap", "0.5", "--empty-fraction", "1", "--workers", "2", "--quiet",
    ]
    proc = subprocess.Popen(
        args, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # ~7,800 tiles in all: stop at 300
        if sum(len(files) for _, _, files in os.walk(out / "images")) > 300:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (out / "report.json").exists()
    manifest = json.loads((out / ".tiledet-manifest.json").read_text())
    assert manifest["complete"] is False
    on_disk = {
        Path(folder, name).relative_to(out).as_posix()
        for folder, _, files in os.walk(out)
        for name in files if name not in (".tiledet-manifest.json", ".tiledet.lock")
    }
    assert on_disk and on_disk <= set(manifest["files"])  # all listed as ours: the next run cleans them

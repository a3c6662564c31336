"""Issue 17, findings 1-4 and 6-8, one test each, through the CLI: names, bytes and modes checked after.

Each test builds its inputs in ``tmp_path``, snapshots the tree (:mod:`.snapshot`: bytes, links as
links), runs ``tiledet`` and checks the exit code, the message and that nothing it did not write
changed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiledet.outdir import OutputDir, prepare_output_file, record_output_file

from .data import dataset, run_cli, write_coco
from .snapshot import assert_preserved, snapshot

REPO = Path(__file__).resolve().parents[2]
INTERNAL = (".tiledet-manifest.json", ".tiledet.lock")


def _convert(labels: Path, images: Path, out: Path, *extra: object) -> list[object]:
    return ["convert", labels, "--images", images, "--out", out, "--quiet", "--workers", 1, *extra]


def _modes(folder: Path) -> dict[str, tuple[int, int, int, int]]:
    return {p.name: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid, p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())}


# ------------------------------------------------------------ 1. the images keep their permissions


def test_convert_in_symlink_mode_never_changes_the_images_permissions(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "in")
    for image in images.iterdir():
        image.chmod(0o400)
        if os.geteuid() == 0:
            os.chown(image, 65534, 65534)  # a shared dataset, owned by someone else
    before_modes, before = _modes(images), snapshot(tmp_path / "in")
    code, err = run_cli(_convert(labels, images, tmp_path / "out"), capsys)
    assert code == 0, err
    assert _modes(images) == before_modes
    assert_preserved(before, tmp_path / "in")
    assert os.path.islink(tmp_path / "out" / "images" / "train" / "a.png") or os.path.islink(
        tmp_path / "out" / "images" / "val" / "a.png")


# ------------------------------------------------------------ 2-3. eval never deletes its inputs


def _tiled(tmp_path: Path, capsys) -> Path:
    labels, images = dataset(tmp_path / "in")
    tiles = tmp_path / "T"
    assert run_cli(_convert(labels, images, tiles, "--tile", "32", "--val-fraction", "0.5"), capsys)[0] == 0
    return tiles


def _dets(path: Path) -> Path:
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 15], "score": 0.9}]))
    return path


def test_eval_into_the_folder_of_its_ground_truth_is_refused(tmp_path: Path, capsys) -> None:
    tiles = _tiled(tmp_path, capsys)
    dets = _dets(tmp_path / "dets.json")
    before = snapshot(tmp_path)
    code, err = run_cli(["eval", tiles / "annotations" / "val_full.json", dets, "--out", tiles], capsys)
    assert code == 2 and "overlaps the input" in err
    assert_preserved(before, tmp_path)
    assert snapshot(tmp_path) == before


def test_eval_never_deletes_detections_a_detect_run_wrote_beside_them(tmp_path: Path, capsys) -> None:
    gt = write_coco(tmp_path / "gt.json", [("a.png", 64, 48)], [(1, [5, 5, 20, 15])])
    home = tmp_path / "home"
    home.mkdir()
    dets = prepare_output_file(home / "dets.json", command="detect yolo")  # as `detect --out` does
    _dets(dets)
    record_output_file(dets, command="detect yolo")
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        code, err = run_cli(["eval", gt, dets, "--out", home, *extra], capsys)
        assert code == 2 and "overlaps the input" in err, err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------ 4. one command, one kind of folder


def _foreign_run(folder: Path, command: str, names: tuple[str, ...]) -> None:
    with OutputDir(folder, command=command) as od:
        for name in names:
            od.write_bytes(name, f"{command} wrote {name}".encode())


@pytest.mark.parametrize(("command", "names"), [
    ("classify train", ("best.pt", "last.pt", "history.json")),
    ("convert", ("train/car/c0.png", "val/car/c1.png", "chips.csv")),
])
def test_synth_never_cleans_another_commands_folder(tmp_path: Path, capsys, command: str,
                                                     names: tuple[str, ...]) -> None:
    run = tmp_path / "run"
    _foreign_run(run, command, names)
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        args = ["synth", "--out", run, "--scenes", 1, "--size", 64, 64, "--quiet", *extra]
        code, err = run_cli(args, capsys)
        assert code == 2 and f"written by `tiledet {command}`" in err, err
    assert snapshot(tmp_path) == before


def test_detect_never_overwrites_a_datasets_data_yaml(tmp_path: Path, capsys) -> None:
    tiles = _tiled(tmp_path, capsys)
    before = snapshot(tmp_path)
    for tool in ("sliding", "yolo"):
        model = tmp_path / "model.pt"
        code, err = run_cli(["detect", tool, model, tiles / "images", "--out", tiles / "data.yaml",
                             "--quiet", "--force"], capsys)
        assert code == 2 and "data.yaml exists and was not written by tiledet" in err, err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------ 6. a planted manifest proves nothing


def test_a_planted_manifest_never_makes_convert_delete_a_thesis(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.txt").write_text("chapter 1")
    (out / ".tiledet-manifest.json").write_text(json.dumps(
        {"tool": "tiledet", "complete": True, "files": ["thesis.txt"]}))
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        code, err = run_cli(_convert(labels, images, out, *extra), capsys)
        assert code == 2 and "proves nothing" in err, err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------ 7. SIGTERM, and the re-run recovers


def _tiling_args(tmp_path: Path, out: Path) -> list[str]:
    from tiledet.synth.config import SynthConfig
    from tiledet.synth.generate import generate_scenes

    syn = generate_scenes(SynthConfig(tmp_path / "syn", scenes=2, size_wh=(1000, 1000), image_format="png"))
    return [sys.executable, "-c", "from tiledet.cli import run; run()",
            "convert", str(syn.label_paths["csv"]), "--images", str(syn.images_dir), "--out", str(out),
            "--tile", "32", "--overlap", "0.5", "--empty-fraction", "1", "--workers", "2", "--quiet"]


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM delivery is POSIX-only")
def test_sigterm_exits_143_with_a_consistent_manifest_and_the_rerun_recovers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = _tiling_args(tmp_path, out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(len(files) for _, _, files in os.walk(out / "images")) > 300:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be terminated"
    proc.send_signal(signal.SIGTERM)  # what `timeout`, `docker stop` and Slurm send: the main process only
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    manifest = json.loads((out / ".tiledet-manifest.json").read_text())
    assert manifest["complete"] is False
    on_disk = {Path(folder, name).relative_to(out).as_posix()
               for folder, _, files in os.walk(out) for name in files if name not in INTERNAL}
    assert on_disk and on_disk <= set(manifest["files"])
    rerun = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / ".tiledet-manifest.json").read_text())["complete"] is True
    assert (out / "report.json").is_file()


# ------------------------------------------------------------ 8. one run at a time


def test_a_second_convert_into_a_busy_folder_is_refused(tmp_path: Path, capsys) -> None:
    labels, images = dataset(tmp_path / "in")
    out = tmp_path / "out"
    assert run_cli(_convert(labels, images, out), capsys)[0] == 0
    busy = OutputDir(out, command="convert").open()  # a first run, still going
    try:
        before = snapshot(tmp_path)
        code, err = run_cli(_convert(labels, images, out, "--tile", "32"), capsys)
        assert code == 2 and "another tiledet run is writing into this folder" in err, err
        assert snapshot(tmp_path) == before
    finally:
        busy.close()
    assert run_cli(_convert(labels, images, out, "--tile", "32"), capsys)[0] == 0

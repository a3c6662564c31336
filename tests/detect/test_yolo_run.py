"""``detect yolo`` over scene files: an unreadable scene is left out, named, and the exit code says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.recording import RecordingProgress

from .yolo_data import make_firing_weights

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_firing_weights(tmp_path_factory.mktemp("weights") / "fire.pt")


@pytest.fixture()
def scenes(tmp_path: Path) -> Path:
    """Two readable 160 x 140 scenes and a truncated PNG (sorted first)."""
    import cv2

    folder = tmp_path / "scenes"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("b.png", "c.png"):
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (140, 160, 3), dtype=np.uint8))
    (folder / "a_broken.png").write_bytes((folder / "b.png").read_bytes()[:300])
    return folder


def _args(weights: Path, *rest: object) -> list[str]:
    return ["detect", "yolo", str(weights), *map(str, rest), "--device", "cpu", "--max-det", "20"]


def test_run_detection_leaves_out_unreadable_scenes(weights: Path, scenes: Path, tmp_path: Path) -> None:
    from tiledet.detect.config import DetectConfig, SliceConfig
    from tiledet.detect.yolo_run import _first_readable, collect_scenes, run_detection

    progress = RecordingProgress()
    cfg = DetectConfig(weights=weights, images=(scenes,), out=tmp_path / "d.json",
                       slicing=SliceConfig(device="cpu", max_det=20))  # fmt: skip
    report = run_detection(cfg, progress=progress)
    assert progress.phases[0].steps == [1, 1, 1] and report.scenes == 2 and report.boxes > 0
    assert report.unreadable == {"a_broken.png": "image data is truncated or its structure is broken"}
    assert report.to_dict()["unreadable"] == report.unreadable
    entries = json.loads((tmp_path / "d.json").read_text())
    assert {e["file_name"] for e in entries} == {"b.png", "c.png"} and len(entries) == report.boxes
    index, probe = _first_readable(collect_scenes([scenes]))  # engine auto probes the first readable scene
    assert index == 1 and probe is not None and probe.shape == (140, 160, 3)
    probe.close()
    assert _first_readable(collect_scenes([scenes / "a_broken.png"])) == (-1, None)


def test_cli_exit_code_and_messages(
    weights: Path, scenes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiledet.cli import main

    out = tmp_path / "d.json"
    assert main(_args(weights, scenes / "b.png", scenes / "c.png", "--out", out)) == 0
    assert capsys.readouterr().err.strip() == ""  # the progress bar ends its line
    complete = json.loads(out.read_text())
    assert main(_args(weights, scenes, "--out", out, "--save-images", tmp_path / "drawn")) == 1
    captured = capsys.readouterr()
    assert "2 scenes" in captured.out
    assert [line for line in captured.err.splitlines() if line.strip()] == [
        "warning: cannot read scene a_broken.png: image data is truncated or its structure is broken",
        "error: 1 of 3 scenes could not be read: a_broken.png (detections of the other 2 scenes written "
        f"to {out})",
    ]
    assert json.loads(out.read_text()) == complete
    assert sorted(p.name for p in (tmp_path / "drawn").glob("*.png")) == ["b.png", "c.png"]
    assert main(_args(weights, scenes / "a_broken.png", "--out", tmp_path / "none.json", "--quiet")) == 1
    err = capsys.readouterr().err
    assert "error: 1 of 1 scene could not be read: a_broken.png (detections of the other 0 scenes" in err
    assert json.loads((tmp_path / "none.json").read_text()) == []


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from tiledet.cli import main

    assert main(["detect", "yolo", "--help"]) == 0
    assert main(["detect", "sliding", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.count("1 some scenes could not be read") == 2


def test_engine_auto_opens_each_readable_scene_once(
    weights: Path, scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiledet.detect import yolo_run
    from tiledet.detect.config import DetectConfig, SliceConfig

    reads: list[str] = []
    closed: list[str] = []
    real = yolo_run.open_scene

    def counting(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(Path(path).name)
        opened = real(path, *args, **kwargs)
        close = opened.close
        opened.close = lambda: (closed.append(Path(path).name), close())[1]  # type: ignore[method-assign]
        return opened

    monkeypatch.setattr(yolo_run, "open_scene", counting)

    def run(out: str, engine: str) -> yolo_run.DetectReport:
        slicing = SliceConfig(device="cpu", max_det=20, engine=engine)
        return yolo_run.run_detection(DetectConfig(weights=weights, images=(scenes,), out=tmp_path / out,
                                                   slicing=slicing))

    auto = run("a.json", "auto")
    # the probe tries a_broken, keeps b open; b then serves its detection: each scene opened once
    assert reads == ["a_broken.png", "b.png", "a_broken.png", "c.png"]
    assert set(closed) == {"b.png", "c.png"}  # every opened scene is closed
    reads.clear()
    fixed = run("f.json", auto.engine["engine"])  # the engine auto chose, named: same detections
    assert reads == ["a_broken.png", "b.png", "c.png"]
    assert auto.scenes == fixed.scenes == 2 and auto.unreadable == fixed.unreadable
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "f.json").read_text())

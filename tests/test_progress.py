"""One progress protocol: every library function reports phases (``start``) with their totals, advances
that add up to them, and one ``close``; None and :class:`NullProgress` work; ``--verbose`` shows INFO logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tiledet
from tests.recording import RecordingProgress
from tiledet.progress import NullMonitor, NullProgress, Progress, as_monitor, as_progress
from tiledet.synth.generate import SynthResult


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    out = tmp_path_factory.mktemp("synth") / "s"
    return tiledet.generate_scenes(tiledet.SynthConfig(out, scenes=3, size_wh=(256, 192), image_format="png"))


def test_null_progress_and_monitor_do_nothing() -> None:
    null: Progress = NullProgress()
    null.start("anything", 3)
    null.advance()
    null.advance(2)
    null.close()
    null.close()
    assert isinstance(as_progress(None), NullProgress) and as_progress(null) is null
    recorder = RecordingProgress()
    assert as_progress(recorder) is recorder
    monitor = NullMonitor()
    monitor.batch(1, 0.5, 0.5)
    monitor.epoch({"epoch": 1})
    monitor.row(0, 1, {})
    assert isinstance(as_monitor(None), NullMonitor) and as_monitor(monitor) is monitor


def test_synth_reports_one_phase_per_scene(tmp_path: Path) -> None:
    progress = RecordingProgress()
    cfg = tiledet.SynthConfig(tmp_path / "s", scenes=2, size_wh=(96, 96))
    tiledet.generate_scenes(cfg, progress=progress)
    assert progress.starts() == [("rendering scenes", 2)]
    assert progress.phases[0].steps == [1, 1] and progress.complete() and progress.closes == 1


@pytest.mark.parametrize("progress", [None, NullProgress()])
def test_no_progress_or_null_progress_convert(
    synth: SynthResult, tmp_path: Path, progress: Progress | None
) -> None:
    cfg = tiledet.ConvertConfig(
        src=synth.label_paths["csv"], images_dir=synth.images_dir, out=tmp_path / "t",
        tile=tiledet.TileConfig(tile=128, workers=1),
    )  # fmt: skip
    assert tiledet.convert_labels(cfg, progress=progress).written_boxes > 0


def test_convert_tiling_reports_reading_then_writing(synth: SynthResult, tmp_path: Path) -> None:
    progress = RecordingProgress()
    cfg = tiledet.ConvertConfig(
        src=synth.label_paths["xview-geojson"], images_dir=synth.images_dir, out=tmp_path / "tiles",
        tile=tiledet.TileConfig(tile=128, workers=1),
    )  # fmt: skip
    tiledet.convert_labels(cfg, progress=progress)
    n = len(tiledet.load_labels(cfg.src, images_dir=cfg.images_dir).dataset.images)
    assert n >= 2 and progress.starts() == [("reading xview-geojson labels", None), ("writing yolo", n)]
    assert progress.phases[1].steps == [1] * n and progress.complete() and progress.closes == 1


def test_convert_chips_reports_one_item_per_scene(synth: SynthResult, tmp_path: Path) -> None:
    progress = RecordingProgress()
    cfg = tiledet.ConvertConfig(
        src=synth.label_paths["csv"], images_dir=synth.images_dir, out=tmp_path / "chips", to="chips",
        chips=tiledet.ChipConfig(chip_size=16, workers=1),
    )  # fmt: skip
    tiledet.convert_labels(cfg, progress=progress)
    assert [desc for desc, _ in progress.starts()] == ["reading csv labels", "writing chips"]
    assert progress.phases[1].total >= 2 and progress.complete() and progress.closes == 1


def test_draw_reports_one_item_per_image(synth: SynthResult, tmp_path: Path) -> None:
    from tiledet.visualize import DrawConfig, draw_dataset

    progress = RecordingProgress()
    cfg = DrawConfig(source=synth.label_paths["csv"], out=tmp_path / "drawn", images_dir=synth.images_dir)
    report = draw_dataset(cfg, progress=progress)
    assert progress.starts() == [("drawing images", report.images)] and report.images >= 2
    assert progress.complete() and progress.closes == 1
    assert draw_dataset(DrawConfig(source=cfg.source, out=tmp_path / "d2", images_dir=cfg.images_dir)).images


def test_detect_yolo_reports_one_item_per_scene(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import cv2
    import numpy as np

    from tests.detect.yolo_data import make_firing_weights
    from tiledet.detect.yolo_predict import SliceConfig
    from tiledet.detect.yolo_run import DetectConfig, run_detection

    weights = make_firing_weights(tmp_path / "fire.pt")
    rng = np.random.default_rng(1)
    (tmp_path / "scenes").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / "scenes" / name), rng.integers(0, 256, (120, 150, 3), dtype=np.uint8))
    progress = RecordingProgress()
    cfg = DetectConfig(weights=weights, images=(tmp_path / "scenes",), out=tmp_path / "d.json",
                       slicing=SliceConfig(device="cpu", max_det=20))  # fmt: skip
    run_detection(cfg, progress=progress)
    assert progress.starts() == [("detecting", 2)] and progress.complete() and progress.closes == 1


def test_classify_train_reports_decoding_then_each_epoch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.classify.tinydata import make_folder
    from tiledet.classify.config import TrainConfig
    from tiledet.classify.train import train

    data = make_folder(tmp_path / "data", per_class=6, splits=("train", "val"))
    options = {"filters": [4], "head_conv": 8, "hidden": 8, "dropout": 0.0}
    cfg = TrainConfig(data=data, out=tmp_path / "run", model="cnn", model_options=options, input_size=16,
                      epochs=2, batch_size=8, augment="none", workers=1, patience=0, plots=False)  # fmt: skip
    progress, monitor = RecordingProgress(), _RecordingMonitor()
    train(cfg, progress=progress, monitor=monitor)
    n_train = len(list((data / "train").rglob("*.png")))
    n_all = len(list(data.rglob("*.png")))
    assert progress.starts() == [("decoding images", n_all), ("epoch 1/2", n_train), ("epoch 2/2", n_train)]
    assert progress.complete() and progress.closes == 1
    assert [r["epoch"] for r in monitor.epochs] == [1, 2] and {e for e, *_ in monitor.batches} == {1, 2}
    assert train(replace(cfg, out=tmp_path / "quiet")).epochs_run == 2  # progress=None works


class _RecordingMonitor:
    """A :class:`tiledet.progress.TrainingMonitor` that keeps what it is told."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, float, float]] = []
        self.epochs: list[dict] = []
        self.rows: list[int] = []

    def batch(self, epoch: int, loss: float, accuracy: float) -> None:
        self.batches.append((epoch, loss, accuracy))

    def epoch(self, record: Mapping[str, Any]) -> None:
        self.epochs.append(dict(record))

    def row(self, index: int, total: int, point: Mapping[str, Any]) -> None:
        self.rows.append(index)


def test_verbose_shows_info_logs_the_default_run_does_not(
    synth: SynthResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiledet.cli import main

    def run(*options: str) -> str:
        args = [*options, "convert", str(synth.label_paths["csv"]), "--images", str(synth.images_dir),
                "--out", str(tmp_path / "out"), "--tile", "128", "--workers", "1", "--quiet"]  # fmt: skip
        capsys.readouterr()
        assert main(args) == 0
        return capsys.readouterr().err

    assert "scenes, one at a time in this process" not in run()
    assert "3 scenes, one at a time in this process" in run("--verbose")
    assert "scenes, one at a time" not in run()  # the level is restored after each call

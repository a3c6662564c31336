"""The library never prints: conversion, loading, synthesis and evaluation without callbacks are silent."""

from __future__ import annotations

import numpy as np

import tiledet
from tests.recording import RecordingProgress


def test_library_calls_print_nothing_and_report_progress(tmp_path, capfd):
    synth = tiledet.generate_scenes(
        tiledet.SynthConfig(tmp_path / "synth", scenes=2, size_wh=(256, 192), image_format="png")
    )
    geojson = synth.label_paths["xview-geojson"]
    labels = tiledet.load_labels(geojson, images_dir=synth.images_dir)
    tile = tiledet.TileConfig(tile=128, workers=1)
    cfg = tiledet.ConvertConfig(src=geojson, images_dir=synth.images_dir, out=tmp_path / "tiles", tile=tile)
    tiledet.convert_labels(cfg)
    chips = tiledet.ChipConfig(chip_size=16, workers=1)
    tiledet.convert_labels(
        tiledet.ConvertConfig(
            src=geojson, images_dir=synth.images_dir, out=tmp_path / "chips", to="chips", chips=chips
        )
    )
    image = labels.dataset.images[0]
    dets = tiledet.Boxes(image.boxes.xyxy, image.boxes.class_ids, np.linspace(1, 0.5, len(image.boxes)))
    results = tiledet.detections_to_results(image.file_name, dets.nms(0.5), labels.dataset.class_names)
    tiledet.write_results_json(tmp_path / "dets.json", results)
    eval_cfg = tiledet.EvalConfig(images_dir=synth.images_dir)
    report = tiledet.run_evaluation(
        geojson, [tmp_path / "dets.json"], eval_cfg, out=tmp_path / "eval", plots=False
    )
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert report.runs[0].summary["AP50"] > 0  # the run did real work
    assert (tmp_path / "tiles" / "data.yaml").is_file() and (tmp_path / "eval" / "metrics.json").is_file()


def test_convert_calls_its_progress_callbacks(tmp_path):
    synth = tiledet.generate_scenes(tiledet.SynthConfig(tmp_path / "s", scenes=3, size_wh=(128, 128)))
    progress = RecordingProgress()
    cfg = tiledet.ConvertConfig(
        src=synth.label_paths["csv"], images_dir=synth.images_dir, out=tmp_path / "out", to="coco"
    )
    tiledet.convert_labels(cfg, progress=progress)
    n = len(tiledet.load_labels(cfg.src, images_dir=cfg.images_dir).dataset.images)  # images with boxes
    assert n >= 2 and progress.starts() == [("reading csv labels", None), ("writing coco", n)]
    assert progress.phases[-1].done == n

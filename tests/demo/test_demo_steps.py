"""The demo's plan (pure), its step runner (skip/redo on real processes) and its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiledet.demo.runner import StepResult, output_complete, run_steps, validation_scenes
from tiledet.demo.steps import DemoConfig, Step, data_steps, detector_steps, find_label_source
from tiledet.demo.table import build_table
from tiledet.errors import ConfigError, InputError, TiledetError
from tiledet.outdir import OutputDir, record_output_file


def test_plan_synthetic_chains_outputs_to_inputs(tmp_path: Path) -> None:
    cfg = DemoConfig(out=tmp_path / "d", quick=True)
    data = data_steps(cfg)
    assert [s.name for s in data] == ["synth", "tiles", "chips"]
    synth, tiles, chips = data
    assert synth.argv[:3] == ("synth", "--out", str(tmp_path / "d" / "synth"))
    assert synth.argv[synth.argv.index("--image-format") + 1] == "cog"  # georeferenced scenes by default
    # both conversions read the synthetic labels (in map coordinates) and split alike
    for step in (tiles, chips):
        assert step.argv[1] == str(tmp_path / "d" / "synth" / "labels.geojson")
        i, j = step.argv.index("--val-fraction"), step.argv.index("--seed")
        assert (step.argv[i + 1], step.argv[j + 1]) == ("0.34", "0")
    scenes = [tmp_path / "img" / "a.png", tmp_path / "img" / "b.png"]
    det = detector_steps(cfg, scenes)
    assert [s.name for s in det] == ["classifier", "sliding", "yolo-train", "yolo", "eval"]
    sliding = det[1]
    assert str(scenes[0]) in sliding.argv and str(scenes[1]) in sliding.argv
    assert sliding.argv[2] == str(tmp_path / "d" / "classifier" / "best.pt")
    for step in (sliding, det[3]):  # a GeoJSON layer, and the COCO results eval scores beside it
        assert step.argv[step.argv.index("--out") + 1].endswith(".geojson")
        assert any(str(o).endswith(f"{step.name}.json") for o in step.outputs)
    assert str(tmp_path / "d" / "detections" / "yolo.json") in det[4].argv
    assert det[4].argv[1] == str(tmp_path / "d" / "tiles" / "annotations" / "val_full.json")
    assert det[4].command.startswith("tiledet eval ")


def test_plan_seed_and_device_reach_every_training_step(tmp_path: Path) -> None:
    cfg = DemoConfig(out=tmp_path, seed=7, device="cpu")
    for step in detector_steps(cfg, [tmp_path / "a.png"]):
        if step.kind == "train":
            assert step.argv[step.argv.index("--seed") + 1] == "7"
            assert step.argv[step.argv.index("--device") + 1] == "cpu"


def test_real_folder_label_source(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(ConfigError, match="no label source"):
        find_label_source(tmp_path)
    (tmp_path / "labelTxt").mkdir()
    assert find_label_source(tmp_path) == tmp_path / "labelTxt"
    cfg = DemoConfig(out=tmp_path / "out", real=tmp_path)
    names = [s.name for s in data_steps(cfg)]
    assert names == ["tiles", "chips"]
    with pytest.raises(ConfigError, match="images/"):
        find_label_source(tmp_path / "images")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"device": "tpu"}, "device 'tpu'"), ({"seed": -1}, "^seed must"),
     ({"labels": Path("x")}, "^labels needs `real`")],
)
def test_config_rejects(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DemoConfig(out=tmp_path, **kwargs)


def test_output_complete(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    assert not output_complete(folder)
    with pytest.raises(RuntimeError), OutputDir(folder, command="demo") as od:
        od.write_text("a.txt", "x")
        raise RuntimeError
    assert not output_complete(folder)  # interrupted run: incomplete
    with OutputDir(folder, command="demo") as od:
        od.write_text("a.txt", "x")
    assert output_complete(folder)
    f = tmp_path / "dets" / "d.json"
    f.parent.mkdir()
    f.write_text("[]")
    assert not output_complete(f)  # a file tiledet did not record
    record_output_file(f, command="detect yolo")
    assert output_complete(f)
    with OutputDir(folder, command="demo") as od:
        od.write_text("annotations/val.json", "{}")
    assert output_complete(folder / "annotations" / "val.json")  # listed by run/'s manifest


def test_run_steps_runs_skips_and_redoes(tmp_path: Path) -> None:
    synth_out = tmp_path / "demo" / "synth"
    argv = ("synth", "--out", str(synth_out), "--scenes", "1", "--size", "96", "96", "--image-format", "png",
            "--quiet")
    step = Step("synth", "tiny scenes", argv, (synth_out,))
    events: list[tuple[str, str]] = []

    def on_event(kind: str, s: Step, r: StepResult | None) -> None:
        events.append((kind, s.name))

    state: dict = {}
    with OutputDir(tmp_path / "demo", command="demo") as od:
        first = run_steps([step], od, state, redo=False, quiet=True, on_event=on_event)
    assert first[0].status == "ran" and first[0].returncode == 0
    assert first[0].peak_rss_mib > 1 and first[0].wall_s > 0
    assert (synth_out / "images" / "synth_0000.png").is_file()
    log = Path(first[0].log or "")
    assert log.is_file()
    with OutputDir(tmp_path / "demo", command="demo") as od:
        second = run_steps([step], od, state, redo=False, quiet=True, on_event=on_event)
    assert second[0].status == "skipped"
    assert second[0].wall_s == first[0].wall_s  # the figures of the run that made the outputs
    with OutputDir(tmp_path / "demo", command="demo") as od:
        third = run_steps([step], od, state, redo=True, quiet=True, on_event=on_event)
    assert third[0].status == "ran"
    assert events == [("start", "synth"), ("done", "synth"), ("skip", "synth"), ("start", "synth"),
                      ("done", "synth")]


def test_a_step_that_reruns_reruns_every_later_step(tmp_path: Path) -> None:
    def synth_step(name: str) -> Step:
        out = tmp_path / "demo" / name
        argv = ("synth", "--out", str(out), "--scenes", "1", "--size", "64", "64", "--image-format", "png",
                "--quiet")
        return Step(name, "tiny scenes", argv, (out,))

    first, later = synth_step("a"), synth_step("b")
    state: dict = {}
    with OutputDir(tmp_path / "demo", command="demo") as od:
        run_steps([first, later], od, state, redo=False, quiet=True, on_event=lambda *a: None)
    del state["a"]  # no record of how a's outputs were made: a runs again
    with OutputDir(tmp_path / "demo", command="demo") as od:
        again = run_steps([first, later], od, state, redo=False, quiet=True, on_event=lambda *a: None)
    # b's outputs are complete, but it reads what a wrote: it runs again too
    assert [r.status for r in again] == ["ran", "ran"]
    changed = Step("a", "tiny scenes", (*first.argv, "--seed", "3"), first.outputs)
    with OutputDir(tmp_path / "demo", command="demo") as od:
        statuses = [r.status for r in run_steps([changed, later], od, state, False, True, lambda *a: None)]
    assert statuses == ["ran", "ran"]  # other settings: outputs made by another command are not reused
    with OutputDir(tmp_path / "demo", command="demo") as od:
        statuses = [r.status for r in run_steps([changed, later], od, state, False, True, lambda *a: None)]
    assert statuses == ["skipped", "skipped"]


def test_run_steps_failure_names_step_and_command(tmp_path: Path) -> None:
    argv = ("convert", str(tmp_path / "no.json"), "--images", str(tmp_path), "--out", str(tmp_path / "o"))
    bad = Step("bad", "a failing step", argv, ())
    failed = pytest.raises(TiledetError, match="demo step 'bad' failed")
    with OutputDir(tmp_path / "demo", command="demo") as od, failed:
        run_steps([bad], od, {}, redo=False, quiet=True, on_event=lambda *a: None)


def test_validation_scenes(tmp_path: Path) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": 1, "file_name": "s/a.png"}], "annotations": []}))
    assert validation_scenes(gt, tmp_path / "img") == [tmp_path / "img" / "s" / "a.png"]
    gt.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(InputError, match="no validation scenes"):
        validation_scenes(gt, tmp_path)


def test_table_from_metrics() -> None:
    def run(ap50: float, ap: float, car: float | None) -> dict:
        return {"summary": {"AP50": ap50, "AP": ap}, "per_class": [
            {"name": "Small Car", "num_gt": 5, "AP50": car}, {"name": "Bus", "num_gt": 0, "AP50": None}]}

    metrics = {"runs": [run(0.5, 0.25, 0.75), run(0.9, 0.5, None)]}
    steps = [StepResult("classifier", "", "ran", 120.0, 300.0), StepResult("sliding", "", "ran", 10.0, 500.0),
             StepResult("yolo-train", "", "ran", 600.0, 900.0), StepResult("yolo", "", "ran", 4.0, 700.0)]
    table = dict(build_table(metrics, steps, n_scenes=2, detectors=("sliding", "yolo")))
    assert table["mAP50"] == {"sliding": "0.500", "yolo": "0.900"}
    assert table["mAP50-95"] == {"sliding": "0.250", "yolo": "0.500"}
    assert table["AP50 Small Car"] == {"sliding": "0.750", "yolo": "n/a"}
    assert "AP50 Bus" not in table  # no ground truth: not a row
    assert table["detection s/scene"] == {"sliding": "5.0", "yolo": "2.0"}
    assert table["training time"] == {"sliding": "2.0 min", "yolo": "10.0 min"}
    assert table["peak memory"] == {"sliding": "500 MiB", "yolo": "900 MiB"}


def test_redo_is_the_demos_flag_and_force_is_not(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiledet.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["demo", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--redo" in text and "Redo steps whose outputs are complete. Default: off." in text
    assert "--force" not in text
    assert main(["demo", "--force"]) == 2  # no hidden alias: a usage error
    assert "--force" in capsys.readouterr().err

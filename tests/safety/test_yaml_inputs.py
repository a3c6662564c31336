"""Issue 17 item 9: every YAML input refuses aliases and tags with a one-line error naming the file.

A "billion laughs" ``data.yaml``, ``--classes`` file, recipe or grid used to spin the CPU for minutes;
each entry point now exits 2 at the first anchor, before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_yamlio import BILLION_LAUGHS

from .data import dataset, run_cli

TAGGED = "names: !!python/object/apply:os.system ['echo pwned']\npath: .\ntrain: images\nval: images\n"


def _assert_refused(code: int, err: str, path: Path, what: str = "YAML aliases are not accepted") -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: {path}:line ") and what in lines[0], lines[0]


def _evil(tmp_path: Path, name: str = "evil.yaml", text: str = BILLION_LAUGHS) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_convert_classes_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels, images = dataset(tmp_path / "ds")
    evil = _evil(tmp_path)
    code, err = run_cli(["convert", labels, "--images", images, "--out", tmp_path / "out", "--quiet",
                         "--classes", evil], capsys)  # fmt: skip
    _assert_refused(code, err, evil)
    assert not (tmp_path / "out" / "data.yaml").exists()


@pytest.mark.parametrize(("text", "what"), [(BILLION_LAUGHS, "YAML aliases"), (TAGGED, "YAML tags")])
def test_convert_yolo_data_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, what: str
) -> None:
    (tmp_path / "images").mkdir()
    evil = _evil(tmp_path, "data.yaml", text)
    code, err = run_cli(["convert", evil, "--out", tmp_path / "out", "--quiet"], capsys)
    _assert_refused(code, err, evil, what)


def test_eval_ground_truth_data_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "images").mkdir()
    evil = _evil(tmp_path, "data.yaml")
    preds = tmp_path / "preds.json"
    preds.write_text("[]")
    code, err = run_cli(["eval", evil, preds], capsys)
    _assert_refused(code, err, evil)


def test_eval_classes_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels, images = dataset(tmp_path / "ds")
    preds = tmp_path / "preds.json"
    preds.write_text("[]")
    evil = _evil(tmp_path)
    code, err = run_cli(["eval", labels, preds, "--images", images, "--classes", evil], capsys)
    _assert_refused(code, err, evil)


def test_synth_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = _evil(tmp_path)
    args = ["synth", "--recipe", evil, "--out", tmp_path / "s", "--scenes", 1, "--quiet"]
    code, err = run_cli(args, capsys)
    _assert_refused(code, err, evil)
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_classify_sweep_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = _evil(tmp_path, "grid.yaml", "base: &b {epochs: 1}\ngrid: {model: [mlp]}\nper_model: {mlp: *b}\n")
    code, err = run_cli(["classify", "sweep", evil, "--out", tmp_path / "sweep"], capsys)
    _assert_refused(code, err, evil)


def test_classify_train_option_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["classify", "train", tmp_path, "--out", tmp_path / "run", "-o", "filters=!!set {}"],
                        capsys)  # fmt: skip
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "--option filters:line 1: YAML tags are not accepted" in lines[0]


def test_detect_train_yolo_data_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "images").mkdir()
    evil = _evil(tmp_path, "data.yaml")
    code, err = run_cli(["detect", "train-yolo", evil, "--out", tmp_path / "run"], capsys)
    _assert_refused(code, err, evil)

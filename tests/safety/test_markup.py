"""Issue 17 item 10: names from the user's files print literally, never as rich markup.

A class named ``[/red]`` used to end complete ``eval`` and ``classify train`` runs with exit code 1
(``unexpected MarkupError``); ``[bold]x`` printed as a bold ``x``; ``:car:`` became an emoji.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.classify.tinydata import make_folder
from tiledet.cli import main
from tiledet.cli.richtext import esc, make_console
from tiledet.ioutil import atomic_write_yaml

from .data import dataset, write_csv, write_png

NAMES = ("[/red]", "[bold]x", ":car:")


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns; long temporary paths must not be split across lines."""
    monkeypatch.setenv("COLUMNS", "2000")


def _run(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _coco_gt(path: Path) -> Path:
    boxes = [[10, 10, 20, 20], [50, 50, 20, 20], [10, 60, 20, 20]]
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}],
        "annotations": [
            {"id": k + 1, "image_id": 1, "category_id": k + 1, "bbox": b, "area": 400, "iscrowd": 0}
            for k, b in enumerate(boxes)
        ],
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(NAMES)],
    }
    path.write_text(json.dumps(doc))
    return path


def test_eval_prints_class_names_and_notes_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = _coco_gt(tmp_path / "gt.json")
    dets = [{"image_id": 1, "category_name": n, "bbox": [10, 10, 20, 20], "score": 0.9} for n in NAMES]
    dets.append({"file_name": "[/red].png", "category_name": "[/red]", "bbox": [1, 1, 5, 5], "score": 0.5})
    det_path = tmp_path / "[red]dets.json"
    det_path.write_text(json.dumps(dets))
    code, out, err = _run(["eval", gt, det_path], capsys)
    assert code == 0, err
    table_rows = [line.split("│")[1].strip() for line in out.splitlines() if line.count("│") > 2]
    for name in NAMES:
        assert name in table_rows, out
    assert "'[/red].png'" in out and "[red]dets.json" in out  # the drop note, file names as written
    assert "MarkupError" not in err


def test_classify_train_and_eval_print_class_names_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the "wrote ..." line in one piece
    # class names come from chips.yaml ("[/red]" cannot be a folder name), as `convert --to chips` writes it
    folders = {"[/red]": "red", "[bold]x": "bold_x", "square": "square"}
    data = make_folder(tmp_path / "[data]", per_class=15, classes=tuple(folders.values()))
    manifest = {"chip_size": 16, "context": 0.5, "class_names": list(folders), "class_folders": folders}
    atomic_write_yaml(data / "chips.yaml", manifest)
    run_dir = tmp_path / "[bold]run"
    tiny = ["--input-size", "16", "-o", "filters=4", "-o", "head_conv=8", "-o", "hidden=8",
            "--augment", "none", "--workers", "1", "--epochs", "1", "--batch-size", "8"]  # fmt: skip
    code, out, err = _run(["classify", "train", data, "--out", run_dir, *tiny], capsys)
    assert code == 0, err
    assert "[/red]" in out and "[bold]x" in out and str(run_dir) in out
    code, out, err = _run(["classify", "eval", run_dir / "best.pt", data, "--split", "val"], capsys)
    assert code == 0, err
    assert "[/red]" in out and "[bold]x" in out


def test_convert_summary_names_the_out_folder_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    labels, images = dataset(tmp_path / "ds")
    out = tmp_path / "[/red]out"
    code, _, err = _run(["convert", labels, "--images", images, "--out", out, "--workers", 1], capsys)
    assert code == 0, err
    assert "[/red]out" in err


def test_draw_summary_names_the_out_folder_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    write_png(tmp_path / "images" / "a.png", (100, 100))
    labels = write_csv(tmp_path / "labels.csv", [("a.png", 5, 5, 25, 20, "18")])
    code, _, err = _run(["draw", labels, "--images", tmp_path / "images", "--out", tmp_path / "[i]drawn"],
                        capsys)  # fmt: skip
    assert code == 0, err
    assert f"-> {tmp_path / '[i]drawn'}" in err


def test_esc_and_console_print_text_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    text = "[/red] [bold]x :car: [link=x] ends in a backslash \\"
    make_console().print(f"[yellow]{esc(text)}[/yellow]", soft_wrap=True)
    assert capsys.readouterr().out == text + "\n"

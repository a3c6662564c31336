"""``tiledet convert`` through ``tiledet.cli.main``: exit codes and one-line error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiledet.cli import main
from tiledet.cli.convert import parse_csv_columns
from tiledet.errors import ConfigError
from tiledet.formats import READERS

from .test_pipeline import make_scene


@pytest.fixture(autouse=True)
def _fake_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(READERS, "fake", "tests.convert.test_pipeline:fake_read")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    if "fake" in args and "--classes" not in args:
        args = [*args, "--classes", "xview"]  # the test format carries xView type ids
    code = main(["convert", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    records = ["a.png;1,1,9,9;18", "b.png;2,2,12,12;73"]
    return make_scene(tmp_path, records, {"a.png": (20, 20), "b.png": (20, 20)})


def test_convert_succeeds_and_writes_dataset(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    labels, images = scene
    out = tmp_path / "out"
    code, _, err = run([labels, "--images", images, "--out", out, "--from", "fake",
                        "--val-fraction", "0.5", "--seed", "3"], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["written_boxes"] == 2 and report["images"] == {"train": 1, "val": 1}
    assert "boxes written" in err  # the summary table (stderr)
    assert (out / "data.yaml").is_file()


def test_quiet_prints_nothing(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    labels, images = scene
    code, out, err = run([labels, "--images", images, "--out", tmp_path / "o", "--from", "fake", "--quiet"],
                         capsys)
    assert code == 0 and out == "" and err == ""


def test_coco_output_and_copy(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    labels, images = scene
    out = tmp_path / "out"
    code, _, err = run([labels, "--images", images, "--out", out, "--from", "fake", "--to", "coco", "--copy",
                        "--val-fraction", "0", "--quiet"], capsys)
    assert code == 0, err
    coco = json.loads((out / "annotations/train.json").read_text())
    assert len(coco["annotations"]) == 2
    assert not (out / "images/train/a.png").is_symlink()


def test_missing_image_folder(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    labels, _ = scene
    missing = tmp_path / "no_such_dir"
    code, _, err = run([labels, "--images", missing, "--out", tmp_path / "o", "--from", "fake"], capsys)
    assert_one_line_error(code, err, str(missing), "image folder not found")


def test_missing_label_file(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    _, images = scene
    code, _, err = run([tmp_path / "nope.json", "--images", images, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, "nope.json", "not found")


def test_unreadable_label_file_invalid_json(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    _, images = scene
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n  {"id": 1,,}\n')
    code, _, err = run([bad, "--images", images, "--out", tmp_path / "o", "--from", "coco"], capsys)
    assert_one_line_error(code, err, str(bad))


def test_unreadable_label_file_not_utf8(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    _, images = scene
    bad = tmp_path / "binary.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    code, _, err = run([bad, "--images", images, "--out", tmp_path / "o", "--from", "fake"], capsys)
    assert_one_line_error(code, err, str(bad), "cannot read")


def test_empty_input(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    _, images = scene
    empty = tmp_path / "empty.geojson"
    empty.write_text("")
    code, _, err = run([empty, "--images", images, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, str(empty), "empty")


def test_unknown_format_option(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    labels, images = scene
    code, _, err = run([labels, "--images", images, "--out", tmp_path / "o", "--from", "pascal-voc"], capsys)
    assert_one_line_error(code, err, "--from", "pascal-voc")


def test_unknown_format_auto_detected(tmp_path: Path, scene: tuple[Path, Path], capsys) -> None:
    _, images = scene
    odd = tmp_path / "labels.xyz"
    odd.write_text("nothing a reader knows\n")
    code, _, err = run([odd, "--images", images, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, str(odd))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--val-fraction", "1.5"], "--val-fraction"),
        (["--to", "voc"], "--to"),
        (["--csv-columns", "image"], "--csv-columns"),
        (["--csv-columns", "colour=C"], "--csv-columns"),
        (["--overlap", "0.5"], "--tile"),
        (["--chip-size", "32"], "--to chips"),
        (["--tile", "0"], "tile"),
        (["--tile", "64", "--overlap", "1.0"], "overlap"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, scene: tuple[Path, Path], capsys, extra: list[str], fragment: str
) -> None:
    labels, images = scene
    args = [labels, "--images", images, "--out", tmp_path / "o", "--from", "fake", *extra]
    code, _, err = run(args, capsys)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "o").exists()


def test_strict_exit_names_the_line(tmp_path: Path, capsys) -> None:
    labels, images = make_scene(tmp_path, ["a.png;1,1,9,9;18", "a.png;1,1,9,9;82"], {"a.png": (20, 20)})
    args = [labels, "--images", images, "--out", tmp_path / "o", "--from", "fake"]
    code, _, err = run([*args, "--strict"], capsys)
    assert_one_line_error(code, err, f"{labels}:line 2", "unknown_class")
    code, _, err = run([*args, "--quiet"], capsys)  # without --strict it is a reported drop
    assert code == 0, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {}),
        ("", {}),
        ("image=File", {"image": "File"}),
        ("image = File , Class=Type Id", {"image": "File", "class": "Type Id"}),
    ],
)
def test_parse_csv_columns(text: str | None, expected: dict[str, str]) -> None:
    assert parse_csv_columns(text) == expected


@pytest.mark.parametrize("text", ["image", "=File", "image=", "image=A,,"])
def test_parse_csv_columns_rejects_bad_items(text: str) -> None:
    with pytest.raises(ConfigError, match="--csv-columns"):
        parse_csv_columns(text)

"""``tiledet classify`` through ``tiledet.cli.main``: train, eval, predict, sweep, one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.classify.tinydata import make_folder
from tiledet.cli import main
from tiledet.cli.classify import parse_settings
from tiledet.errors import ConfigError

TINY = [
    "--input-size",
    "16",
    "-o",
    "filters=8,16",
    "-o",
    "head_conv=16",
    "-o",
    "hidden=32",
    "-o",
    "dropout=0",
    "--augment",
    "none",
    "--workers",
    "1",
    "--quiet",
]


def run(args: list, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["classify", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    data = make_folder(root / "data", per_class=25, classes=("square", "hbar", "vbar"))
    args = ["--epochs", "8", "--lr", "0.003", "--batch-size", "8", *TINY]
    code = main(["classify", "train", str(data), "--out", str(root / "run"), *args])
    assert code == 0
    return data, root / "run"


def test_train_eval_predict(
    run_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data, run_path = run_dir
    train_metrics = json.loads((run_path / "metrics.json").read_text())
    assert train_metrics["split"] == "test"
    code, out, _ = run(["eval", run_path / "best.pt", data, "--split", "test", "--format", "json"], capsys)
    assert code == 0
    metrics = json.loads(out)
    assert metrics["accuracy"] == pytest.approx(train_metrics["accuracy"])  # same seeded split
    assert metrics["n"] == 15 and metrics["accuracy"] >= 0.6  # chance: 1/3
    code, out, _ = run(["eval", run_path / "best.pt", data, "--out", tmp_path / "ev"], capsys)
    assert code == 0 and "accuracy" in out and "macro" in out
    assert (tmp_path / "ev" / "confusion.png").is_file()
    code, out, err = run(["eval", run_path / "best.pt", data, "--out", tmp_path / "evq", "--quiet"], capsys)
    assert code == 0 and out == "" and err == ""
    assert json.loads((tmp_path / "evq" / "metrics.json").read_text())["accuracy"] == pytest.approx(
        metrics["accuracy"]
    )
    code, _, err = run(["eval", run_path / "best.pt", data, "--quiet"], capsys)
    assert code == 2 and "--quiet without --out" in err
    code, out, _ = run(
        [
            "predict",
            run_path / "best.pt",
            data / "square",
            "--top-k",
            "2",
            "--out",
            tmp_path / "preds.csv",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0
    with open(tmp_path / "preds.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 25 and set(rows[0]) == {"file", "class", "confidence", "class_2", "prob_2"}
    assert sum(r["class"] == "square" for r in rows) >= 15
    assert all(float(r["confidence"]) >= float(r["prob_2"]) for r in rows)


def test_cli_bad_input(
    run_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data, run_path = run_dir
    one_line_error(
        *run(["train", tmp_path / "none", "--out", tmp_path / "o", *TINY], capsys)[::2],
        "data folder not found",
    )
    one_line_error(
        *run(["train", data, "--out", tmp_path / "o", "--optimizer", "lbfgs"], capsys)[::2],
        "--optimizer",
        "lbfgs",
    )
    one_line_error(*run(["train", data, "--out", tmp_path / "o", "-o", "filters"], capsys)[::2], "KEY=VALUE")
    one_line_error(
        *run(["train", data, "--out", tmp_path / "o", "--memory-limit", "-1"], capsys)[::2], "--memory-limit"
    )
    one_line_error(
        *run(["train", data, "--out", tmp_path / "o", "--input-size", "6"], capsys)[::2], "too small"
    )
    one_line_error(*run(["train", data, "--out", data / "run"], capsys)[::2], "overlaps the input")
    one_line_error(
        *run(["eval", data / "square" / "square_000.png", data], capsys)[::2], "cannot read checkpoint"
    )
    other = make_folder(tmp_path / "other", per_class=3, classes=("x", "y"))
    one_line_error(*run(["eval", run_path / "best.pt", other], capsys)[::2], "trained on classes")
    one_line_error(
        *run(["eval", run_path / "best.pt", data, "--split", "holdout"], capsys)[::2], "--split holdout"
    )
    one_line_error(
        *run(
            ["train", data, "--out", tmp_path / "o2", "--model", "mlp", "--resume", run_path / "last.pt"],
            capsys,
        )[::2],
        "--resume",
    )
    (tmp_path / "mine.csv").write_text("user data\n")
    one_line_error(
        *run(["predict", run_path / "best.pt", data, "--out", tmp_path / "mine.csv"], capsys)[::2],
        "not written by tiledet",
    )
    assert (tmp_path / "mine.csv").read_text() == "user data\n"
    grid = tmp_path / "g.yaml"
    grid.write_text("grid: {models: [cnn]}\n")
    one_line_error(*run(["sweep", grid, "--out", tmp_path / "s", "--data", data], capsys)[::2], "'models'")


def test_predict_with_an_unreadable_image_writes_the_others_and_exits_1(
    run_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data, run_path = run_dir
    images = tmp_path / "images"
    images.mkdir()
    good = sorted((data / "square").iterdir())[:2]
    for p in good:
        (images / p.name).write_bytes(p.read_bytes())
    (images / "broken.png").write_bytes(good[0].read_bytes()[:40])
    code, _, err = run(["predict", run_path / "best.pt", images, "--out", tmp_path / "p.csv", "--quiet"],
                       capsys)
    assert code == 1 and "1 of 3 images could not be read" in err and "Traceback" not in err
    with open(tmp_path / "p.csv") as f:
        assert sorted(Path(r["file"]).name for r in csv.DictReader(f)) == sorted(p.name for p in good)


def test_sweep_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = make_folder(tmp_path / "data", per_class=5, classes=("square", "hbar"))
    grid = tmp_path / "g.yaml"
    grid.write_text(
        "base: {input_size: 16, augment: none, model_options: {filters: [4], head_conv: 0}}\n"
        "grid: {model: [cnn, mlp]}\nper_model: {mlp: {hidden: [8]}}\n"
    )
    grid.write_text(grid.read_text().replace("model_options: {filters: [4], head_conv: 0}", "epochs: 1"))
    code, out, _ = run(
        ["sweep", grid, "--out", tmp_path / "s", "--data", data, "--set", "epochs=1", "--quiet"], capsys
    )
    assert code == 0 and "| runs/000 | cnn |" in out and "| runs/001 | mlp |" in out


def test_parse_settings() -> None:
    assert parse_settings(["filters=32,64", "dropout=0.5", "downsample=avg", "box-head=true"], "-o") == {
        "filters": [32, 64],
        "dropout": 0.5,
        "downsample": "avg",
        "box_head": True,
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_settings(["oops"], "-o")


def test_help_and_lazy_torch(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import sys, tiledet.cli, tiledet.cli.classify, tiledet.classify; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    code, text, _ = run(["train", "--help"], capsys)
    assert code == 0
    for option in ("--box-head", "--balance", "--resume", "--monitor", "Default: adam"):
        assert option in text


def test_train_names_only_the_files_it_wrote(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # the file list on one line
    data = make_folder(tmp_path / "data", per_class=4, classes=("square", "hbar"))
    args = ["train", data, "--epochs", "1", *[a for a in TINY if a != "--quiet"]]
    for plots, pngs in (("--no-plots", []), ("--plots", ["confusion.png", "history.png", "mistakes.png"])):
        code, out, err = run([*args, "--out", tmp_path / plots, plots], capsys)
        assert code == 0, err
        names = sorted(p.name for p in (tmp_path / plots).iterdir() if not p.name.startswith("."))
        assert sorted(n for n in names if n.endswith(".png")) == pngs
        line = next(ln for ln in out.splitlines() if ln.startswith("wrote "))
        assert line == f"wrote {len(names)} files to {tmp_path / plots}: {', '.join(names)}"

"""Sweeps: every shipped grid file runs on a tiny stand-in of its layout and writes one row per point."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.classify.tinydata import make_folder
from tiledet.classify.sweep import read_grid, run_sweep
from tiledet.errors import ConfigError

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
GRIDS = sorted(DATASETS.glob("classify_*.yaml"))


def _stand_in(grid_path: Path, root: Path) -> Path:
    """Tiny data in the layout the grid names (split folders and chips.yaml as it says)."""
    text = grid_path.read_text()
    splits = (
        ("train", "test") if "{train,test}" in text else ("train", "val") if "{train,val}" in text else ()
    )
    return make_folder(root, per_class=4, classes=("a", "b", "c"), splits=splits, chips="chips.yaml" in text)


def test_grid_files_are_shipped() -> None:
    names = {p.stem for p in GRIDS}
    assert {
        "classify_aerial21_mlp_vs_cnn",
        "classify_xview12_imbalance",
        "classify_cifar10_cnn",
        "classify_pooling_mnist",
        "classify_pooling_cifar10",
        "classify_birds200_resnet18",
    } <= names


@pytest.mark.parametrize("grid_path", GRIDS, ids=lambda p: p.stem)
def test_grid_on_tiny_stand_in(grid_path: Path, tmp_path: Path) -> None:
    grid = read_grid(grid_path)
    data = _stand_in(grid_path, tmp_path / "data")
    overrides: dict = {"epochs": 1, "batch_size": 16, "plots": False}
    if grid.base.get("model") == "resnet18":
        overrides["input_size"] = 32  # its smallest input: seconds instead of a minute on 2 CPU cores
    # narrower layers keep the test to seconds; the grid's own values (downsample, ...) stay
    blocks = len(
        {**grid.per_model.get("cnn", {}), **grid.base.get("model_options", {})}.get("filters", [0, 0])
    )
    narrow = {"cnn": {"filters": [4] * blocks, "head_conv": 8, "hidden": 8}, "mlp": {"hidden": [8]}}
    rows = run_sweep(grid_path, tmp_path / "out", data=data, overrides=overrides, model_overrides=narrow)
    assert len(rows) == len(grid.points()) >= 2
    with open(tmp_path / "out" / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    assert set(grid.axes) <= set(table[0])
    for row in table:
        assert 0 <= float(row["test_accuracy"]) <= 1 and row["best_epoch"] == "1"
        assert (tmp_path / "out" / row["run"] / "best.pt").is_file()
    md = (tmp_path / "out" / "sweep.md").read_text()
    assert md.count("\n| ") == len(rows) + 1


def test_grid_rows_and_bad_grids(tmp_path: Path) -> None:
    data = make_folder(tmp_path / "data", per_class=6, classes=("a", "b"))
    grid = tmp_path / "g.yaml"
    grid.write_text(
        "base: {input_size: 16, epochs: 1, augment: none, model_options: {filters: [4], head_conv: 0}}\n"
        "grid: {optimizer: [adam, sgd, rmsprop], lr: [0.01, 0.001]}\n"
    )
    rows = run_sweep(grid, tmp_path / "out", data=data)
    assert [(r["optimizer"], r["lr"]) for r in rows] == [
        (o, lr) for o in ("adam", "sgd", "rmsprop") for lr in ("0.0100", "0.0010")
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {optimiser: [adam]}\n")
    with pytest.raises(ConfigError, match="unknown grid key 'optimiser'"):
        run_sweep(bad, tmp_path / "o2", data=data)
    bad.write_text("grid: {lr: 0.1}\n")
    with pytest.raises(ConfigError, match="must be a non-empty list"):
        read_grid(bad)
    bad.write_text("datasets: x\n")
    with pytest.raises(ConfigError, match="unknown key 'datasets'"):
        read_grid(bad)
    bad.write_text("grid: {model: [mlp, transformer]}\n")
    with pytest.raises(ConfigError, match="transformer"):
        run_sweep(bad, tmp_path / "o3", data=data)
    assert not (tmp_path / "o3").exists()  # every row is checked before anything is written

"""``tiledet classify sweep GRID.yaml --out DIR``: train every point of a grid, write one results table.

A grid file (YAML)::

    name: aerial21-mlp-vs-cnn          # optional
    description: ...                    # optional, copied into the Markdown table
    data: data/UCMerced_LandUse/Images  # the data root (relative: to the working folder); --data overrides
    layout: ROOT/{class}/*.tif          # optional, for people: what the data must look like
    base: {epochs: 30, input_size: 64}  # `classify train` settings shared by every row
    per_model: {cnn: {filters: [32, 64]}}   # optional model_options per model name
    grid:                               # every combination of these lists is one row
      model: [mlp, cnn]
      lr: [0.001, 0.01]

``base`` and ``grid`` take the :class:`~tiledet.classify.config.TrainConfig` field names except
``data``, ``out``, ``resume`` and ``force``; ``grid`` values are lists (``model_options`` a list of
mappings, merged over ``per_model`` and ``base``'s ``model_options``). Each row trains into
``DIR/runs/NNN`` and adds a line to ``DIR/sweep.csv`` and ``DIR/sweep.md``: the grid values,
train/val/test accuracy, test macro recall, best epoch, epochs run, training seconds and images/s
(test columns use val when the data has no test split).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiledet.classify.config import TrainConfig, config_keys
from tiledet.classify.train import train
from tiledet.errors import ConfigError
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, TrainingMonitor, as_monitor, as_progress

TOP_KEYS = ("name", "description", "data", "layout", "base", "grid", "per_model")
_NOT_SETTABLE = ("data", "out", "resume", "force")
RESULT_COLUMNS = (
    "train_accuracy", "val_accuracy", "test_accuracy", "test_macro_recall", "best_epoch", "epochs",
    "train_seconds", "images_per_s",
)  # fmt: skip


@dataclass(frozen=True)
class Grid:
    """A parsed grid file.

    Attributes:
        path: the grid file.
        data: data root named by the file (None when absent).
        base: settings shared by every row.
        axes: grid key -> its values, in file order.
        per_model: model name -> model options.
        name: short name.
        description: free text.
    """

    path: Path
    data: Path | None
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str = ""
    description: str = ""

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the axes (last axis fastest), as setting dicts."""
        keys = list(self.axes)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*self.axes.values())]


def _check_keys(where: str, mapping: Mapping[str, Any], path: Path) -> None:
    allowed = [k for k in config_keys() if k not in _NOT_SETTABLE]
    for key in mapping:
        if key not in allowed:
            raise ConfigError(f"{path}: unknown {where} key {key!r} (allowed: {', '.join(allowed)})")


def read_grid(path: str | Path) -> Grid:
    """Parse and check a grid file.

    Raises:
        InputError: missing or unreadable file.
        ConfigError: unknown keys, a grid value that is not a list, an empty grid.
    """
    from tiledet.yamlio import read_yaml_file

    path = Path(path)
    raw = read_yaml_file(path, "grid file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a grid file is a mapping with keys {', '.join(TOP_KEYS)}")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(TOP_KEYS)})")
    base = raw.get("base") or {}
    axes = raw.get("grid") or {}
    per_model = raw.get("per_model") or {}
    if not isinstance(base, dict) or not isinstance(axes, dict) or not isinstance(per_model, dict):
        raise ConfigError(f"{path}: base, grid and per_model must be mappings")
    _check_keys("base", base, path)
    _check_keys("grid", axes, path)
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid key {key!r} must be a non-empty list, got {values!r}")
    overlap = sorted((set(base) & set(axes)) - {"model_options"})  # options merge: grid over base
    if overlap:
        raise ConfigError(f"{path}: {overlap[0]!r} is both in base and in grid")
    data = raw.get("data")
    return Grid(
        path, None if data is None else Path(str(data)), dict(base), {k: list(v) for k, v in axes.items()},
        {str(k): dict(v or {}) for k, v in per_model.items()}, str(raw.get("name") or path.stem),
        str(raw.get("description") or ""),
    )  # fmt: skip


def row_config(
    grid: Grid, point: Mapping[str, Any], data: Path, out: Path, overrides: Mapping[str, Any],
    model_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> TrainConfig:  # fmt: skip
    """The TrainConfig of one grid point (base, then point, then ``overrides``; options merged, then
    ``model_overrides[model]``)."""
    settings: dict[str, Any] = {**grid.base, **point, **overrides}
    model = str(settings.get("model", "cnn"))
    options = {**grid.per_model.get(model, {}), **dict(grid.base.get("model_options") or {})}
    options.update(dict(point.get("model_options") or {}))
    options.update(dict(overrides.get("model_options") or {}))
    options.update(dict((model_overrides or {}).get(model) or {}))
    settings["model_options"] = options
    if "augment" in settings and isinstance(settings["augment"], list):
        settings["augment"] = ",".join(map(str, settings["augment"]))
    try:
        return TrainConfig(data=data, out=out, **settings)
    except TypeError as e:
        raise ConfigError(f"{grid.path}: {e}") from e


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, dict):
        return " ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ",".join(map(_fmt, value))
    return str(value)


def _row(index: int, point: Mapping[str, Any], result: Any) -> dict[str, Any]:
    m = result.split_metrics
    test = m.get("test", m["val"])
    return {
        "run": f"runs/{index:03d}", **{k: _fmt(v) for k, v in point.items()},
        "train_accuracy": m["train"]["accuracy"], "val_accuracy": m["val"]["accuracy"],
        "test_accuracy": test["accuracy"], "test_macro_recall": test["macro_recall"],
        "best_epoch": result.best_epoch, "epochs": result.epochs_run,
        "train_seconds": result.train_seconds, "images_per_s": result.images_per_s,
    }  # fmt: skip


def tables(grid: Grid, rows: list[dict[str, Any]]) -> tuple[str, str]:
    """``(csv_text, markdown_text)`` of the result rows."""
    columns = ["run", *grid.axes, *RESULT_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_fmt(r[c]) for c in columns] for r in rows])
    md = [f"# {grid.name}", ""] + ([grid.description.strip(), ""] if grid.description.strip() else [])
    md += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in rows]
    return buffer.getvalue(), "\n".join(md) + "\n"


def run_sweep(
    grid_path: str | Path, out: str | Path, data: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None, force: bool = False,
    progress: Progress | None = None,
    model_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    monitor: TrainingMonitor | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Train every grid point into ``OUT/runs/NNN`` and write ``OUT/sweep.csv`` and ``OUT/sweep.md``.

    Args:
        grid_path: the grid file.
        out: output folder.
        data: data root (overrides the grid's ``data``).
        overrides: settings applied to every row after the grid (e.g. ``{"epochs": 1}``).
        model_overrides: model name -> model options applied last to that model's rows.
        force: write into a non-empty folder not written by tiledet.
        progress: the phases of each row's training (see :func:`tiledet.classify.train.train`);
            closed after each row and at the end.
        monitor: ``monitor.row(index, total, point)`` before each row, then that row's training
            metrics (:class:`tiledet.progress.TrainingMonitor`).

    Returns:
        The result rows.
    """

    grid = read_grid(grid_path)
    overrides = dict(overrides or {})
    _check_keys("--set", {k: v for k, v in overrides.items() if k != "model_options"}, grid.path)
    root = Path(data) if data is not None else grid.data
    if root is None:
        raise ConfigError(
            f"{grid.path}: no data folder (set `data:` in the grid or pass `data`)", field="data"
        )
    out = Path(out)
    points = grid.points()
    configs = [
        row_config(grid, p, root, out / "runs" / f"{i:03d}", overrides, model_overrides)
        for i, p in enumerate(points)
    ]
    rows: list[dict[str, Any]] = []
    progress, monitor = as_progress(progress), as_monitor(monitor)
    outdir = OutputDir(out, command="classify sweep", force=force, sources=[root, grid.path])
    with contextlib.closing(progress), outdir as od:
        for i, (point, cfg) in enumerate(zip(points, configs, strict=True)):
            monitor.row(i, len(points), point)
            rows.append(_row(i, point, train(cfg, progress, monitor)))
            csv_text, md_text = tables(grid, rows)
            od.write_text("sweep.csv", csv_text)
            od.write_text("sweep.md", md_text)
    return rows

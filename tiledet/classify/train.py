"""``train(cfg)``: data -> model -> epochs with early stopping -> checkpoints, history and evaluation.

Run folder (written through :class:`tiledet.outdir.OutputDir`): ``best.pt`` (best val ``monitor``),
``last.pt`` (with optimiser/scheduler state for ``--resume``), ``config.json``, ``history.csv``,
``history.png``, and the evaluation of the best weights on test (val when there is no test split):
``metrics.json``, ``per_class.csv``, ``confusion.csv``, ``confusion.png``, ``mistakes.png``;
``skipped.txt`` lists unreadable images. The library never prints: ``progress``
(:class:`tiledet.progress.Progress`) sees the phases ``decoding images`` (one item per image; total
None when the data is streamed instead) and ``epoch E/N`` (one item per training image), and
``monitor`` (:class:`tiledet.progress.TrainingMonitor`) each batch's running loss and accuracy and
each epoch's history row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from tiledet.classify.checkpoint import read_checkpoint
from tiledet.classify.config import TrainConfig
from tiledet.classify.data import DataSet, check_streamable, decode_samples, decoded_bytes, discover
from tiledet.classify.session import HISTORY_COLUMNS, Session, TrainResult
from tiledet.device import resolve_device
from tiledet.errors import ConfigError, InputError
from tiledet.outdir import OutputDir
from tiledet.progress import Progress, TrainingMonitor, as_progress

log = logging.getLogger(__name__)


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` lies inside ``folder`` (real paths)."""
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return root in real.parents


def _resume_config(cfg: TrainConfig) -> tuple[TrainConfig, dict]:
    """Merge the checkpoint's model settings into ``cfg`` (model, options, input size, box head)."""

    assert cfg.resume is not None
    ckpt = read_checkpoint(cfg.resume)
    if not ckpt.get("train_state"):
        raise InputError(f"{cfg.resume}: holds no training state; resume from RUN/last.pt")
    options = dict(ckpt["model_options"])
    box_head = bool(options.pop("box_head", False))
    merged = replace(cfg, model=ckpt["model_name"], model_options=options, input_size=int(ckpt["input_size"]),
                     box_head=box_head)  # fmt: skip
    return merged, ckpt


def _load_data(cfg: TrainConfig, size: int, progress: Progress) -> DataSet:
    data = discover(cfg.data, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    in_memory = decoded_bytes(data, size) <= cfg.memory_limit_gib * 2**30
    total = sum(len(s) for s in data.splits.values())
    progress.start("decoding images", total if in_memory and total else None)
    for split, samples in list(data.splits.items()):
        if in_memory:
            data.splits[split] = decode_samples(samples, size, data.skipped, max(cfg.workers, 1), progress)
        else:
            data.splits[split] = check_streamable(samples, data.skipped)
    if len(np.unique(data.splits["train"].labels)) < 2:
        raise InputError(f"{cfg.data}: fewer than 2 classes with readable training images")
    if len(data.splits["val"]) == 0:
        raise InputError(f"{cfg.data}: no validation images (add a val split or raise --val-fraction)")
    if cfg.box_head and not (Path(cfg.data) / "chips.csv").is_file():
        raise ConfigError(
            f"box_head needs {Path(cfg.data) / 'chips.csv'} (from tiledet convert --to chips)",
            field="box_head",
        )
    return data


def _history_csv(history: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, HISTORY_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def train(
    cfg: TrainConfig, progress: Progress | None = None, monitor: TrainingMonitor | None = None
) -> TrainResult:
    """Train a classifier as ``cfg`` says and write the run folder; see the module docstring.

    ``progress`` is closed at the end (also on errors).

    Raises:
        ConfigError / InputError: bad options, data, or checkpoint (one-line messages).
    """
    import torch

    device = resolve_device(cfg.device)
    ckpt = None
    if cfg.resume is not None:
        cfg, ckpt = _resume_config(cfg)
    size = cfg.size
    if ckpt is None:  # fail fast on options or an input too small for the network, before decoding
        from tiledet.classify.models import build_model

        build_model(cfg.model, 2, size, **{k: v for k, v in cfg.factory_options().items() if k != "weights"})
    # Every input is protected. `--resume RUN/last.pt --out RUN` continues a run in place: that
    # checkpoint is already in memory, and RUN's ownership rules still decide what may be replaced.
    resume = cfg.resume if cfg.resume is None or not _inside(cfg.resume, cfg.out) else None
    sources = [cfg.data, resume, cfg.model_options.get("weights") or None]
    progress = as_progress(progress)
    outdir = OutputDir(cfg.out, command="classify train", force=cfg.force, sources=sources)
    with contextlib.closing(progress), outdir as od:
        data = _load_data(cfg, size, progress)
        if ckpt is not None and list(ckpt["class_names"]) != data.class_names:
            raise InputError(
                f"{cfg.resume}: checkpoint trained on classes {ckpt['class_names']}, "
                f"but {cfg.data} has {data.class_names}"
            )
        session = Session(cfg, data, device, ckpt)
        torch.manual_seed(cfg.seed)
        result = session.run(od, progress, monitor)
        _write_run_files(od, cfg, data, result)
        return result


def _write_run_files(od: OutputDir, cfg: TrainConfig, data: DataSet, result: TrainResult) -> None:
    """``skipped.txt``, ``config.json``, ``history.csv``, ``history.png``; fills ``result``'s file lists."""
    result.skipped = dict(data.skipped)
    if data.skipped:
        od.write_text("skipped.txt", "".join(f"{p}\t{r}\n" for p, r in sorted(data.skipped.items())))
    od.write_json("config.json", cfg.to_dict())
    od.write_text("history.csv", _history_csv(result.history))
    if cfg.plots:
        from tiledet.classify.plots import plot_history

        plot_history(result.history, od.path("history.png"))
    result.files = sorted(od.root / f for f in od.written)

"""One training session: model, optimiser, scheduler and the epoch loop with checkpoints and early stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tiledet.classify.augment import Augmenter, parse_augment
from tiledet.classify.checkpoint import (
    Preprocess,
    checkpoint_dict,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from tiledet.classify.config import TrainConfig
from tiledet.classify.data import DataSet, channel_stats, read_rgb
from tiledet.classify.evaluate import evaluate_samples, write_eval_files
from tiledet.classify.loop import (
    Trainer,
    class_weights,
    epoch_order,
    iter_batches,
    make_optimizer,
    make_scheduler,
)
from tiledet.classify.metrics import classification_metrics
from tiledet.classify.models import build_model
from tiledet.progress import Progress, TrainingMonitor, as_monitor, as_progress

HISTORY_COLUMNS = (
    "epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_recall",
    "seconds", "images_per_s",
)  # fmt: skip


@dataclass
class TrainResult:
    """What a run produced.

    Attributes:
        out: the run folder.
        best_epoch: epoch of the restored best weights (1-based).
        epochs_run: epochs completed (including resumed ones).
        history: one dict per epoch (``HISTORY_COLUMNS``).
        split_metrics: split -> metrics of the best weights (``classification_metrics``).
        eval_split: the split the full evaluation files describe (``test``, else ``val``).
        images_per_s: mean training throughput (augmentation included).
        train_seconds: wall time of the training epochs.
        skipped: unreadable images (path -> reason).
        files: files written.
    """

    out: Path
    best_epoch: int
    epochs_run: int
    history: list[dict]
    split_metrics: dict[str, dict]
    eval_split: str
    images_per_s: float
    train_seconds: float
    skipped: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def training_channel_stats(data: DataSet, size: int) -> tuple[list[float], list[float]]:
    """Per-channel mean/std of the training images (streamed data: of up to 2000 of them)."""
    train = data.splits["train"]
    if train.images is not None:
        return channel_stats(train.images)
    pick = np.sort(np.random.default_rng(0).permutation(len(train))[:2000])
    images = [read_rgb(train.paths[i], size) for i in pick]
    return channel_stats(np.stack([im for im in images if im is not None]))


def improved(monitor: str, record: dict, best: dict | None) -> bool:
    """True when ``record`` beats ``best`` on ``monitor`` (ties on accuracy/recall: lower val loss)."""
    if best is None:
        return True
    if monitor == "loss":
        return record["val_loss"] < best["val_loss"]
    key = "val_accuracy" if monitor == "accuracy" else "val_macro_recall"
    return record[key] > best[key] or (record[key] == best[key] and record["val_loss"] < best["val_loss"])


class Session:
    """Builds (or restores from ``ckpt``) everything a run needs; :meth:`run` trains and evaluates.

    Args:
        cfg: the run's config (already merged with the checkpoint's model settings when resuming).
        data: decoded (or streamable) splits.
        device: torch device.
        ckpt: the ``last.pt`` dict to resume from, or None.
    """

    def __init__(self, cfg: TrainConfig, data: DataSet, device: Any, ckpt: dict | None = None) -> None:
        import torch

        self.cfg, self.data, self.device = cfg, data, device
        self.c = len(data.class_names)
        torch.manual_seed(cfg.seed)
        if ckpt is not None:
            model = model_from_checkpoint(ckpt, cfg.resume or "checkpoint")
            self.mean, self.std = list(ckpt["mean"]), list(ckpt["std"])
        else:
            model = build_model(cfg.model, self.c, cfg.size, **cfg.factory_options())
            self.mean, self.std = training_channel_stats(data, cfg.size)
        train_labels = data.splits["train"].labels
        weights = class_weights(train_labels, self.c) if cfg.balance == "loss" else None
        self.trainer = Trainer(
            model, self.c, Preprocess(self.mean, self.std), device, cfg.amp, weights,
            cfg.label_smoothing, cfg.box_head, cfg.box_weight,
        )  # fmt: skip
        self.optimizer = make_optimizer(
            cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum
        )
        self.scheduler = make_scheduler(cfg.scheduler, self.optimizer, cfg.epochs, cfg.patience)
        self.augmenter = Augmenter(parse_augment(cfg.augment), cfg.seed)
        self.history: list[dict] = []
        self.best: dict | None = None
        self.best_state: dict | None = None
        self.bad_epochs = 0
        if ckpt is not None:
            self._restore(ckpt["train_state"])

    def _restore(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        self.best = state.get("best")
        self.best_state = None
        best_path = Path(self.cfg.resume or ".").parent / "best.pt"
        if self.best is not None and best_path.is_file():  # last.pt does not repeat the best weights
            best = read_checkpoint(best_path)
            if best["class_names"] == self.data.class_names and best["model_name"] == self.cfg.model:
                self.best_state = best["state_dict"]
        self.bad_epochs = int(state.get("bad_epochs", 0))

    def _checkpoint(self, state_dict: dict | None = None, train_state: dict | None = None) -> dict:
        cfg = self.cfg
        model = self.trainer.model
        ckpt = checkpoint_dict(
            model, model_name=cfg.model, model_options=cfg.factory_options(),
            class_names=self.data.class_names,
            input_size=cfg.size, mean=self.mean, std=self.std, chip_size=self.data.chip_size,
            context=self.data.context, config=cfg.to_dict(), train_state=train_state,
        )  # fmt: skip
        if state_dict is not None:
            ckpt["state_dict"] = state_dict
        return ckpt

    def _train_state(self) -> dict:
        return {
            "epoch": len(self.history),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "history": self.history,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
        }

    def _epoch(self, epoch: int, progress: Progress, monitor: TrainingMonitor) -> dict:
        import torch

        cfg, train, val = self.cfg, self.data.splits["train"], self.data.splits["val"]
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout draws of this epoch
        self.augmenter.reseed(cfg.seed * 1_000_003 + epoch)
        order = epoch_order(train.labels, cfg.seed, epoch, cfg.balance, self.c)
        batches = iter_batches(train, order, cfg.batch_size, cfg.size, cfg.workers)
        progress.start(f"epoch {epoch}/{cfg.epochs}", len(train))

        def on_batch(k: int, loss: float, acc: float) -> None:
            progress.advance(k)
            monitor.batch(epoch, loss, acc)

        lr = float(self.optimizer.param_groups[0]["lr"])
        stats = self.trainer.train_epoch(self.optimizer, batches, self.augmenter, on_batch)
        out, val_loss = self.trainer.predict(
            iter_batches(val, np.arange(len(val)), cfg.batch_size, cfg.size, cfg.workers)
        )
        metrics = classification_metrics(val.labels, out[:, : self.c].argmax(1), self.data.class_names)
        return {
            "epoch": epoch, "lr": lr, "train_loss": stats["loss"], "train_accuracy": stats["accuracy"],
            "val_loss": val_loss, "val_accuracy": metrics["accuracy"],
            "val_macro_recall": metrics["macro_recall"],
            "seconds": stats["seconds"], "images_per_s": stats["images"] / max(stats["seconds"], 1e-9),
        }  # fmt: skip

    def run(self, od: Any, progress: Progress | None = None, monitor: TrainingMonitor | None = None):
        """Train the remaining epochs, restore the best weights, evaluate; returns a ``TrainResult``.

        ``progress`` gets one phase per epoch, ``epoch E/N`` (one item per training image), and
        ``monitor`` each batch's running loss and accuracy and each epoch's history row.
        """

        self._fit(od, as_progress(progress), as_monitor(monitor))
        split_metrics, eval_split = self._evaluate(od)
        seconds = sum(h["seconds"] for h in self.history)
        images = sum(h["images_per_s"] * h["seconds"] for h in self.history)
        return TrainResult(
            out=od.root, best_epoch=self.best["epoch"] if self.best else 0, epochs_run=len(self.history),
            history=self.history, split_metrics=split_metrics, eval_split=eval_split,
            images_per_s=images / max(seconds, 1e-9), train_seconds=seconds,
        )  # fmt: skip

    def _fit(self, od: Any, progress: Progress, monitor: TrainingMonitor) -> None:
        """The epoch loop: checkpoints every epoch, early stop, best weights restored at the end."""

        cfg = self.cfg
        start = len(self.history) + 1
        stopped = cfg.patience > 0 and self.bad_epochs >= cfg.patience
        for epoch in range(start, cfg.epochs + 1):
            if stopped:
                break
            record = self._epoch(epoch, progress, monitor)
            self.history.append(record)
            if self.scheduler is not None:
                is_plateau = cfg.scheduler == "plateau"
                self.scheduler.step(record["val_loss"]) if is_plateau else self.scheduler.step()
            if improved(cfg.monitor, record, self.best):
                self.best, self.bad_epochs = dict(record), 0
                self.best_state = {
                    k: v.detach().cpu().clone() for k, v in self.trainer.model.state_dict().items()
                }
                save_checkpoint(od.path("best.pt"), self._checkpoint(self.best_state))
            else:
                self.bad_epochs += 1
            save_checkpoint(od.path("last.pt"), self._checkpoint(train_state=self._train_state()))
            monitor.epoch(record)
            stopped = cfg.patience > 0 and self.bad_epochs >= cfg.patience
        if self.best_state is not None:
            self.trainer.model.load_state_dict(self.best_state)
            if "best.pt" not in od.written:  # resumed without improving: the best weights still go here
                save_checkpoint(od.path("best.pt"), self._checkpoint(self.best_state))

    def _evaluate(self, od: Any) -> tuple[dict[str, dict], str]:
        """Metrics of every split; evaluation files for test (val when there is none)."""

        cfg = self.cfg
        split_metrics: dict[str, dict] = {}
        eval_split = "test" if "test" in self.data.splits else "val"
        for split, samples in self.data.splits.items():
            metrics, outputs = evaluate_samples(self.trainer, samples, self.data.class_names, cfg)
            split_metrics[split] = metrics
            if split == eval_split:
                extra = {"split": split, "best_epoch": self.best["epoch"] if self.best else 0}
                write_eval_files(
                    od, metrics, outputs, samples, self.data.class_names, cfg.size, extra, cfg.plots
                )
        return split_metrics, eval_split

"""The training and inference loops: batches, optimisers, schedulers, loss, one epoch, predictions.

Batches are ``(images uint8 (B, S, S, 3), labels (B,), boxes (B, 4))``; in-memory splits slice one
array, streamed splits decode in a DataLoader. Batch order of epoch ``e`` comes from
``numpy.random.default_rng([seed, e])`` and dropout/augmentation are re-seeded per epoch, so a resumed
run continues exactly where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tiledet.classify.augment import Augmenter
from tiledet.classify.data import Samples, read_rgb
from tiledet.errors import InputError

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


def epoch_order(labels: np.ndarray, seed: int, epoch: int, balance: str, num_classes: int) -> np.ndarray:
    """Sample indices of one epoch: a permutation, or (``balance="sampler"``) N draws with replacement
    weighted 1 / class count, so every present class is drawn equally often on average."""
    rng = np.random.default_rng([seed, epoch])
    n = len(labels)
    if balance != "sampler":
        return rng.permutation(n)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = 1.0 / counts[labels]
    return rng.choice(n, size=n, replace=True, p=weights / weights.sum())


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``N / (C_present * n_c)`` per class (0 for classes without samples), for ``balance="loss"``."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = max(int((counts > 0).sum()), 1)
    return np.divide(len(labels), present * counts, out=np.zeros_like(counts), where=counts > 0)


def _chunks(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split ``order`` into batches; a trailing batch of 1 joins the previous one (batch norm needs 2)."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


class _Streamed:
    """Map-style dataset decoding one image per item (for DataLoader workers)."""

    def __init__(self, samples: Samples, size: int) -> None:
        self.samples, self.size = samples, size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> np.ndarray:
        image = read_rgb(self.samples.paths[i], self.size)
        if image is None:
            raise InputError(f"{self.samples.paths[i]}: cannot decode image")
        return image


def _stack(images: list[np.ndarray]) -> np.ndarray:
    return np.stack(images)


def iter_batches(
    samples: Samples, order: np.ndarray, batch_size: int, size: int, workers: int = 0
) -> Iterator[Batch]:
    """Yield batches of ``samples`` in ``order`` (uint8 images, labels, boxes)."""
    batches = _chunks(order, batch_size)
    if samples.images is not None:
        for index in batches:
            yield samples.images[index], samples.labels[index], samples.boxes[index]
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(
        _Streamed(samples, size), batch_sampler=[b.tolist() for b in batches],
        num_workers=workers, collate_fn=_stack,
    )  # fmt: skip
    for index, images in zip(batches, loader, strict=True):
        yield images, samples.labels[index], samples.boxes[index]


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float, momentum: float):
    """The torch optimiser ``adam``, ``adamw``, ``sgd`` (Nesterov momentum) or ``rmsprop``."""
    import torch

    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=momentum > 0, weight_decay=weight_decay
        )
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_scheduler(name: str, optimizer: Any, epochs: int, patience: int):
    """``plateau`` (ReduceLROnPlateau on val loss, factor 0.5), ``cosine`` (over ``epochs``) or None."""
    import torch

    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=max(1, patience // 3)
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return None


class Trainer:
    """Holds the model, its loss and optimiser; runs epochs and predictions.

    Args:
        model: the network (moved to ``device``).
        num_classes: C (the box head, when present, is outputs C..C+3).
        preprocess: uint8 batch -> normalised tensor (see :class:`~tiledet.classify.checkpoint.Preprocess`).
        device: torch device.
        amp: float16 autocast + gradient scaling (CUDA only).
        weights: per-class loss weights or None.
        label_smoothing: cross-entropy label smoothing.
        box_head: whether to train the last 4 outputs on box targets.
        box_weight: weight of the box loss.
    """

    def __init__(
        self, model: Any, num_classes: int, preprocess: Callable, device: Any, amp: bool = False,
        weights: np.ndarray | None = None, label_smoothing: float = 0.0, box_head: bool = False,
        box_weight: float = 5.0,
    ) -> None:  # fmt: skip
        import torch

        self.torch = torch
        self.model = model.to(device)
        self.c = num_classes
        self.preprocess = preprocess
        self.device = device
        self.amp = bool(amp and device.type == "cuda")
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
        self.ce = torch.nn.CrossEntropyLoss(weight=w, label_smoothing=label_smoothing)
        self.box_head = box_head
        self.box_weight = box_weight
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def _loss(self, out: Any, labels: Any, boxes: Any) -> Any:
        torch = self.torch
        loss = self.ce(out[:, : self.c].float(), labels)
        if self.box_head:
            has = ~torch.isnan(boxes).any(1)
            if bool(has.any()):
                pred = out[has, self.c : self.c + 4].float()
                box = torch.nn.functional.smooth_l1_loss(pred, boxes[has], beta=1 / 9)
                loss = loss + self.box_weight * box
        return loss

    def _tensors(self, batch: Batch) -> tuple[Any, Any, Any]:
        torch = self.torch
        images, labels, boxes = batch
        x = self.preprocess(images, device=self.device)
        y = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        b = torch.as_tensor(boxes, dtype=torch.float32, device=self.device)
        return x, y, b

    def train_epoch(
        self, optimizer: Any, batches: Iterator[Batch], augmenter: Augmenter,
        on_batch: Callable[[int, float, float], None] | None = None,
    ) -> dict[str, float]:  # fmt: skip
        """One pass over ``batches``; returns ``loss``, ``accuracy``, ``images``, ``seconds``."""
        torch = self.torch
        self.model.train()
        total_loss, correct, n = 0.0, 0, 0
        start = time.perf_counter()
        for images, labels, boxes in batches:
            images, boxes = augmenter(images, boxes)
            x, y, b = self._tensors((images, labels, boxes))
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
                out = self.model(x)
            loss = self._loss(out, y, b)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
            k = len(y)
            total_loss += float(loss.detach()) * k
            correct += int((out[:, : self.c].argmax(1) == y).sum())
            n += k
            if on_batch is not None:
                on_batch(k, total_loss / n, correct / n)
        seconds = time.perf_counter() - start
        return {
            "loss": total_loss / max(n, 1),
            "accuracy": correct / max(n, 1),
            "images": n,
            "seconds": seconds,
        }

    def predict(self, batches: Iterator[Batch]) -> tuple[np.ndarray, float]:
        """Raw outputs ``(N, C [+ 4])`` (float32) for ``batches`` in eval mode, and the mean loss."""
        torch = self.torch
        self.model.eval()
        outs: list[np.ndarray] = []
        total, n = 0.0, 0
        with torch.no_grad():
            for batch in batches:
                x, y, b = self._tensors(batch)
                with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
                    out = self.model(x)
                total += float(self._loss(out, y, b)) * len(y)
                n += len(y)
                outs.append(out.float().cpu().numpy())
        width = self.c + (4 if self.box_head else 0)
        return (np.concatenate(outs) if outs else np.zeros((0, width), np.float32)), total / max(n, 1)

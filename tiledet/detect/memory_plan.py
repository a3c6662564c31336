"""Choosing a training batch size from a GPU memory budget, on a *measured* memory profile.

:func:`measure_profile` (CUDA only) runs a few real training steps (forward, loss, backward,
optimizer step) at growing batch sizes and records the peak allocated memory of each.
:func:`plan_batch` is a pure function of that profile: it fits ``peak = fixed + per_image * batch``
by least squares, raises the fixed part until the line lies on or above every measured point (so
the prediction never undercuts a measurement), and picks the largest batch whose predicted peak
stays under ``budget * (1 - headroom)``. Ultralytics' AutoBatch instead aims at a fraction of the
*free* memory and is known to over-commit (ultralytics#3827).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tiledet.detect.yolo_model import build_training_model
from tiledet.errors import ConfigError

#: Share of the budget kept free for what the profile does not see (allocator fragmentation,
#: dataloader pinned memory, validation at a different batch, cuDNN workspaces).
DEFAULT_HEADROOM = 0.15
#: Batch sizes :func:`measure_profile` tries by default.
PROFILE_BATCHES = (1, 2, 4, 8)

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}


def parse_memory(text: str, option: str = "gpu_memory") -> int:
    """``"6GiB"``, ``"6 GB"``, ``"5500MiB"``, ``"6e9"`` -> bytes.

    Raises:
        ConfigError: naming ``option`` (a config field) when the text is not a positive size.
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ConfigError(
            f"{option}: expected a size such as 6GiB, 6GB or 5500MiB, got {text!r}", field=option
        )
    value = float(match.group(1)) * _UNITS[unit]
    if value < 1:
        raise ConfigError(f"{option} must be positive, got {text!r}", field=option)
    return int(value)


def format_bytes(n: float) -> str:
    """Bytes as a short GiB/MiB string."""
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


@dataclass(frozen=True)
class BatchPlan:
    """A chosen batch size and why.

    Attributes:
        batch: the batch size (>= 1).
        predicted_peak_bytes: the fitted peak at ``batch``.
        usable_bytes: ``budget * (1 - headroom)``.
        fixed_bytes: the fit's fixed part (model, optimizer state, workspace), raised to cover every point.
        per_image_bytes: the fit's slope.
        profile: the measured ``{batch: peak bytes}``.
        reason: one sentence for RUN and the CLI.
    """

    batch: int
    predicted_peak_bytes: float
    usable_bytes: float
    fixed_bytes: float
    per_image_bytes: float
    profile: dict[int, int]
    reason: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "batch": self.batch, "predicted_peak_bytes": int(self.predicted_peak_bytes),
            "usable_bytes": int(self.usable_bytes), "fixed_bytes": int(self.fixed_bytes),
            "per_image_bytes": int(self.per_image_bytes),
            "profile": {str(k): int(v) for k, v in sorted(self.profile.items())}, "reason": self.reason,
        }


def fit_profile(profile: Mapping[int, int]) -> tuple[float, float]:
    """``(fixed, per_image)`` bytes of a line on or above every ``(batch, peak)`` point.

    Least-squares slope (whole bytes, clamped at >= 0); the intercept is the largest
    ``peak - slope * batch``, rounded up.
    With one point the slope is that point's peak divided by its batch (pessimistic: no fixed part).
    """
    batches = np.array(sorted(profile), dtype=np.float64)
    peaks = np.array([profile[int(b)] for b in batches], dtype=np.float64)
    if len(batches) == 1:
        return 0.0, float(peaks[0] / batches[0])
    slope = float(max(0, round(np.polyfit(batches, peaks, 1)[0])))  # whole bytes: no rounding noise
    return float(np.ceil(np.max(peaks - slope * batches))), slope


def plan_batch(
    profile: Mapping[int, int], budget_bytes: int, headroom: float = DEFAULT_HEADROOM, max_batch: int = 1024
) -> BatchPlan:
    """The largest batch whose predicted peak memory stays within ``budget * (1 - headroom)``.

    Args:
        profile: measured ``{batch size: peak allocated bytes}`` (at least one entry, batches >= 1).
        budget_bytes: the memory budget, bytes.
        headroom: share of the budget kept free, in [0, 1).
        max_batch: upper limit of the answer.

    Raises:
        ConfigError: when even batch 1 is predicted not to fit, or the inputs are invalid.
    """
    if not profile or any(int(b) < 1 or int(p) <= 0 for b, p in profile.items()):
        raise ConfigError("memory profile needs at least one (batch >= 1, peak > 0) measurement")
    if not 0.0 <= headroom < 1.0:
        raise ConfigError(f"headroom must be in [0, 1), got {headroom}")
    fixed, per_image = fit_profile(profile)
    usable = budget_bytes * (1.0 - headroom)
    need_one = fixed + per_image
    if need_one > usable:
        raise ConfigError(
            f"gpu_memory={format_bytes(budget_bytes)} is too small for batch 1: training needs about "
            f"{format_bytes(need_one)} (measured), and {headroom:.0%} of the budget is kept as headroom; "
            "use a smaller `imgsz` or model, or a larger budget",
            field=("gpu_memory", "imgsz"),
        )
    batch = max_batch if per_image <= 0 else int(min(max_batch, (usable - fixed) // per_image))
    predicted = fixed + per_image * batch
    reason = (
        f"batch {batch}: measured peaks {_profile_text(profile)} fit {format_bytes(fixed)} + "
        f"{format_bytes(per_image)} per image; predicted {format_bytes(predicted)} <= "
        f"{format_bytes(usable)} ({format_bytes(budget_bytes)} budget less {headroom:.0%} headroom)"
    )
    return BatchPlan(batch, predicted, usable, fixed, per_image, {int(k): int(v) for k, v in profile.items()},
                     reason)


def _profile_text(profile: Mapping[int, int]) -> str:
    return ", ".join(f"b{b}={format_bytes(p)}" for b, p in sorted(profile.items()))


def measure_profile(
    model_cfg: str, num_classes: int, imgsz: int, device: object, batches: Sequence[int] = PROFILE_BATCHES,
    amp: bool = True, budget_bytes: int | None = None, trust_weights: bool = False,
) -> dict[int, int]:
    """Peak allocated CUDA memory of one real training step per batch size (CUDA only).

    A step is forward, Ultralytics' detection loss on a few synthetic boxes per image, backward and
    an AdamW step, with an EMA copy of the model resident, under AMP when ``amp``. Measuring stops
    early at a batch whose peak already exceeds ``budget_bytes``, or at an out-of-memory error.
    A ``.pt`` ``model_cfg`` is read safely unless ``trust_weights`` (``--trust-weights``).

    Raises:
        ConfigError: when ``device`` is not a CUDA device.
    """
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        raise ConfigError(
            "the memory profile is measured on CUDA only (`gpu_memory` needs a CUDA device)",
            field="gpu_memory",
        )

    model = build_training_model(model_cfg, num_classes, device, trust_weights=trust_weights)
    ema = [p.detach().clone() for p in model.parameters()]  # stands in for the EMA model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    profile: dict[int, int] = {}
    for batch in sorted(batches):
        try:
            peak = _one_step(model, optimizer, batch, imgsz, num_classes, device, amp)
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
        profile[batch] = peak
        if budget_bytes is not None and peak > budget_bytes:
            break
    del ema, model, optimizer
    torch.cuda.empty_cache()
    if not profile:
        raise ConfigError(f"out of GPU memory at batch 1 with imgsz={imgsz}", field="imgsz")
    return profile


def training_step(model, optimizer, batch: int, imgsz: int, nc: int, device, amp: bool) -> None:  # type: ignore[no-untyped-def]
    """One real training step on synthetic images and boxes: forward, detection loss, backward, step."""
    import torch

    g = torch.Generator().manual_seed(batch)
    images = torch.rand(batch, 3, imgsz, imgsz, generator=g).to(device)
    n_box = 4
    xywh = torch.rand(batch * n_box, 4, generator=g) * 0.3 + torch.tensor([0.35, 0.35, 0.05, 0.05])
    targets = {
        "img": images,
        "batch_idx": torch.arange(batch).repeat_interleave(n_box).float().to(device),
        "cls": torch.randint(0, nc, (batch * n_box, 1), generator=g).float().to(device),
        "bboxes": xywh.to(device),
    }
    with torch.autocast(getattr(device, "type", str(device)), enabled=amp):
        loss, _ = model(targets)
    loss.sum().backward()
    optimizer.step()


def _one_step(model, optimizer, batch: int, imgsz: int, nc: int, device, amp: bool) -> int:  # type: ignore[no-untyped-def]
    """Peak allocated CUDA bytes of one :func:`training_step`."""
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    training_step(model, optimizer, batch, imgsz, nc, device, amp)
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))

"""The probe of sliced YOLO's ``--engine auto``: a batch of the first scene, timings, agreement with
torch, and the choice remembered per machine.

:func:`tiledet.detect.engines.choose_engine` times torch and each candidate of the device
(:func:`auto_candidates`) on :func:`probe_batch` and keeps the fastest whose raw output agrees with
torch's (:func:`outputs_agree`). The choice is written beside the exported models
(:func:`decision_path`: ``auto-<device>-imgsz<N>-batch<B>.json`` in the weights' engine cache) with a
fingerprint of the machine (:func:`machine_fingerprint`: CPU model, threads, GPU, library versions);
a later run on the same machine re-checks only that engine's agreement on its own probe batch, so
reruns use the same engine (the same detections) and skip the timings.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tiledet.boxes import iou_xyxy
from tiledet.detect.export_cache import cache_root
from tiledet.detect.yolo_batches import Pixels, window_batches
from tiledet.detect.yolo_decode import Letterbox, decode_predictions, fill_batch
from tiledet.errors import InputError
from tiledet.ioutil import atomic_write_json
from tiledet.ultra import cpu_threads

if TYPE_CHECKING:
    from tiledet.detect.yolo_predict import YoloPredictor

log = logging.getLogger(__name__)

#: Agreement check of ``auto``: confidence of the compared boxes, IoU of a match, share that must match.
AGREE_CONF, AGREE_IOU, AGREE_SHARE = 0.25, 0.8, 0.95
#: With fewer torch boxes than this on the probe, raw class scores are compared instead (max abs diff).
AGREE_MIN_BOXES, AGREE_SCORE_DIFF = 5, 0.05
#: Version of the remembered-choice files (a change makes every machine probe again).
DECISION_VERSION = 1

Engine = Callable[[np.ndarray], object]


def probe_batch(predictor: YoloPredictor, probe_image: Pixels | None) -> np.ndarray:
    """The first ``batch_size`` windows of ``probe_image`` that hold data, padded.

    ``probe_image``: an (H, W, 3) uint8 RGB array or a Scene (only those windows are read from it);
    None, or a Scene whose windows cannot be read (its detection reports it), gives a seeded noise image.
    """
    if probe_image is not None:
        try:
            return _probe_windows(predictor, probe_image)
        except InputError as e:
            log.warning("engine auto probes a noise image: %s", e)
    rng = np.random.default_rng(0)
    return _probe_windows(predictor, rng.integers(0, 256, (predictor.tile, predictor.tile * 2, 3), np.uint8))


def _probe_windows(predictor: YoloPredictor, image: Pixels) -> np.ndarray:
    windows = predictor.windows((image.shape[1], image.shape[0]))
    w, h = int(windows[0, 2] - windows[0, 0]), int(windows[0, 3] - windows[0, 1])
    box = Letterbox.for_window((w, h), predictor.stride)
    batches = window_batches(image, windows, box, predictor.cfg.batch_size)
    first = next(batches, None)  # None: every window is nodata
    return fill_batch(image, windows[: predictor.cfg.batch_size], box) if first is None else first[1]


def time_engine(engine: Engine, batch: np.ndarray, repeats: int = 2) -> tuple[object, float]:
    """``(output, seconds)``: the engine's output on ``batch`` and its best time of ``repeats`` runs
    after one warm-up run (compiling, allocating)."""
    out = engine(batch)  # warm-up (compiles / allocates)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = engine(batch)
        best = min(best, time.perf_counter() - t0)
    return out, best


def outputs_agree(reference: object, candidate: object, end2end: bool) -> tuple[bool, str]:
    """Whether an engine's raw output on the probe batch agrees with PyTorch's.

    With at least ``AGREE_MIN_BOXES`` torch boxes at conf ``AGREE_CONF``: at least ``AGREE_SHARE``
    of the boxes on each side have a same-class partner with IoU >= ``AGREE_IOU``. Otherwise (too
    few boxes to judge): the largest class-score difference is <= ``AGREE_SCORE_DIFF``.
    """

    ref = decode_predictions(reference, AGREE_CONF, 0.7, 1000, end2end)
    cand = decode_predictions(candidate, AGREE_CONF, 0.7, 1000, end2end)
    n_ref = sum(len(r[0]) for r in ref)
    if n_ref < AGREE_MIN_BOXES:
        diff = float((reference[:, 4:] - candidate[:, 4:]).abs().max())  # type: ignore[index]
        return diff <= AGREE_SCORE_DIFF, f"max class-score difference {diff:.4f} (limit {AGREE_SCORE_DIFF})"
    matched_ref = matched_cand = n_cand = 0
    for (rx, rc, _), (cx, cc, _) in zip(ref, cand, strict=True):
        n_cand += len(cx)
        if len(rx) and len(cx):
            ok = (iou_xyxy(rx, cx) >= AGREE_IOU) & (rc[:, None] == cc[None, :])
            matched_ref += int(ok.any(axis=1).sum())
            matched_cand += int(ok.any(axis=0).sum())
    share = min(matched_ref / n_ref, matched_cand / max(n_cand, 1))
    return share >= AGREE_SHARE, f"{share:.1%} of boxes matched at IoU>={AGREE_IOU} ({n_ref} torch boxes)"


def native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (Linux ``/proc/cpuinfo`` flags ``avx512_bf16`` or
    ``amx_bf16``); True where the flags cannot be read (``auto`` then measures)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    lines = (line for line in text.splitlines() if line.startswith("flags"))
    flags = next((line.split(":", 1)[1].split() for line in lines), [])
    return not flags or "avx512_bf16" in flags or "amx_bf16" in flags


def auto_candidates(cuda: bool) -> tuple[str, ...]:
    """The engines ``auto`` times against torch: on CUDA torch fp16 and TensorRT; on the CPU torch
    bf16, ONNX Runtime and OpenVINO. Never an INT8 engine (its boxes move: a choice for the user)."""
    return ("torch-fp16", "tensorrt") if cuda else ("torch-bf16", "onnx", "openvino")


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    names = (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    return next(names, platform.machine())


def machine_fingerprint(device: object) -> dict:
    """What the engines' speed depends on besides the model: CPU model and threads, the CUDA device,
    and the versions of torch, ONNX Runtime, OpenVINO and Ultralytics."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    versions = {}
    for name in ("torch", "onnxruntime", "openvino", "ultralytics", "tensorrt"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    cuda = getattr(device, "type", "cpu") == "cuda"
    return {"version": DECISION_VERSION, "cpu": _cpu_model(), "threads": cpu_threads(),
            "device": torch.cuda.get_device_name(device) if cuda else "cpu", "packages": versions}


def decision_path(weights: Path, weights_sha256: str, device: object, tile: int, batch: int) -> Path:
    """The file that remembers ``auto``'s choice for these weights, device type, tile and batch size."""
    kind = getattr(device, "type", "cpu")
    return cache_root(weights, weights_sha256) / f"auto-{kind}-imgsz{int(tile)}-batch{int(batch)}.json"


def read_decision(path: Path, fingerprint: dict) -> dict | None:
    """The remembered choice (``engine``, ``timings_s``, ``agreement``, ``windows``), or None when there
    is none, it is unreadable, or it was made on another machine (another fingerprint)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
        return None
    if not isinstance(record.get("engine"), str) or not isinstance(record.get("timings_s"), dict):
        return None
    return record


def write_decision(path: Path, fingerprint: dict, engine: str, timings_s: dict, agreement: dict,
                   windows: int) -> None:
    """Remember ``auto``'s choice (atomically; a cache that cannot be written is only logged)."""
    record = {"fingerprint": fingerprint, "engine": engine, "timings_s": timings_s, "agreement": agreement,
              "windows": int(windows)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, record)
    except OSError as e:
        log.debug("cannot remember the engine choice in %s: %s", path, e)

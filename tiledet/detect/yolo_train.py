"""``tiledet detect train-yolo``: Ultralytics YOLO training on a tiled dataset, offline, in a budget.

Defaults that learn within a short CPU budget: AdamW at ``lr0 = 0.002`` and an optimizer step per
batch. Ultralytics' ``optimizer=auto`` picks, for short runs, ``lr = 0.002 * 5 / (4 + nc)`` (0.00016
for xView's 60 classes), which from scratch on CPU learns nothing in 30 epochs; its nominal batch
size 64 accumulates gradients over 64 images, i.e. two updates per epoch on 128 tiles.

``RUN`` receives Ultralytics' own outputs (``weights/best.pt``, ``weights/last.pt``, ``args.yaml``,
``results.csv`` and plots) plus ``run.json``: the resolved configuration, the batch size and why,
and, when the dataset has ``annotations/val_full.json`` (``tiledet convert --tile``), the mAP of
sliced inference over the untiled validation scenes (``val_full/dets.json``, ``val_full/metrics.json``).

On CPU, training runs on :func:`tiledet.ultra.cpu_threads` torch threads (every core, or the user's
``OMP_NUM_THREADS``): Ultralytics' ``select_device`` leaves torch on ``cores - 1`` threads, one on a
2-core machine, where 3 epochs of the solid benchmark take 44 s instead of 28 s.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tiledet.detect.config import TrainConfig
from tiledet.detect.memory_plan import format_bytes, measure_profile, plan_batch
from tiledet.detect.offline import offline_ultralytics, ultralytics_verbosity
from tiledet.detect.safe_weights import weights_loading
from tiledet.detect.yolo_data import DatasetInfo, inspect_dataset, resolve_model_source, write_resolved_yaml
from tiledet.device import resolve_device, ultralytics_device
from tiledet.errors import ConfigError, InputError, TiledetError
from tiledet.outdir import MANIFEST, OutputDir
from tiledet.ultra import cpu_threads

log = logging.getLogger(__name__)

#: Patterns of the files Ultralytics writes into its save folder (checked before training).
ULTRALYTICS_OUTPUTS = ("weights/*.pt", "args.yaml", "results.csv", "results.png", "*.jpg", "*curve*.png",
                       "confusion_matrix*.png", "labels*.jpg")


@dataclass
class TrainReport:
    """What :func:`train_yolo` did (also written to ``RUN/run.json``)."""

    config: dict
    device: str
    imgsz: int
    imgsz_reason: str
    batch: int
    batch_reason: str
    gpu_memory: dict = field(default_factory=dict)
    cpu_threads: int | None = None
    seconds: float = 0.0
    best_weights: str = ""
    val_full: dict | None = None
    offline: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def resolve_batch(cfg: TrainConfig, info: DatasetInfo, imgsz: int, device: object) -> tuple[int, str, dict]:
    """The batch size, the reason, and the memory plan (empty when none was made)."""
    import torch

    cuda = getattr(device, "type", "cpu") == "cuda"
    if cfg.gpu_memory is not None and not cuda:
        from tiledet.detect.memory_plan import parse_memory

        parse_memory(cfg.gpu_memory)  # still reject nonsense
        note = f"--gpu-memory {cfg.gpu_memory} not applicable on {device} (no GPU memory to plan)"
        if cfg.batch == "auto":
            return 16, f"{note}; batch 16 (Ultralytics' default)", {"applicable": False}
        return int(cfg.batch), f"{note}; batch {cfg.batch} as given", {"applicable": False}
    if not cuda:
        if cfg.batch == "auto":
            return 16, "CPU: batch 16 (Ultralytics' default); --batch sets another", {}
        return int(cfg.batch), f"batch {cfg.batch} as given", {}

    free, total = torch.cuda.mem_get_info(device)
    budget = parse_memory(cfg.gpu_memory) if cfg.gpu_memory is not None else int(free)
    if budget > total:
        raise ConfigError(
            f"gpu_memory={cfg.gpu_memory} exceeds the device's {format_bytes(total)}", field="gpu_memory"
        )
    plan_info: dict = {"applicable": True, "budget_bytes": budget, "device_total_bytes": int(total)}
    if cfg.batch != "auto":
        return int(cfg.batch), f"batch {cfg.batch} as given", plan_info
    profile = measure_profile(cfg.model, info.num_classes, imgsz, device, budget_bytes=budget,
                              trust_weights=cfg.trust_weights)
    plan = plan_batch(profile, budget)
    plan_info["plan"] = plan.to_dict()
    return plan.batch, plan.reason, plan_info


def _check_ultralytics_outputs(od: object, run_dir: Path) -> None:
    """Refuse (ConfigError) when Ultralytics would overwrite a file in RUN that tiledet did not write."""
    for pattern in ULTRALYTICS_OUTPUTS:
        for path in run_dir.glob(pattern):
            od.check(path.relative_to(run_dir).as_posix())  # type: ignore[attr-defined]


def _record_tree(od: object, run_dir: Path) -> None:

    files = [p for p in run_dir.rglob("*") if p.is_file() and p.name != MANIFEST]
    rels = [p.relative_to(run_dir).as_posix() for p in files]
    od.record(rels)  # type: ignore[attr-defined]


def _set_memory_cap(device: object, gpu_memory: dict) -> None:
    import torch

    if gpu_memory.get("applicable") and "budget_bytes" in gpu_memory:
        fraction = min(1.0, gpu_memory["budget_bytes"] / gpu_memory["device_total_bytes"])
        torch.cuda.set_per_process_memory_fraction(fraction, device)
        gpu_memory["memory_fraction"] = fraction


def train_yolo(cfg: TrainConfig) -> TrainReport:
    """Train YOLO on ``cfg.data`` into ``cfg.out`` (see the module docstring).

    Every checkpoint read on the way (a ``.pt`` model, the weights training writes) is unpickled
    safely (:func:`tiledet.detect.safe_weights.weights_loading`) unless ``cfg.trust_weights``.

    Raises:
        InputError: missing/invalid dataset or model, a ``.pt`` that holds classes a checkpoint
            should not; ConfigError: bad settings, CUDA requested without CUDA, a GPU budget too
            small for batch 1.
    """

    with weights_loading(cfg.model, trust=cfg.trust_weights):
        return _train_yolo(cfg)


def _train_yolo(cfg: TrainConfig) -> TrainReport:

    info = inspect_dataset(cfg.data)
    source = resolve_model_source(cfg.model)
    device = resolve_device(cfg.device)
    imgsz, imgsz_reason = (int(cfg.imgsz), "given") if cfg.imgsz else info.default_imgsz()
    ultralytics = offline_ultralytics()
    yolo = _build_yolo(source)
    batch, batch_reason, gpu_memory = resolve_batch(cfg, info, imgsz, device)
    report = TrainReport(
        config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        device=str(device), imgsz=imgsz, imgsz_reason=imgsz_reason, batch=batch, batch_reason=batch_reason,
        gpu_memory=gpu_memory, offline=_offline_settings(ultralytics),
    )
    if getattr(device, "type", "cpu") == "cpu":
        report.cpu_threads = _use_cpu_threads(yolo)
    run_dir = cfg.out.resolve()
    with OutputDir(run_dir, command="detect train-yolo", force=cfg.force,
                   sources=[info.root, cfg.data, source]) as od:
        _check_ultralytics_outputs(od, run_dir)
        _set_memory_cap(device, gpu_memory)
        data_yaml = od.write_text("data.yaml", write_resolved_yaml(info))
        t0 = time.perf_counter()
        try:
            with ultralytics_verbosity(cfg.verbose):
                yolo.train(**_train_args(cfg, data_yaml, imgsz, batch, device, run_dir))
        except (ConfigError, InputError):
            raise
        except Exception as e:  # Ultralytics raises plain exceptions for dataset/model problems
            raise InputError(f"Ultralytics training failed: {type(e).__name__}: {e}") from e
        finally:
            _record_tree(od, run_dir)
        report.seconds = round(time.perf_counter() - t0, 1)
        best = run_dir / "weights" / "best.pt"
        report.best_weights = str(best if best.is_file() else run_dir / "weights" / "last.pt")
        if cfg.evaluate_full and info.val_full is not None:
            from tiledet.detect.yolo_eval import evaluate_val_full

            report.val_full = evaluate_val_full(Path(report.best_weights), info, imgsz, str(device), od,
                                                trust_weights=cfg.trust_weights)
        od.remove_stale()
        od.write_json("run.json", report.to_dict())
    return report


def _use_cpu_threads(yolo: object) -> int:
    """Have ``yolo``'s training run on :func:`~tiledet.ultra.cpu_threads` torch threads; returns the count.

    Ultralytics' trainer calls ``select_device`` (``cores - 1`` threads) while it sets up, so the count
    is set again when training starts.
    """
    import torch

    threads = cpu_threads()
    yolo.add_callback("on_train_start", lambda trainer: torch.set_num_threads(threads))  # type: ignore[attr-defined]
    return threads


def _build_yolo(source: Path) -> object:
    from ultralytics import YOLO

    try:
        yolo = YOLO(str(source), task="detect") if source.suffix == ".yaml" else YOLO(str(source))
    except TiledetError:
        raise
    except Exception as e:  # a YAML that is not a model, a broken checkpoint
        raise InputError(f"--model {source}: not a YOLO model ({type(e).__name__}: {e})") from e
    if yolo.task != "detect" or type(yolo.model).__name__ != "DetectionModel":
        raise InputError(f"--model {source}: a {yolo.task!r} model, not a detection model")
    return yolo


def _train_args(cfg: TrainConfig, data_yaml: Path, imgsz: int, batch: int, device: object,
                run_dir: Path) -> dict:
    cuda = getattr(device, "type", "cpu") == "cuda"
    return dict(
        data=str(data_yaml), epochs=int(cfg.epochs), imgsz=imgsz, batch=batch,
        device=ultralytics_device(device), workers=int(cfg.workers), seed=int(cfg.seed),
        deterministic=True,
        optimizer=cfg.optimizer, lr0=float(cfg.lr0), nbs=int(cfg.nbs or batch), patience=int(cfg.patience),
        amp=cuda,
        project=str(run_dir.parent), name=run_dir.name, exist_ok=True, plots=cfg.plots, val=True,
        verbose=cfg.verbose,
    )


def _offline_settings(ultralytics: object) -> dict:
    import os

    return {
        "YOLO_OFFLINE": os.environ.get("YOLO_OFFLINE"),
        "YOLO_AUTOINSTALL": os.environ.get("YOLO_AUTOINSTALL"),
        "fonts": "matplotlib's DejaVu Sans (Ultralytics' Arial download disabled)",
        "amp_check": "no yolo26n.pt download: AMP on for CUDA, off on CPU",
        "label_cache": "not written into the dataset",
        "ultralytics": getattr(ultralytics, "__version__", "?"),
    }


def read_run(run_dir: Path) -> dict:
    """``RUN/run.json`` as a dict (for tests and follow-up tools)."""
    return json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))

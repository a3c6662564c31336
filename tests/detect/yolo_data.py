"""A tiny tiled dataset and a YOLO trained on it for seconds (shared by the YOLO tests)."""

from __future__ import annotations

from pathlib import Path

from tiledet.cli import main
from tiledet.synth.config import SynthConfig
from tiledet.synth.generate import generate_scenes

TILE = 128


def make_tiled_dataset(root: Path, scenes: int = 3, size: int = 384, seed: int = 0) -> Path:
    """Synthetic scenes under ``root/synth`` tiled into ``root/tiles``; returns the data.yaml."""
    synth = generate_scenes(SynthConfig(out=root / "synth", scenes=scenes, size_wh=(size, size), seed=seed,
                                        image_format="png"))
    code = main(["convert", str(synth.label_paths["csv"]), "--images", str(synth.images_dir), "--out",
                 str(root / "tiles"), "--tile", str(TILE), "--overlap", "0.2", "--val-fraction", "0.34",
                 "--seed", "0", "--workers", "1", "--quiet"])
    assert code == 0
    return root / "tiles" / "data.yaml"


def make_firing_weights(path: Path, num_classes: int = 3, imgsz: int = TILE, task_yaml: str = "yolo11n.yaml",
                        bias: float = 6.0) -> Path:
    """An untrained YOLO checkpoint whose class logits are raised by ``bias`` so it fires everywhere.

    Its boxes and scores are arbitrary but deterministic functions of the pixels: enough to compare
    two pipelines box for box, without spending test time on training.
    """
    import torch

    from tiledet.detect.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics.nn.tasks import ClassificationModel, DetectionModel

    torch.manual_seed(0)
    if "cls" in task_yaml:
        model = ClassificationModel(task_yaml, nc=num_classes, verbose=False)
    else:
        model = DetectionModel(task_yaml, nc=num_classes, verbose=False)
        head = model.model[-1]
        with torch.no_grad():
            for seq in head.cv3:
                seq[-1].bias += bias
    model.names = {i: f"class{i}" for i in range(num_classes)}
    torch.save({"model": model, "train_args": {"imgsz": imgsz}}, path)
    return path

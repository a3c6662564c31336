"""Peak memory of the sliding-window detector on a 10000x10000 scene: the scene plus one block per scale.

A small exact ``cnn`` (random weights) scores a 10000x10000x3 uint8 scene (286 MiB) at scales 0.5 and
0.25 in 512 px blocks. Peak resident memory (``ru_maxrss``) is printed before the scene exists, after
it is allocated and after detection; the growth during detection is what the blocks cost.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_sliding_memory.py [--size 10000]``.
"""

from __future__ import annotations

import argparse
import resource
import time

from _report import report


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--scales", default="0.5,0.25")
    parser.add_argument("--quick", action="store_true", help="a 3000x3000 scene")
    args = parser.parse_args()
    if args.quick:
        args.size = 3000
    import numpy as np
    import torch

    from tiledet.classify.models import build_model
    from tiledet.detect import fully_convolutional
    from tiledet.detect.config import SlidingConfig
    from tiledet.detect.sliding import SlidingDetector, detect_scene

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("cnn", 2, 32, filters=(4, 8), convs_per_block=1, head_conv=8, hidden=8).eval()

    def preprocess(images, device=None):
        x = torch.as_tensor(np.asarray(images))
        x = x[None] if x.ndim == 3 else x
        return x.permute(0, 3, 1, 2).float().div(255.0)

    detector = SlidingDetector(
        fully_convolutional(model, input_size=32), preprocess, ["x", "background"], 1, 0.5
    )
    before = _peak_mib()
    scene = np.full((args.size, args.size, 3), 100, np.uint8)
    scene[::7, ::5] = 200  # touch every page
    with_scene = _peak_mib()
    scales = tuple(float(s) for s in args.scales.split(","))
    t0 = time.perf_counter()
    _boxes, stats = detect_scene(detector, scene, SlidingConfig(scales=scales, block_px=512, threshold=0.99))
    seconds = time.perf_counter() - t0
    after = _peak_mib()
    print(
        f"scene {args.size}x{args.size}x3 uint8: {scene.nbytes / 2**20:.0f} MiB; scales {scales}; "
        f"{stats.cells} windows in {seconds:.0f} s"
    )
    print(
        f"peak RSS: {before:.0f} MiB before the scene, {with_scene:.0f} MiB with it, {after:.0f} MiB after "
        f"detection (+{after - with_scene:.0f} MiB for blocks, model, candidates)"
    )
    value = (
        f"scene {scene.nbytes / 2**20:.0f} MiB, peak {after:.0f} MiB (+{after - with_scene:.0f} MiB during "
        f"detection, {before:.0f} MiB before the scene)"
    )
    report(f"sliding window peak memory, {args.size}x{args.size} scene", "the scene itself", None,
           "scene + one block per scale", value, None)  # fmt: skip


if __name__ == "__main__":
    main()

"""Fully-convolutional pass vs the naive sliding loop (crops batched through the original classifier).

The default ``cnn`` classifier (``tiledet.classify.build_model``, random weights, 32 px input) scores
every window of a 2048x2048 image at its own stride, once as one fully-convolutional pass
(``tiledet.detect.fully_convolutional``, blocks of 512 px) and once by cropping every window and
classifying the crops 256 at a time. Both on one CPU thread. Prints the time ratio (target >= 20x)
and the largest score difference (target <= 1e-4). ``--naive-rows N`` times the naive loop on the
first N rows of windows only and extrapolates (stated in the output).

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_fcn_naive.py [--size 2048] [--naive-rows 0]``.
"""

from __future__ import annotations

import argparse
import time

from _report import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--naive-rows", type=int, default=0, help="0: all rows (no extrapolation)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="naive loop on 8 rows of windows, extrapolated")
    args = parser.parse_args()
    if args.quick and args.naive_rows <= 0:
        args.naive_rows = 8
    import numpy as np
    import torch

    from tiledet.classify.models import build_model
    from tiledet.detect import fully_convolutional
    from tiledet.detect.config import SlidingConfig
    from tiledet.detect.sliding import SlidingDetector, dense_map

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.model, 4, 32).eval()
    fcn = fully_convolutional(model, input_size=32)
    w, s = fcn.window, fcn.stride
    image = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)

    def preprocess(images, device=None):
        x = torch.as_tensor(np.asarray(images))
        x = x[None] if x.ndim == 3 else x
        return x.permute(0, 3, 1, 2).float().div(255.0).sub(0.5).div(0.25)

    detector = SlidingDetector(fcn, preprocess, ["a", "b", "c", "background"], 3, 0.5)
    t0 = time.perf_counter()
    maps = dense_map(detector, image, 1.0, SlidingConfig(block_px=512, batch_size=1))
    fcn_s = time.perf_counter() - t0
    rows, cols = maps.shape[:2]
    naive_rows = rows if args.naive_rows <= 0 else min(rows, args.naive_rows)
    x = preprocess(image)[0]
    t0 = time.perf_counter()
    worst = 0.0
    with torch.inference_mode():
        cells = [(i, j) for i in range(naive_rows) for j in range(cols)]
        for start in range(0, len(cells), 256):
            batch = cells[start : start + 256]
            crops = torch.stack([x[:, i * s : i * s + w, j * s : j * s + w] for i, j in batch])
            out = model(crops).numpy()
            ref = np.stack([maps[i, j] for i, j in batch])
            worst = max(worst, float(np.abs(out - ref).max()))
    naive_s = (time.perf_counter() - t0) * rows / naive_rows
    note = "" if naive_rows == rows else f" (naive timed on {naive_rows} of {rows} rows, extrapolated)"
    print(
        f"{args.size}x{args.size}, {args.model}: window {w}, stride {s}, {rows * cols} windows, "
        f"exact={fcn.exact}"
    )
    print(f"fully-convolutional {fcn_s:.2f} s, naive crops x256 {naive_s:.2f} s{note}")
    print(
        f"speed-up {naive_s / fcn_s:.1f}x (target >= 20x); "
        f"max |score difference| {worst:.2e} (target <= 1e-4)"
    )
    report(f"sliding window {args.size}x{args.size}, fully-convolutional pass vs naive crop loop",
           "naive loop, crops batched 256 through the classifier", naive_s / fcn_s, ">= 20x, equal to 1e-4",
           f"{fcn_s:.2f} s vs {naive_s:.2f} s{note}, max diff {worst:.1e}",
           naive_s / fcn_s >= 20 and worst <= 1e-4)  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark ``Boxes.iou`` (numpy) against ``torchvision.ops.box_iou`` at N = 10^4 boxes.

Random boxes (sides 8-80 px in a 3000 x 3000 scene, float64) are compared pairwise, (N, M) IoU, with
each contender timed best-of-``--repeat`` in the same process; torchvision's time includes the
numpy -> tensor -> numpy conversions ``Boxes.iou`` would need. Printed: both times, the ratio
torchvision / numpy (> 1: numpy faster) and the largest absolute difference of the results. No
target is stated.

Usage: ``nice -n 10 .venv/bin/python benchmarks/bench_iou.py [--n 10000] [--m 1000 10000] [--repeat 3]``;
``--quick`` (smoke run): M = 1000 only, best of 2.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _report import report


def random_xyxy(rng: np.random.Generator, n: int, size: float = 3000.0) -> np.ndarray:
    """(n, 4) float64 boxes with sides 8-80 px inside a ``size`` x ``size`` scene."""
    wh = rng.uniform(8, 80, (n, 2))
    xy = rng.uniform(0, size - 80, (n, 2))
    return np.hstack([xy, xy + wh])


def best_time(fn, repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time in seconds over ``repeat`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--m", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: M = 1000 only, best of 2")
    args = parser.parse_args()
    if args.quick:
        args.m, args.repeat = [1_000], 2

    import torch
    from torchvision.ops import box_iou

    from tiledet.boxes import Boxes

    rng = np.random.default_rng(args.seed)
    print(f"torch threads: {torch.get_num_threads()}")
    for m in args.m:
        a = Boxes(random_xyxy(rng, args.n), np.zeros(args.n, np.int64))
        b = Boxes(random_xyxy(rng, m), np.zeros(m, np.int64))
        t_np, r_np = best_time(lambda a=a, b=b: a.iou(b), args.repeat)
        t_tv, r_tv = best_time(
            lambda a=a, b=b: box_iou(torch.from_numpy(a.xyxy), torch.from_numpy(b.xyxy)).numpy(),
            args.repeat,
        )
        diff = float(np.abs(r_np - r_tv).max())
        print(
            f"N={args.n} M={m}: numpy {t_np * 1e3:.0f} ms, torchvision {t_tv * 1e3:.0f} ms, "
            f"torchvision/numpy = {t_tv / t_np:.2f}, max |diff| = {diff:.1e}"
        )
        report(f"pairwise IoU, N={args.n} x M={m} boxes (float64)",
               "torchvision.ops.box_iou (incl. numpy<->torch)", t_tv / t_np, "none stated",
               f"{t_np * 1e3:.0f} ms vs {t_tv * 1e3:.0f} ms, max |diff| {diff:.1e}", None)  # fmt: skip
        del r_np, r_tv


if __name__ == "__main__":
    main()

"""Peak memory of ``detect yolo``, ``detect sliding`` and ``convert --tile 640`` on a large 3-band COG.

Issue 19's targets: each command's peak resident memory <= 1.5 GiB on a 20000 x 20000 x 3 uint8 COG
(the decoded scene alone is 1.12 GiB), and peak(40000^2) / peak(20000^2) <= 1.1 for one command (the
memory does not grow with the scene). The scene comes from ``_cog.py`` (cached under
``$TILEDET_BENCH_DIR``, default ``<tmp>/tiledet-bench``), with xView-style labels (``bounds_imcoords``,
pixels) beside it for ``convert``. Weights: an untrained ``yolo11n.yaml`` and a tiny random ``cnn``
classifier, built offline (memory only; their boxes mean nothing).

Each command runs as its own ``python -m tiledet`` process; two peaks are printed: the child's own
``ru_maxrss`` (exact, from ``wait4``; the largest single process of its tree) and the peak of the sum
of RSS over the child and all its descendants (``psutil``, polled every 20 ms; what worker pools add).
The target is judged on the larger.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_cog_memory.py [--side 20000] [--quick] [--big 40000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _cog
from _report import report

GIB = 2**30
TARGET_GIB = 1.5
COMMANDS = ("yolo", "sliding", "convert")


def measure(cmd: list[str], log: Path) -> tuple[int, int, float, int]:
    """Run ``cmd``; returns ``(ru_maxrss bytes, peak tree RSS bytes, seconds, exit code)``."""
    import psutil

    t0 = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    proc, tree_peak = psutil.Process(child.pid), 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            procs = [proc, *proc.children(recursive=True)]
            tree_peak = max(tree_peak, sum(_rss(p) for p in procs))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024, tree_peak, time.perf_counter() - t0, child.returncode


def _rss(p) -> int:
    import psutil

    try:
        return p.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def command(name: str, scene: _cog.BigScene, labels: Path, out: Path, scales: str) -> list[str]:
    """The ``python -m tiledet ...`` argv of one measured command, writing under ``out``."""
    tiledet = [sys.executable, "-m", "tiledet"]
    if name == "yolo":
        return [*tiledet, "detect", "yolo", str(_cog.tiny_yolo_weights()), str(scene.path), "--out",
                str(out / "dets.json"), "--tile", "640", "--device", "cpu", "--engine", "torch",
                "--conf", "0.25", "--quiet"]  # fmt: skip
    if name == "sliding":
        return [*tiledet, "detect", "sliding", str(_cog.tiny_classifier()), str(scene.path), "--out",
                str(out / "dets.json"), "--scales", scales, "--device", "cpu", "--threshold", "0.99",
                "--quiet"]  # fmt: skip
    return [*tiledet, "convert", str(labels), "--from", "xview-geojson", "--images", str(scene.path.parent),
            "--out", str(out), "--tile", "640", "--val-fraction", "0", "--quiet"]  # fmt: skip


def run(name: str, side: int, scales: str) -> tuple[int, int, float, int]:
    """Prepare the ``side`` scene (cached) and measure command ``name`` on it; prints one line."""
    scene = _cog.cached_cog(side)
    labels = scene.path.with_name(f"labels_xview_{side}.geojson")
    if not labels.is_file():
        _cog.write_xview_labels(scene, labels)
    out = _cog.bench_dir() / "mem-out" / f"{name}-{side}"
    shutil.rmtree(out, ignore_errors=True)  # our own bench folder, from an earlier run
    out.mkdir(parents=True)
    log = out.parent / f"{name}-{side}.log"
    maxrss, tree, seconds, code = measure(command(name, scene, labels, out, scales), log)
    state = "ok" if code == 0 else f"FAILED (exit {code}, log {log})"
    print(f"{name:8s} {side}^2: ru_maxrss {maxrss / GIB:.3f} GiB, tree peak {tree / GIB:.3f} GiB, "
          f"{seconds:.0f} s, {state}", flush=True)  # fmt: skip
    if code != 0:
        print(log.read_text()[-2000:], file=sys.stderr)
    shutil.rmtree(out, ignore_errors=True)  # tiles of a 40000^2 scene are GBs
    return maxrss, tree, seconds, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=20000, help="scene side, px (default 20000)")
    parser.add_argument("--quick", action="store_true", help="an 8000 x 8000 scene (smoke run)")
    parser.add_argument("--commands", default=",".join(COMMANDS), help="subset of yolo,sliding,convert")
    parser.add_argument("--big", type=int, default=0, help="also run --big-command on this side (e.g. 40000)")
    parser.add_argument("--big-command", default="sliding", choices=COMMANDS, help="(default sliding)")
    parser.add_argument("--scales", default="0.5,0.25", help="detect sliding --scales (default 0.5,0.25)")
    args = parser.parse_args()
    side = 8000 if args.quick else args.side
    decoded = side * side * 3
    print(f"scene {side} x {side} x 3 uint8: decoded {decoded / GIB:.2f} GiB; cache {_cog.bench_dir()}")
    failed, peaks = 0, {}
    for name in args.commands.split(","):
        maxrss, tree, _seconds, code = run(name, side, args.scales)
        failed += code != 0
        peak = max(maxrss, tree)
        peaks[name] = peak
        report(f"peak RSS, {name} on a {side}^2 COG", f"decoded scene {decoded / GIB:.2f} GiB",
               peak / decoded, f"<= {TARGET_GIB} GiB", f"{peak / GIB:.3f} GiB (ru_maxrss {maxrss / GIB:.3f}, "
               f"tree {tree / GIB:.3f})", None if code else peak <= TARGET_GIB * GIB)  # fmt: skip
    if args.big:
        maxrss, tree, _seconds, code = run(args.big_command, args.big, args.scales)
        failed += code != 0
        base = peaks.get(args.big_command) or max(run(args.big_command, side, args.scales)[:2])
        ratio = max(maxrss, tree) / base
        print(f"{args.big_command}: peak {args.big}^2 / peak {side}^2 = {ratio:.3f} (target <= 1.1)")
        report(f"peak RSS growth, {args.big_command} {args.big}^2 vs {side}^2", f"{side}^2 peak", ratio,
               "<= 1.1", f"{max(maxrss, tree) / GIB:.3f} vs {base / GIB:.3f} GiB",
               None if code else ratio <= 1.1)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

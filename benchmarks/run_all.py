"""Run every benchmark in ``benchmarks/`` and print one table of their figures.

Each ``bench_*.py`` runs in its own process (``--quick`` with ``--quick``); the figures are the
``BENCH-RESULT`` lines they print (see ``_report.py``). A benchmark that fails or prints no figure is a
row saying so. Usage: ``python benchmarks/run_all.py [--quick] [--only NAME ...]`` (``make bench``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _report import PREFIX

HERE = Path(__file__).resolve().parent


def run_one(script: Path, quick: bool) -> tuple[list[dict], str, float]:
    """Run one benchmark; returns its figures, a status word, and its wall time in seconds."""
    cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    wall = time.perf_counter() - start
    sys.stderr.write(proc.stdout)
    sys.stderr.write(proc.stderr[-4000:])
    figures = [json.loads(line[len(PREFIX):]) for line in proc.stdout.splitlines() if line.startswith(PREFIX)]
    status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    return figures, status, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of each benchmark (default: full)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (e.g. bench_eval) to run")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in set(args.only)]
    rows = []
    failed = 0
    for script in scripts:
        print(f"== {script.name}", file=sys.stderr, flush=True)
        figures, status, wall = run_one(script, args.quick)
        failed += status != "ok"
        if not figures:
            rows.append((script.stem, "(no figure printed)", "", "", "", status, wall))
        for f in figures:
            ratio = "" if f.get("ratio") is None else f"{f['ratio']:.2f}x"
            met = {True: "met", False: "MISSED", None: ""}[f.get("ok")]
            rows.append((script.stem, f["figure"], f["peer"], ratio, f"{f['target']} {met}".strip(),
                         f"{status}; {f.get('value', '')}", wall))
    header = ("benchmark", "figure", "peer", "ratio", "target", "measured", "wall s")
    widths = [max(len(str(r[i])) if i != 6 else 6 for r in [header, *rows]) for i in range(7)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        cells = [*r[:6], f"{r[6]:.0f}"]
        print(" | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

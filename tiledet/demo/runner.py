"""Run the demo's steps as stand-alone ``tiledet`` processes, skip finished ones, and collect the table.

Each step runs as ``python -m tiledet …`` in its own process, so its wall time and peak resident
memory (``os.wait4``) are its own. A step whose outputs are complete (a folder whose tiledet
manifest says the run completed, or a file its folder's manifest lists) is skipped unless ``redo``;
its figures from the run that made it are kept in ``OUT/demo_state.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tiledet.demo.steps import DETECTORS, DemoConfig, Layout, Step, data_steps, detector_steps, scene_source
from tiledet.demo.table import build_table, draw_steps, side_by_side
from tiledet.device import resolve_device
from tiledet.errors import InputError, Terminated, TiledetError
from tiledet.outdir import OutputDir
from tiledet.ownership import output_complete

STATE_FILE = "demo_state.json"


@dataclass
class StepResult:
    """What one step did.

    Attributes:
        name: the step's name.
        command: the stand-alone command.
        status: ``ran``, ``skipped`` (outputs complete from an earlier run) or ``failed``.
        wall_s: wall time in seconds (of the run that made the outputs, for skipped steps).
        peak_rss_mib: peak resident memory of the step's process in MiB (likewise).
        returncode: the process's exit code (0 for skipped steps).
        log: the step's log file when output was captured, else None.
    """

    name: str
    command: str
    status: str
    wall_s: float = 0.0
    peak_rss_mib: float = 0.0
    returncode: int = 0
    log: str | None = None


@dataclass
class DemoResult:
    """Everything the demo produced.

    Attributes:
        steps: one result per step, in order.
        metrics: the ``tiledet eval`` ``metrics.json`` content (empty when the eval step did not run).
        table: rows of the side-by-side table: ``(label, {detector: text})``.
        files: plots and drawn scenes worth opening.
    """

    steps: list[StepResult] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    table: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


#: Called with ("start" | "skip" | "done" | "fail", step, result-or-None) around every step.
StepEvent = Callable[[str, Step, "StepResult | None"], None]


def step_complete(step: Step) -> bool:
    """True when every output of ``step`` is complete."""
    return bool(step.outputs) and all(output_complete(p) for p in step.outputs)


def run_process(argv: Sequence[str], log: Path | None) -> tuple[int, float, float]:
    """Run ``python -m tiledet ARGV``; returns ``(exit code, wall seconds, peak RSS MiB)``.

    Output goes to the terminal, or to ``log`` when given. Ctrl-C reaches the child too (same
    process group); the child is waited for before the interrupt propagates.
    """
    cmd = [sys.executable, "-m", "tiledet", *argv]
    start = time.perf_counter()
    sink = open(log, "wb") if log is not None else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT if sink else None)
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt as e:
            if isinstance(e, Terminated):  # SIGTERM reached only us: pass it on to the step
                proc.terminate()
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if sink is not None:
            sink.close()
    return proc.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024.0


def run_steps(
    steps: Sequence[Step], od: OutputDir, state: dict, redo: bool, quiet: bool, on_event: StepEvent
) -> list[StepResult]:
    """Run (or skip) ``steps`` in order, recording each in ``state``; stops at the first failure.

    A step is skipped only when its outputs are complete, were made by the same command (as recorded
    in ``state``), and no step before it ran in this call
    (a step that ran may have changed what the later ones read): pass ``redo`` to carry that over.

    Raises:
        TiledetError: naming the failed step, its command and its log.
    """
    results = []
    for step in steps:
        ran = any(r.status == "ran" for r in results)
        same = state.get(step.name, {}).get("command") == step.command  # made with these settings
        if not (redo or ran) and same and step_complete(step):
            result = StepResult(**{**state[step.name], "status": "skipped"})
            on_event("skip", step, result)
            results.append(result)
            continue
        on_event("start", step, None)
        log = od.path(f"logs/{step.name}.log") if quiet else None
        code, wall, rss = run_process(step.argv, log)
        result = StepResult(step.name, step.command, "ran" if code == 0 else "failed", wall, rss, code,
                            str(log) if log else None)
        results.append(result)
        if code != 0:
            on_event("fail", step, result)
            where = f"; its output is in {log}" if log else ""
            raise TiledetError(f"demo step {step.name!r} failed (exit {code}): {step.command}{where}")
        state[step.name] = asdict(result)
        od.write_json(STATE_FILE, state)
        on_event("done", step, result)
    return results


def validation_scenes(gt_path: Path, images: Path) -> list[Path]:
    """Image files of the scenes in a COCO ground truth (the untiled validation scenes)."""
    try:
        data = json.loads(gt_path.read_text(encoding="utf-8"))
        names = [img["file_name"] for img in data["images"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{gt_path}: cannot read the validation ground truth ({e})") from e
    if not names:
        raise InputError(f"{gt_path}: no validation scenes (too few scenes for a validation split)")
    return [images / n for n in names]


def run_demo(cfg: DemoConfig, on_event: StepEvent, quiet: bool = False) -> DemoResult:
    """Run the whole demo (see :mod:`tiledet.demo`) and build the side-by-side table.

    Args:
        cfg: the settings.
        on_event: told about every step (the CLI prints the command and a status line).
        quiet: send each step's output to ``OUT/logs/<step>.log`` instead of the terminal.
    """

    if cfg.device not in ("auto", "cpu"):  # these always resolve: no torch import in this process
        resolve_device(cfg.device)  # a missing CUDA device or MPS fails now, not after the data steps
    lay = Layout(cfg.out)
    sources = [] if cfg.real is None else [cfg.real]
    with OutputDir(cfg.out, command="demo", sources=sources, what="--out") as od:
        state = _read_state(cfg.out) if not cfg.redo else {}
        result = DemoResult()

        def run(steps: list[Step]) -> None:  # once a step has run, every later step runs too
            redo = cfg.redo or any(r.status == "ran" for r in result.steps)
            result.steps.extend(run_steps(steps, od, state, redo, quiet, on_event))

        run(data_steps(cfg))
        images, _labels = scene_source(cfg)
        scenes = validation_scenes(lay.gt, images)
        run(detector_steps(cfg, scenes))
        result.metrics = json.loads((lay.eval / "metrics.json").read_text(encoding="utf-8"))
        run(draw_steps(lay, images, scenes[0]))
        result.table = build_table(result.metrics, result.steps, len(scenes), DETECTORS)
        picture = side_by_side(lay, scenes[0], od)
        result.files = ([picture] if picture else []) + _figures(lay)
        od.write_json("summary.json", {
            "table": [[label, row] for label, row in result.table],
            "steps": [asdict(s) for s in result.steps],
            "files": [str(f) for f in result.files],
        })
    return result


def _read_state(out: Path) -> dict:
    path = out / STATE_FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def _figures(lay: Layout) -> list[Path]:
    found: list[Path] = []
    for folder in (lay.eval, lay.classifier):
        if folder.is_dir():
            found += sorted(p for p in folder.glob("*.png") if p.is_file())
    for folder in (lay.drawn / d for d in DETECTORS):
        if folder.is_dir():
            found.append(folder)
    return found

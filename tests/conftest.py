"""Shared fixtures: the location of third-party real data for tests marked ``realdata``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite runs as one pytest-xdist worker per core: one compute thread per worker, not one per core
# (tiledet's inference otherwise takes every core, see tiledet.ultra.cpu_threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")

_DEFAULT_REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Folder of real third-party samples ($TILEDET_REALDATA, default ../shared/data/real).

    Tests using it must be marked ``realdata``; they are skipped, with the reason, when it is absent.
    """
    root = Path(os.environ.get("TILEDET_REALDATA", _DEFAULT_REALDATA))
    if not root.is_dir():
        pytest.skip(f"real data folder {root} not found (set TILEDET_REALDATA)")
    return root


@pytest.fixture(autouse=True, scope="session")
def _tiledet_state_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """tiledet's signing key (tiledet.ownership) lives in a temporary folder, never in the real home.

    Set in the environment, so CLI subprocesses of the tests share it.
    """
    os.environ["TILEDET_STATE_DIR"] = str(tmp_path_factory.mktemp("tiledet-state"))

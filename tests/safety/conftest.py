"""Safety tests run the CLI in-process with the top-level ``click`` module made unimportable.

Typer >= 0.29 vendors click; ``tiledet`` must not need the real one (``test_cli_errors`` also checks
this in a fresh subprocess).
"""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def _no_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "click", None)  # `import click` now raises ImportError

"""The README's "Python API" examples run as written (in a fresh folder, in order, one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_blocks() -> list[str]:
    """The ```python blocks of the README section ``python-api``, in order."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"<!-- section: python-api -->(.*?)<!-- end section: python-api -->", text, re.DOTALL)
    assert section is not None, "README has no python-api section"
    return re.findall(r"```python\n(.*?)```", section.group(1), re.DOTALL)


def test_readme_python_api_examples_run(tmp_path, monkeypatch, capsys):
    blocks = python_api_blocks()
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README python-api block {i + 1}", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    labels = namespace["labels"]
    assert printed[0] == f"{labels.fmt} {labels.dataset.num_boxes} boxes, {len(labels.drops)} dropped"
    assert labels.fmt == "xview-geojson" and labels.dataset.num_boxes > 0
    report = namespace["report"]
    assert report.written_boxes > 0 and (tmp_path / "runs" / "tiles" / "data.yaml").is_file()
    # detections = ground truth shifted by 1 px: high but not perfect AP50, and every box still overlaps
    ap50 = namespace["runs"][0].summary["AP50"]
    assert 0.5 < ap50 <= 1.0
    assert printed[1].startswith(f"AP50 {ap50:.3f}, IoU with GT >= ")

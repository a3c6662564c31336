"""Options several commands share, each declared once as a ``typing.Annotated`` alias.

A command writes ``force: Force = False`` or ``device: Device = DEFAULT_DEVICE``; the flag name and
its help text (which states the default) live here only. Where one command's option means something
else, it has its own alias (:data:`ForceSaveImages`, :data:`QuietProgress`) or stays local to the
command, and its help says how it differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tiledet.device import DEVICE_HELP
from tiledet.radiometry import AUTO, BANDS_HELP, RADIOMETRY_HELP, Radiometry, parse_bands

#: ``--force`` of commands that write a folder (``--out``): the usual meaning.
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Write into a non-empty --out folder that tiledet did not create; its files are still "
        "never removed or overwritten. Default: off (refused).",
    ),
]

#: ``--force`` of the detectors, whose ``--out`` is a file: it applies to ``--save-images`` only.
ForceSaveImages = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Write --save-images into a non-empty folder tiledet did not create, never touching its "
        "files (unlike other commands, not --out: an --out file tiledet did not write is never "
        "replaced). Default: off (refused).",
    ),
]

#: ``--quiet`` of commands whose terminal output is a progress bar and a summary.
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        help="No progress output and no summary: print only warnings and errors (files are still "
        "written). Default: off.",
    ),
]

#: ``--quiet`` of commands that still print their result with it (``classify predict|sweep``).
QuietProgress = Annotated[
    bool,
    typer.Option(
        "--quiet",
        help="No progress bar (unlike other commands, the result lines are still printed). Default: off.",
    ),
]

#: ``--device`` of every command that runs a network.
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]

#: ``--save-images`` of the detectors.
SaveImages = Annotated[
    Path | None,
    typer.Option("--save-images", help="Folder for PNG scenes with the detections drawn. Default: none."),
]

#: ``--radiometry`` of every command that reads scene pixels.
RadiometryKind = Annotated[
    str | None, typer.Option("--radiometry", help=f"{RADIOMETRY_HELP} Default: {AUTO.kind}.")
]

#: ``--bands`` of every command that reads scene pixels.
Bands = Annotated[str | None, typer.Option("--bands", help=BANDS_HELP)]


def radiometry_of(kind: str | None, bands: str | None) -> Radiometry:
    """``--radiometry`` and ``--bands`` as a :class:`~tiledet.radiometry.Radiometry` (the default's
    fields where not given)."""
    return Radiometry(kind=AUTO.kind if kind is None else kind, bands=parse_bands(bands))

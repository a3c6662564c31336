"""Reading labels from any source into one :class:`~tiledet.label_records.LabeledDataset`.

Below both ``convert`` and ``evaluate`` (and ``synth``): every command that needs "labels from any
source" goes through here, never through another command's package.

- :mod:`tiledet.labels.load`: format detection, reading, resolving class keys and image sizes,
  clipping; every input box is kept or accounted for as a :class:`~tiledet.label_records.Drop`.
- :mod:`tiledet.labels.classes`: class maps (xView's 60 classes, user class files).
- :mod:`tiledet.labels.names`: safe relative image names.

The record types themselves live in :mod:`tiledet.label_records` (below the format readers, which
produce them); they are re-exported here for convenience.
"""

from __future__ import annotations

from tiledet.label_records import (
    DROP_REASONS,
    INTENDED_DROPS,
    ClassKey,
    Drop,
    ImageLabels,
    LabeledDataset,
    RawLabels,
    RawLabelsBuilder,
)

__all__ = [
    "DROP_REASONS",
    "INTENDED_DROPS",
    "ClassKey",
    "Drop",
    "ImageLabels",
    "LabeledDataset",
    "RawLabels",
    "RawLabelsBuilder",
]

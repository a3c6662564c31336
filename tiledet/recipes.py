"""Locate dataset recipes (YAML files in the project's top-level ``datasets/`` folder).

In a wheel the folder is installed as ``tiledet/_datasets``; in a source checkout (editable install)
it is read from the repository.
"""

from __future__ import annotations

from pathlib import Path

from tiledet.errors import InputError


def recipe_path(name: str) -> Path:
    """Path of the recipe file ``name`` (e.g. ``"xview.yaml"``).

    Raises:
        InputError: when no such recipe is installed.
    """
    package_dir = Path(__file__).resolve().parent
    for folder in (package_dir / "_datasets", package_dir.parent / "datasets"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise InputError(f"dataset recipe {name!r} not found (looked in tiledet/_datasets and datasets/)")


def load_recipe(name: str) -> dict:
    """Parse the YAML recipe ``name`` into a dict.

    Raises:
        InputError: no such recipe, an unreadable file, invalid or refused YAML (see
            :func:`tiledet.yamlio.load_yaml_text`), or a document that is not a mapping.
    """
    from tiledet.yamlio import read_yaml_file

    path = recipe_path(name)
    data = read_yaml_file(path, "recipe")
    if not isinstance(data, dict):
        raise InputError(f"{path}: recipe is not a YAML mapping")
    return data

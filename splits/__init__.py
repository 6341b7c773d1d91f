"""Declarative split definitions (TOML), one per dataset, read with importlib.resources.

Reading through importlib.resources (not a path next to this file) is what lets a
non-editable install, a wheel or a zip import find the definitions.
"""

from __future__ import annotations

import tomllib
from importlib import resources


def available() -> list[str]:
    """Names of the datasets that have a split definition, sorted."""
    return sorted(
        entry.name[: -len(".toml")] for entry in resources.files(__name__).iterdir() if entry.name.endswith(".toml")
    )


def load_definition(dataset: str) -> dict:
    """The parsed ``<dataset>.toml`` of this package; ValueError naming the valid datasets otherwise."""
    resource = resources.files(__name__).joinpath(f"{dataset}.toml")
    if not resource.is_file():
        raise ValueError(f"no split definition for dataset {dataset!r}; valid: {', '.join(available())}")
    try:
        return tomllib.loads(resource.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"splits/{dataset}.toml: {exc}") from exc

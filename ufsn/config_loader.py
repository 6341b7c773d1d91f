"""The one strict loader of TOML configs: tables become nested frozen dataclasses, unknown keys are errors.

Experiment configs (``bench.experiment``) and stage-1 configs (``ufsn.flow.train``) both go through
:func:`build`, so a typo anywhere is reported with the file, the ``[section]`` and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path

from ufsn.errors import ConfigError


def read_toml(path: Path) -> dict:
    """The tables of a TOML file; a syntax error names the file."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def apply_override(data: dict, dotted: str) -> dict:
    """Apply ``section.key=value`` (value parsed as TOML, bare words as strings) to nested ``data``."""
    key, sep, text = dotted.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {dotted!r} must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    node = data
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is a value, not a table")
    node[leaf] = value
    return data


def _dataclass_of(annotation) -> type | None:
    """The dataclass in ``X`` or ``X | None``; None for any other type."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return None


def build(cls: type, values: dict, *, file: str, section: str = ""):
    """``cls(**values)`` with nested tables built recursively and TOML lists turned into tuples.

    Keys named in the class's ``RETIRED_KEYS`` are dropped. Raises :class:`ConfigError` naming ``file``, the
    section and the key for an unknown key, a value where a table is expected, or a value the dataclass rejects.
    """
    where = f"{file}: [{section}]" if section else f"{file}: top level"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table of keys, got {values!r}")
    retired = getattr(cls, "RETIRED_KEYS", ())  # keys that older configs, checkpoints and records may still carry
    values = {key: value for key, value in values.items() if key not in retired}
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(known)}")
    out = {}
    for key, value in values.items():
        nested = _dataclass_of(hints[key])
        if nested is not None and value is not None and not isinstance(value, nested):
            out[key] = build(nested, value, file=file, section=f"{section}.{key}" if section else key)
        elif isinstance(value, list):
            out[key] = tuple(value)
        else:
            out[key] = value
    try:
        return cls(**out)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc

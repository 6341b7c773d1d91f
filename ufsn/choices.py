"""Typed choices: every ``Literal`` field of a dataclass is checked when the dataclass is built."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing

from ufsn.errors import ConfigError


def literal_values(annotation) -> tuple | None:
    """The values a ``Literal[...]`` (or ``Literal[...] | None``) annotation allows; None for any other type."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        inner = [literal_values(a) for a in members]
        if any(v is not None for v in inner):
            optional = (None,) if type(None) in members else ()
            return tuple(x for v in inner if v for x in v) + optional
    return None


def _field_type(cls: type, field: dataclasses.Field):
    """The field's annotation as an object; None when it names a type imported only for type checkers."""
    if not isinstance(field.type, str):  # no ``from __future__ import annotations`` in the defining module
        return field.type
    owner = next((c for c in cls.__mro__ if field.name in vars(c).get("__annotations__", {})), cls)
    try:
        return eval(field.type, vars(sys.modules[owner.__module__]))  # what typing.get_type_hints does per field
    except NameError:  # e.g. ``nn.Module`` under ``if TYPE_CHECKING``: such a type is never a Literal here
        return None


def check_choices(obj) -> None:
    """Raise :class:`ConfigError` for a ``Literal``-typed field of dataclass ``obj`` holding another value.

    The message names the class, the field, the value and the valid values, e.g.
    ``ClipConfig.test_crops = 5; valid values: 1, 10``.
    """
    for field in dataclasses.fields(obj):
        allowed = literal_values(_field_type(type(obj), field))
        value = getattr(obj, field.name)
        if allowed is not None and value not in allowed:
            valid = ", ".join(repr(v) for v in allowed)
            raise ConfigError(f"{type(obj).__name__}.{field.name} = {value!r}; valid values: {valid}")

"""Base class of every event payload, the type registry, and upcasting of older versions on read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_TYPES: dict[str, type[EventPayload]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventType(LookupError):
    """An envelope names a type (or a version) this build does not know."""


class EventPayload(BaseModel):
    """A frozen, versioned event payload. Subclasses set TYPE and VERSION."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1


E = TypeVar("E", bound=type[EventPayload])


def register(cls: E) -> E:
    """Class decorator: make an event type known by its TYPE name."""
    if not cls.TYPE:
        raise ValueError(f"{cls.__name__} has no TYPE")
    if cls.TYPE in _TYPES and _TYPES[cls.TYPE] is not cls:
        raise ValueError(f"event type {cls.TYPE!r} registered twice")
    _TYPES[cls.TYPE] = cls
    return cls


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register a function turning a payload of `from_version` into `from_version + 1`."""

    def deco(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = fn
        return fn

    return deco


def event_types() -> dict[str, type[EventPayload]]:
    return dict(_TYPES)


def decode_payload(type_name: str, version: int, payload: dict[str, Any]) -> EventPayload:
    """Validate a payload, first upcasting it step by step to the current version of its type."""
    cls = _TYPES.get(type_name)
    if cls is None:
        raise UnknownEventType(f"unknown event type {type_name!r}")
    if version > cls.VERSION:
        raise UnknownEventType(
            f"{type_name} schema_version {version} is newer than this build knows ({cls.VERSION})"
        )
    data = payload
    while version < cls.VERSION:
        step = _UPCASTERS.get((type_name, version))
        if step is None:
            raise UnknownEventType(f"no upcaster for {type_name} v{version}")
        data = step(data)
        version += 1
    return cls.model_validate(data)

"""The alert registry: every domain's `ALERTS` (schemas/model.py AlertKind), collected.

The delivery stage asks `firing(type, payload)` and `resolving(type, payload)` for each domain event it
reads; it never knows a domain by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.model import AlertKind
from schemas.topics import DOMAINS

ALERT_KINDS: tuple[AlertKind, ...] = tuple(a for d in DOMAINS for a in getattr(d, "ALERTS", ()))


def _check_unique() -> None:
    seen: set[str] = set()
    for a in ALERT_KINDS:
        if a.name in seen:
            raise ValueError(f"alert {a.name} declared twice")
        seen.add(a.name)


_check_unique()


def _matches(conditions: tuple[tuple[str, object], ...], payload: Mapping[str, object]) -> bool:
    return all(payload.get(field) == value for field, value in conditions)


def firing(event_type: str, payload: Mapping[str, object]) -> list[AlertKind]:
    """The alerts an event of this type and payload fires."""
    return [a for a in ALERT_KINDS if a.fires_on == event_type and _matches(a.when, payload)]


def resolving(event_type: str, payload: Mapping[str, object]) -> list[AlertKind]:
    """The alerts an event of this type and payload resolves (never one that the same event fires:
    a unit observed failed again does not resolve its own alert)."""
    return [
        a
        for a in ALERT_KINDS
        if event_type in a.resolves_on
        and _matches(a.resolves_when, payload)
        and not (a.fires_on == event_type and _matches(a.when, payload))
    ]


def summary(alert: AlertKind, payload: Mapping[str, object]) -> str:
    """The alert's one-line summary; a template naming a missing field falls back to the alert's name."""
    try:
        return alert.summary.format(**payload)
    except (KeyError, IndexError, ValueError):
        return f"{alert.name}: {payload.get(alert.subject, '')}"

"""How a question is declared: a named, parameterised Cypher query, and helpers that prepare its parameters.

The Cypher runs unchanged on LadybugDB and Neo4j: no datetime() or duration() (LadybugDB lacks them);
times are computed in Python and passed as parameters. Constants go in as parameters too, so the Cypher
text holds no literals where it can be avoided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class CatalogError(ValueError):
    """Unknown query name or a bad parameter; the message says what is expected."""


class ParamOutOfRange(CatalogError):
    """An integer parameter outside what a named query can use (days beyond year 1, …)."""


# Every integer parameter (days, hours, minutes, limit, port, threshold) stays within this: 100,000 days
# is 273 years, and now - that is still a valid datetime.
INT_RANGE = (0, 100_000)


@dataclass(frozen=True)
class Param:
    name: str
    type: type[int] | type[str]
    default: int | str | None
    help: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    question: str
    cypher: str
    params: tuple[Param, ...] = ()
    # Turns user parameters (+ now) into the Cypher parameters, e.g. days -> since.
    prepare: Callable[[dict[str, Any], datetime], dict[str, Any]] = field(default=lambda p, now: p)


def since(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    """days -> since."""
    out = {k: v for k, v in p.items() if k != "days"}
    out["since"] = now - timedelta(days=int(p["days"]))
    return out


def with_constants(**constants: Any) -> Callable[[dict[str, Any], datetime], dict[str, Any]]:
    """A prepare() that adds constants (and turns days into since when the query takes days)."""

    def prepare(p: dict[str, Any], now: datetime) -> dict[str, Any]:
        out = since(p, now) if "days" in p else dict(p)
        return {**out, **constants}

    return prepare


def since_hours(p: dict[str, Any], now: datetime) -> dict[str, Any]:
    """hours/minutes -> since (hours = 0: since midnight UTC today); service -> unit names to match."""
    out = {k: v for k, v in p.items() if k not in ("hours", "minutes", "service", "level")}
    if "minutes" in p:
        out["since"] = now - timedelta(minutes=int(p["minutes"]))
    elif int(p["hours"]) > 0:
        out["since"] = now - timedelta(hours=int(p["hours"]))
    else:
        out["since"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if "level" in p:
        level = str(p["level"])
        out["levels"] = ["error", "warning"] if level == "any" else [level]
    if "service" in p:
        name = str(p["service"])
        # "nginx" finds nginx.service; a full unit name (nginx.service, foo.socket) finds itself.
        out["unit"], out["unit_service"] = name, name if "." in name else f"{name}.service"
    return out


DAYS = Param("days", int, 7, "look back this many days")

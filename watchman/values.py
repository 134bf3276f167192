"""Query values over JSON: times as ISO 8601 UTC in answers, and tagged in parameters sent over the socket."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """Query values as JSON: times as ISO 8601 UTC (stores keep naive UTC), nested values recursively."""
    if isinstance(value, datetime):
        ts = value if value.tzinfo else value.replace(tzinfo=UTC)
        return ts.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if not str(k).startswith("_ID")}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def encode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters for the socket: JSON has no time type, so times travel tagged."""
    return {k: {"$datetime": v.isoformat()} if isinstance(v, datetime) else v for k, v in params.items()}


def decode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v["$datetime"]) if isinstance(v, dict) and "$datetime" in v else v
        for k, v in params.items()
    }

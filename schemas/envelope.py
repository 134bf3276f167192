"""The event envelope every record on every topic carries, and its deterministic id."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticSerializationError


def utc(ts: datetime) -> datetime:
    """Return ts as an aware UTC datetime; naive datetimes are taken to be UTC already."""
    tz = ts.tzinfo
    if tz is UTC:  # already what we return (most values: the validators made them): no new object
        return ts
    if tz is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def event_id(*parts: object) -> str:
    """A deterministic id: the same source position (or content) always gives the same id.

    Re-reading a source after a crash therefore yields the same ids, which is what lets every
    later stage de-duplicate.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogateescape"))
        h.update(b"\x1f")
    return h.hexdigest()


class Envelope(BaseModel):
    """One event as it travels on a topic. The payload is validated against its type on read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str
    schema_version: int
    host: str
    source: str
    ts: datetime
    observed_at: datetime
    subject: str
    causation_id: str | None = None
    correlation_id: str | None = None
    payload: dict[str, Any]

    @field_validator("ts", "observed_at")
    @classmethod
    def _to_utc(cls, v: datetime) -> datetime:
        return utc(v)

    @property
    def key(self) -> str:
        """The partition key: one entity's events stay ordered in one partition."""
        return f"{self.host}/{self.subject}"

    def to_json(self) -> bytes:
        # pydantic-core writes the JSON itself, 3-4x faster than model_dump + orjson and byte for byte the
        # same; what it refuses (e.g. a lone surrogate) goes the old way, to fail as it always did.
        try:
            return self.__pydantic_serializer__.to_json(self)
        except PydanticSerializationError:
            return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        return cls.model_validate_json(data)

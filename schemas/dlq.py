"""The dead-letter record: input that could not be parsed or decided, kept with its reason and position."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.envelope import event_id

DLQ_TYPE = "DeadLetter"


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    host: str
    source: str  # e.g. "apt:/var/log/apt/history.log" or "processors.packages"
    position: str  # where the input was: a byte offset, a topic/partition/offset
    error: str
    raw_text: str
    raw_b64: str
    observed_at: datetime

    @classmethod
    def of(
        cls, host: str, source: str, position: str, error: str, raw: bytes, observed_at: datetime
    ) -> DeadLetter:
        return cls(
            id=event_id("dlq", host, source, position, raw),
            host=host,
            source=source,
            position=position,
            error=error,
            raw_text=raw.decode("utf-8", "replace"),
            raw_b64=base64.b64encode(raw).decode("ascii"),
            observed_at=observed_at,
        )

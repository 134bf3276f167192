"""Raw envelopes of the runner producer (pure): ids from what was read, so a re-read is the same record."""

from __future__ import annotations

from datetime import datetime

from schemas.envelope import Envelope, event_id
from schemas.events.runners import RunnerApiObserved, RunnerLogObserved, RunnerObserved, RunnerQueueObserved

SOURCE_SCAN = "runners.scan"
SOURCE_LOG = "runners.log"
SOURCE_API = "runners.api"


def subject(provider: str, runner: str) -> str:
    return f"{provider}/{runner}"


def scan_envelope(host: str, obs: RunnerObserved, observed_at: datetime) -> Envelope:
    """A scan's difference: the runner, the change and the scan's time make the id."""
    return Envelope(
        id=event_id("raw", host, SOURCE_SCAN, obs.provider, obs.runner, obs.change, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE_SCAN,
        ts=obs.ts,
        observed_at=observed_at,
        subject=subject(obs.provider, obs.runner),
        payload=obs.model_dump(mode="json"),
    )


def log_envelope(host: str, obs: RunnerLogObserved, position: str, observed_at: datetime) -> Envelope:
    """A log record: the file and the record's position in it make the id (a re-read after a crash
    gives the same id); `position` is the byte offset of the record's first line."""
    return Envelope(
        id=event_id("raw", host, SOURCE_LOG, obs.file, position, obs.runner),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE_LOG,
        ts=obs.ts,
        observed_at=observed_at,
        subject=subject(obs.provider, obs.runner),
        payload=obs.model_dump(mode="json"),
    )


def api_envelope(host: str, obs: RunnerApiObserved, observed_at: datetime) -> Envelope:
    return Envelope(
        id=event_id("raw", host, SOURCE_API, obs.provider, obs.runner, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE_API,
        ts=obs.ts,
        observed_at=observed_at,
        subject=subject(obs.provider, obs.runner),
        payload=obs.model_dump(mode="json"),
    )


def queue_envelope(host: str, obs: RunnerQueueObserved, observed_at: datetime) -> Envelope:
    return Envelope(
        id=event_id("raw", host, SOURCE_API, "queue", obs.provider, obs.ts.isoformat()),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE_API,
        ts=obs.ts,
        observed_at=observed_at,
        subject=f"queue/{obs.provider}",
        payload=obs.model_dump(mode="json"),
    )

"""Decide backup domain events from what the backup executor observed doing (pure: no I/O, no clock).

One observation is one stage of one backup, so the decision is a mapping; the event id comes from the
observation's (deterministic) id, so a redelivered observation decides the same event again, which the
log and the graph hold once.
"""

from __future__ import annotations

from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.backups import (
    EVENTS_BACKUPS,
    RAW_BACKUPS,
    BackupActivityObserved,
    BackupCompleted,
    BackupEvent,
    BackupFailed,
    BackupPruned,
    BackupRestored,
    BackupStarted,
    BackupVerificationFailed,
    BackupVerified,
)

SOURCE = "processors.backups"


def event_for(obs: BackupActivityObserved) -> BackupEvent:
    base: dict[str, Any] = {
        "job": obs.job,
        "backup_id": obs.backup_id,
        "kind": obs.kind,
        "storage": obs.storage,
        "command_id": obs.command_id,
    }
    match obs.stage:
        case "started":
            return BackupStarted(**base)
        case "completed":
            return BackupCompleted(
                **base,
                size=obs.size,
                files=obs.files,
                bytes=obs.bytes,
                checksum=obs.checksum,
                duration_s=obs.duration_s,
                created_at=obs.created_at,
                downtime_s=obs.downtime_s,
            )
        case "failed":
            return BackupFailed(**base, error=obs.error, duration_s=obs.duration_s)
        case "verified":
            return BackupVerified(
                **base, files=obs.files, bytes=obs.bytes, recovery_test=obs.recovery_test,
                duration_s=obs.duration_s,
            )  # fmt: skip
        case "verification_failed":
            return BackupVerificationFailed(**base, error=obs.error, recovery_test=obs.recovery_test)
        case "restored":
            return BackupRestored(
                **base, restored_to=obs.restored_to, in_place=obs.in_place, files=obs.files, bytes=obs.bytes
            )
        case "pruned":
            return BackupPruned(**base, reasons=obs.reasons)
    raise ValueError(f"unknown backup stage {obs.stage!r}")


def decide_activity(raw: Envelope, obs: BackupActivityObserved, table: Table) -> list[Envelope]:
    payload = event_for(obs)
    return [
        Envelope(
            id=event_id("backups", raw.id, payload.TYPE),
            type=payload.TYPE,
            schema_version=payload.VERSION,
            host=raw.host,
            source=SOURCE,
            ts=obs.ts,
            observed_at=raw.observed_at,
            subject=f"{obs.job}/{obs.backup_id}",
            causation_id=raw.id,
            correlation_id=obs.command_id or None,
            payload=payload.model_dump(mode="json"),
        )
    ]


# Which raw event types this domain decides, and where the decisions go (processors/registry.py collects it).
ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_BACKUPS,
        sink=EVENTS_BACKUPS,
        table="backups",
        decide={BackupActivityObserved.TYPE: typed(BackupActivityObserved, decide_activity)},
    ),
)

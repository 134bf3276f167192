"""Decide FIDO2 domain events from what was observed doing with the keys (pure: no I/O, no clock).

One observation is one act, so the decision is a mapping, except for the key's use count: the table
keeps, per credential, the uses seen so far and the raw ids counted (a redelivered observation is
not counted twice). Event ids come from the observation's deterministic id.
"""

from __future__ import annotations

from typing import Any

from processors.routing import Route, typed
from processors.tables import Table
from schemas.envelope import Envelope, event_id
from schemas.events.fido2 import (
    EVENTS_FIDO2,
    RAW_FIDO2,
    DataDecrypted,
    DataEncrypted,
    DecryptionDenied,
    Fido2ActivityObserved,
    Fido2Event,
    KeyEnrolled,
    KeyRemoved,
    KeyUsed,
)

SOURCE = "processors.fido2"
# How many counted raw ids a key remembers (a redelivery comes within the bus's last batch, far fewer).
SEEN = 256


def _uses(raw: Envelope, obs: Fido2ActivityObserved, table: Table) -> int:
    key = f"{raw.host}/{obs.credential_id}"
    state: dict[str, Any] = table.get(key) or {"uses": 0, "seen": []}
    if raw.id not in state["seen"]:
        state = {"uses": int(state["uses"]) + 1, "seen": [*state["seen"], raw.id][-SEEN:]}
        table.set(key, state)
    return int(state["uses"])


def events_for(raw: Envelope, obs: Fido2ActivityObserved, table: Table) -> list[Fido2Event]:
    cid, base = obs.credential_id, {"command_id": obs.command_id}
    match obs.stage:
        case "enrolled":
            return [
                KeyEnrolled(
                    **base, credential_id=cid, label=obs.label, rp_id=obs.rp_id, uv=obs.uv, pin=obs.pin
                )
            ]
        case "removed":
            return [KeyRemoved(**base, credential_id=cid, label=obs.label)]
        case "used":
            uses = _uses(raw, obs, table)
            return [
                KeyUsed(**base, credential_id=cid, label=obs.label, purpose=obs.purpose, usage_count=uses)
            ]
        case "encrypted":
            return [
                DataEncrypted(
                    **base, data_id=obs.data_id, data_type=obs.data_type, purpose=obs.purpose,
                    size_bytes=obs.size_bytes, checksum=obs.checksum, encryption_method=obs.encryption_method,
                    credential_ids=obs.credential_ids,
                )
            ]  # fmt: skip
        case "decrypted":
            return [DataDecrypted(**base, data_id=obs.data_id, data_type=obs.data_type, credential_id=cid)]
        case "denied":
            return [
                DecryptionDenied(
                    **base, data_id=obs.data_id, data_type=obs.data_type, reason=obs.reason, credential_id=cid
                )
            ]
    raise ValueError(f"unknown FIDO2 stage {obs.stage!r}")


def decide_activity(raw: Envelope, obs: Fido2ActivityObserved, table: Table) -> list[Envelope]:
    return [
        Envelope(
            id=event_id("fido2", raw.id, payload.TYPE),
            type=payload.TYPE,
            schema_version=payload.VERSION,
            host=raw.host,
            source=SOURCE,
            ts=obs.ts,
            observed_at=raw.observed_at,
            subject=obs.data_id or obs.credential_id,
            causation_id=raw.id,
            correlation_id=obs.command_id or None,
            payload=payload.model_dump(mode="json"),
        )
        for payload in events_for(raw, obs, table)
    ]


ROUTES: tuple[Route, ...] = (
    Route(
        name=SOURCE,
        source=RAW_FIDO2,
        sink=EVENTS_FIDO2,
        table="fido2",
        decide={Fido2ActivityObserved.TYPE: typed(Fido2ActivityObserved, decide_activity)},
    ),
)

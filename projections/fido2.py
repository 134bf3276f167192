"""Project FIDO2 events into the graph (pure): the keys and the data encrypted to them.

(:FIDO2Key)-[:ENROLLED_ON]->(:Host)     (:EncryptedData)-[:ENCRYPTED_WITH]->(:FIDO2Key)
(:Event)-[:ACTED_ON]->(:FIDO2Key)       (:Event)-[:ACTED_ON]->(:EncryptedData)
(:Event)-[:HAPPENED_ON]->(:Host)
"""

from __future__ import annotations

from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.fido2 import (
    FIDO2_EVENTS,
    DataDecrypted,
    DataEncrypted,
    DecryptionDenied,
    Fido2Event,
    KeyEnrolled,
    KeyRemoved,
    KeyUsed,
)

ACTION: dict[str, str] = {
    "KeyEnrolled": "fido2-enrol",
    "KeyRemoved": "fido2-remove",
    "KeyUsed": "fido2-use",
    "DataEncrypted": "encrypt",
    "DataDecrypted": "decrypt",
    "DecryptionDenied": "decrypt-denied",
}


def data_key(host: str, data_type: str, data_id: str) -> str:
    return f"{host}:{data_type}:{data_id}"


def _key_node(cid: str, props: dict[str, Any], ts: Any) -> UpsertNode:
    return UpsertNode("FIDO2Key", cid, {"updated_at": ts, **props}, ts=ts)


def project(event: Envelope, p: Fido2Event) -> list[GraphOp]:
    ts, host = event.ts, event.host
    ops: list[GraphOp] = [UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts})]
    keys: list[str] = []
    data: str | None = None
    subject = ""
    if isinstance(p, KeyEnrolled):
        props: dict[str, Any] = {"label": p.label, "host": host, "rp_id": p.rp_id, "uv": p.uv, "pin": p.pin,
                 "status": "enrolled", "registered_at": ts}  # fmt: skip
        ops.append(_key_node(p.credential_id, props, ts))
        ops.append(UpsertRel("ENROLLED_ON", "FIDO2Key", p.credential_id, "Host", host))
        keys, subject = [p.credential_id], p.label
    elif isinstance(p, KeyRemoved):
        ops.append(_key_node(p.credential_id, {"label": p.label, "status": "removed"}, ts))
        keys, subject = [p.credential_id], p.label
    elif isinstance(p, KeyUsed):
        ops.append(
            _key_node(p.credential_id, {"label": p.label, "last_used": ts, "usage_count": p.usage_count}, ts)
        )
        keys, subject = [p.credential_id], f"{p.label} ({p.purpose})"
    elif isinstance(p, DataEncrypted):
        data = data_key(host, p.data_type, p.data_id)
        first = p.credential_ids[0] if p.credential_ids else ""
        ops.append(
            UpsertNode(
                "EncryptedData", data,
                {"host": host, "type": p.data_type, "purpose": p.purpose, "blob_location": p.data_id,
                 "encryption_method": p.encryption_method, "fido2_credential_id": first,
                 "size_bytes": p.size_bytes, "checksum": p.checksum, "encrypted_at": ts, "updated_at": ts},
                ts=ts,
            )
        )  # fmt: skip
        for cid in p.credential_ids:
            ops.append(_key_node(cid, {}, ts))
            ops.append(UpsertRel("ENCRYPTED_WITH", "EncryptedData", data, "FIDO2Key", cid))
        subject = p.data_id
    elif isinstance(p, DataDecrypted | DecryptionDenied):
        data = data_key(host, p.data_type, p.data_id)
        seen: dict[str, Any] = {
            "host": host,
            "type": p.data_type,
            "blob_location": p.data_id,
            "updated_at": ts,
        }
        if isinstance(p, DataDecrypted):
            seen["last_decrypted"] = ts
        ops.append(UpsertNode("EncryptedData", data, seen, ts=ts))
        subject = p.data_id
    line = f"{ACTION[event.type]} {subject}"
    if isinstance(p, DecryptionDenied):
        line += f": {p.reason[:200]}"
    ops += [
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": ACTION[event.type],
                "subject": subject,
                "summary": line,
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
    ]
    for cid in keys:
        ops.append(UpsertRel("ACTED_ON", "Event", event.id, "FIDO2Key", cid))
    if data is not None:
        ops.append(UpsertRel("ACTED_ON", "Event", event.id, "EncryptedData", data))
    return ops


_project = typed(Fido2Event, project)
PROJECTORS: dict[str, Project] = {cls.TYPE: _project for cls in FIDO2_EVENTS}

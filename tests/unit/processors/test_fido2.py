"""The FIDO2 processor and projection (pure): every stage decides its event, ids are deterministic, a
redelivered use is counted once, and the projection links data to the keys it opens with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processors.fido2 import ROUTES
from processors.tables import MemoryTable
from projections.catalog import resolve
from projections.graph_ops import UpsertNode, UpsertRel
from projections.registry import PROJECTORS
from schemas.envelope import Envelope, event_id
from schemas.events import decode_payload
from schemas.events.fido2 import Fido2ActivityObserved

TS = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def raw(obs: Fido2ActivityObserved, n: int) -> bytes:
    return Envelope(
        id=event_id("raw", "h1", str(n)), type=obs.TYPE, schema_version=obs.VERSION, host="h1", source="t",
        ts=obs.ts, observed_at=TS, subject="s", payload=obs.model_dump(mode="json"),
    ).to_json()  # fmt: skip


def decide(obs: Fido2ActivityObserved, n: int, table: MemoryTable) -> list[Envelope]:
    return ROUTES[0].handle(raw(obs, n), table)


@pytest.mark.parametrize(
    ("stage", "event"),
    [("enrolled", "KeyEnrolled"), ("removed", "KeyRemoved"), ("used", "KeyUsed"),
     ("encrypted", "DataEncrypted"), ("decrypted", "DataDecrypted"), ("denied", "DecryptionDenied")],
)  # fmt: skip
def test_each_stage_decides_its_event_and_projects(stage: str, event: str) -> None:
    obs = Fido2ActivityObserved.model_validate(
        {"stage": stage, "ts": TS, "credential_id": "cred1", "label": "k", "data_id": "/f.age",
         "data_type": "file", "credential_ids": ("cred1", "cred2"), "reason": "timeout: x"}
    )  # fmt: skip
    [ev] = decide(obs, 1, MemoryTable())
    assert ev.type == event
    assert [e.id for e in decide(obs, 1, MemoryTable())] == [ev.id]  # deterministic
    ops = PROJECTORS[ev.type](ev, decode_payload(ev.type, ev.schema_version, ev.payload))
    labels = {op.label for op in ops if isinstance(op, UpsertNode)}
    assert "Event" in labels and ("FIDO2Key" in labels or "EncryptedData" in labels)
    if event == "DataEncrypted":
        rels = {(op.type, op.to_key) for op in ops if isinstance(op, UpsertRel)}
        assert {("ENCRYPTED_WITH", "cred1"), ("ENCRYPTED_WITH", "cred2")} <= rels


def test_uses_are_counted_once_per_observation() -> None:
    table = MemoryTable()
    use = Fido2ActivityObserved(stage="used", ts=TS, credential_id="cred1", label="k", purpose="files")
    counts = []
    for n in (1, 2, 1, 3, 2):
        [ev] = decide(use, n, table)
        counts.append(ev.payload["usage_count"])
    assert counts == [1, 2, 2, 3, 3]  # redelivered 1 and 2 keep the count where it is


def test_the_queries_resolve() -> None:
    for name, params in (("fido2-backups", {}), ("fido2-key-last-used", {"label": "k"}),
                         ("encrypted-secrets", {"type": "any"})):  # fmt: skip
        cypher, p = resolve(name, params, TS)
        assert "$" in cypher and p

"""Backup events as graph operations: the job, its storage, the recovery point and its state."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.backups import project
from projections.graph_ops import UpsertNode, UpsertRel, validate
from schemas.envelope import Envelope
from schemas.events.backups import BackupCompleted, BackupEvent, BackupFailed, BackupVerified

T = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
BID = "log-20261204T020000Z-0a1b2c3d"


def env(p: BackupEvent) -> Envelope:
    return Envelope(
        id=f"e-{p.TYPE}", type=p.TYPE, schema_version=1, host="h1", source="t", ts=T, observed_at=T,
        subject=f"{p.job}/{p.backup_id}", payload=p.model_dump(mode="json"),
    )  # fmt: skip


def nodes(ops: list[UpsertNode | UpsertRel], label: str) -> dict[str, dict[str, object]]:
    return {o.key: dict(o.props) for o in ops if isinstance(o, UpsertNode) and o.label == label}


def test_a_completed_event_log_backup() -> None:
    p = BackupCompleted(job="log", backup_id=BID, kind="eventlog", storage="s3://b/p/", size=10, files=1,
                        bytes=20, checksum="s3-sha256:x", duration_s=1.0)  # fmt: skip
    ops = project(env(p), p)
    for op in ops:
        validate(op)
    point = nodes(ops, "RecoveryPoint")[BID]
    assert point["status"] == "completed" and point["size"] == 10 and point["created_at"] == T
    assert nodes(ops, "BackupJob")["h1/log"]["last_success"] == T
    rels = {(o.type, o.from_key, o.to_key) for o in ops if isinstance(o, UpsertRel)}
    assert ("STORED_IN", "h1/log", "s3://b/p/") in rels
    assert ("STORED_IN", BID, "s3://b/p/") in rels
    assert ("BACKED_UP", "h1/log", "h1/watchman-eventlog") in rels
    assert ("ACTED_ON", "e-BackupCompleted", BID) in rels


def test_failed_and_recovery_tested() -> None:
    f = BackupFailed(job="etc", backup_id=BID, kind="paths", error="boom")
    ops = project(env(f), f)
    assert nodes(ops, "RecoveryPoint")[BID]["status"] == "failed"
    assert nodes(ops, "BackupJob")["h1/etc"]["last_failure"] == T
    assert not any(isinstance(o, UpsertRel) and o.type == "BACKED_UP" for o in ops)
    v = BackupVerified(job="etc", backup_id=BID, files=1, bytes=2, recovery_test=True)
    point = nodes(project(env(v), v), "RecoveryPoint")[BID]
    assert point["tested"] is True and point["test_date"] == T and point["verified"] == "ok"

"""Project backup events into the graph (pure): the job, where it stores, and one RecoveryPoint per backup.

(:BackupJob)-[:CREATED]->(:RecoveryPoint)-[:STORED_IN]->(:StorageLocation)
(:BackupJob)-[:STORED_IN]->(:StorageLocation)   (:BackupJob)-[:RUNS_ON]->(:Host)
(:BackupJob)-[:BACKED_UP]->(:Database)          for the kinds that back up a database
(:Event)-[:ACTED_ON]->(:RecoveryPoint)          (:Event)-[:HAPPENED_ON]->(:Host)
"""

from __future__ import annotations

from typing import Any

from projections.graph_ops import GraphOp, UpsertNode, UpsertRel
from projections.projecting import Project, typed
from schemas.envelope import Envelope
from schemas.events.backups import (
    BACKUP_EVENTS,
    BackupCompleted,
    BackupEvent,
    BackupFailed,
    BackupPruned,
    BackupRestored,
    BackupStarted,
    BackupVerificationFailed,
    BackupVerified,
)

# The kinds that back up a database, and the Database node's name/engine for each.
DATABASES: dict[str, tuple[str, str]] = {
    "eventlog": ("watchman-eventlog", "sqlite"),
    "kafka": ("watchman-eventlog", "kafka"),
    "ladybug": ("watchman-graph", "ladybug"),
    "neo4j": ("neo4j", "neo4j"),
}
ACTION: dict[str, str] = {
    "BackupStarted": "backup-start",
    "BackupCompleted": "backup",
    "BackupFailed": "backup-fail",
    "BackupVerified": "verify",
    "BackupVerificationFailed": "verify-fail",
    "BackupRestored": "restore",
    "BackupPruned": "prune",
}


def job_key(host: str, job: str) -> str:
    return f"{host}/{job}"


def summary(event_type: str, p: BackupEvent) -> str:
    line = f"{ACTION.get(event_type, event_type)} {p.job} {p.backup_id}"
    if isinstance(p, BackupCompleted):
        line += f" ({p.files} files, {p.size} bytes stored)"
    elif isinstance(p, BackupFailed | BackupVerificationFailed):
        line += f": {p.error[:200]}"
    elif isinstance(p, BackupRestored):
        line += f" to {p.restored_to}"
    return line


def _point(event: Envelope, p: BackupEvent) -> dict[str, Any]:
    ts = event.ts
    props: dict[str, Any] = {"host": event.host, "job": p.job, "kind": p.kind, "updated_at": ts}
    if isinstance(p, BackupStarted):
        props |= {"status": "started", "started_at": ts}
    elif isinstance(p, BackupCompleted):
        props |= {
            "status": "completed", "created_at": ts, "size": p.size, "files": p.files, "bytes": p.bytes,
            "checksum": p.checksum,
        }  # fmt: skip
    elif isinstance(p, BackupFailed):
        props |= {"status": "failed", "error": p.error}
    elif isinstance(p, BackupVerified):
        props |= {"verified": "ok", "verified_at": ts}
        if p.recovery_test:
            props |= {"tested": True, "test_date": ts}
    elif isinstance(p, BackupVerificationFailed):
        props |= {"verified": "failed", "verified_at": ts, "error": p.error}
        if p.recovery_test:
            props |= {"tested": False, "test_date": ts}
    elif isinstance(p, BackupRestored):
        props |= {"restored_at": ts}
    elif isinstance(p, BackupPruned):
        props |= {"status": "pruned", "pruned_at": ts}
    return props


def project(event: Envelope, p: BackupEvent) -> list[GraphOp]:
    ts, host = event.ts, event.host
    jkey = job_key(host, p.job)
    job: dict[str, Any] = {"host": host, "name": p.job, "first_seen": ts, "last_seen": ts, "updated_at": ts}
    if p.kind:
        job["kind"] = p.kind
    if isinstance(p, BackupCompleted):
        job |= {"last_status": "completed", "last_success": ts}
    elif isinstance(p, BackupFailed):
        job |= {"last_status": "failed", "last_failure": ts}
    ops: list[GraphOp] = [
        UpsertNode("Host", host, {"name": host, "first_seen": ts, "last_seen": ts}),
        UpsertNode("BackupJob", jkey, job, ts=ts),
        UpsertRel("RUNS_ON", "BackupJob", jkey, "Host", host),
        UpsertNode("RecoveryPoint", p.backup_id, _point(event, p), ts=ts),
        UpsertRel("CREATED", "BackupJob", jkey, "RecoveryPoint", p.backup_id),
        UpsertNode(
            "Event",
            event.id,
            {
                "type": event.type,
                "ts": ts,
                "host": host,
                "action": ACTION.get(event.type, event.type),
                "subject": f"{p.job}/{p.backup_id}",
                "summary": summary(event.type, p),
            },
        ),
        UpsertRel("HAPPENED_ON", "Event", event.id, "Host", host),
        UpsertRel("ACTED_ON", "Event", event.id, "RecoveryPoint", p.backup_id),
    ]
    if p.storage:
        scheme = p.storage.split(":", 1)[0]
        ops += [
            UpsertNode("StorageLocation", p.storage, {"scheme": scheme, "first_seen": ts, "last_seen": ts}),
            UpsertRel("STORED_IN", "BackupJob", jkey, "StorageLocation", p.storage),
            UpsertRel("STORED_IN", "RecoveryPoint", p.backup_id, "StorageLocation", p.storage),
        ]
    if p.kind in DATABASES:
        name, engine = DATABASES[p.kind]
        dkey = f"{host}/{name}"
        ops += [
            UpsertNode(
                "Database",
                dkey,
                {"host": host, "name": name, "engine": engine, "first_seen": ts, "last_seen": ts},
            ),
            UpsertRel("BACKED_UP", "BackupJob", jkey, "Database", dkey),
        ]
    return ops


# Which domain event types this projection handles (projections/registry.py collects it).
_project = typed(BackupEvent, project)
PROJECTORS: dict[str, Project] = {cls.TYPE: _project for cls in BACKUP_EVENTS}

"""The backups domain's questions. A RecoveryPoint is one backup run: status completed, failed, started
(running, or interrupted) or pruned; `kind` is what it backs up (eventlog, ladybug, neo4j, paths, ...)."""

from __future__ import annotations

from projections.named import NamedQuery, Param, with_constants

QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "last-backup",
        "When was the last Neo4j backup? (the last completed backup of a kind: neo4j, eventlog, ladybug, "
        "paths, ...; all kinds with kind=any)",
        "MATCH (j:BackupJob)-[:CREATED]->(r:RecoveryPoint) "
        "WHERE r.status IN $kept AND ($kind = $every OR r.kind = $kind) "
        "RETURN r.kind AS kind, r.host AS host, j.name AS job, max(r.created_at) AS last_backup, "
        "count(r) AS backups ORDER BY kind, host, job",
        (Param("kind", str, "any", "neo4j, eventlog, ladybug, paths, docker-volume, ... or any"),),
        with_constants(kept=["completed"], every="any"),
    ),
    NamedQuery(
        "backups-last-week",
        "Show backups from last week (every run of the last N days, newest first; of one kind, or any)",
        "MATCH (j:BackupJob)-[:CREATED]->(r:RecoveryPoint) "
        "WHERE (r.started_at >= $since OR r.created_at >= $since) AND ($kind = $every OR r.kind = $kind) "
        "RETURN r.id AS id, j.name AS job, r.kind AS kind, r.host AS host, r.status AS status, "
        "r.started_at AS started_at, r.created_at AS created_at, r.size AS size, r.files AS files, "
        "r.verified AS verified, r.tested AS tested ORDER BY started_at DESC, id",
        (
            Param("days", int, 7, "look back this many days"),
            Param("kind", str, "any", "eventlog, paths, docker-volume, ... or any"),
        ),
        with_constants(every="any"),
    ),
    NamedQuery(
        "backups-failed",
        "Which backups failed in the last month? (runs that failed, and backups that failed verification)",
        "MATCH (j:BackupJob)-[:CREATED]->(r:RecoveryPoint)<-[:ACTED_ON]-(e:Event) "
        "WHERE e.type IN $failed AND e.ts >= $since "
        "RETURN e.ts AS ts, r.id AS id, j.name AS job, r.kind AS kind, r.host AS host, e.type AS failure, "
        "e.summary AS summary ORDER BY ts DESC, id",
        (Param("days", int, 30, "look back this many days"),),
        with_constants(failed=["BackupFailed", "BackupVerificationFailed"]),
    ),
    NamedQuery(
        "backups-total-size",
        "What's the total size of backups? (bytes stored by the backups not pruned, per job)",
        "MATCH (j:BackupJob)-[:CREATED]->(r:RecoveryPoint) WHERE r.status = $completed "
        "RETURN j.host AS host, j.name AS job, count(r) AS backups, sum(r.size) AS stored_bytes, "
        "sum(r.bytes) AS source_bytes ORDER BY host, job",
        (),
        with_constants(completed="completed"),
    ),
)

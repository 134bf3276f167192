"""The backup commands' executors: TriggerBackup, VerifyBackup, RestoreBackup, PruneBackups.

Each runs the job through watchman.backups.service and emits what it did, stage by stage, as
BackupActivityObserved records for watchman.raw.backups (ExecContext.emitted; the runner appends them
with the outcome in one transaction). Idempotent: a TriggerBackup's backup id comes from the command, and
a backup whose manifest is already stored is reported, not written again. Options (ExecContext.options
[TYPE], from watchman.domains.backups.executor_options): `settings` (BackupSettings) and `data_dir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import Gauge

from schemas.envelope import Envelope, event_id
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.backups import (
    RAW_BACKUPS,
    BackupActivityObserved,
    PruneBackups,
    RestoreBackup,
    TriggerBackup,
    VerifyBackup,
)
from watchman.executors import ExecContext, Outcome, executor
from watchman.metrics import REGISTRY
from watchman.secrets import redact

if TYPE_CHECKING:
    from watchman.backups.service import Job, Observe
    from watchman.bus.base import Bus

SOURCE = "watchman.executors.backups"

# `backup_job`, not `job`: Prometheus's own `job` label names the scrape target.
LAST_SUCCESS = Gauge(
    "watchman_backup_last_success_timestamp_seconds",
    "When the last backup of a job completed (Unix time); the alert WatchmanBackupMissing watches it.",
    ["backup_job", "kind"],
    registry=REGISTRY,
)
LAST_BYTES = Gauge(
    "watchman_backup_last_stored_bytes", "Bytes stored by a job's last backup.", ["backup_job", "kind"],
    registry=REGISTRY,
)  # fmt: skip
LAST_SECONDS = Gauge(
    "watchman_backup_last_duration_seconds", "How long a job's last backup took.", ["backup_job", "kind"],
    registry=REGISTRY,
)  # fmt: skip


def restore_metrics(log: Bus, host: str) -> int:
    """Set the gauges from the last completed backup of each job of `host`, so a restarted process
    reports the last success instead of nothing (the 26 h alert rule would see no series). Read from the
    domain topic (BackupCompleted, kept for ever) and the raw topic (what a CLI run appended and no
    processor has turned into an event yet). The number of jobs restored; a record that does not decode
    is skipped (the pipeline dead-letters it)."""
    from schemas.events import decode_payload
    from schemas.events.backups import EVENTS_BACKUPS, BackupCompleted
    from watchman.bus.base import UnknownTopic

    last: dict[tuple[str, str], tuple[float, int, float]] = {}  # (job, kind) -> (ts, size, duration)
    for topic in (EVENTS_BACKUPS.name, RAW_BACKUPS.name):
        try:
            starts = log.start_offsets(topic)
        except UnknownTopic:  # a log that never had it
            continue
        for partition in range(log.partitions(topic)):
            offset = starts.get(partition, 0)
            while records := log.read(topic, partition, offset, 1000):
                offset = records[-1].offset + 1
                for r in records:
                    if r.headers.get("type") not in (BackupCompleted.TYPE, BackupActivityObserved.TYPE):
                        continue
                    try:
                        env = Envelope.from_json(r.value)
                        p = decode_payload(env.type, env.schema_version, env.payload)
                    except Exception:
                        continue
                    if env.host != host:
                        continue
                    if isinstance(p, BackupCompleted):
                        seen = (env.ts.timestamp(), p.size, p.duration_s)
                    elif isinstance(p, BackupActivityObserved) and p.stage == "completed":
                        seen = (p.ts.timestamp(), p.size, p.duration_s)
                    else:
                        continue
                    key = (p.job, p.kind)
                    if seen[0] >= last.get(key, (float("-inf"), 0, 0.0))[0]:
                        last[key] = seen
    for (job, kind), (ts, size, duration) in last.items():
        LAST_SUCCESS.labels(job, kind).set(ts)
        LAST_BYTES.labels(job, kind).set(size)
        LAST_SECONDS.labels(job, kind).set(duration)
    return len(last)


def _measure(obs: BackupActivityObserved) -> None:
    if obs.stage == "completed":
        LAST_SUCCESS.labels(obs.job, obs.kind).set(obs.ts.timestamp())
        LAST_BYTES.labels(obs.job, obs.kind).set(obs.size)
        LAST_SECONDS.labels(obs.job, obs.kind).set(obs.duration_s)


def _job(command: Envelope, ctx: ExecContext, name: str) -> Job | Outcome:
    from watchman.backups.service import JobError, open_job
    from watchman.domains.backups import BackupSettings
    from watchman.storage import StorageError

    opts = ctx.options.get(command.type, {})
    backups = opts.get("settings")
    data_dir = opts.get("data_dir")
    if not isinstance(backups, BackupSettings) or not isinstance(data_dir, Path):
        return CommandRejected, f"no backup jobs are configured on {ctx.host}"
    try:
        job = open_job(backups, name, host=ctx.host, data_dir=data_dir)
    except (JobError, StorageError) as exc:
        return CommandRejected, redact(str(exc))
    except Exception as exc:  # a secret that cannot be had, a bad URL
        return CommandRejected, redact(f"{type(exc).__name__}: {exc}")
    graph_dir = opts.get("graph_dir")
    job.graph_dir = graph_dir if isinstance(graph_dir, Path) else None
    job.graph_copy = ctx.services.get("graph_copy")  # the daemon's graph, copied under its writer
    job.bus_url = str(opts.get("bus_url") or "")
    return job


def _observer(command: Envelope, ctx: ExecContext) -> Observe:
    def observe(obs: BackupActivityObserved) -> None:
        _measure(obs)
        extra = obs.backup_id if obs.stage != "pruned" else f"{obs.backup_id}/pruned"
        env = Envelope(
            id=event_id("backup-executor", command.id, obs.stage, extra),
            type=obs.TYPE,
            schema_version=obs.VERSION,
            host=ctx.host,
            source=SOURCE,
            ts=obs.ts,
            observed_at=ctx.now(),
            subject=obs.job,
            causation_id=command.id,
            correlation_id=command.correlation_id or command.id,
            payload=obs.model_dump(mode="json"),
        )
        ctx.emitted.append((RAW_BACKUPS.name, env))

    return observe


@executor(TriggerBackup.TYPE)
def trigger_backup(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.backups import service

    assert isinstance(payload, TriggerBackup)
    job = _job(command, ctx, payload.job)
    if not isinstance(job, service.Job):
        return job
    backup_id = service.backup_id_for(job.name, payload.slot or command.ts, command.id)
    observe = _observer(command, ctx)
    failed: list[str] = []

    def watch(obs: BackupActivityObserved) -> None:
        if obs.stage in ("failed", "verification_failed"):
            failed.append(obs.error)
        observe(obs)

    manifest = service.run_backup(job, backup_id, now=ctx.now, observe=watch, command_id=command.id)
    if manifest is None or failed:
        return CommandFailed, f"backup {backup_id} of {job.name}: {failed[0] if failed else 'failed'}"
    return (
        CommandSucceeded,
        f"backup {backup_id}: {manifest.files} files, {manifest.data['size']} bytes stored in {job.storage}",
    )


@executor(VerifyBackup.TYPE)
def verify_backup(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.backups import service

    assert isinstance(payload, VerifyBackup)
    job = _job(command, ctx, payload.job)
    if not isinstance(job, service.Job):
        return job
    errors: list[str] = []
    observe = _observer(command, ctx)

    def watch(obs: BackupActivityObserved) -> None:
        if obs.error:
            errors.append(obs.error)
        observe(obs)

    try:
        ok = service.verify(job, payload.backup_id, now=ctx.now, observe=watch, command_id=command.id,
                            recovery_test=payload.recovery_test)  # fmt: skip
    except service.JobError as exc:
        return CommandFailed, redact(str(exc))
    if not ok:
        return CommandFailed, f"verification of {payload.backup_id} failed: {errors[0] if errors else ''}"
    return CommandSucceeded, f"verified {payload.backup_id}"


@executor(RestoreBackup.TYPE)
def restore_backup(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.backups import archive, service

    assert isinstance(payload, RestoreBackup)
    job = _job(command, ctx, payload.job)
    if not isinstance(job, service.Job):
        return job
    try:
        result = service.restore(
            job, payload.backup_id, target_dir=payload.target_dir, in_place=payload.in_place,
            confirm=payload.confirm, now=ctx.now, observe=_observer(command, ctx),
            command_id=command.id,
        )  # fmt: skip
    except service.JobError as exc:
        return CommandRejected, redact(str(exc))
    except archive.VerificationError as exc:
        return CommandFailed, f"restore refused, nothing changed: {redact(str(exc))}"
    detail = f"restored {result.files} files of {payload.backup_id} to {result.restored_to}"
    if result.graph:
        detail += f"; graph rebuilt by replay of {result.replayed} events in {result.graph}"
    return CommandSucceeded, detail


@executor(PruneBackups.TYPE)
def prune_backups(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.backups import service

    assert isinstance(payload, PruneBackups)
    job = _job(command, ctx, payload.job)
    if not isinstance(job, service.Job):
        return job
    try:
        decisions = service.prune(job, dry_run=payload.dry_run, now=ctx.now,
                                  observe=_observer(command, ctx), command_id=command.id)  # fmt: skip
    except service.JobError as exc:
        return CommandRejected, redact(str(exc))
    removed = [d.snapshot.id for d in decisions if not d.keep]
    verb = "would remove" if payload.dry_run else "removed"
    return CommandSucceeded, f"kept {len(decisions) - len(removed)}, {verb} {len(removed)}"

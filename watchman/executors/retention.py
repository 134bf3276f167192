"""The retention commands' executors: ApplyRetention, ExemptRecords, RestoreArchive.

They read the graph through ExecContext.graph (the embedded daemon lends it; elsewhere they reject) and
report RetentionApplied / RetentionExempted / ArchiveRestored / RetentionFailed on watchman.raw.retention.
Idempotent: ids come from the command (and policy, archive part), and the time a purge is decided at is
the command's slot or time, so a command run again after a crash decides the same purge. An archive is
written and verified (read back: count and sha256) before the RetentionApplied that removes its records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.envelope import Envelope, event_id
from schemas.events import CommandFailed, CommandPayload, CommandRejected, CommandSucceeded
from schemas.events.base import EventPayload
from schemas.events.retention import (
    PURGE_CONFIRM,
    RAW_RETENTION,
    RESTORE_CONFIRM,
    ApplyRetention,
    ArchiveExpired,
    ArchiveRestored,
    ExemptRecords,
    RestoreArchive,
    RetentionApplied,
    RetentionExempted,
    RetentionFailed,
)
from schemas.graph import NODES
from watchman.executors import ExecContext, Outcome, executor
from watchman.secrets import Secrets, redact

SOURCE = "watchman.executors.retention"
RESTORE_PART = 2_000  # records per ArchiveRestored


def _emit(command: Envelope, ctx: ExecContext, payload: EventPayload, ts: datetime, *extra: object) -> None:
    env = Envelope(
        id=event_id("retention-executor", command.id, payload.TYPE, *extra),
        type=payload.TYPE,
        schema_version=payload.VERSION,
        host=ctx.host,
        source=SOURCE,
        ts=ts,
        observed_at=ctx.now(),
        subject=str(getattr(payload, "policy", "") or payload.TYPE),
        causation_id=command.id,
        correlation_id=command.correlation_id or command.id,
        payload=payload.model_dump(mode="json"),
    )
    ctx.emitted.append((RAW_RETENTION.name, env))


def _settings(command: Envelope, ctx: ExecContext) -> tuple[object, Path | None]:
    opts = ctx.options.get(command.type, {})
    data_dir = opts.get("data_dir")
    return opts.get("settings"), data_dir if isinstance(data_dir, Path) else None


def _target(url: str, data_dir: Path | None):  # type: ignore[no-untyped-def]
    from watchman.storage import open_target

    return open_target(url, Secrets((data_dir or Path(".")) / "secrets").resolve)


@executor(ApplyRetention.TYPE)
def apply_retention(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.domains.retention import RetentionSettings
    from watchman.retention import engine

    assert isinstance(payload, ApplyRetention)
    settings, data_dir = _settings(command, ctx)
    if not isinstance(settings, RetentionSettings) or not settings.enabled:
        return CommandRejected, f"retention is not enabled on {ctx.host}"
    if ctx.graph is None:
        return CommandRejected, "this process does not own the graph: retention runs in the embedded daemon"
    if not payload.dry_run and payload.confirm != PURGE_CONFIRM:
        return (
            CommandRejected,
            f'a purge removes records: confirm with "{PURGE_CONFIRM}" (or ask for dry_run)',
        )
    query = ctx.graph
    now = payload.slot or command.ts
    try:
        chosen = engine.policies(settings, payload.policy)
        exempt = engine.exemptions(query, settings)
    except engine.RetentionError as exc:
        return CommandRejected, str(exc)
    _config_exemptions(command, ctx, settings, query, now)
    lines: list[str] = []
    failed = False
    for name, policy in chosen:
        try:
            plan = engine.plan(query, settings, name, policy, now, exempt)
        except engine.RetentionError as exc:
            _emit(
                command,
                ctx,
                RetentionFailed(
                    policy=name, label=policy.label or name, error=str(exc), ts=now, command_id=command.id
                ),
                now,
                name,
            )
            lines.append(f"{name}: {exc}")
            failed = True
            continue
        base = {
            "policy": name,
            "label": plan.label,
            "action": plan.action,
            "dry_run": payload.dry_run,
            "ts": now,
            "time_property": plan.time_property,
            "cutoff": plan.cutoff,
            "oldest": plan.oldest,
            "newest": plan.newest,
            "kept": plan.kept,
            "command_id": command.id,
        }
        verb = "would remove" if payload.dry_run else "removed"
        if payload.dry_run or plan.action != "archive" or plan.records == 0:
            run_id = event_id("retention", command.id, name)
            _emit(
                command,
                ctx,
                RetentionApplied(
                    run_id=run_id,
                    **base,
                    exempt_keys=plan.exempt_keys,
                    exempt_ranges=plan.exempt_ranges,
                    records=plan.records,
                    bytes=plan.bytes,
                ),
                now,
                name,
            )
            lines.append(f"{name}: {verb} {plan.records} {plan.label} ({plan.bytes} bytes)")
            continue
        try:
            target = _target(settings.archive_url, data_dir)
            done = 0
            for part, page in enumerate(engine.records_to_archive(query, plan)):
                run_id = event_id("retention", command.id, name, part)
                key = f"retention/{plan.label}/{now:%Y%m%dT%H%M%SZ}-{name}-{run_id[:12]}.jsonl.gz"
                got = engine.write_archive(
                    target, key, plan.label, page, {"run_id": run_id, "policy": name, "host": ctx.host}
                )
                from watchman.storage import redact_url

                _emit(
                    command,
                    ctx,
                    RetentionApplied(
                        run_id=run_id,
                        **base,
                        keys=got.keys,
                        records=got.records,
                        bytes=got.bytes,
                        archive=key,
                        archive_url=redact_url(settings.archive_url),
                        archive_sha256=got.sha256,
                    ),
                    now,
                    name,
                    part,
                )
                done += got.records
            lines.append(f"{name}: archived and removed {done} {plan.label}")
        except Exception as exc:  # storage down, verification failed: nothing more is removed
            error = redact(f"{type(exc).__name__}: {exc}")
            _emit(
                command,
                ctx,
                RetentionFailed(
                    policy=name, label=plan.label, error=error[:2000], ts=now, command_id=command.id
                ),
                now,
                name,
                "failed",
            )
            lines.append(f"{name}: archive failed, nothing more removed: {error}")
            failed = True
    if not payload.dry_run and settings.archive_keep_days and settings.archive_url:
        try:
            n = _expire_archives(command, ctx, settings, data_dir, now)
            lines.append(f"{n} archive(s) older than {settings.archive_keep_days} days deleted")
        except Exception as exc:
            lines.append(f"archive expiry failed: {redact(f'{type(exc).__name__}: {exc}')}")
            failed = True
    return (CommandFailed if failed else CommandSucceeded), "; ".join(lines) or "no policies"


def _expire_archives(
    command: Envelope, ctx: ExecContext, settings: object, data_dir: Path | None, now: datetime
) -> int:
    """Delete the archives whose time (in their key) is older than archive_keep_days; their records
    stay removed (the rule is not lifted); the RetentionEvent says when its archive went."""
    import orjson

    from watchman.domains.retention import RetentionSettings

    assert isinstance(settings, RetentionSettings)
    target = _target(settings.archive_url, data_dir)
    limit = now - timedelta(days=settings.archive_keep_days)
    n = 0
    for info in list(target.list("retention/")):
        if not info.key.endswith(".jsonl.gz"):
            continue
        stamp = info.key.rsplit("/", 1)[-1].split("-", 1)[0]
        try:
            made = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue  # not an archive of ours
        if made >= limit:
            continue
        with target.get(info.key + ".manifest.json") as f:
            run_id = str(orjson.loads(f.read())["run_id"])
        target.delete(info.key)
        target.delete(info.key + ".manifest.json")
        _emit(
            command,
            ctx,
            ArchiveExpired(run_id=run_id, archive=info.key, ts=now, command_id=command.id),
            now,
            info.key,
        )
        n += 1
    return n


def _config_exemptions(
    command: Envelope, ctx: ExecContext, settings: object, query: object, now: datetime
) -> None:
    """The exemptions of watchman.toml, into the graph once each (an id from their content), so that every
    exemption in force is visible there, not only those added through the API."""
    from watchman.domains.retention import RetentionSettings

    assert isinstance(settings, RetentionSettings) and callable(query)
    if not settings.exemptions:
        return
    known = {r["id"] for r in query("MATCH (x:RetentionExemption) RETURN x.id AS id", {})}
    for e in settings.exemptions:
        xid = event_id("retention-exemption-config", e.label, e.key, e.tag, e.from_ts, e.to_ts, e.reason)
        if xid in known:
            continue
        ex = RetentionExempted(
            exemption_id=xid,
            label=e.label,
            key=e.key,
            tag=e.tag,
            from_ts=e.from_ts,
            to_ts=e.to_ts,
            reason=e.reason,
            ts=now,
            command_id=command.id,
        )
        _emit(command, ctx, ex, now, xid)


@executor(ExemptRecords.TYPE)
def exempt_records(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    assert isinstance(payload, ExemptRecords)
    if payload.label and payload.label not in NODES:
        return CommandRejected, f"unknown graph label {payload.label!r}"
    if not payload.key and (payload.from_ts is None or payload.to_ts is None):
        return CommandRejected, "an exemption names a record (label + key) or a date range (from_ts + to_ts)"
    if payload.key and not payload.label:
        return CommandRejected, "a record exemption names its label"
    ex = RetentionExempted(
        exemption_id=event_id("retention-exemption", command.id),
        label=payload.label,
        key=payload.key,
        tag=payload.tag,
        from_ts=payload.from_ts,
        to_ts=payload.to_ts,
        reason=payload.exemption_reason,
        ts=command.ts,
        command_id=command.id,
    )
    _emit(command, ctx, ex, command.ts)
    return CommandSucceeded, f"exemption {ex.exemption_id}"


@executor(RestoreArchive.TYPE)
def restore_archive(command: Envelope, payload: CommandPayload, ctx: ExecContext) -> Outcome:
    from watchman.domains.retention import RetentionSettings
    from watchman.retention import engine

    assert isinstance(payload, RestoreArchive)
    settings, data_dir = _settings(command, ctx)
    if not isinstance(settings, RetentionSettings) or not settings.archive_url:
        return CommandRejected, "no archive storage: set [retention] archive_url"
    if payload.confirm != RESTORE_CONFIRM:
        return CommandRejected, f'a restore writes records back: confirm with "{RESTORE_CONFIRM}"'
    try:
        manifest, records = engine.read_archive(_target(settings.archive_url, data_dir), payload.archive)
    except Exception as exc:
        return CommandFailed, redact(f"{type(exc).__name__}: {exc}")
    label = str(manifest["label"])
    parts = max(1, -(-len(records) // RESTORE_PART))
    for i in range(parts):
        chunk = tuple(records[i * RESTORE_PART : (i + 1) * RESTORE_PART])
        _emit(
            command,
            ctx,
            ArchiveRestored(
                run_id=str(manifest["run_id"]),
                archive=payload.archive,
                label=label,
                part=i,
                parts=parts,
                records=chunk,
                ts=command.ts,
                command_id=command.id,
            ),
            command.ts,
            i,
        )
    return CommandSucceeded, f"restored {len(records)} {label} from {payload.archive}"

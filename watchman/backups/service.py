"""What the backup executor and the CLI do with a job: back up, verify, restore, list and prune, reporting
each stage as a BackupActivityObserved (the executor emits them to watchman.raw.backups).

Objects of a job in its target: `<job>/<backup_id>/data.tar.zst.age` and `<job>/<backup_id>/manifest.json.age`
(archive.py), plus `keys/passphrase-identity.age` when a passphrase is used (keys.py). The backup id,
`<job>-<UTC time>-<8 hex>`, is derived from the command that asked for it, so a command run again after
a crash (executors run at least once) writes and reports the same backup.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.events.backups import BackupActivityObserved, Stage, in_place_phrase
from watchman.backups import archive, keys
from watchman.domains.backups import BackupJobSettings, BackupSettings, latest_marker
from watchman.keep import Decision, Duration, KeepPolicy, Snapshot, apply
from watchman.secrets import Secrets, redact
from watchman.storage import StorageTarget, open_target
from watchman.storage.base import CHUNK

Observe = Callable[[BackupActivityObserved], None]
ID_TIME = "%Y%m%dT%H%M%SZ"


# Where an event log backup holds the log (a restore under DIR gives DIR/watchman/log.sqlite + graph/).
EVENTLOG_DIR = "watchman"
EVENTLOG = f"{EVENTLOG_DIR}/log.sqlite"


class JobError(Exception):
    """A job that cannot run as configured (unknown, no keys, refused restore). Never holds a secret."""


@dataclass
class Job:
    name: str
    settings: BackupJobSettings
    target: StorageTarget
    host: str
    data_dir: Path
    secrets: Secrets
    scratch: Path
    # The embedded daemon lends a consistent copy of its graph (ExecContext.services["graph_copy"]: a
    # directory with graph.lbug and graph-counts.json, watchman/backups/graph.py); without it (the CLI
    # with no daemon) the job opens `graph_dir` itself.
    graph_copy: Callable[[], str] | None = None
    graph_dir: Path | None = None
    bus_url: str = ""  # kind kafka: the distributed deployment's bus (kafka://HOST:PORT)
    downtime_s: float = 0.0  # kind neo4j: set by the dump, reported with the completed backup
    # Opened keys, kept for the job's lifetime: a passphrase identity costs an scrypt run to open.
    _recipients: list[Any] | None = None
    _identities: list[Any] | None = None

    @property
    def storage(self) -> str:
        return self.target.describe()


def open_job(
    backups: BackupSettings, name: str, *, host: str, data_dir: Path, secrets: Secrets | None = None
) -> Job:
    job = backups.jobs.get(name)
    if job is None:
        known = ", ".join(sorted(backups.jobs)) or "none"
        raise JobError(f"no backup job {name!r} (configured: {known})")
    sec = secrets or Secrets(data_dir / "secrets")
    target = open_target(job.target, sec.resolve)
    scratch = backups.scratch_dir or data_dir / "tmp"
    return Job(name, job, target, host, data_dir, sec, scratch)


def backup_id_for(job: str, when: datetime, dedup: str) -> str:
    return f"{job}-{when.astimezone(UTC):{ID_TIME}}-{hashlib.sha256(dedup.encode()).hexdigest()[:8]}"


def time_of(backup_id: str) -> datetime:
    stamp = backup_id.rsplit("-", 2)[-2]
    return datetime.strptime(stamp, ID_TIME).replace(tzinfo=UTC)


def prefix(job: Job, backup_id: str) -> str:
    return f"{job.name}/{backup_id}"


def recipients(job: Job) -> list[Any]:
    if job._recipients is None:
        job._recipients = _recipients(job)
    return job._recipients


def _recipients(job: Job) -> list[Any]:
    out = [keys.parse_recipient(r) for r in job.settings.recipients]
    if job.settings.passphrase:
        out.append(keys.passphrase_recipient(job.target, job.secrets.resolve(job.settings.passphrase)))
    if not out:
        raise JobError(f"job {job.name}: no recipients and no passphrase: backups are always encrypted")
    return out


def identities(job: Job) -> list[Any]:
    if job._identities is None:
        job._identities = _identities(job)
    return job._identities


def add_identities(job: Job, extra: list[Any]) -> None:
    """Identities opened elsewhere for this job's verify/restore (a FIDO2 key's, after its touch): they
    are tried first, and the configured identity_file/passphrase are not needed then."""
    job._identities = [*extra, *(job._identities or [])]


def _identities(job: Job) -> list[Any]:
    out: list[Any] = []
    if job.settings.identity_file is not None:
        out.extend(keys.read_identity_file(job.settings.identity_file))
    if job.settings.passphrase:
        out.append(keys.passphrase_identity(job.target, job.secrets.resolve(job.settings.passphrase)))
    if not out:
        raise JobError(f"job {job.name}: no identity_file and no passphrase: cannot open its backups")
    return out


def _obs(
    job: Job, stage: Stage, backup_id: str, now: datetime, command_id: str, **fields: Any
) -> BackupActivityObserved:
    if "error" in fields:
        fields["error"] = redact(str(fields["error"]))[:2000]
    return BackupActivityObserved(
        stage=stage, ts=now, job=job.name, backup_id=backup_id, kind=job.settings.kind, storage=job.storage,
        command_id=command_id, **fields,
    )  # fmt: skip


@contextlib.contextmanager
def _inputs(job: Job) -> Iterator[Iterable[archive.Item | archive.TarItem]]:
    s = job.settings
    if s.kind == "paths":
        paths = s.paths
        if s.modified_within_days:
            since = time.time() - s.modified_within_days * 86400
            paths = tuple(d for root in s.paths for d in active_subdirs(root, since, s.exclude))
        yield archive.walk(paths, s.exclude)
    elif s.kind == "eventlog":
        with eventlog_copy(job) as copy:
            yield [archive.Item(EVENTLOG, copy)]
    elif s.kind == "docker-volume":
        with docker_volumes(job) as items:
            yield items
    elif s.kind == "neo4j":
        with neo4j_dump(job) as dump:
            yield [archive.Item(f"neo4j/{dump.name}", dump)]
    elif s.kind == "kafka":
        from watchman.backups import topics

        bus = _open_kafka(job)
        try:
            with topics.export(bus, job.scratch) as exported:
                yield [
                    archive.Item(str(f.relative_to(exported)), f)
                    for f in sorted((exported / topics.ROOT).rglob("*"))
                    if f.is_file()
                ]
        finally:
            bus.close()
    elif s.kind == "ladybug":
        from watchman.backups import graph

        if job.graph_copy is not None:
            copy = Path(job.graph_copy())
        else:
            copy = graph.copy_directory(job.graph_dir or job.data_dir / "graph", job.scratch)
        try:
            yield [
                archive.Item(graph.GRAPH_FILE, copy / "graph.lbug"),
                archive.Item(graph.COUNTS_FILE, copy / "graph-counts.json"),
            ]
        finally:
            shutil.rmtree(copy, ignore_errors=True)
    else:
        raise JobError(f"job {job.name}: kind {s.kind!r} is not supported by this build")


def active_subdirs(root: Path, since: float, excludes: Iterable[str] = ()) -> list[Path]:
    """The subdirectories of `root` holding a file modified after `since` (Unix time), in name order;
    each walk stops at the first such file."""
    import fnmatch

    pats = list(excludes)
    out = []
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    for d in subdirs:
        if any(fnmatch.fnmatch(str(d), pat) or fnmatch.fnmatch(d.name, pat) for pat in pats):
            continue
        for dirpath, _dirs, files in os.walk(d):
            if any(_mtime(Path(dirpath) / f) > since for f in files):
                out.append(d)
                break
    return out


def _mtime(p: Path) -> float:
    try:
        return p.lstat().st_mtime
    except OSError:
        return 0.0


@contextlib.contextmanager
def docker_volumes(job: Job) -> Iterator[list[archive.Item | archive.TarItem]]:
    """Each volume through the Docker API: a throwaway container (never started, no network) mounts it
    read-only and the engine streams its files out as a tar (GET /containers/{id}/archive)."""
    import docker

    s = job.settings
    if not s.volumes:
        raise JobError(f"job {job.name}: kind docker-volume needs volumes = [...]")
    client = docker.DockerClient(base_url=s.docker_url, timeout=60)
    made: list[Any] = []

    def opener(volume: str) -> Callable[[], Iterable[bytes]]:
        def open_stream() -> Iterable[bytes]:
            c = client.containers.create(
                s.helper_image, command=["true"], network_disabled=True,
                volumes={volume: {"bind": "/volume", "mode": "ro"}},
                labels={"org.thewatchman.backup": job.name},
            )  # fmt: skip
            made.append(c)
            bits, _stat = c.get_archive("/volume", chunk_size=CHUNK)
            return bits  # type: ignore[no-any-return]

        return open_stream

    try:
        for v in s.volumes:
            client.volumes.get(v)  # a missing volume fails the backup before anything is written
        yield [archive.TarItem(f"docker-volume/{v}", opener(v)) for v in s.volumes]
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                c.remove(force=True)
        client.close()


@contextlib.contextmanager
def eventlog_copy(job: Job) -> Iterator[Path]:
    """A consistent copy of the embedded event log (SQLite's online backup API: readers and the writer
    go on meanwhile), in a private scratch dir removed afterwards: the one local copy the stream needs."""
    src = job.data_dir / "log.sqlite"
    if not src.exists():
        raise JobError(f"no event log at {src}")
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="eventlog-", dir=job.scratch))
    try:
        dst = tmp / "log.sqlite"
        with (
            contextlib.closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as a,
            contextlib.closing(sqlite3.connect(dst)) as b,
        ):
            a.backup(b, pages=4096)
        yield dst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_backup(
    job: Job,
    backup_id: str,
    *,
    now: Callable[[], datetime],
    observe: Observe,
    command_id: str = "",
    progress: archive.Progress | None = None,
) -> archive.Manifest | None:
    """Write one backup (then verify it if the job says so). Reports started and completed/failed; returns
    the manifest, or None if it failed (the failure is reported, not raised)."""
    existing = _manifest_if_done(job, backup_id)
    if existing is not None:  # this command already ran to completion before a crash
        observe(_completed(job, existing, now(), command_id, 0.0))
        return existing
    started = now()
    observe(_obs(job, "started", backup_id, started, command_id))
    t0 = time.monotonic()
    try:
        with _inputs(job) as items:
            manifest = archive.create(
                job.target,
                prefix(job, backup_id),
                items,
                recipients(job),
                backup_id=backup_id,
                kind=job.settings.kind,
                host=job.host,
                created_at=started.isoformat(),
                level=job.settings.compression_level,
                progress=progress,
            )
    except Exception as exc:
        observe(_obs(job, "failed", backup_id, now(), command_id, error=f"{type(exc).__name__}: {exc}",
                     duration_s=round(time.monotonic() - t0, 3)))  # fmt: skip
        return None
    observe(_completed(job, manifest, now(), command_id, round(time.monotonic() - t0, 3)))
    if job.settings.verify:
        verify(job, backup_id, now=now, observe=observe, command_id=command_id)
    return manifest


def _completed(
    job: Job, m: archive.Manifest, ts: datetime, command_id: str, duration: float
) -> BackupActivityObserved:
    return _obs(
        job, "completed", m.id, ts, command_id, size=int(m.data["size"]), files=m.files, bytes=m.bytes,
        checksum=str(m.data["checksum"]), duration_s=duration,
        created_at=datetime.fromisoformat(m.created_at), downtime_s=job.downtime_s,
    )  # fmt: skip


def _manifest_if_done(job: Job, backup_id: str) -> archive.Manifest | None:
    if job.target.stat(f"{prefix(job, backup_id)}/{archive.MANIFEST}") is None:
        return None
    return archive.read_manifest(job.target, prefix(job, backup_id), identities(job))


def completed_ids(job: Job) -> list[str]:
    """The backups of the job in its target that are whole (have a manifest), oldest first."""
    ids = {
        o.key.split("/")[1]
        for o in job.target.list(f"{job.name}/")
        if o.key.count("/") == 2 and o.key.endswith("/" + archive.MANIFEST)
    }
    return sorted(ids, key=lambda i: (time_of(i), i))


def resolve_id(job: Job, backup_id: str) -> str:
    if backup_id == latest_marker(job.name) or backup_id == "latest":
        ids = completed_ids(job)
        if not ids:
            raise JobError(f"job {job.name} has no completed backup in {job.storage}")
        return ids[-1]
    return backup_id


def verify(
    job: Job,
    backup_id: str,
    *,
    now: Callable[[], datetime],
    observe: Observe,
    command_id: str = "",
    recovery_test: bool = False,
    progress: archive.Progress | None = None,
) -> bool:
    backup_id = resolve_id(job, backup_id)
    t0 = time.monotonic()
    try:
        m = archive.read_manifest(job.target, prefix(job, backup_id), identities(job))
        result = archive.check(job.target, m, identities(job), progress=progress)
        if m.kind == "eventlog":
            _check_eventlog(job, m)
        elif m.kind == "ladybug":
            _check_ladybug(job, m)
        elif m.kind == "kafka":
            _check_topics(job, m)
        elif m.kind == "neo4j":
            _check_neo4j(job, m)
    except (archive.VerificationError, keys.KeyError_, archive.BackupError, Exception) as exc:
        observe(_obs(job, "verification_failed", backup_id, now(), command_id, error=f"{exc}",
                     recovery_test=recovery_test))  # fmt: skip
        return False
    observe(_obs(job, "verified", backup_id, now(), command_id, files=result.files, bytes=result.bytes,
                 recovery_test=recovery_test, duration_s=round(time.monotonic() - t0, 3)))  # fmt: skip
    return True


def _check_eventlog(job: Job, m: archive.Manifest) -> None:
    """An event log backup also opens: restored to scratch, SQLite's integrity check passes, and its domain
    records replay into a scratch graph, every one of them (the graph is rebuilt from exactly this)."""
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="verify-", dir=job.scratch))
    try:
        archive.check(job.target, m, identities(job), restore_to=tmp)
        _integrity(tmp / EVENTLOG)
        _replay_counts(tmp / "watchman/log.sqlite", tmp / "graph")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(job: Job, what: str, argv: Iterable[str]) -> str:
    """Run one of the job's commands; JobError (with the output's tail) unless it exits 0."""
    import subprocess

    args = list(argv)
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=job.settings.command_timeout,
                              stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobError(f"{what}: {type(exc).__name__}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise JobError(f"{what} exited {proc.returncode}: {' | '.join(tail)[:500]}")
    return proc.stdout


@contextlib.contextmanager
def neo4j_dump(job: Job) -> Iterator[Path]:
    """stop -> `neo4j-admin database dump` -> start (start also after a failed dump); the dump file in a
    private scratch directory, removed afterwards. `job.downtime_s`: from the stop to the start's end."""
    s = job.settings
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="neo4j-", dir=job.scratch))
    try:
        t0 = time.monotonic()
        try:
            if s.stop_command:
                _run(job, "stop_command", s.stop_command)
            _run(job, "neo4j-admin database dump",
                 [*s.neo4j_admin, "database", "dump", s.database, f"--to-path={tmp}",
                  "--overwrite-destination=true"])  # fmt: skip
        finally:
            if s.start_command:
                _run(job, "start_command", s.start_command)
            job.downtime_s = round(time.monotonic() - t0, 3)
        dump = tmp / f"{s.database}.dump"
        if not dump.is_file():
            raise JobError(f"neo4j-admin wrote no {dump.name}")
        yield dump
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _neo4j_in_place(
    job: Job,
    backup_id: str,
    *,
    confirm: str,
    now: Callable[[], datetime],
    observe: Observe,
    command_id: str,
    progress: archive.Progress | None,
) -> archive.CheckResult:
    """Load a dump into the live database: the dump is restored and checked in a private scratch
    directory first (nothing is stopped for a backup that does not verify), then stop ->
    `neo4j-admin database load --overwrite-destination=true` -> start (start also after a failed load).
    The projector's position lives in the graph, so a projector started again resumes from the dump's
    position and projects what came after it from the log."""
    if confirm != in_place_phrase(backup_id):
        raise JobError(
            f"loading a dump replaces the live Neo4j database: confirm with {in_place_phrase(backup_id)!r}"
        )
    s = job.settings
    if not s.stop_command or not s.start_command:
        raise JobError("loading a dump in place needs the job's stop_command and start_command")
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="load-", dir=job.scratch))
    try:
        m = archive.read_manifest(job.target, prefix(job, backup_id), identities(job))
        result = archive.check(job.target, m, identities(job), restore_to=tmp, progress=progress)
        t0 = time.monotonic()
        try:
            _run(job, "stop_command", s.stop_command)
            _run(job, "neo4j-admin database load",
                 [*s.neo4j_admin, "database", "load", s.database, f"--from-path={tmp / 'neo4j'}",
                  "--overwrite-destination=true"])  # fmt: skip
        finally:
            _run(job, "start_command", s.start_command)
            job.downtime_s = round(time.monotonic() - t0, 3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    observe(_obs(job, "restored", backup_id, now(), command_id, files=result.files, bytes=result.bytes,
                 restored_to=f"neo4j:{s.database}", in_place=True, downtime_s=job.downtime_s))  # fmt: skip
    return result


def _check_neo4j(job: Job, m: archive.Manifest) -> None:
    """A dump also passes Neo4j's own consistency check, run on the restored dump (not the live database)."""
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="verify-", dir=job.scratch))
    try:
        archive.check(job.target, m, identities(job), restore_to=tmp)
        (tmp / "check").mkdir()
        s = job.settings
        try:
            _run(job, "neo4j-admin database check",
                 [*s.neo4j_admin, "database", "check", s.database, f"--from-path={tmp / 'neo4j'}",
                  f"--temp-path={tmp / 'check'}", f"--report-path={tmp / 'check'}"])  # fmt: skip
        except JobError as exc:
            raise archive.VerificationError(str(exc)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _open_kafka(job: Job) -> Any:
    from urllib.parse import urlparse

    from watchman.bus.kafka import KafkaBus

    parsed = urlparse(job.bus_url)
    if parsed.scheme != "kafka" or not parsed.netloc:
        raise JobError(
            f"job {job.name}: kind kafka backs up the distributed deployment's bus (bus = kafka://…)"
        )
    return KafkaBus(parsed.netloc)


def _topics_to_log(root: Path, log_path: Path) -> int:
    """Load exported topics into an embedded log at `log_path` (created); the records loaded."""
    from schemas.topics import TOPICS
    from watchman.backups import topics
    from watchman.bus.sqlite_log import SqliteLog

    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = SqliteLog(log_path)
    try:
        log.ensure_topics(TOPICS.values())
        return topics.load(root, log)
    except topics.TopicsError as exc:
        raise archive.VerificationError(str(exc)) from None
    finally:
        log.close()


def _check_topics(job: Job, m: archive.Manifest) -> None:
    """A topics backup also loads: its segments agree with their index, and loaded into a scratch log
    every record replays into a scratch graph (the graph is rebuilt from exactly this)."""
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="verify-", dir=job.scratch))
    try:
        archive.check(job.target, m, identities(job), restore_to=tmp)
        _topics_to_log(tmp, tmp / "log.sqlite")
        _replay_counts(tmp / "log.sqlite", tmp / "graph")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_ladybug(job: Job, m: archive.Manifest) -> None:
    """A graph backup also opens: restored to scratch, its counts equal those the live graph held."""
    from watchman.backups import graph

    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="verify-", dir=job.scratch))
    try:
        archive.check(job.target, m, identities(job), restore_to=tmp)
        try:
            graph.check_restored(tmp)
        except (graph.GraphCopyError, OSError, ValueError, RuntimeError) as exc:
            raise archive.VerificationError(f"{type(exc).__name__}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _integrity(log_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{log_path}?mode=ro", uri=True)) as db:
        (ok,) = db.execute("PRAGMA integrity_check").fetchone()
        if ok != "ok":
            raise archive.VerificationError(f"the event log copy fails SQLite's integrity check: {ok}")


def _replay_counts(log_path: Path, graph_path: Path) -> None:
    from projections.stores.ladybug import LadybugStore
    from schemas.topics import DOMAIN_TOPICS
    from watchman.bus.sqlite_log import SqliteLog
    from watchman.replay import domain_backlog, rebuild

    log = SqliteLog(log_path, read_only=True)
    try:
        expected = domain_backlog(log)
        with LadybugStore(graph_path) as graph:
            graph.ensure_schema()
            replayed = rebuild(log, graph)
            applied = graph.positions()
        known = {t.name for t in DOMAIN_TOPICS}
        if replayed != expected or any(name.split("/")[0] not in known for name in applied):
            raise archive.VerificationError(
                f"the event log copy replays {replayed} of its {expected} domain records into a scratch graph"
            )
    finally:
        log.close()


def restore(
    job: Job,
    backup_id: str,
    *,
    target_dir: str,
    in_place: bool,
    confirm: str,
    now: Callable[[], datetime],
    observe: Observe,
    command_id: str = "",
    progress: archive.Progress | None = None,
) -> archive.CheckResult:
    """Restore under `target_dir`, or in place with the confirmation phrase. An event log restored under a
    directory comes with its graph: `<dir>/watchman/` is then a data directory (log.sqlite and graph/,
    rebuilt by replay). The event log in place: `restore_eventlog_in_place`, with the daemon stopped."""
    backup_id = resolve_id(job, backup_id)
    if in_place and job.settings.kind == "eventlog":
        raise JobError(
            "the event log is not restored in place while the daemon holds it: stop the daemon, then "
            f"`watchman backup restore {backup_id} --in-place --confirm '{in_place_phrase(backup_id)}'` "
            "replaces the log and rebuilds the graph by replay (or restore it --to a directory)"
        )
    if in_place and job.settings.kind == "neo4j":
        return _neo4j_in_place(job, backup_id, confirm=confirm, now=now, observe=observe,
                               command_id=command_id, progress=progress)  # fmt: skip
    if in_place and job.settings.kind == "ladybug":
        raise JobError(
            "the graph is not restored in place (the daemon holds it, and the event log rebuilds it: "
            "`watchman replay`): restore it --to a directory; DIR/watchman/graph is a graph directory"
        )
    if in_place and job.settings.kind == "kafka":
        return _topics_in_place(job, backup_id, confirm=confirm, now=now, observe=observe,
                                command_id=command_id, progress=progress)  # fmt: skip
    if in_place:
        if confirm != in_place_phrase(backup_id):
            raise JobError(
                f"an in-place restore overwrites live files: confirm with {in_place_phrase(backup_id)!r}"
            )
        dest = Path("/")
    else:
        if not target_dir:
            raise JobError("give a target directory (or restore in place with the confirmation phrase)")
        dest = Path(target_dir)
    m = archive.read_manifest(job.target, prefix(job, backup_id), identities(job))
    result = archive.check(
        job.target, m, identities(job), restore_to=dest, overwrite=in_place, progress=progress
    )
    if m.kind == "eventlog":
        graph_dir = dest / EVENTLOG_DIR / "graph"
        result = replace(result, replayed=_replay(dest / EVENTLOG, graph_dir), graph=str(graph_dir))
    elif m.kind == "kafka":  # the topics become an embedded data directory: log + graph
        _topics_to_log(dest, dest / EVENTLOG)
        graph_dir = dest / EVENTLOG_DIR / "graph"
        result = replace(result, replayed=_replay(dest / EVENTLOG, graph_dir), graph=str(graph_dir))
    observe(_obs(job, "restored", backup_id, now(), command_id, files=result.files, bytes=result.bytes,
                 restored_to=str(dest), in_place=in_place))  # fmt: skip
    return result


def _topics_in_place(
    job: Job,
    backup_id: str,
    *,
    confirm: str,
    now: Callable[[], datetime],
    observe: Observe,
    command_id: str,
    progress: archive.Progress | None,
) -> archive.CheckResult:
    """Produce a topics backup back into the same Kafka topics, which must be empty (a lost broker, or
    topics deleted on purpose): the whole backup is checked in scratch first, then loaded; the projector
    (`watchman project`, or `watchman replay --yes`) rebuilds the graph from them."""
    from watchman.backups import topics

    if confirm != in_place_phrase(backup_id):
        raise JobError(
            f"an in-place restore writes into the live topics: confirm with {in_place_phrase(backup_id)!r}"
        )
    m = archive.read_manifest(job.target, prefix(job, backup_id), identities(job))
    job.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix="restore-", dir=job.scratch))
    try:
        result = archive.check(job.target, m, identities(job), restore_to=tmp, progress=progress)
        bus = _open_kafka(job)
        try:
            loaded = topics.load(tmp, bus, require_empty=True)
        except topics.TopicsError as exc:
            raise JobError(str(exc)) from None
        finally:
            bus.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = replace(result, restored_to=job.bus_url, replayed=loaded)
    observe(_obs(job, "restored", backup_id, now(), command_id, files=result.files, bytes=result.bytes,
                 restored_to=job.bus_url, in_place=True))  # fmt: skip
    return result


def _replay(log_path: Path, graph_dir: Path) -> int:
    """The graph of a restored event log, by replay into a LadybugDB directory; the records replayed."""
    from projections.stores.ladybug import LadybugStore
    from watchman.bus.sqlite_log import SqliteLog
    from watchman.replay import rebuild

    log = SqliteLog(log_path)
    try:
        with LadybugStore(graph_dir) as graph:
            return rebuild(log, graph)
    finally:
        log.close()


def restore_eventlog_in_place(
    job: Job,
    backup_id: str,
    *,
    graph_url: str,
    confirm: str,
    now: Callable[[], datetime],
    observe: Observe,
    command_id: str = "",
    progress: archive.Progress | None = None,
) -> archive.CheckResult:
    """Put an event log backup in place of the live log and rebuild the graph from it by replay.

    The caller holds the data directory's lock (no daemon runs). Nothing live changes until the backup
    decrypted, matched its manifest and passed SQLite's integrity check in a staging directory beside
    the log; then the live log (with its -wal/-shm) is kept as `log.sqlite.before-<backup_id>`, the
    restored one renamed into place, and the graph rebuilt beside the live one and swapped in (the old
    one kept as `<graph>.previous`, watchman/replay.py).
    """
    from watchman.bus.sqlite_log import SqliteLog
    from watchman.replay import replay_into_place

    backup_id = resolve_id(job, backup_id)
    if job.settings.kind != "eventlog":
        raise JobError(f"job {job.name} is not an event log backup ({job.settings.kind})")
    if confirm != in_place_phrase(backup_id):
        raise JobError(
            f"an in-place restore replaces the event log: confirm with {in_place_phrase(backup_id)!r}"
        )
    live = job.data_dir / "log.sqlite"
    m = archive.read_manifest(job.target, prefix(job, backup_id), identities(job))
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=job.data_dir))  # same filesystem: rename
    try:
        result = archive.check(job.target, m, identities(job), restore_to=staging, progress=progress)
        _integrity(staging / EVENTLOG)
        kept = live.with_name(f"{live.name}.before-{backup_id}")
        for suffix in ("", "-wal", "-shm"):
            old = live.with_name(live.name + suffix)
            if old.exists():
                old.rename(kept.with_name(kept.name + suffix))
        (staging / EVENTLOG).rename(live)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log = SqliteLog(live)
    try:
        store, replayed = replay_into_place(log, graph_url, None)
        store.close()
    finally:
        log.close()
    result = replace(result, restored_to=str(live), replayed=replayed, graph=graph_url)
    observe(_obs(job, "restored", backup_id, now(), command_id, files=result.files, bytes=result.bytes,
                 restored_to=str(live), in_place=True))  # fmt: skip
    return result


def keep_policy(job: Job) -> KeepPolicy:
    k = job.settings.keep
    d = Duration.parse
    return KeepPolicy(
        last=k.last, hourly=k.hourly, daily=k.daily, weekly=k.weekly, monthly=k.monthly, yearly=k.yearly,
        within=d(k.within) if k.within else Duration(),
        within_hourly=d(k.within_hourly) if k.within_hourly else Duration(),
        within_daily=d(k.within_daily) if k.within_daily else Duration(),
        within_weekly=d(k.within_weekly) if k.within_weekly else Duration(),
        within_monthly=d(k.within_monthly) if k.within_monthly else Duration(),
        within_yearly=d(k.within_yearly) if k.within_yearly else Duration(),
    )  # fmt: skip


def prune(
    job: Job, *, dry_run: bool, now: Callable[[], datetime], observe: Observe, command_id: str = ""
) -> list[Decision]:
    """Apply the keep rules to the job's completed backups; delete the others unless dry_run."""
    policy = keep_policy(job)
    if policy.empty():
        raise JobError(
            f"job {job.name} has no keep rules: nothing is pruned (set [backups.jobs.{job.name}.keep])"
        )
    snaps = [Snapshot(i, time_of(i)) for i in completed_ids(job)]
    decisions = apply(snaps, policy, now())
    if not dry_run:
        for d in decisions:
            if d.keep:
                continue
            bid = d.snapshot.id
            # The manifest first: from then on the backup no longer counts as whole, whatever happens next.
            job.target.delete(f"{prefix(job, bid)}/{archive.MANIFEST}")
            job.target.delete(f"{prefix(job, bid)}/{archive.DATA}")
            observe(_obs(job, "pruned", bid, now(), command_id, reasons=(f"not kept by {policy}",)))
    return decisions

"""`watchman backup run|list|verify|restore|prune`: the backups domain's commands.

While `watchman run` is running, run/verify/restore/prune go to it as commands (the admin API), and the
CLI waits for the outcome. Otherwise the CLI does the work itself, with a progress bar, and appends what
it did to the event log, so the daemon's next start puts it in the graph. `list` and `prune --dry-run`
read the job's storage directly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from watchman.cli.common import EXIT_BUSY, EXIT_OK, err, fail, get_settings, out

if TYPE_CHECKING:
    from schemas.events.backups import BackupActivityObserved
    from watchman.backups.service import Job

app = typer.Typer(
    help="Backups: run a job, list, verify, restore and prune its backups (encrypted with age).\n\n"
    "\b\nExamples:\n"
    "  watchman backup run etc                 # back up job [backups.jobs.etc] now\n"
    "  watchman backup list etc\n"
    "  watchman backup verify etc-20261204T020000Z-1a2b3c4d\n"
    "  watchman backup restore etc-20261204T020000Z-1a2b3c4d --to /tmp/restore\n"
    "  watchman backup prune etc --dry-run     # what the keep rules keep, and why",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _job(name: str) -> Job:
    from watchman.backups.service import JobError, open_job
    from watchman.storage import StorageError

    s = get_settings()
    try:
        job = open_job(s.backups, name, host=s.host, data_dir=s.data_dir)
    except (JobError, StorageError) as exc:
        raise fail(str(exc)) from None
    if s.graph_url.startswith("ladybug://"):
        from watchman.wiring import graph_path

        job.graph_dir = graph_path(s.graph_url)  # a ladybug job without a daemon copies it itself
    job.bus_url = s.bus_url
    return job


def _job_of(backup_id: str) -> str:
    return backup_id.rsplit("-", 2)[0]


def _daemon() -> Any:
    from watchman.api_client import ApiClient

    return ApiClient.connect(get_settings())


def _await(api: Any, accepted: dict[str, Any]) -> int:
    """Wait for a command's outcome; its exit code."""
    url = accepted["status_url"]
    with err.status(
        f"{accepted['type']} sent to the running daemon ({accepted['command_id'][:12]}); waiting"
    ):
        while True:
            state = api.get(url)
            if state["status"] != "pending":
                break
            time.sleep(0.5)
    line = f"{state['status']}: {state.get('detail') or ''}"
    if state["status"] == "succeeded":
        out.print(line, highlight=False)
        return EXIT_OK
    err.print(line, highlight=False)
    return 1


class _Recorder:
    """Appends what the CLI did, as the executor would, to the event log (when no daemon holds it)."""

    def __init__(self) -> None:
        self.observed: list[BackupActivityObserved] = []

    def __call__(self, obs: BackupActivityObserved) -> None:
        self.observed.append(obs)
        if obs.stage in ("failed", "verification_failed"):
            err.print(f"[red]{obs.stage}[/red] {obs.backup_id}: {obs.error}", highlight=False)

    def save(self) -> None:
        from schemas.envelope import Envelope, event_id
        from schemas.events.backups import RAW_BACKUPS
        from schemas.topics import TOPICS
        from watchman.bus.sqlite_log import SqliteLog
        from watchman.pipeline import envelope_record

        s = get_settings()
        if not self.observed or s.deployment != "embedded":
            return
        log = SqliteLog(s.data_dir / "log.sqlite")
        try:
            log.ensure_topics(TOPICS.values())
            now = datetime.now(UTC)
            envs = [
                Envelope(
                    id=event_id("backup-cli", o.backup_id, o.stage, o.ts.isoformat()),
                    type=o.TYPE,
                    schema_version=o.VERSION,
                    host=s.host,
                    source="watchman.cli.backups",
                    ts=o.ts,
                    observed_at=now,
                    subject=o.job,
                    payload=o.model_dump(mode="json"),
                )
                for o in self.observed
            ]
            with log.transaction():
                log.append(RAW_BACKUPS.name, [envelope_record(e) for e in envs])
        finally:
            log.close()


def _bytes_progress(what: str) -> tuple[Any, Any]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    p = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                 TextColumn("{task.fields[files]} files"), console=err)  # fmt: skip
    task = p.add_task(what, total=None, files=0)

    def update(done: int, files: int) -> None:
        p.update(task, completed=done, files=files)

    return p, update


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("run")
def run(job: Annotated[str, typer.Argument(help="the job's name ([backups.jobs.NAME])")]) -> None:
    """Back up a job now: tar -> zstd -> age -> its storage target, then verify it.

    \b
    Example:  watchman backup run etc
    """
    api = _daemon()
    if api is not None:
        raise typer.Exit(_await(api, api.post("/admin/backup/trigger", {"job": job})))
    from watchman.backups import service

    j = _job(job)
    now = _now()
    backup_id = service.backup_id_for(j.name, now, f"cli/{now.isoformat()}")
    rec = _Recorder()
    progress, update = _bytes_progress(f"backup {job}")
    with progress:
        manifest = service.run_backup(j, backup_id, now=_now, observe=rec, progress=update)
    rec.save()
    if manifest is None or any(o.stage.endswith("failed") for o in rec.observed):
        raise typer.Exit(1)
    out.print(f"{backup_id}: {manifest.files} files, {manifest.bytes} bytes -> {manifest.data['size']} bytes "
              f"stored in {j.storage}", highlight=False)  # fmt: skip


@app.command("list")
def list_(job: Annotated[str, typer.Argument(help="the job's name")]) -> None:
    """The job's whole backups in its storage, oldest first (id and time).

    \b
    Example:  watchman backup list etc
    """
    from watchman.backups import service

    j = _job(job)
    ids = service.completed_ids(j)
    for bid in ids:
        typer.echo(f"{bid}\t{service.time_of(bid).isoformat()}")  # tab-separated: for scripts
    if not ids:
        err.print(f"no backups of {job} in {j.storage}")


@app.command("verify")
def verify(
    backup_id: Annotated[str, typer.Argument(help="the backup's id (watchman backup list), or JOB:latest")],
) -> None:
    """Check a backup: the stored checksum, then a restore dry-run against every file of its manifest.

    \b
    Example:  watchman backup verify etc-20261204T020000Z-1a2b3c4d
    """
    job, bid = _split(backup_id)
    api = _daemon()
    if api is not None and bid != "latest":
        raise typer.Exit(_await(api, api.post(f"/admin/backup/verify/{bid}", {})))
    from watchman.backups import service

    j = _job(job)
    rec = _Recorder()
    progress, update = _bytes_progress(f"verify {bid}")
    try:
        with progress:
            ok = service.verify(j, bid, now=_now, observe=rec, progress=update)
    except service.JobError as exc:
        raise fail(str(exc)) from None
    rec.save()
    if not ok:
        raise typer.Exit(1)
    done = rec.observed[-1]
    out.print(f"verified {done.backup_id}: {done.files} files, {done.bytes} bytes match the manifest")


def _split(backup_id: str) -> tuple[str, str]:
    if backup_id.endswith(":latest"):
        return backup_id.removesuffix(":latest"), "latest"
    return _job_of(backup_id), backup_id


@app.command("restore")
def restore(
    backup_id: Annotated[str, typer.Argument(help="the backup's id, or JOB:latest")],
    to: Annotated[Path | None, typer.Option("--to", help="restore under this directory")] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="over the live paths (asks for a phrase)")
    ] = False,
    confirm: Annotated[str, typer.Option("--confirm", help='"restore <backup_id> in place"')] = "",
) -> None:
    """Restore a backup under a directory (nothing is written until every file decrypted and matched), or
    in place over the live files with the confirmation phrase.

    \b
    Examples:
      watchman backup restore etc-20261204T020000Z-1a2b3c4d --to /tmp/restore
      watchman backup restore etc-20261204T020000Z-1a2b3c4d --in-place \\
          --confirm "restore etc-20261204T020000Z-1a2b3c4d in place"

    An event log backup comes back with its graph, rebuilt by replay: under DIR/watchman/, or in place
    (the daemon stopped) with the live log kept as log.sqlite.before-ID.
    """
    from schemas.events.backups import in_place_phrase

    job, bid = _split(backup_id)
    if in_place == (to is not None):
        raise fail("give either --to DIR or --in-place", 2)
    if in_place and confirm != in_place_phrase(bid):
        raise fail(f"an in-place restore overwrites live files: add --confirm {in_place_phrase(bid)!r}", 2)
    api = _daemon()
    if api is not None and bid != "latest":
        body = {"target_dir": str(to or ""), "in_place": in_place, "confirm": confirm}
        raise typer.Exit(_await(api, api.post(f"/admin/backup/restore/{bid}", body)))
    from watchman.backups import archive, service
    from watchman.daemon import AlreadyRunning, daemon_lock

    j = _job(job)
    rec = _Recorder()
    progress, update = _bytes_progress(f"restore {bid}")
    try:
        if in_place and j.settings.kind == "eventlog":
            s = get_settings()
            with daemon_lock(s.data_dir), progress:  # no daemon may hold the log meanwhile
                result = service.restore_eventlog_in_place(
                    j, bid, graph_url=s.graph_url, confirm=confirm, now=_now, observe=rec, progress=update
                )
        else:
            with progress:
                result = service.restore(j, bid, target_dir=str(to or ""), in_place=in_place,
                                         confirm=confirm, now=_now, observe=rec, progress=update)  # fmt: skip
    except (service.JobError, archive.VerificationError) as exc:
        raise fail(f"nothing restored: {exc}") from None
    except AlreadyRunning as exc:
        raise fail(f"nothing restored: {exc}", EXIT_BUSY) from None
    rec.save()
    out.print(f"restored {result.files} files ({result.bytes} bytes) to {result.restored_to}")
    if result.graph:
        out.print(f"graph rebuilt by replay of {result.replayed} events: {result.graph}")


@app.command("prune")
def prune(
    job: Annotated[str, typer.Argument(help="the job's name")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would go, and why; remove nothing")
    ] = False,
) -> None:
    """Apply the job's keep rules (restic's forget semantics) and delete the backups they do not keep.

    \b
    Examples:
      watchman backup prune etc --dry-run
      watchman backup prune etc
    """
    from watchman.backups import service

    j = _job(job)
    if not dry_run:
        api = _daemon()
        if api is not None:
            raise typer.Exit(_await(api, api.post("/admin/backup/prune", {"job": job, "dry_run": False})))
    rec = _Recorder()
    try:
        decisions = service.prune(j, dry_run=dry_run, now=_now, observe=rec)
    except service.JobError as exc:
        raise fail(str(exc)) from None
    rec.save()
    typer.echo(f"policy: {service.keep_policy(j)}")
    for d in decisions:
        verb = "keep  " if d.keep else ("remove" if dry_run else "removed")
        why = ", ".join(d.reasons) if d.keep else "no keep rule matches"
        typer.echo(f"{verb}\t{d.snapshot.id}\t{d.snapshot.time.isoformat()}\t{why}")

"""RunnerSource (I/O): find the CI runners installed on this host and follow their own logs.

Every `scan_interval` seconds a discovery scan reads each GitHub Actions runner directory (`.runner`,
`.service`; never `.credentials*`), each GitLab Runner `config.toml` (its tokens are dropped by the
parser), asks the service manager for each unit's state and looks for each runner's process; the
differences against the previous scan (the cursor) are RunnerObserved records. Every poll reads what
was appended to the runners' logs: a GitHub runner's `_diag/Runner_*.log` and `Worker_*.log` (the runner
starts a new file at each start, each job and every 8 MiB, and deletes old ones: each file is followed
by name and inode from its last offset) and the GitLab Runner log file, if one is configured.
"""

from __future__ import annotations

import glob
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from producers.runners import github, gitlab
from producers.runners.envelopes import log_envelope, scan_envelope
from producers.runners.journal import GitLabJournal
from producers.snapshot import diff, from_cursor
from producers.source import Poll
from schemas.dlq import DeadLetter
from schemas.envelope import Envelope
from schemas.events.runners import RAW_RUNNERS, RunnerLogObserved, RunnerObserved

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Read at most this much of one file per poll (a Worker's job message is the largest record).
READ_LIMIT = 8 * 1024 * 1024
CURSOR_VERSION = 1


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceOptions:
    github_dirs: tuple[Path, ...] = ()
    # Globs searched at every scan (runners registered later appear there): matches holding .runner.
    github_search: tuple[str, ...] = ()
    gitlab_config: Path | None = None
    gitlab_log: Path | None = None
    # Read GitLab Runner's lines from the journal (its unit's entries); files: journal files to read
    # instead of the local journal.
    gitlab_journal: bool = False
    gitlab_journal_files: tuple[Path, ...] = ()
    scan_interval: float = 30.0
    # The program asked `is-active UNIT` (systemctl); None: do not ask (service state unknown).
    systemctl: str | None = "systemctl"
    systemd_dir: Path = Path("/run/systemd/system")
    gitlab_service: str = "gitlab-runner.service"


@dataclass
class _Found:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    # runner key -> its _diag directory (GitHub)
    diags: dict[str, tuple[str, Path]] = field(default_factory=dict)


class RunnerSource:
    """One source for every runner of the host (there are few; one cursor keeps them consistent)."""

    def __init__(
        self,
        host: str,
        options: SourceOptions,
        cursor: dict[str, Any] | None = None,
        *,
        clock: Clock = _now,
    ) -> None:
        self.host = host
        self.topic = RAW_RUNNERS
        self.name = "runners"
        self.opts = options
        self._clock = clock
        cursor = cursor if cursor and cursor.get("v") == CURSOR_VERSION else {}
        self._snapshot: dict[str, Any] | None = from_cursor(cursor.get("scan"))
        self._files: dict[str, dict[str, int]] = dict(cursor.get("files") or {})
        self._next_scan: datetime | None = None
        self._diags: dict[str, tuple[str, Path]] = {}
        self._gitlab_names: tuple[str, ...] = ()
        self._journal: GitLabJournal | None = None
        if options.gitlab_journal:
            self._journal = GitLabJournal(
                options.gitlab_service, options.gitlab_journal_files, cursor.get("journal")
            )

    def scan_now(self) -> None:
        self._next_scan = None

    # --- discovery ------------------------------------------------------------------------------------

    def _service_state(self, unit: str | None) -> str | None:
        if unit is None or self.opts.systemctl is None or not self.opts.systemd_dir.is_dir():
            return None
        try:
            proc = subprocess.run(
                [self.opts.systemctl, "is-active", "--", unit],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("cannot ask %s about %s: %s", self.opts.systemctl, unit, exc)
            return None
        return proc.stdout.strip() or None

    @staticmethod
    def _processes() -> list[list[str]]:
        out: list[list[str]] = []
        for p in psutil.process_iter(["cmdline"]):
            cmdline = p.info.get("cmdline")
            if cmdline:
                out.append([str(c) for c in cmdline])
        return out

    @staticmethod
    def _runs_under(cmdlines: list[list[str]], directory: Path) -> bool:
        """Is a Runner.Listener (or run.sh / runsvc.sh) of this installation running?"""
        wanted = {
            str(directory / "bin" / "Runner.Listener"),
            str(directory / "run.sh"),
            str(directory / "runsvc.sh"),
        }
        return any(arg in wanted for c in cmdlines for arg in c[:3])

    @staticmethod
    def _runs_gitlab(cmdlines: list[list[str]], config: Path) -> bool:
        for c in cmdlines:
            names = [os.path.basename(a) for a in c[:3]]
            if "gitlab-runner" in names and "run" in c:
                # `--config PATH`, when given, must name this config (default /etc/gitlab-runner/config.toml).
                if "--config" in c:
                    i = c.index("--config")
                    if i + 1 < len(c) and Path(c[i + 1]) != config:
                        continue
                return True
        return False

    def _directories(self) -> list[Path]:
        dirs = {str(p): p for p in self.opts.github_dirs}
        for pattern in self.opts.github_search:
            for match in sorted(glob.glob(pattern)):
                dirs.setdefault(match, Path(match))
        return list(dirs.values())

    def _github(self, found: _Found, cmdlines: list[list[str]]) -> None:
        for directory in self._directories():
            settings_file = directory / ".runner"
            try:
                data = settings_file.read_bytes()
            except FileNotFoundError:
                continue  # not configured (yet), or removed: absent from this scan
            except OSError as exc:
                found.dead.append(self._dead(str(settings_file), f"cannot read: {exc.strerror}", ""))
                continue
            try:
                s = github.parse_runner_file(data)
            except github.ParseError as exc:
                found.dead.append(
                    self._dead(str(settings_file), str(exc), data[:300].decode("utf-8", "replace"))
                )
                continue
            try:
                service = github.parse_service_file((directory / ".service").read_bytes())
            except OSError:
                service = None
            registered = datetime.fromtimestamp(settings_file.stat().st_mtime, UTC)
            key = f"github/{s.name}"
            found.items[key] = {
                "provider": "github",
                "runner": s.name,
                "runner_id": s.agent_id,
                "repo": s.repo,
                "url": s.github_url,
                "path": str(directory),
                "labels": [],
                "ephemeral": s.ephemeral,
                "executor": None,
                "service": service,
                "service_state": self._service_state(service),
                "process": self._runs_under(cmdlines, directory),
                "registered_at": registered.isoformat(),
            }
            found.diags[key] = (s.name, directory / "_diag")

    def _gitlab(self, found: _Found, cmdlines: list[list[str]]) -> None:
        config = self.opts.gitlab_config
        if config is None:
            return
        try:
            text = config.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            found.dead.append(self._dead(str(config), f"cannot read: {exc}", ""))
            return
        try:
            _, runners = gitlab.parse_config(text)
        except gitlab.ParseError as exc:
            # The text may hold tokens: the dead letter says why, never what.
            found.dead.append(self._dead(str(config), str(exc), ""))
            return
        state = self._service_state(self.opts.gitlab_service)
        process = self._runs_gitlab(cmdlines, config)
        for r in runners:
            found.items[f"gitlab/{r.name}"] = {
                "provider": "gitlab",
                "runner": r.name,
                "runner_id": r.runner_id,
                "repo": None,
                "url": r.url,
                "path": str(config),
                "labels": [],
                "ephemeral": False,
                "executor": r.executor,
                "service": self.opts.gitlab_service,
                "service_state": state,
                "process": process,
                "registered_at": r.registered_at.isoformat() if r.registered_at else None,
            }
        self._gitlab_names = tuple(r.name for r in runners)

    def _dead(self, where: str, error: str, text: str) -> DeadLetter:
        return DeadLetter.of(
            self.host, f"{self.name}:{where}", "0", f"{where}: {error}", text.encode(), self._clock()
        )

    def scan(self, now: datetime) -> tuple[list[Envelope], list[DeadLetter]]:
        found = _Found()
        cmdlines = self._processes()
        self._github(found, cmdlines)
        self._gitlab(found, cmdlines)
        self._diags = found.diags
        out: list[Envelope] = []
        for change in diff(self._snapshot, found.items):
            item = change.after if change.after is not None else change.before
            obs = RunnerObserved.model_validate({**item, "ts": now, "change": change.kind})
            out.append(scan_envelope(self.host, obs, now))
        self._snapshot = found.items
        return out, found.dead

    # --- logs -----------------------------------------------------------------------------------------

    def _read_new(self, path: Path) -> tuple[int, bytes, int, bool] | None:
        """(start offset, complete lines appended since the cursor, inode, whether more is there than was
        read), or None when nothing is new."""
        try:
            st = path.stat()
        except OSError:
            return None
        seen = self._files.get(str(path))
        start = (
            seen["offset"] if seen and seen.get("inode") == st.st_ino and seen["offset"] <= st.st_size else 0
        )
        if st.st_size <= start:
            return None
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(READ_LIMIT)
        end = data.rfind(b"\n")
        if end < 0:
            return None
        return start, data[: end + 1], st.st_ino, len(data) >= READ_LIMIT

    def _github_logs(self, now: datetime, polled: Poll, max_lines: int) -> None:
        for runner, diag in self._diags.values():
            try:
                # Worker files first: a job's message (its repository and workflow) is then decided
                # before the job's end that the Listener's file may already hold.
                names = sorted(
                    (p.name for p in diag.iterdir() if github.diag_file_kind(p.name)),
                    key=lambda n: (github.diag_file_kind(n) != "Worker", n),
                )
            except OSError:
                continue
            for name in names:
                if polled.lines >= max_lines:
                    return
                path = diag / name
                got = self._read_new(path)
                if got is None:
                    continue
                start, data, inode, more = got
                asm = github.DiagAssembler()
                records: list[github.DiagRecord] = []
                pos = start
                for raw in data.splitlines(keepends=True):
                    records += asm.feed(raw.decode("utf-8", "replace"), pos)
                    pos += len(raw)
                    polled.lines += 1
                end = start + len(data)
                pending_at = asm.pending_at
                if more and pending_at is not None and pending_at > start:
                    end = pending_at  # read the unfinished record again, whole, next time
                else:
                    tail = asm.flush()
                    if tail and pending_at is not None and _unfinished(tail[0]):
                        # The runner's StreamWriter flushes a long record (the job message) in pieces:
                        # what is there so far is not the record yet. Read it again from its start.
                        end = pending_at
                    else:
                        records += tail
                for rec in records:
                    fact = github.interpret(rec)
                    if fact is None:
                        continue
                    obs = RunnerLogObserved(
                        ts=fact.ts,
                        provider="github",
                        runner=runner,
                        kind=fact.kind,
                        file=str(path),
                        job=fact.job,
                        job_name=fact.job_name,
                        repo=fact.repo,
                        workflow=fact.workflow,
                        result=fact.result,
                        detail=fact.detail,
                        version=fact.version,
                    )
                    polled.observations.append(log_envelope(self.host, obs, str(rec.position), now))
                self._files[str(path)] = {"inode": inode, "offset": end}
        # Forget files the runner deleted (its log retention): the cursor stays small.
        live = {str(diag / n) for _, diag in self._diags.values() for n in _listdir(diag)}
        gl = str(self.opts.gitlab_log) if self.opts.gitlab_log else None
        self._files = {k: v for k, v in self._files.items() if k in live or k == gl}

    def _gitlab_line(
        self, text: str, when: datetime, where: str, position: str, now: datetime, polled: Poll
    ) -> None:
        polled.lines += 1
        line = gitlab.parse_line(text)
        fact = gitlab.interpret(line) if line is not None else None
        if fact is None or line is None:
            return
        # The runtime platform line is the process's: it tells the version of every runner it runs.
        names = (fact.runner,) if fact.runner else (self._gitlab_names if fact.kind == "version" else ())
        for name in names:
            obs = RunnerLogObserved(
                ts=line.ts or when,
                provider="gitlab",
                runner=name,
                kind=fact.kind,
                file=where,
                job=fact.job,
                repo=fact.repo,
                result=fact.result,
                detail=fact.detail,
                duration_seconds=fact.duration_seconds,
                version=fact.version,
            )
            polled.observations.append(log_envelope(self.host, obs, position, now))

    def _gitlab_log(self, now: datetime, polled: Poll) -> None:
        path = self.opts.gitlab_log
        if path is None:
            return
        got = self._read_new(path)
        if got is None:
            return
        start, data, inode, _ = got
        pos = start
        for raw in data.splitlines(keepends=True):
            here, pos = pos, pos + len(raw)
            self._gitlab_line(raw.decode("utf-8", "replace"), now, str(path), str(here), now, polled)
        self._files[str(path)] = {"inode": inode, "offset": start + len(data)}

    def _gitlab_journal(self, now: datetime, polled: Poll, max_lines: int) -> None:
        if self._journal is None:
            return
        where = f"journal:{self._journal.unit}"
        for cursor, when, message in self._journal.entries(max_lines):
            # A message holds one line; gitlab-runner never writes more in one write.
            self._gitlab_line(message, when, where, cursor, now, polled)

    # --- Source ---------------------------------------------------------------------------------------

    def poll(self, max_lines: int) -> Poll:
        now = self._clock()
        polled = Poll()
        if self._next_scan is None or now >= self._next_scan:
            obs, dead = self.scan(now)
            polled.observations += obs
            polled.dead += dead
            self._next_scan = now + timedelta(seconds=self.opts.scan_interval)
        self._github_logs(now, polled, max_lines)
        self._gitlab_log(now, polled)
        self._gitlab_journal(now, polled, max_lines)
        polled.cursor = self.cursor()
        return polled

    def cursor(self) -> dict[str, Any]:
        from producers.snapshot import to_cursor

        out = {"v": CURSOR_VERSION, "scan": to_cursor(self._snapshot or {}), "files": dict(self._files)}
        if self._journal is not None and self._journal.cursor:
            out["journal"] = self._journal.cursor
        return out

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()


def _listdir(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def _unfinished(record: github.DiagRecord) -> bool:
    """A Worker's job message whose JSON is not whole yet (more of it is still being written)."""
    return (
        record.source == "Worker"
        and record.message.startswith("Job message:")
        and github.interpret(record) is None
    )

"""GitHub Actions runner formats (pure): the `.runner` settings file, the `.service` file and the `_diag`
trace logs of Runner.Listener (`Runner_*.log`) and Runner.Worker (`Worker_*.log`).

Faithful to actions/runner (read at v2.336.0, see tests/data/README.md):
- `.runner` is `IOUtil.SaveObject(RunnerSettings)`: Json.NET, indented, camelCase (VssJsonMediaTypeFormatter),
  written with `Encoding.UTF8`, so it starts with a byte order mark; fields agentId, agentName, poolId,
  poolName, serverUrl, gitHubUrl, workFolder, ephemeral, disableUpdate, ...
- `.service` holds the systemd unit name `svc.sh install` made: `actions.runner.<owner-repo>.<name>.service`.
- a trace record is `[{DateTime.UtcNow:u} {INFO|WARN|ERR |VERB|CRIT} {source}] {message}` (HostTraceListener),
  the message may span lines (the Worker's `Job message:` dump of the job's JSON). The lines read here:
    Listener      `Version: 2.336.0`
    Terminal      `WRITE LINE: 2026-12-04 18:20:01Z: Listening for Jobs`   (Runner.cs)
    JobDispatcher `Job request 7 for plan <guid> job <guid> received.`
    Terminal      `WRITE LINE: 2026-12-04 18:20:02Z: Running job: build`
    JobDispatcher `finish job request for job <guid> with result: Succeeded`
    Worker        `Job message:\n {json}` (jobId, jobDisplayName, contextData.github.repository/workflow)
- the runner's credentials (`.credentials`, `.credentials_rsaparams`) are never read by anything here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from producers.text import clean

# HostTraceListener's header; `{0:u}` is "yyyy-MM-dd HH:mm:ssZ".
HEADER = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ) (INFO|WARN|ERR |VERB|CRIT|\w+) ([^\]]*)\] ?(.*)$")
_TERM_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ"
_LISTENING = re.compile(rf"^WRITE LINE: ({_TERM_TS}): Listening for Jobs$")
_RUNNING = re.compile(rf"^WRITE LINE: ({_TERM_TS}): Running job: (.*)$")
_RECEIVED = re.compile(r"^Job request (\d+) for plan ([0-9a-fA-F-]+) job ([0-9a-fA-F-]+) received\.$")
_FINISHED = re.compile(r"^finish job request for job ([0-9a-fA-F-]+) with result: (\w+)$")
_VERSION = re.compile(r"^Version: (\d+\.\d+\.\d+\S*)$")
SERVICE = re.compile(r"^actions\.runner\.[0-9A-Za-z._-]+\.service$")
# A diag message kept whole for parsing is bounded: a Worker's job message is a few hundred KiB at most.
MAX_RECORD_BYTES = 4 * 1024 * 1024

# TaskResult names (Sdk/DTWebApi) -> the job results this domain speaks.
RESULTS = {
    "succeeded": "succeeded",
    "succeededwithissues": "succeeded",
    "failed": "failed",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "abandoned": "abandoned",
}


class ParseError(ValueError):
    """Input that is not what the runner writes; the message says what was expected."""


@dataclass(frozen=True)
class RunnerSettings:
    """What `.runner` says (no credential is in that file: they live in `.credentials`, never read)."""

    agent_id: int | None
    name: str
    pool: str | None
    github_url: str | None
    repo: str | None
    work_folder: str | None
    ephemeral: bool
    disable_update: bool


def repo_of(github_url: str | None) -> str | None:
    """`https://github.com/owner/repo` -> `owner/repo`; an organisation or enterprise URL -> its path."""
    if not github_url:
        return None
    m = re.match(r"^https?://[^/]+/(.+?)/?$", github_url.strip())
    return m.group(1) if m else None


def parse_runner_file(data: bytes) -> RunnerSettings:
    text = data.decode("utf-8-sig", "replace")  # File.WriteAllText(..., Encoding.UTF8) writes a BOM
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ParseError(f".runner is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ParseError(".runner is not a JSON object")
    # Json.NET reads property names case-insensitively; so do we.
    low = {str(k).lower(): v for k, v in obj.items()}
    name = low.get("agentname")
    if not isinstance(name, str) or not name.strip():
        raise ParseError(".runner has no agentName")
    agent_id = low.get("agentid")
    url = low.get("githuburl")
    url = url if isinstance(url, str) else None
    return RunnerSettings(
        agent_id=agent_id if isinstance(agent_id, int) and not isinstance(agent_id, bool) else None,
        name=name.strip(),
        pool=low.get("poolname") if isinstance(low.get("poolname"), str) else None,
        github_url=url,
        repo=repo_of(url),
        work_folder=low.get("workfolder") if isinstance(low.get("workfolder"), str) else None,
        ephemeral=low.get("ephemeral") is True,
        disable_update=low.get("disableupdate") is True,
    )


def parse_service_file(data: bytes) -> str | None:
    """The unit name `svc.sh install` wrote to `.service`, or None when it is not one."""
    name = data.decode("utf-8-sig", "replace").strip()
    return name if SERVICE.match(name) else None


@dataclass(frozen=True)
class DiagRecord:
    """One trace record: its header's time, level and source, and the message (continuation lines joined)."""

    ts: datetime
    level: str
    source: str
    message: str
    position: int = 0  # byte offset of the header line in its file


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)


class DiagAssembler:
    """Joins a diag log's lines into records: a header line starts one, other lines continue it.

    Pure: feed it lines, it hands back the records that are complete. `flush` ends the last one (the
    runner writes and flushes a record whole, so at the end of what is there it is complete).
    """

    def __init__(self) -> None:
        self._head: tuple[datetime, str, str, int] | None = None
        self._lines: list[str] = []
        self._size = 0
        self.dropped = 0  # continuation lines with no header before them (a file read from its middle)

    @property
    def pending_at(self) -> int | None:
        """The position of the record not yet complete (where to read again from), if any."""
        return None if self._head is None else self._head[3]

    def feed(self, line: str, position: int = 0) -> list[DiagRecord]:
        line = clean(line.rstrip("\r\n"))
        m = HEADER.match(line)
        if m is None:
            if self._head is None:
                self.dropped += 1
            elif self._size < MAX_RECORD_BYTES:
                self._lines.append(line)
                self._size += len(line) + 1
            return []
        out = self.flush()
        try:
            ts = _ts(m.group(1))
        except ValueError:
            self.dropped += 1
            return out
        self._head = (ts, m.group(2).strip(), m.group(3), position)
        self._lines = [m.group(4)]
        self._size = len(line)
        return out

    def flush(self) -> list[DiagRecord]:
        if self._head is None:
            return []
        ts, level, source, position = self._head
        record = DiagRecord(ts, level, source, "\n".join(self._lines), position)
        self._head, self._lines, self._size = None, [], 0
        return [record]


@dataclass(frozen=True)
class DiagFact:
    """What one record tells (the fields of a RunnerLogObserved, without runner and file)."""

    ts: datetime
    kind: str
    job: str | None = None
    job_name: str | None = None
    repo: str | None = None
    workflow: str | None = None
    result: str | None = None
    detail: str | None = None
    version: str | None = None


def result_of(task_result: str) -> str:
    return RESULTS.get(task_result.lower(), "unknown")


def _context_string(data: Any, key: str) -> str | None:
    """A string entry of a serialized DictionaryContextData ({"t": 2, "d": [{"k": ..., "v": ...}]})."""
    if not isinstance(data, dict):
        return None
    for pair in data.get("d") or ():
        if isinstance(pair, dict) and pair.get("k") == key and isinstance(pair.get("v"), str):
            return str(pair["v"])
    return None


def _job_message(rec: DiagRecord) -> DiagFact | None:
    _, _, body = rec.message.partition("Job message:")
    try:
        msg = json.loads(body)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    low = {str(k).lower(): v for k, v in msg.items()}
    job = low.get("jobid")
    if not isinstance(job, str):
        return None
    context = low.get("contextdata")
    github = context.get("github") if isinstance(context, dict) else None
    name = low.get("jobdisplayname")
    return DiagFact(
        rec.ts,
        "job_message",
        job=job.lower(),
        job_name=name if isinstance(name, str) else None,
        repo=_context_string(github, "repository"),
        workflow=_context_string(github, "workflow"),
    )


def interpret(rec: DiagRecord) -> DiagFact | None:
    """The fact one trace record tells, or None for the many records that tell nothing we keep."""
    msg = rec.message
    if rec.source == "Terminal":
        if m := _LISTENING.match(msg):
            return DiagFact(_ts(m.group(1)), "listening")
        if m := _RUNNING.match(msg):
            return DiagFact(_ts(m.group(1)), "job_started", job_name=m.group(2).strip())
        return None
    if rec.source == "JobDispatcher":
        if m := _RECEIVED.match(msg):
            return DiagFact(rec.ts, "job_received", job=m.group(3).lower(), detail=f"request {m.group(1)}")
        if m := _FINISHED.match(msg):
            return DiagFact(rec.ts, "job_finished", job=m.group(1).lower(), result=result_of(m.group(2)))
        return None
    if rec.source == "Listener":
        if m := _VERSION.match(msg):
            return DiagFact(rec.ts, "version", version=m.group(1))
        return None
    if rec.source == "Worker" and msg.startswith("Job message:"):
        return _job_message(rec)
    return None


def diag_file_kind(name: str) -> str | None:
    """`Runner_20261204-182001-utc.log` -> "Runner", `Worker_...` -> "Worker", anything else None."""
    m = re.match(r"^(Runner|Worker)_\d{8}-\d{6}-utc\.log$", name)
    return m.group(1) if m else None

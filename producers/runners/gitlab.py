"""GitLab Runner formats (pure): `config.toml` and the lines `gitlab-runner run` logs.

Faithful to gitlab-org/gitlab-runner (read at v19.4.0, see tests/data/README.md):
- `config.toml`: `concurrent`, then `[[runners]]` tables with `name`, `url`, `id`, `token`,
  `token_obtained_at`, `token_expires_at`, `executor`, `limit` (common/config.go RunnerCredentials,
  RunnerConfig). The `token` is read by TOML and dropped here: it never reaches an observation.
- log lines in the default "runner" format (log/runner_formatter.go): an optional level prefix
  (`WARNING: `, `ERROR: `), the message padded to 50 characters less the prefix, then ` key=value` pairs
  sorted by key, with colour escapes (`ESC[0;33m`, `ESC[0;m`) unless colours are off; no time stamp (the
  journal keeps it). `--log-format json` lines (logrus JSONFormatter: msg, level, time, the fields) too.
  The lines read here:
    `Runtime platform  arch=amd64 os=linux pid=7 revision=... version=19.4.0`   (helpers/cli)
    `Checking for jobs... received  job=12 repo_url=https://gitlab.example.com/g/p.git runner=xyz ...`
    `Job succeeded  duration_s=3.2 job=12 job-status=success project=4 project_full_path=g/p runner=...`
    `WARNING: Job failed: exit code 1  duration_s=... error=exit code 1 exit_code=1
     failure_reason=script_failure job=12 job-status=failed ...`,
    `ERROR: Job failed (system failure): ...` (common/build.go)
  `runner=` is a shortened token, meant to be safe to log; it is not kept (runners are named by runner_name).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from producers.text import clean


class ParseError(ValueError):
    """Input that is not what gitlab-runner writes; the message says what was expected."""


@dataclass(frozen=True)
class GitLabRunner:
    """One `[[runners]]` entry, without its token."""

    name: str
    runner_id: int | None
    url: str | None
    executor: str | None
    registered_at: datetime | None
    limit: int | None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        if value.year <= 1:  # Go's zero time.Time, written for a runner registered the legacy way
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return None if parsed.year <= 1 else parsed
    return None


def parse_config(text: str) -> tuple[int | None, list[GitLabRunner]]:
    """(concurrent, runners) of a config.toml."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"config.toml is not TOML: {exc}") from None
    concurrent = doc.get("concurrent")
    out: list[GitLabRunner] = []
    runners = doc.get("runners") or []
    if not isinstance(runners, list):
        raise ParseError("config.toml: [[runners]] is not an array of tables")
    for i, r in enumerate(runners):
        if not isinstance(r, dict):
            raise ParseError(f"config.toml: runners[{i}] is not a table")
        name = r.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ParseError(f"config.toml: runners[{i}] has no name")
        rid = r.get("id")
        limit = r.get("limit")
        out.append(
            GitLabRunner(
                name=name.strip(),
                runner_id=rid if isinstance(rid, int) and rid > 0 else None,
                url=r.get("url") if isinstance(r.get("url"), str) else None,
                executor=r.get("executor") if isinstance(r.get("executor"), str) else None,
                registered_at=_time(r.get("token_obtained_at")),
                limit=limit if isinstance(limit, int) else None,
            )
        )
    return (concurrent if isinstance(concurrent, int) else None), out


# A key of the runner format's pairs: logrus field names are words, dashes and dots (job-status).
_PAIR = re.compile(r"\s+([A-Za-z_][A-Za-z0-9_.-]*)=")
_PREFIX = re.compile(r"^(WARNING|ERROR|FATAL|PANIC): ")


@dataclass(frozen=True)
class LogLine:
    message: str
    level: str
    fields: dict[str, str]
    ts: datetime | None


def parse_line(line: str) -> LogLine | None:
    """One log line (runner or JSON format) -> message, level and fields; None for a blank line."""
    text = clean(line).strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "msg" in obj:
            pairs = {str(k): str(v) for k, v in obj.items() if k not in ("msg", "level", "time")}
            return LogLine(str(obj["msg"]), str(obj.get("level", "info")), pairs, _time(obj.get("time")))
    level = "info"
    if m := _PREFIX.match(text):
        level, text = m.group(1).lower(), text[m.end() :]
    # The message ends where the padding before the first pair begins (two or more spaces).
    parts = re.split(r"\s{2,}(?=[A-Za-z_][A-Za-z0-9_.-]*=)", text, maxsplit=1)
    if len(parts) == 1:
        return LogLine(text.strip(), level, {}, None)
    message, rest = parts
    fields: dict[str, str] = {}
    marks = list(_PAIR.finditer(" " + rest))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(rest) + 1
        fields[m.group(1)] = (" " + rest)[m.end() : end]
    return LogLine(message.strip(), level, fields, None)


@dataclass(frozen=True)
class LogFact:
    kind: str
    runner: str | None
    job: str | None = None
    repo: str | None = None
    result: str | None = None
    detail: str | None = None
    duration_seconds: float | None = None
    version: str | None = None


def repo_of(url: str | None) -> str | None:
    """`https://gitlab.example.com/group/sub/project.git` -> `group/sub/project`."""
    if not url:
        return None
    m = re.match(r"^https?://[^/]+/(.+?)(?:\.git)?/?$", url.strip())
    return m.group(1) if m else None


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def interpret(line: LogLine) -> LogFact | None:
    """The fact a log line tells (runner_name names the runner), or None."""
    f, msg = line.fields, line.message
    runner = f.get("runner_name")
    if msg == "Runtime platform" and "version" in f:
        return LogFact("version", None, version=f["version"])
    if msg == "Checking for jobs... received" and "job" in f:
        return LogFact("job_started", runner, job=f["job"], repo=repo_of(f.get("repo_url")))
    if msg == "Job succeeded" and "job" in f:
        return LogFact(
            "job_finished",
            runner,
            job=f["job"],
            repo=f.get("project_full_path"),
            result="succeeded",
            duration_seconds=_float(f.get("duration_s")),
        )
    if msg.startswith("Job failed") and "job" in f:
        return LogFact(
            "job_finished",
            runner,
            job=f["job"],
            repo=f.get("project_full_path"),
            result="failed",
            detail=(f.get("failure_reason") or msg)[:200],
            duration_seconds=_float(f.get("duration_s")),
        )
    return None

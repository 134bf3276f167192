"""Parse syslog file lines (rsyslog's traditional and RFC 3339 formats) into JournalEntryObserved (pure).

Hosts that log authentication through rsyslog (/var/log/auth.log on Debian/Ubuntu, /var/log/secure on
RHEL/CentOS) get the same security decisions as the journal: each line becomes the observation a journal
entry of the same program would be (SYSLOG_IDENTIFIER, PID, MESSAGE, time), on the journal's raw topic, so
processors/security.py decides both without knowing where a line came from.

Formats, as rsyslog writes them:
- traditional (RSYSLOG_TraditionalFileFormat, Debian 12 and RHEL): `Dec  4 15:16:50 host sshd[1234]: msg`,
  local time without year or zone: the zone is `tz`, the year the one that puts the line at most
  FUTURE_SLACK after `now` (a December line read in January is last year's);
- RFC 3339 (RSYSLOG_FileFormat, Ubuntu >= 23.10): `2025-05-11T18:51:02.676130+00:00 host sshd[1234]: msg`.
rsyslog's `message repeated N times: [ msg]` stands for N lines: it becomes N observations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from producers.text import broken, clean
from schemas.envelope import Envelope, event_id
from schemas.events.services import JournalEntryObserved

SOURCE = "authlog"
TRANSPORT = "syslog-file"
MAX_MESSAGE = 4096
FUTURE_SLACK = timedelta(days=7)
MAX_REPEAT = 10_000

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_TRADITIONAL = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}) (?P<rest>.*)"
)
_RFC3339 = re.compile(
    r"(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (?P<rest>.*)"
)
# `host tag[pid]: message` or `host tag: message`; a tag is what syslog(3) got as ident.
_HOST_TAG = re.compile(r"(?P<host>\S+) (?P<tag>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)")
_REPEATED = re.compile(r"message repeated (?P<n>\d+) times: \[ ?(?P<msg>.*)\]$")


class SyslogLineError(ValueError):
    """A line that is not a syslog record (or holds bytes that are not UTF-8)."""


@dataclass(frozen=True, slots=True)
class SyslogRecord:
    ts: datetime
    host: str
    identifier: str
    pid: int | None
    message: str


def _fraction_to_micro(stamp: str) -> str:
    # Python's fromisoformat takes at most 6 fractional digits before 3.11's relaxed rules: cut to 6.
    m = re.match(r"(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(.*)", stamp)
    if m is None or m.group(2) is None:
        return stamp
    return f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"


def parse_line(line: str, *, tz: tzinfo, now: datetime) -> SyslogRecord:
    """One syslog line (already decoded); raises SyslogLineError for anything else."""
    line = clean(line)
    if broken(line):
        raise SyslogLineError("line holds bytes that are not UTF-8")
    if (m := _RFC3339.fullmatch(line)) is not None:
        try:
            ts = datetime.fromisoformat(_fraction_to_micro(m["stamp"]).replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise SyslogLineError(f"invalid timestamp {m['stamp']!r}") from None
        rest = m["rest"]
    elif (m := _TRADITIONAL.fullmatch(line)) is not None:
        ts = _yearless(m, tz, now)
        rest = m["rest"]
    else:
        raise SyslogLineError("not a syslog line (`Mon DD HH:MM:SS host tag[pid]: message` or RFC 3339)")
    hm = _HOST_TAG.fullmatch(rest)
    if hm is None:
        raise SyslogLineError("no `host tag[pid]:` after the time")
    pid = int(hm["pid"]) if hm["pid"] and len(hm["pid"]) <= 9 else None
    return SyslogRecord(ts, hm["host"], hm["tag"], pid, hm["msg"][:MAX_MESSAGE])


def _yearless(m: re.Match[str], tz: tzinfo, now: datetime) -> datetime:
    month = _MONTHS.get(m["mon"])
    if month is None:
        raise SyslogLineError(f"unknown month {m['mon']!r}")
    local_now = now.astimezone(tz)
    for year in (local_now.year, local_now.year - 1):
        try:
            ts = datetime(year, month, int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"]), tzinfo=tz)
        except ValueError:
            continue  # 29 Feb of a year that has none: try the year before
        if ts - local_now <= FUTURE_SLACK:
            return ts.astimezone(UTC)
    raise SyslogLineError("invalid date")


def expand(record: SyslogRecord) -> list[SyslogRecord]:
    """rsyslog's `message repeated N times: [ msg]` as the N lines it stands for."""
    m = _REPEATED.fullmatch(record.message)
    if m is None:
        return [record]
    n = min(int(m["n"]), MAX_REPEAT)
    inner = SyslogRecord(record.ts, record.host, record.identifier, record.pid, m["msg"])
    return [inner] * n


def observation(record: SyslogRecord, cursor: str) -> JournalEntryObserved:
    return JournalEntryObserved(
        ts=record.ts,
        cursor=cursor,
        message=record.message,
        identifier=record.identifier,
        pid=record.pid,
        comm=record.identifier,
        transport=TRANSPORT,
    )


class Numbering:
    """Numbers identical lines (same time, program, pid and text) in reading order, so the k-th of them
    gets the same id however often the log is read (from its rotated copy too), and two identical
    lines (sshd logs each retry on a connection alike, within one second) stay two observations."""

    def __init__(self, saved: dict[str, Any] | None = None) -> None:
        self._second: datetime | None = None
        self._seen: dict[tuple[str, int | None, str], int] = {}
        if saved and saved.get("second"):
            self._second = datetime.fromisoformat(saved["second"])
            self._seen = {(i, p, m): n for i, p, m, n in saved.get("seen", [])}

    def to_dict(self) -> dict[str, Any]:
        """Saved with the file cursor: a restart in the middle of a second keeps counting."""
        second = self._second.isoformat() if self._second else None
        return {"second": second, "seen": [[i, p, m, n] for (i, p, m), n in self._seen.items()]}

    def next(self, record: SyslogRecord) -> int:
        second = record.ts.replace(microsecond=0)
        if second != self._second:
            self._second, self._seen = second, {}
        key = (record.identifier, record.pid, record.message)
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        return n


def raw_envelope(host: str, obs: JournalEntryObserved, nth: int, observed_at: datetime) -> Envelope:
    """The id hashes the line's content and its number among identical lines of that second."""
    return Envelope(
        id=event_id("raw", host, SOURCE, obs.ts.isoformat(), obs.identifier, obs.pid, obs.message, nth),
        type=obs.TYPE,
        schema_version=obs.VERSION,
        host=host,
        source=SOURCE,
        ts=obs.ts,
        observed_at=observed_at,
        subject=obs.identifier or SOURCE,
        payload=obs.model_dump(mode="json"),
    )

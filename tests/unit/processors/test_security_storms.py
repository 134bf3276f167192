"""Security storms: per source and minute a few failures of their own, the rest one exact aggregate; the
brute-force alert; re-delivered lines change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors import security
from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.journald.entries import raw_envelope
from schemas.envelope import Envelope
from schemas.events.security import EVENTS_SECURITY
from schemas.events.services import JournalEntryObserved
from tests.support.journal import Entries

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROUTE = next(r for r in ROUTES if r.sink == EVENTS_SECURITY)
LIMIT = security.FAILURE_LIMIT
USERS = (
    "admin",
    "test",
    "oracle",
    "ubuntu",
    "git",
    "postgres",
    "pi",
    "guest",
    "user",
    "ftp",
    "www",
    "deploy",
)


def raws_of(entries: Entries, boot: str = "x") -> list[Envelope]:
    """The entries as the journald source makes them (without a journal file: the unit tests' speed)."""
    out = []
    for i, e in enumerate(entries.items):
        ts = datetime.fromtimestamp(int(str(e["__REALTIME_TIMESTAMP"])) / 1e6, UTC)
        obs = JournalEntryObserved(
            ts=ts,
            cursor=f"s={boot};i={i}",
            message=str(e["MESSAGE"]),
            identifier=str(e["SYSLOG_IDENTIFIER"]),
            pid=int(str(e["_PID"])),
            unit=str(e["_SYSTEMD_UNIT"]),
            priority=int(str(e["PRIORITY"])),
        )
        out.append(raw_envelope("h", obs, ts))
    return out


def brute_force(e: Entries, ip: str, start: datetime, attempts: int, every: timedelta, pid0: int) -> None:
    for i in range(attempts):
        e.ssh_failed(start + i * every, ip, USERS[i % len(USERS)], port=40000 + i, pid=pid0 + i)


def run(raws: list[Envelope], table: MemoryTable | None = None) -> list[Envelope]:
    table = table if table is not None else MemoryTable()
    return [o for r in raws for o in ROUTE.handle(r.to_json(), table)]


def final(outs: list[Envelope]) -> dict[str, dict[str, Any]]:
    """The graph's view: the last version of each event id."""
    out: dict[str, dict[str, Any]] = {}
    for o in outs:
        out[o.id] = {"type": o.type, "ts": o.ts, **o.payload}
    return out


def failures_by_ip(events: dict[str, dict[str, Any]]) -> dict[str, int]:
    """What the graph answers: single failures count 1, an aggregate its count."""
    by: dict[str, int] = {}
    for ev in events.values():
        if ev["type"] == "LoginFailed":
            by[ev["source_ip"]] = by.get(ev["source_ip"], 0) + 1
        elif ev["type"] == "AuthFailuresAggregated" and ev["kind"] == "login":
            by[ev["source_ip"]] = by.get(ev["source_ip"], 0) + ev["count"]
    return by


def closing_line(ts: datetime) -> Envelope:
    """Any later line of sshd's unit (here: an accepted login) brings pending aggregates up to date."""
    e = Entries(host="h")
    e.auth(
        ts, "sshd", "Accepted publickey for alice from 192.0.2.4 port 40003 ssh2", unit="ssh.service", pid=9
    )
    return raws_of(e, boot=f"later-{ts.isoformat()}")[0]


def test_a_brute_force_run_is_a_few_events_with_exact_counts() -> None:
    e = Entries(host="h")
    # 90 attempts from one address over two minutes (6 lines each), 3 from another
    brute_force(e, "203.0.113.66", T0, 90, timedelta(milliseconds=1300), 1000)
    brute_force(e, "198.51.100.9", T0 + timedelta(seconds=5), 3, timedelta(seconds=10), 5000)
    e.items.sort(key=lambda x: int(str(x["__REALTIME_TIMESTAMP"])))
    raws = [*raws_of(e), closing_line(T0 + timedelta(minutes=3))]
    outs = run(raws)
    events = final(outs)

    assert failures_by_ip(events) == {"203.0.113.66": 90, "198.51.100.9": 3}
    singles = [v for v in events.values() if v["type"] == "LoginFailed" and v["source_ip"] == "203.0.113.66"]
    aggs = sorted(
        (v for v in events.values() if v["type"] == "AuthFailuresAggregated"), key=lambda v: v["minute"]
    )
    # 90 attempts 1.3 s apart from 12:00:00: 47 in the first minute, 43 in the second
    assert len(singles) == 2 * LIMIT
    assert [(a["minute"], a["count"]) for a in aggs] == [
        (T0.isoformat().replace("+00:00", "Z"), 47 - LIMIT),
        ((T0 + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"), 43 - LIMIT),
    ]
    assert aggs[0]["users"] == list(USERS[LIMIT:] + USERS[: 10 - (len(USERS) - LIMIT)])
    alerts = [v for v in events.values() if v["type"] == "BruteForceDetected"]
    assert [(a["source_ip"], a["failures"], a["window_minutes"]) for a in alerts] == [
        ("203.0.113.66", security.BRUTE_FORCE_THRESHOLD, 5)
    ]
    # the number of events is bounded by seconds, not by lines
    assert len(outs) < len(raws) / 4


def test_the_aggregate_is_brought_up_to_date_every_ten_seconds_and_when_its_minute_ends() -> None:
    e = Entries(host="h")
    brute_force(e, "203.0.113.66", T0, 30, timedelta(milliseconds=500), 1000)  # 12:00:00 .. 12:00:14.5
    table = MemoryTable()
    outs = run(raws_of(e), table)
    counts = [(o.ts, o.payload["count"]) for o in outs if o.type == "AuthFailuresAggregated"]
    # at its first failure (12:00:02.5); then the first line 10 s after that brought it up to date
    assert [c for _, c in counts] == [1, 20]
    later = run([closing_line(T0 + timedelta(seconds=20))], table)
    assert [o.payload["count"] for o in later if o.type == "AuthFailuresAggregated"] == []  # 7.5 s later
    final_ = run([closing_line(T0 + timedelta(seconds=61))], table)  # the next minute
    assert [o.payload["count"] for o in final_ if o.type == "AuthFailuresAggregated"] == [30 - LIMIT]
    # nothing pending: a still later line emits nothing more
    assert [o.type for o in run([closing_line(T0 + timedelta(seconds=90))], table)] == ["LoginSucceeded"]


def test_re_delivered_lines_count_nothing_twice() -> None:
    e = Entries(host="h")
    brute_force(e, "203.0.113.66", T0, 30, timedelta(milliseconds=900), 1000)
    raws = [*raws_of(e), closing_line(T0 + timedelta(minutes=2))]
    clean = final(run(raws))
    table = MemoryTable()
    outs: list[Envelope] = []
    for i, r in enumerate(raws):
        outs += ROUTE.handle(r.to_json(), table)
        if i % 7 == 6:  # at-least-once: the last few lines come again
            for again in raws[i - 3 : i + 1]:
                outs += ROUTE.handle(again.to_json(), table)
    assert final(outs) == clean
    assert failures_by_ip(clean) == {"203.0.113.66": 30}


def test_sudo_refusals_are_aggregated_per_user() -> None:
    e = Entries(host="h")
    for i in range(9):
        e.auth(
            T0 + timedelta(seconds=i),
            "sudo",
            "mallory : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/mallory ; USER=root ; "
            "COMMAND=/usr/bin/id",
            unit="session-7.scope",
            pid=300 + i,
        )
    e.auth(
        T0 + timedelta(seconds=20),
        "sudo",
        "mallory : TTY=pts/1 ; PWD=/home/mallory ; USER=root ; COMMAND=/usr/bin/true",
        unit="session-7.scope",
        pid=400,
    )
    events = final(run(raws_of(e)))
    refused = [v for v in events.values() if v["type"] == "SudoCommandRun" and not v["allowed"]]
    aggs = [v for v in events.values() if v["type"] == "AuthFailuresAggregated"]
    assert len(refused) == LIMIT
    assert [(a["kind"], a["user"], a["source_ip"], a["count"]) for a in aggs] == [
        ("sudo", "mallory", None, 4)
    ]
    assert not [v for v in events.values() if v["type"] == "BruteForceDetected"]  # logins only


def test_the_state_of_idle_sources_is_dropped() -> None:
    e = Entries(host="h")
    for n in range(50):
        brute_force(e, f"198.51.100.{n}", T0 + timedelta(seconds=n), 1, timedelta(seconds=1), 1000 + n)
    table = MemoryTable()
    run(raws_of(e), table)
    assert sum(1 for k in table.data if k.startswith("storm/")) == 50
    run([closing_line(T0 + security.SOURCE_IDLE + timedelta(minutes=2))], table)
    assert [k for k in table.data if k.startswith("storm/")] == []

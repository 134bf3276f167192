"""JournaldSource on real journal files (built by systemd-journal-remote), and the whole services and
security domain (decide + project) into a real LadybugDB answering the catalog's questions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors.registry import ROUTES
from processors.tables import MemoryTable
from producers.journald.source import REOPEN_EVERY, JournaldSource
from producers.services.metrics import raw_envelope as metrics_envelope
from projections.catalog import resolve
from projections.registry import PROJECTORS
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events import decode_payload
from schemas.events.services import RAW_JOURNAL, RAW_SERVICES, ServiceMetricsObserved
from tests.support import journal as j
from tests.support.journal import Entries, build_journal

NOW = datetime.now(UTC).replace(microsecond=0)


def sample_entries(start: datetime, n_logs: int = 50) -> Entries:
    e = Entries()
    t = start
    e.systemd(
        t,
        "Started nginx.service - A high performance web server.",
        "nginx.service",
        j.UNIT_STARTED,
        JOB_TYPE="start",
        JOB_RESULT="done",
    )
    for i in range(n_logs):
        prio = 3 if i % 5 == 0 else 6
        e.service_log(
            t + timedelta(seconds=i),
            "nginx.service",
            f"2026/05/01 [{'error' if prio == 3 else 'info'}] {i}",
            priority=prio,
        )
    e.service_log(t + timedelta(seconds=70), "postgresql.service", "LOG:  checkpoint complete", priority=7)
    e.systemd(
        t + timedelta(seconds=80),
        "nginx.service: Main process exited, code=exited, status=1/FAILURE",
        "nginx.service",
        j.UNIT_PROCESS_EXIT,
        EXIT_CODE="exited",
        EXIT_STATUS="1",
    )
    e.systemd(
        t + timedelta(seconds=80),
        "nginx.service: Failed with result 'exit-code'.",
        "nginx.service",
        j.UNIT_RESULT,
        UNIT_RESULT="exit-code",
    )
    e.systemd(
        t + timedelta(seconds=81),
        "nginx.service: Scheduled restart job, restart counter is at 1.",
        "nginx.service",
        j.UNIT_RESTART_SCHEDULED,
        N_RESTARTS=1,
    )
    e.systemd(
        t + timedelta(seconds=82),
        "Started nginx.service.",
        "nginx.service",
        j.UNIT_STARTED,
        JOB_TYPE="restart",
        JOB_RESULT="done",
    )
    e.auth(
        t + timedelta(seconds=90),
        "sshd",
        "Invalid user admin from 203.0.113.5 port 40000",
        unit="ssh.service",
        pid=700,
    )
    e.auth(
        t + timedelta(seconds=91),
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5",
        unit="ssh.service",
        pid=700,
    )
    e.auth(
        t + timedelta(seconds=92),
        "sshd",
        "Failed password for invalid user admin from 203.0.113.5 port 40000 ssh2",
        unit="ssh.service",
        pid=700,
    )
    e.auth(
        t + timedelta(seconds=93),
        "sshd",
        "Failed password for root from 203.0.113.5 port 40001 ssh2",
        unit="ssh.service",
        pid=701,
    )
    e.auth(
        t + timedelta(seconds=94),
        "sshd",
        "Failed password for root from 198.51.100.8 port 40002 ssh2",
        unit="ssh.service",
        pid=702,
    )
    e.auth(
        t + timedelta(seconds=95),
        "sshd",
        "Accepted publickey for alice from 192.0.2.4 port 40003 ssh2",
        unit="ssh.service",
        pid=703,
    )
    e.auth(
        t + timedelta(seconds=96),
        "sudo",
        "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
        unit="session-1.scope",
        pid=704,
    )
    e.auth(t + timedelta(seconds=97), "su", "(to postgres) alice on pts/0", unit="session-1.scope", pid=705)
    return e


def read_all(src: JournaldSource, batch: int = 1000) -> list[Envelope]:
    out: list[Envelope] = []
    for _ in range(1000):
        poll = src.poll(batch)
        out += poll.observations
        if poll.lines == 0:
            return out
    raise AssertionError("source never ran dry")


def test_reads_a_real_journal_file_and_resumes_after_its_cursor(tmp_path: Path) -> None:
    path = build_journal(tmp_path / "j" / "system.journal", sample_entries(NOW - timedelta(hours=1)))
    whole = read_all(JournaldSource("h", files=[path], max_priority=7))
    assert len(whole) == 64
    # read in small polls, "crashing" after each: a new source from the saved cursor goes on exactly there
    got: list[Envelope] = []
    cursor: dict[str, Any] | None = None
    for _ in range(100):
        src = JournaldSource("h", cursor, files=[path], max_priority=7)
        poll = src.poll(7)
        src.close()
        got += poll.observations
        if poll.cursor is None:
            break
        cursor = poll.cursor
    assert [e.id for e in got] == [e.id for e in whole]
    assert whole[0].payload["object_unit"] == "nginx.service" and whole[0].subject == "nginx.service"


def test_follows_entries_appended_to_the_journal(tmp_path: Path) -> None:
    path = build_journal(tmp_path / "system.journal", sample_entries(NOW - timedelta(hours=1), n_logs=3))
    src = JournaldSource("h", files=[path], max_priority=7)
    first = read_all(src)
    later = Entries()
    later.service_log(NOW, "nginx.service", "appended later", priority=3)
    build_journal(path, later)
    assert [e.payload["message"] for e in read_all(src)] == ["appended later"]
    assert len(first) == 17


def test_unit_and_priority_filters_and_backfill_window(tmp_path: Path) -> None:
    e = sample_entries(NOW - timedelta(hours=1), n_logs=10)
    e.service_log(NOW - timedelta(hours=30), "nginx.service", "too old for the backfill window", priority=3)
    path = build_journal(tmp_path / "system.journal", e)
    only_nginx = read_all(JournaldSource("h", files=[path], units=["nginx.service"], max_priority=7))
    assert {x.subject for x in only_nginx} == {"nginx.service"}
    assert len(only_nginx) == 15  # its 10 lines and the 5 manager messages about it
    severe = read_all(JournaldSource("h", files=[path], max_priority=4))
    messages = [x.payload["message"] for x in severe]
    assert "LOG:  checkpoint complete" not in messages and "2026/05/01 [info] 1" not in messages
    assert "Started nginx.service." in messages  # manager messages about units always pass
    assert "too old for the backfill window" not in messages
    everything = read_all(JournaldSource("h", files=[path], backfill=timedelta(hours=48), max_priority=7))
    assert "too old for the backfill window" in [x.payload["message"] for x in everything]


def test_odd_bytes_huge_and_missing_fields_do_not_stop_the_source(tmp_path: Path) -> None:
    e = Entries()
    e.service_log(NOW, "odd.service", b"bytes \xff\xfe\x00 not utf-8\nsecond line", priority=3)
    e.service_log(NOW, "odd.service", "H" * 300_000, priority=3)
    e.add(NOW, "only a message")
    e.items.append(
        {
            "__REALTIME_TIMESTAMP": str(int(NOW.timestamp() * 1e6)),
            "__MONOTONIC_TIMESTAMP": "99",
            "_BOOT_ID": j.BOOT_ID,
            "PRIORITY": "3",
        }
    )  # no MESSAGE at all
    e.service_log(NOW, "odd.service", "after the odd ones", priority=3)
    path = build_journal(tmp_path / "system.journal", e)
    src = JournaldSource("h", files=[path], max_priority=7)
    got = read_all(src)
    assert len(got) == 5
    assert got[0].payload["truncated"] and "\ufffd" in got[0].payload["message"]
    assert len(got[1].payload["message"]) == 4096
    assert got[3].payload["message"] == ""
    assert got[4].payload["message"] == "after the odd ones"
    # and all of it decides without a dead letter
    table = MemoryTable()
    for route in ROUTES:
        if route.source == RAW_JOURNAL:
            for raw in got:
                route.handle(raw.to_json(), table)


def test_a_missing_journal_is_reported_once_and_read_when_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [NOW]
    d = tmp_path / "journal"
    src = JournaldSource("h", directories=[d], clock=lambda: now[0], max_priority=7)
    with caplog.at_level(logging.INFO, logger="producers.journald.source"):
        for _ in range(3):
            assert src.poll(100).observations == []
            now[0] += REOPEN_EVERY
    assert len([r for r in caplog.records if "not found" in r.message]) == 1
    build_journal(d / "system.journal", sample_entries(NOW - timedelta(minutes=5), n_logs=2))
    now[0] += REOPEN_EVERY
    assert len(read_all(src)) == 16


def _decide(raws: list[Envelope], table: MemoryTable) -> list[Envelope]:
    out = []
    for route in ROUTES:
        for raw in raws:
            if raw.type in route.decide:
                out += [
                    o
                    for o in route.handle(raw.to_json(), table)
                    if not route.sink_for(o).name.endswith("commands")
                ]
    return out


def _project(store: LadybugStore, events: list[Envelope]) -> None:
    ops = []
    for e in events:
        ops += PROJECTORS[e.type](e, decode_payload(e.type, e.schema_version, e.payload))
    store.apply(ops, {})


def _ask(store: LadybugStore, name: str, **params: Any) -> list[dict[str, Any]]:
    cypher, p = resolve(name, params, datetime.now(UTC))
    return store.query(cypher, p).dicts()


def _metrics(ts: datetime, unit: str, cpu: float, rss: int) -> Envelope:
    obs = ServiceMetricsObserved(ts=ts, unit=unit, cpu_percent=cpu, rss_bytes=rss, processes=2)
    return metrics_envelope("h", obs, ts)


def test_the_catalog_answers_from_a_real_journal(tmp_path: Path) -> None:
    # Its own "now", not the module's: the catalog's windows (e.g. samples of the last 5 minutes) are
    # relative to the query time, and a slow suite can reach this test long after import.
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0)
    start = max(now - timedelta(minutes=30), today)
    path = build_journal(tmp_path / "system.journal", sample_entries(start))
    raws = read_all(JournaldSource("h", files=[path]))
    raws += [
        _metrics(now - timedelta(hours=h), "postgresql.service", 5.0, 100_000_000 + h)
        for h in range(30, 0, -1)
    ]
    raws += [_metrics(now - timedelta(seconds=30), "postgresql.service", 97.0, 100_000_000)]
    raws += [_metrics(now - timedelta(seconds=30), "nginx.service", 3.0, 5_000_000)]
    assert RAW_SERVICES.name != RAW_JOURNAL.name
    table = MemoryTable()
    events = _decide(raws, table)
    with LadybugStore(tmp_path / "graph") as store:
        store.ensure_schema()
        _project(store, events)

        logs = _ask(store, "service-logs", service="nginx")
        assert len(logs) == 10 and {r["level"] for r in logs} == {"error"}
        assert _ask(store, "service-logs", service="nginx.service", level="any", limit=3)[0]["ts"] is not None

        restarted = _ask(store, "services-restarted")
        assert [(r["service"], r["restarts"], r["restart_counter"]) for r in restarted] == [
            ("nginx.service", 2, 1)
        ]

        high = _ask(store, "services-high-cpu")
        assert [(r["service"], r["cpu_percent"]) for r in high] == [("postgresql.service", 97.0)]

        memory = _ask(store, "service-memory", service="postgresql")
        assert len(memory) == 24  # hours 23..1 ago and the fresh sample: one row per sampled minute
        assert all(r["service"] == "postgresql.service" for r in memory)
        assert memory == sorted(memory, key=lambda r: r["ts"])

        by_ip = _ask(store, "failed-logins-by-ip")
        assert [(r["source_ip"], r["attempts"], r["users"]) for r in by_ip] == [
            ("203.0.113.5", 2, 2),
            ("198.51.100.8", 1, 1),
        ]

        sudo = _ask(store, "sudo-by-user")
        assert [(r["user"], r["target_user"], r["command"], r["cwd"], r["tty"]) for r in sudo] == [
            ("alice", "root", "/usr/bin/systemctl restart nginx", "/home/alice", "pts/0")
        ]
        logins = store.query(
            "MATCH (l:Login)-[:BY_USER]->(u:User)-[:ACCOUNT_ON]->(h:Host) "
            "RETURN u.name AS user, l.success AS ok ORDER BY user"
        ).dicts()
        assert {(r["user"], r["ok"]) for r in logins} == {("admin", False), ("root", False), ("alice", True)}


def test_the_default_filter_keeps_every_line_a_processor_decides_from(tmp_path: Path) -> None:
    """The default drops most of a chatty journal, and the decisions are the same as from every line."""
    # On a minute: the eight failed logins at +40..47 s fall in one minute, as the storm bound counts
    # per minute (whenever NOW's seconds put a minute boundary among them, the aggregate vanished).
    start = (NOW - timedelta(hours=1)).replace(second=0, microsecond=0)
    e = sample_entries(start)
    for i in range(300):  # a chatty service: info and debug lines that decide nothing
        e.service_log(
            start + timedelta(seconds=i / 10), "app.service", f"GET /item/{i} 200", priority=6 + i % 2
        )
    e.service_log(start + timedelta(seconds=31), "app.service", "ERROR: could not connect to db", priority=6)
    e.service_log(start + timedelta(seconds=32), "app.service", "deprecated option, warning only", priority=5)
    for i in range(8):
        e.ssh_failed(start + timedelta(seconds=40 + i), "203.0.113.66", "admin", port=41000 + i, pid=900 + i)
    e.auth(
        start + timedelta(seconds=50),
        "sshd",
        "debug1: userauth-request",
        unit="ssh.service",
        pid=9,
        priority=7,
    )
    e.add(
        start + timedelta(seconds=60),
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        "task_memcg=/system.slice/postgresql.service,task=postgres,pid=4242,uid=109",
        PRIORITY=6,
        SYSLOG_IDENTIFIER="kernel",
        _TRANSPORT="kernel",
    )
    # older systemd: the service manager's texts without a catalog id or UNIT field
    e.add(
        start + timedelta(seconds=61),
        "nginx.service: Scheduled restart job, restart counter is at 2.",
        PRIORITY=6,
        SYSLOG_IDENTIFIER="systemd",
        _PID=1,
        _TRANSPORT="journal",
        _SYSTEMD_UNIT="init.scope",
    )
    e.auth(
        start + timedelta(seconds=62),
        "cockpit-session",
        "pam_unix(cockpit:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=192.0.2.9",
        unit="cockpit.service",
        pid=77,
    )
    e.items.sort(key=lambda x: int(str(x["__REALTIME_TIMESTAMP"])))
    path = build_journal(tmp_path / "system.journal", e)
    every = read_all(JournaldSource("h", files=[path], max_priority=7))
    default = read_all(JournaldSource("h", files=[path]))
    assert len(default) < len(every) / 3
    kept = {x.payload["message"] for x in default}
    assert "ERROR: could not connect to db" in kept and "deprecated option, warning only" in kept
    assert "GET /item/3 200" not in kept and "debug1: userauth-request" not in kept

    def decided(raws: list[Envelope]) -> dict[str, dict[str, Any]]:
        return {o.id: o.payload for o in _decide(raws, MemoryTable())}

    assert decided(default) == decided(every)
    types = {o.type for o in _decide(default, MemoryTable())}
    assert {"ServiceOOMKilled", "ServiceRestartScheduled", "ServiceLogged", "LoginFailed"} <= types
    assert "AuthFailuresAggregated" in types

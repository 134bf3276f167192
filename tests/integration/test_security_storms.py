"""An sshd brute-force run and a sudo storm in a real journal file, and the same lines as rsyslog writes them
to /var/log/auth.log, through the embedded pipeline (real SQLite log, real LadybugDB): a bounded number of
nodes, exact counts, one brute-force alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from processors import security
from producers.authlog.source import AuthLogSource
from producers.journald.source import JournaldSource
from producers.source import Source
from projections.catalog import resolve
from projections.stores.ladybug import LadybugStore
from tests.support.journal import Entries, build_journal
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import EmbeddedPipeline

HOST = "bastion"
ATTACKER = "203.0.113.66"
SCANNER = "198.51.100.9"
USERS = ("admin", "root", "oracle", "ubuntu", "git", "postgres", "pi", "test")


def history(start: datetime) -> tuple[Entries, int]:
    """(the entries, their number of lines): 150 attempts from ATTACKER over ~2.5 minutes, 3 from SCANNER,
    12 refused sudo commands of mallory, an accepted login and an allowed sudo afterwards."""
    e = Entries(host=HOST)
    lines = 0
    for i in range(150):
        user = USERS[i % len(USERS)]
        ts = start + timedelta(seconds=i)
        lines += e.ssh_failed(ts, ATTACKER, user, port=40000 + i, pid=10_000 + i, valid=user == "root")
    for i in range(3):
        ts = start + timedelta(seconds=7 + 20 * i, milliseconds=500)
        lines += e.ssh_failed(ts, SCANNER, "root", port=50000 + i, pid=20_000 + i, valid=True)
    for i in range(12):
        e.auth(
            start + timedelta(seconds=2 * i, milliseconds=250),
            "sudo",
            "mallory : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/mallory ; USER=root ; "
            "COMMAND=/usr/bin/cat /etc/shadow",
            unit="session-7.scope",
            pid=30_000 + i,
        )
        lines += 1
    end = start + timedelta(minutes=4)
    e.auth(
        end, "sshd", "Accepted publickey for alice from 192.0.2.4 port 40003 ssh2", unit="ssh.service", pid=9
    )
    e.auth(
        end,
        "sudo",
        "mallory : TTY=pts/1 ; PWD=/home/mallory ; USER=root ; COMMAND=/usr/bin/id",
        unit="session-7.scope",
        pid=31_000,
    )
    e.items.sort(key=lambda x: int(str(x["__REALTIME_TIMESTAMP"])))
    return e, lines + 2


def rows(graph: LadybugStore, cypher: str, **params: Any) -> list[dict[str, Any]]:
    return graph.query(cypher, params).dicts()


def auth_log(path: Path, entries: Entries) -> Path:
    """The entries as rsyslog writes them to auth.log with its high-precision (RFC 3339) template, the
    form of tests/data/auth/auth-rfc3339.log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for item in entries.items:
            ts = datetime.fromtimestamp(int(str(item["__REALTIME_TIMESTAMP"])) / 1e6, UTC)
            fh.write(
                f"{ts.isoformat()} {HOST} {item['SYSLOG_IDENTIFIER']}[{item['_PID']}]: {item['MESSAGE']}\n"
            )
    return path


def test_a_brute_force_run_in_a_real_journal_is_bounded_and_exact(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    entries, lines = history(start)
    path = build_journal(tmp_path / "journal" / "system.journal", entries)
    check_bounded_and_exact(tmp_path, JournaldSource(HOST, files=[path]), lines)


def test_the_same_run_in_an_auth_log_is_bounded_and_exact(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    entries, lines = history(start)
    path = auth_log(tmp_path / "log" / "auth.log", entries)
    check_bounded_and_exact(tmp_path, AuthLogSource(path, HOST), lines)


def check_bounded_and_exact(tmp_path: Path, source: Source, lines: int) -> None:
    log = SqliteLog(tmp_path / "log.sqlite")
    graph = LadybugStore(tmp_path / "graph")
    pipeline = EmbeddedPipeline(log, graph, [source], host=HOST, batch_size=100)
    try:
        pipeline.drain()
        logins = rows(
            graph,
            "MATCH (l:Login) WHERE l.success = false "
            "RETURN l.source_ip AS ip, l.count AS n, l.users AS users, l.ts AS ts ORDER BY ts",
        )
        # 150 attempts over 3 minutes: per minute the first 5 their own node, the rest one aggregate
        attacker = [r for r in logins if r["ip"] == ATTACKER]
        assert sum(r["n"] for r in attacker) == 150
        assert (
            sorted(r["n"] for r in attacker if r["n"] > 1)
            == [30 - security.FAILURE_LIMIT] + [60 - security.FAILURE_LIMIT] * 2
        )
        assert len(attacker) == 3 * (security.FAILURE_LIMIT + 1)
        assert [r["n"] for r in logins if r["ip"] == SCANNER] == [1, 1, 1]
        aggregate = next(r for r in attacker if r["n"] > 1)
        assert set(aggregate["users"].split(",")) == set(USERS)

        # the catalog's question answers the exact numbers
        cypher, params = resolve("failed-logins-by-ip", {"hours": 2}, datetime.now(UTC))
        answer = {r["source_ip"]: r["attempts"] for r in graph.query(cypher, params).dicts()}
        assert answer == {ATTACKER: 150, SCANNER: 3}

        refused = rows(
            graph,
            "MATCH (c:SudoCommand)-[:BY_USER]->(u:User {name: 'mallory'}) WHERE c.allowed = false "
            "RETURN c.count AS n",
        )
        assert sorted(r["n"] for r in refused) == [1] * security.FAILURE_LIMIT + [12 - security.FAILURE_LIMIT]

        alerts = rows(
            graph,
            "MATCH (e:Event {action: 'brute-force'})-[:HAPPENED_ON]->(h:Host) "
            "RETURN e.subject AS ip, h.name AS h",
        )
        assert alerts == [{"ip": ATTACKER, "h": HOST}]  # once per 5-minute window; not the scanner

        # user names an attacker tries do not become User nodes beyond the ones with their own node
        users = {r["name"] for r in rows(graph, "MATCH (u:User) RETURN u.name AS name")}
        assert users <= {*USERS, "alice", "mallory"}
        # every node in the graph (a fixed number per source and minute, whatever the rate), against
        # the lines: 45 for 866 lines here; without the aggregation 170 Login nodes alone
        nodes = rows(graph, "MATCH (n) RETURN count(n) AS n")[0]["n"]
        assert nodes < lines / 15
    finally:
        pipeline.close()
        graph.close()
        log.close()

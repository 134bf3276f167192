"""End to end on the embedded default: log lines appended while `watchman run` runs become answers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tests.support.instance import Instance


def _apt_entry(ts: datetime, body: list[str]) -> str:
    start = ts.strftime("%Y-%m-%d  %H:%M:%S")
    end = (ts + timedelta(seconds=5)).strftime("%Y-%m-%d  %H:%M:%S")
    return "\n".join(["", f"Start-Date: {start}", *body, f"End-Date: {end}", ""]) + "\n"


def _wait_for(inst: Instance, *args: str, until: Any, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = inst.query(*args)
        if until(rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"no answer in {timeout}s; last rows {rows}\n{inst.daemon_log()}")


def test_appended_apt_and_dpkg_lines_are_answered_by_query(instance: Instance) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    instance.apt_log.parent.mkdir(parents=True)
    instance.apt_log.write_text("")
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        ts = now - timedelta(minutes=10)
        dpkg_ts = (ts + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
        # dpkg writes while apt runs; apt writes its history entry at the end.
        with instance.dpkg_log.open("a") as f:
            f.write(f"{dpkg_ts} install docker.io:amd64 <none> 24.0.5-0ubuntu1\n")
            f.write(f"{dpkg_ts} status installed docker.io:amd64 24.0.5-0ubuntu1\n")
            f.write(f"{dpkg_ts} install python3-yaml:amd64 <none> 6.0-3\n")
        with instance.apt_log.open("a") as f:
            f.write(
                _apt_entry(
                    ts,
                    [
                        "Commandline: apt install docker.io",
                        "Requested-By: alice (1000)",
                        "Install: docker.io:amd64 (24.0.5-0ubuntu1), python3-yaml:amd64 (6.0-3, automatic)",
                    ],
                )
            )
        rows = _wait_for(
            instance,
            "last-updated",
            "-p",
            "name=docker",
            "-p",
            "prefix=true",
            until=lambda r: r and r[0]["requested_by"] == "alice",
        )
        assert rows[0]["package"] == "docker.io"
        assert rows[0]["version"] == "24.0.5-0ubuntu1"
        assert rows[0]["action"] == "install"
        assert rows[0]["ts"] == (ts + timedelta(seconds=2)).isoformat()

        week = instance.query("installed-this-week")
        assert {r["package"] for r in week} == {"docker.io", "python3-yaml"}, "twins must not duplicate"
        py = instance.query("python-packages-installed")
        assert [(r["package"], r["automatic"]) for r in py] == [("python3-yaml", True)]

        # an upgrade later: the software's current version follows
        later = now - timedelta(minutes=1)
        with instance.apt_log.open("a") as f:
            f.write(
                _apt_entry(
                    later,
                    [
                        "Commandline: apt upgrade",
                        "Upgrade: docker.io:amd64 (24.0.5-0ubuntu1, 24.0.7-0ubuntu2)",
                    ],
                )
            )
        rows = _wait_for(
            instance,
            "MATCH (s:Software) WHERE s.name = $n RETURN s.version AS v, s.state AS st",
            "-p",
            "n=docker.io",
            until=lambda r: r and r[0]["v"] == "24.0.7-0ubuntu2",
        )
        assert rows[0]["st"] == "installed"

        status = instance.cli("status", "--json").stdout
        assert '"graph_lag": 0' in status
    finally:
        code = instance.stop(proc)
    assert code == 0, instance.daemon_log()


def test_malformed_lines_go_to_the_dead_letter_topic(instance: Instance) -> None:
    instance.dpkg_log.parent.mkdir(parents=True)
    instance.dpkg_log.write_text(
        "2024-05-01 10:00:00 install jq:amd64 <none> 1.6-2\n"
        "this is not a dpkg line\n"
        "2024-05-01 10:00:01 install curl:amd64 <none> 7.88-1\n"
    )
    instance.cli("run", "--once")
    names = {r["package"] for r in instance.query("recent-changes", "-p", "days=100000")}
    assert names == {"jq", "curl"}
    status = instance.cli("status", "--json").stdout
    assert '"dlq": 1' in status


def test_second_daemon_on_the_same_data_dir_is_refused(instance: Instance) -> None:
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        second = instance.cli("run", "--once", check=False)
        assert second.returncode == 4
        assert "another `watchman run`" in second.stderr
    finally:
        instance.stop(proc)


def test_query_refuses_writes_unless_asked(instance: Instance) -> None:
    instance.cli("run", "--once")
    bad = instance.cli("query", "CREATE (h:Host {name: 'evil'})", check=False)
    assert bad.returncode == 1
    assert "--write" in bad.stderr
    assert instance.query("MATCH (h:Host) WHERE h.name = 'evil' RETURN count(h) AS n") == [{"n": 0}]


def test_a_graph_the_engine_refuses_is_rebuilt_from_the_log(instance: Instance) -> None:
    """LadybugDB can tear its WAL in a kill -9 and then refuse to open: the log is the truth, so the
    daemon moves the graph aside and projects everything again."""
    instance.dpkg_log.parent.mkdir(parents=True)
    instance.dpkg_log.write_text(
        "2024-05-01 10:00:00 install jq:amd64 <none> 1.6-2\n"
        "2024-05-01 10:00:01 install curl:amd64 <none> 7.88-1\n"
    )
    instance.cli("run", "--once")
    before = instance.graph_dump()
    graph = instance.data_dir / "graph"
    (graph / "graph.lbug.wal").write_bytes(bytes(range(256)) * 16)  # what a torn WAL looks like to it
    refused = instance.cli("query", "installed-software", check=False)
    assert refused.returncode == 1 and "rebuilds it from the event log" in refused.stderr
    instance.cli("run", "--once")
    assert instance.graph_dump() == before
    assert len(list(instance.data_dir.glob("graph.corrupt-*"))) == 1


def test_config_check_and_status_describe_every_source(instance: Instance) -> None:
    text = instance.config.read_text()
    instance.config.write_text(
        text.replace('api_listen = "127.0.0.1:0"', 'api_listen = "127.0.0.1:0"\nbogus_setting = 1')
    )
    bad = instance.cli("config", "check", check=False)
    assert bad.returncode != 0 and "bogus_setting" in (bad.stderr + bad.stdout)
    instance.config.write_text(
        text + "[network]\nenabled = false\n[journald]\nfiles = ['/nonexistent.journal']\n"
    )
    out = instance.cli("config", "check").stdout
    assert "network  off" in out
    assert "journald /nonexistent.journal  not present" in out
    assert "services metrics off; 0 health check(s); auto-restart allowed" in out
    assert "docker   off" in out
    assert "api      127.0.0.1:0" in out
    # status copes with sources that are not files (the journal) and lists the running API.
    proc = instance.start()
    try:
        instance.wait_ready(proc)
        st = orjson.loads(instance.cli("status", "--json").stdout)
        assert st["api"]["daemon"].startswith("http://127.0.0.1:")
        plain = instance.cli("status").stdout
        assert "api       daemon: http://127.0.0.1:" in plain
    finally:
        instance.stop(proc)

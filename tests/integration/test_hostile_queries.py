"""Hostile Cypher against a real `watchman run`: through the admin API (read-only) and the daemon's socket
(`query --write`). The daemon must stay up, the projector must keep writing, and the graph must not change."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.instance import Instance

NOW = datetime.now(UTC).replace(microsecond=0)

HOSTILE = [
    "CALL READ_CSV_SERIAL('/etc/hostname') RETURN *",
    "CALL READ_CSV_PARALLEL('/etc/hostname') RETURN *",
    "CALL READ_PARQUET('/etc/hostname') RETURN *",
    "CALL READ_NPY('/etc/hostname') RETURN *",
    "CALL timeout=1",
    "CALL threads=1",
    "CALL checkpoint_threshold=1",
    "CALL current_setting('home_directory') RETURN *",
    "MATCH (h:Host) CALL current_setting('timeout') RETURN *",
    "LOAD FROM '/etc/hostname' RETURN *",
    "COPY (MATCH (h:Host) RETURN h.name) TO '/tmp/watchman-leak.csv'",
    "RETURN `nextval`('x')",
    "ATTACH '/tmp/elsewhere' AS other (dbtype lbug)",
    "DROP TABLE Host",
]


def apt_entry(when: datetime, line: str) -> str:
    stamp = when.strftime("%Y-%m-%d  %H:%M:%S")
    return f"Start-Date: {stamp}\nCommandline: apt-get install\n{line}\nEnd-Date: {stamp}\n\n"


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


class Live:
    def __init__(self, inst: Instance, proc: subprocess.Popen[bytes], url: str) -> None:
        self.inst, self.proc, self.url = inst, proc, url

    def client(self) -> httpx.Client:
        token = (self.inst.data_dir / "api.token").read_text().strip()
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def alive(self) -> None:
        assert self.proc.poll() is None, f"daemon exited {self.proc.returncode}: {self.inst.daemon_log()}"
        assert httpx.get(self.url + "/health", timeout=10).status_code == 200

    def counts(self) -> dict[str, int]:
        with self.client() as c:
            nodes = c.post(
                "/query", json={"cypher": "MATCH (n) RETURN count(n) AS n", "read_only": True}
            ).json()
            rels = c.post(
                "/query", json={"cypher": "MATCH ()-[r]->() RETURN count(r) AS n", "read_only": True}
            ).json()
        return {"nodes": nodes["rows"][0]["n"], "rels": rels["rows"][0]["n"]}

    def packages(self) -> set[str]:
        with self.client() as c:
            rows = c.get("/admin/packages", params={"days": 60}).json()["rows"]
        return {r["package"] for r in rows}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    inst = Instance(tmp_path_factory.mktemp("hostile"))
    inst.write_config()
    inst.apt_log.parent.mkdir(parents=True, exist_ok=True)
    inst.apt_log.write_text(apt_entry(NOW - timedelta(days=2), "Install: nginx:amd64 (1.22.1-9)"))
    proc = inst.start()
    try:
        inst.wait_ready(proc)
        url = wait_for(lambda: _read(inst.data_dir / "api.url"), what="api.url")
        running = Live(inst, proc, url)
        wait_for(lambda: running.packages() == {"nginx"}, what="nginx projected")
        yield running
    finally:
        inst.stop(proc)


def _read(path: Any) -> str | None:
    try:
        return str(path.read_text().strip()) or None
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("cypher", HOSTILE)
def test_a_hostile_read_only_query_is_refused_and_the_daemon_stays_up(live: Live, cypher: str) -> None:
    before = live.counts()
    with live.client() as c:
        r = c.post("/query", json={"cypher": cypher, "read_only": True})
    live.alive()
    assert r.status_code == 400, r.text
    assert "not allowed" in r.json()["detail"] or "one statement" in r.json()["detail"]
    assert live.counts() == before


@pytest.mark.parametrize("cypher", ["CALL timeout=1", "CALL threads=1", *HOSTILE[:4]])
def test_query_write_cannot_change_the_writers_connection_nor_crash_it(live: Live, cypher: str) -> None:
    """`query --write` goes through the daemon's socket: the same allow-list (plus data writes) applies,
    and the projector's connection keeps its settings: later changes are still projected."""
    before = live.counts()
    proc = live.inst.cli("query", "--write", cypher, check=False)
    assert proc.returncode == 1, proc.stdout
    assert "not allowed" in proc.stderr
    live.alive()
    assert live.counts() == before
    # The writer still writes: a new package change reaches the graph.
    name = f"pkg-{abs(hash(cypher)) % 10_000}"
    with live.inst.apt_log.open("a") as fh:
        fh.write(apt_entry(NOW - timedelta(hours=1), f"Install: {name}:amd64 (1.0)"))
    wait_for(lambda: name in live.packages(), what=f"{name} projected after {cypher!r}")
    live.alive()


def test_writes_through_the_socket_still_work(live: Live) -> None:
    """--write keeps its purpose: data writes pass the allow-list."""
    write = "MATCH (h:Host) SET h.last_seen = h.last_seen RETURN h.name AS name"
    proc = live.inst.cli("query", "--write", write, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"name":"testhost"}'

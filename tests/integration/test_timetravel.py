"""Time travel, tail, webhook subscriptions and the timeline on a real embedded log and real LadybugDB.

The history is a generated apt/dpkg history (tests/support/histories.py) run through the real embedded
pipeline, so the log holds the events the packages domain really decides, each told once or twice.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import orjson
import pytest

from producers.packages.sources import LogSource
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events.packages import EVENTS_PACKAGES
from tests.support.histories import generate, write
from watchman.bus.base import Record
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import EmbeddedPipeline
from watchman.timetravel.cut import TimeMachine, replay_cut
from watchman.timetravel.tail import BEGINNING, END, Subscription, TailFilter, follow, start_positions
from watchman.timetravel.timeline import timeline

HOST = "h"
START = datetime(2020, 1, 1, tzinfo=UTC)
SOFTWARE = "MATCH (s:Software) RETURN s.key, s.version, s.state, s.first_seen ORDER BY s.key"
EVENTS = "MATCH (e:Event) RETURN e.id, e.ts, e.type, e.summary ORDER BY e.id"
RELS = "MATCH (e:Event)-[r]->(x) RETURN e.id, x.key ORDER BY e.id, x.key"


@dataclass
class World:
    dir: Path
    log: SqliteLog
    end_ts: datetime


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d = tmp_path_factory.mktemp("tt")
    h = generate(120, start=START, seed=5, packages=30)
    write(h, d / "history.log", d / "dpkg.log")
    utc = ZoneInfo("UTC")
    log = SqliteLog(d / "log.sqlite")
    graph = LadybugStore(d / "graph")
    sources = [
        LogSource("apt", d / "history.log", HOST, None, tz=utc),
        LogSource("dpkg", d / "dpkg.log", HOST, None, tz=utc),
    ]
    pipeline = EmbeddedPipeline(log, graph, sources, host=HOST, batch_size=300)
    pipeline.drain()
    (end,) = graph.query("MATCH (e:Event) RETURN max(e.ts)").rows[0]
    pipeline.close()
    graph.close()
    yield World(d, log, end.replace(tzinfo=UTC))
    log.close()


def _dump(store: LadybugStore) -> dict[str, Any]:
    return {q: store.query(q, {}, read_only=True).rows for q in (SOFTWARE, EVENTS, RELS)}


def test_at_equals_a_replay_of_the_log_cut_at_that_time(world: World, tmp_path: Path) -> None:
    tm = TimeMachine(world.log, tmp_path / "cache", snapshot_every=60)
    span = world.end_ts - START
    # Out of order on purpose: later cuts start from snapshots, earlier ones from older ones or nothing.
    cuts = [START + span * f for f in (0.5, 0.2, 0.9, 0.55, 0.0, 1.0)] + [START - timedelta(days=1)]
    from_snapshot = 0
    for i, when in enumerate(cuts):
        with tm.at(when) as (store, cut):
            got = _dump(store)  # type: ignore[arg-type]
        ref = LadybugStore(tmp_path / f"ref{i}")
        n = replay_cut(world.log, ref, when)
        expected = _dump(ref)
        ref.close()
        assert got == expected, f"cut at {when}"
        assert cut.total >= n  # the index counts each telling; the reference too
        from_snapshot += cut.snapshot_at is not None
    assert from_snapshot >= 3
    assert len(tm.snapshots()) >= 2
    # At the end of the history the past is the present: the live graph.
    live = LadybugStore(world.dir / "graph")
    try:
        with tm.at(world.end_ts + timedelta(seconds=1)) as (store, _):
            assert _dump(store) == _dump(live)  # type: ignore[arg-type]
    finally:
        live.close()
    # Nothing before the first event: an empty graph.
    with tm.at(START - timedelta(days=1)) as (store, cut):
        assert store.query(EVENTS, {}, read_only=True).rows == [] and cut.total == 0
    tm.close()


def test_at_sees_records_appended_after_a_snapshot_with_an_older_time(world: World, tmp_path: Path) -> None:
    """A late record (an imported old log) lands behind a snapshot's ends: the cut still holds it."""
    log = SqliteLog(tmp_path / "log.sqlite")
    log.ensure_topics([EVENTS_PACKAGES])
    records = world.log.read(EVENTS_PACKAGES.name, 0, 0, 1_000_000)
    half = len(records) // 2
    log.append(EVENTS_PACKAGES.name, [Record(r.key, r.value, r.headers) for r in records[half:]])
    tm = TimeMachine(log, tmp_path / "cache", snapshot_every=1)
    when = world.end_ts
    with tm.at(when):
        pass  # a snapshot of the later half only
    assert len(tm.snapshots()) == 1
    log.append(EVENTS_PACKAGES.name, [Record(r.key, r.value, r.headers) for r in records[:half]])
    with tm.at(when) as (store, cut):
        got = _dump(store)  # type: ignore[arg-type]
        assert cut.snapshot_at is not None
    ref = LadybugStore(tmp_path / "ref")
    replay_cut(log, ref, when)
    assert got == _dump(ref)
    ref.close()
    tm.close()
    log.close()


def _lines(world: World, start: str | datetime, flt: TailFilter | None = None) -> list[dict[str, Any]]:
    topics = [EVENTS_PACKAGES.name]
    got: list[dict[str, Any]] = []
    follow(
        world.log,
        start_positions(world.log, topics, start),
        flt or TailFilter(),
        got.append,
        exit_at_end=True,
    )
    return got


def test_tail_from_the_beginning_from_a_time_and_filtered(world: World) -> None:
    everything = _lines(world, BEGINNING)
    assert len(everything) == world.log.count(EVENTS_PACKAGES.name)
    assert _lines(world, END) == []
    # From a time: the log times of this history are all close together, so cut in the middle by one.
    mid = everything[len(everything) // 2]
    at = datetime.fromisoformat(mid["ts"])
    later = _lines(world, at)
    assert later and all(datetime.fromisoformat(x["ts"]) >= at for x in later)
    assert len(later) == sum(1 for x in everything if datetime.fromisoformat(x["ts"]) >= at)
    removed = _lines(world, BEGINNING, TailFilter(types=frozenset({"PackageRemoved"})))
    assert removed and all(x["value"]["type"] == "PackageRemoved" for x in removed)
    pkg1 = _lines(world, BEGINNING, TailFilter(subjects=("pkg1",)))
    assert pkg1 and {x["value"]["subject"] for x in pkg1} == {"pkg1"}


def test_tail_follows_live(tmp_path: Path, world: World) -> None:
    log = SqliteLog(tmp_path / "live.sqlite")
    log.ensure_topics([EVENTS_PACKAGES])
    first = world.log.read(EVENTS_PACKAGES.name, 0, 0, 3)
    got: list[dict[str, Any]] = []
    stop = threading.Event()
    positions = start_positions(log, [EVENTS_PACKAGES.name], END)
    seen = threading.Event()

    def emit(line: dict[str, Any]) -> None:
        got.append(line)
        if len(got) == 3:
            seen.set()

    t = threading.Thread(
        target=follow, args=(log, positions, TailFilter(), emit), kwargs={"exit_at_end": False, "stop": stop}
    )
    t.start()
    try:
        log.append(EVENTS_PACKAGES.name, [Record(r.key, r.value, r.headers) for r in first])
        assert seen.wait(30)
    finally:
        stop.set()
        t.join(30)
    assert [x["value"]["id"] for x in got] == [Envelope.from_json(r.value).id for r in first]
    log.close()


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        cls.bodies.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_subscription_delivers_at_least_once_through_failures(world: World, tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "sub.sqlite")
    log.ensure_topics([EVENTS_PACKAGES])
    records = world.log.read(EVENTS_PACKAGES.name, 0, 0, 200)
    log.append(EVENTS_PACKAGES.name, [Record(r.key, r.value, r.headers) for r in records])
    _Receiver.bodies, _Receiver.fail_first = [], 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        flt = TailFilter(types=frozenset({"PackageInstalled"}))
        sub = Subscription(
            log, url, "webhook:t", [EVENTS_PACKAGES.name], flt, retry_initial=0.01, batch_size=50
        )
        sub.run(BEGINNING, threading.Event(), exit_at_end=True)
        delivered = [e["value"]["id"] for b in _Receiver.bodies for e in b["events"]]
        wanted = [
            Envelope.from_json(r.value).id for r in records if r.headers.get("type") == "PackageInstalled"
        ]
        assert delivered == wanted  # in order, each once here (the failed posts were refused, not kept)
        assert _Receiver.fail_first == 0
        ends = {p: o for p, o in log.end_offsets(EVENTS_PACKAGES.name).items() if o}
        assert log.committed("webhook:t", EVENTS_PACKAGES.name) == ends
        # A restart resumes from the group's position: nothing is sent again.
        again = Subscription(log, url, "webhook:t", [EVENTS_PACKAGES.name], flt, retry_initial=0.01)
        assert again.run(BEGINNING, threading.Event(), exit_at_end=True) == 0
    finally:
        server.shutdown()
        log.close()


def test_timeline_from_the_log_equals_the_graphs_events(world: World, tmp_path: Path) -> None:
    tm = TimeMachine(world.log, tmp_path / "cache")
    since, until = START + timedelta(days=1), START + timedelta(days=2)
    lines = timeline(tm, since, until)
    graph = LadybugStore(world.dir / "graph")
    try:
        rows = graph.query(
            "MATCH (e:Event) WHERE e.ts >= $a AND e.ts <= $b RETURN e.id, e.summary ORDER BY e.ts, e.id",
            {"a": since, "b": until},
        ).rows
    finally:
        graph.close()
    assert lines and [(x["id"], x["summary"]) for x in lines] == [tuple(r) for r in rows]
    assert [x["ts"] for x in lines] == sorted(x["ts"] for x in lines)
    assert timeline(tm, since, until, domains=frozenset({"services"})) == []
    tm.close()


def test_cli_query_at_and_timeline(world: World, tmp_path: Path) -> None:
    """`watchman query --at` and `watchman timeline` on the embedded deployment's data directory."""
    when = START + (world.end_ts - START) / 3
    env = {**os.environ, "WATCHMAN_DATA_DIR": str(world.dir)}
    cli = [sys.executable, "-m", "watchman"]
    cmd = [
        *cli,
        "query",
        "MATCH (s:Software) RETURN s.key AS k, s.version AS v ORDER BY k",
        "--at",
        when.isoformat(),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    got = [orjson.loads(x) for x in done.stdout.splitlines()]
    ref = LadybugStore(tmp_path / "ref")
    replay_cut(world.log, ref, when)
    expected = [
        {"k": k, "v": v}
        for k, v in ref.query("MATCH (s:Software) RETURN s.key, s.version ORDER BY s.key").rows
    ]
    ref.close()
    assert got == expected and got
    assert "as of" in done.stderr
    bad = subprocess.run(
        [*cli, "query", "timeline", "--at", "yesterday"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "not a time" in bad.stderr
    tl = subprocess.run(
        [
            *cli,
            "timeline",
            "--since",
            START.isoformat(),
            "--until",
            (START + timedelta(hours=6)).isoformat(),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tl.returncode == 0, tl.stderr
    assert tl.stdout and all(orjson.loads(x)["domain"] == "packages" for x in tl.stdout.splitlines())


class _Backend:
    """The embedded daemon as the API sees it, over this module's log and graph (no producers)."""

    role, host, deployment = "daemon", HOST, "embedded"

    def __init__(self, data_dir: Path) -> None:
        from watchman.settings import Settings

        self.settings = Settings(data_dir=data_dir)
        self.graph = LadybugStore(data_dir / "graph")

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def metrics(self) -> bytes:
        return b""

    def query(self, cypher: str, params: Any, *, read_only: bool) -> Any:
        return self.graph.query(cypher, params, read_only=read_only)

    def publish(self, command: Envelope) -> None:
        raise NotImplementedError

    def issued(self, command_id: str) -> bool:
        return False


def test_api_query_at_timeline_and_why(world: World, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from watchman.api import TokenFile, create_app

    token = TokenFile(tmp_path / "api.token")
    backend = _Backend(world.dir)
    try:
        client = TestClient(create_app(backend, token))
        auth = {"Authorization": f"Bearer {token.ensure()}"}
        when = START + (world.end_ts - START) / 2
        cypher = "MATCH (s:Software) RETURN s.key AS k, s.version AS v ORDER BY k"
        r = client.post(
            "/query", json={"cypher": cypher, "read_only": True, "at": when.isoformat()}, headers=auth
        )
        assert r.status_code == 200, r.text
        ref = LadybugStore(tmp_path / "ref")
        replay_cut(world.log, ref, when)
        expected = [{"k": k, "v": v} for k, v in ref.query(cypher).rows]
        ref.close()
        assert r.json()["rows"] == expected
        named = client.post(
            "/query", json={"name": "timeline", "params": {"hours": 6}, "at": when.isoformat()}, headers=auth
        )
        assert named.status_code == 200 and named.json()["rows"]
        assert all(row["ts"] <= when.isoformat() for row in named.json()["rows"])
        bad = client.post("/query", json={"name": "timeline", "at": "yesterday"}, headers=auth)
        assert bad.status_code == 400 and "not a time" in bad.json()["detail"]
        assert client.post("/query", json={"name": "timeline", "at": "1d"}).status_code == 401
        tl = client.get(
            "/timeline",
            params={"since": START.isoformat(), "until": (START + timedelta(hours=6)).isoformat()},
            headers=auth,
        )
        assert tl.status_code == 200 and tl.json()["changes"]
        assert client.get("/timeline", params={"domain": "nope"}, headers=auth).status_code == 400
        why = client.get("/why", params={"subject": "pkg1", "window": "1d"}, headers=auth)
        assert why.status_code == 200, why.text
        assert why.json()["failure"]["subject"].endswith("pkg1:amd64")
        assert client.get("/why", params={"subject": "no-such-thing"}, headers=auth).status_code == 404
        assert (
            client.get("/why", params={"subject": "x", "window": "99999999w"}, headers=auth).status_code
            == 400
        )
    finally:
        backend.graph.close()


def test_cli_tail_and_why(world: World, tmp_path: Path) -> None:
    env = {**os.environ, "WATCHMAN_DATA_DIR": str(world.dir)}
    cli = [sys.executable, "-m", "watchman"]
    empty = {**os.environ, "WATCHMAN_DATA_DIR": str(tmp_path / "nothing")}
    for args in (["tail", "-e"], ["timeline"], ["query", "timeline", "--at", "1d"]):
        none = subprocess.run(
            [*cli, *args], env=empty, capture_output=True, text=True, timeout=120, check=False
        )
        assert none.returncode == 1 and "no event log" in none.stderr, (args, none.stderr)
    done = subprocess.run(
        [*cli, "tail", "-o", "beginning", "-e", "-d", "packages", "--type", "PackageRemoved"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(x) for x in done.stdout.splitlines()]
    expected = [r for r in _lines(world, BEGINNING) if r["value"]["type"] == "PackageRemoved"]
    assert lines == expected and lines
    bad = subprocess.run(
        [*cli, "tail", "-d", "nope", "-e"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert bad.returncode == 2 and "unknown domain" in bad.stderr
    why = subprocess.run(
        [*cli, "why", "pkg1", "--window", "1d", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert why.returncode == 0, why.stderr
    doc = orjson.loads(why.stdout)
    assert doc["failure"]["subject"].endswith("/pkg1:amd64") and doc["causes"]
    assert all(c["evidence"] for c in doc["causes"])


def test_build_snapshots_bounds_every_later_replay(world: World, tmp_path: Path) -> None:
    tm = TimeMachine(world.log, tmp_path / "cache", snapshot_every=10**9)
    tm.update_index()
    (indexed,) = tm.db.execute("SELECT COUNT(*) FROM cut_index").fetchone()
    made = tm.build_snapshots(every=150)
    assert made == indexed // 150 and len(tm.snapshots()) == made
    assert tm.build_snapshots(every=150) == 0  # already there
    span = world.end_ts - START
    for f in (0.15, 0.5, 0.85):
        when = START + span * f
        with tm.at(when) as (store, cut):
            got = _dump(store)  # type: ignore[arg-type]
        assert cut.applied <= 150 + 10  # at most the records of one spacing (+ those of one second)
        assert (cut.snapshot_at is not None) == (cut.total >= 150)
        ref = LadybugStore(tmp_path / f"ref-{f}")
        replay_cut(world.log, ref, when)
        assert got == _dump(ref)
        ref.close()
    tm.close()

"""A long backfill of apt's history.log and dpkg.log: both tellings of every change still become one event.

apt packs several changes into one line, so reading as many lines from each log per step ran apt
days ahead of dpkg; the processor, which remembers a bounded number of unpaired changes per package
and version, forgot apt's telling before dpkg's arrived and the change became two events (+9 % at
300k changes, +44 % at 1M). The ingestor now keeps the twins level in time (producers.pacing).
These tests shrink the processor's memory instead of growing the history, which fails the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import processors.packages
from producers.packages.sources import LogSource
from projections.stores.ladybug import LadybugStore
from schemas.envelope import Envelope
from schemas.events.packages import RAW_PACKAGES
from tests.support.histories import generate, write
from watchman.bus.sqlite_log import SqliteLog
from watchman.pipeline import EmbeddedPipeline

HOST = "h"
START = datetime(2020, 1, 1, tzinfo=UTC)


def backfill(tmp_path: Path, sessions: int, batch_size: int) -> tuple[int, int, list[Envelope]]:
    """(changes in the history, Event nodes in the graph, raw observations in the order ingested)."""
    h = generate(sessions, start=START, seed=11, packages=12)
    apt, dpkg = tmp_path / "history.log", tmp_path / "dpkg.log"
    write(h, apt, dpkg)
    utc = ZoneInfo("UTC")
    log = SqliteLog(tmp_path / "log.sqlite")
    graph = LadybugStore(tmp_path / "graph")
    sources = [LogSource("apt", apt, HOST, None, tz=utc), LogSource("dpkg", dpkg, HOST, None, tz=utc)]
    pipeline = EmbeddedPipeline(log, graph, sources, host=HOST, batch_size=batch_size)
    try:
        pipeline.drain()
        events = int(graph.query("MATCH (e:Event) RETURN count(e)").rows[0][0])
        raw = [Envelope.from_json(r.value) for r in log.read(RAW_PACKAGES.name, 0, 0, 1_000_000)]
        return h.changes, events, raw
    finally:
        pipeline.close()
        graph.close()
        log.close()


def test_twins_of_a_long_backfill_become_one_event_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 12 packages: every (package, action, version) recurs often, as on a host over years.
    monkeypatch.setattr(processors.packages, "KEEP_PER_KEY", 4)
    monkeypatch.setattr(processors.packages, "KEEP_DONE", 2)  # 4,059 events unpaced
    changes, events, _ = backfill(tmp_path, sessions=600, batch_size=50)
    assert changes > 2000
    assert events == changes


def test_the_log_ahead_waits_for_its_twin(tmp_path: Path) -> None:
    _, _, raw = backfill(tmp_path, sessions=600, batch_size=50)
    # In the order ingested, each source's latest change never runs more than the margin plus one
    # batch's span ahead of the other's, until one of them has nothing left to read.
    latest: dict[str, datetime] = {}
    worst = 0.0
    last_of = {src: max(e.ts for e in raw if e.source == src) for src in ("apt", "dpkg")}
    for e in raw:
        latest[e.source] = max(latest.get(e.source, e.ts), e.ts)
        if len(latest) == 2 and all(latest[s] < last_of[s] for s in latest):
            worst = max(worst, abs((latest["apt"] - latest["dpkg"]).total_seconds()))
    # 50 lines of either log span a few hours of this history: paced, the two stay within 10.1 h;
    # unpaced, apt runs 240 h (ten days) ahead.
    assert worst < 24 * 3600, f"apt and dpkg were {worst / 3600:.1f} h apart"


def test_a_stretch_of_log_without_changes_does_not_end_the_backfill(tmp_path: Path) -> None:
    """`watchman run --once` drains until a step does nothing; a step that read 100 lines of dpkg's
    status noise did something, and the change after them must still be imported."""
    dpkg = tmp_path / "dpkg.log"
    noise = [
        f"2024-01-01 10:00:{i % 60:02d} status half-configured libc-bin:amd64 2.36-9" for i in range(350)
    ]
    change = "2024-01-01 10:01:00 install jq:amd64 <none> 1.6-2.1"
    dpkg.write_text("\n".join([*noise, change, ""]))
    log = SqliteLog(tmp_path / "log.sqlite")
    graph = LadybugStore(tmp_path / "graph")
    source = LogSource("dpkg", dpkg, HOST, None, tz=ZoneInfo("UTC"))
    pipeline = EmbeddedPipeline(log, graph, [source], host=HOST, batch_size=100)
    try:
        counts = pipeline.drain()
        assert counts.lines == 351
        rows = graph.query("MATCH (e:Event) RETURN e.package_name").rows
        assert rows == [["jq"]]
    finally:
        pipeline.close()
        graph.close()
        log.close()


def _domain_ids(tmp_path: Path, batch_size: int) -> dict[str, str]:
    """Every domain event's id -> its content, after a backfill read in batches of `batch_size` lines."""
    from schemas.events.packages import EVENTS_PACKAGES

    h = generate(300, start=START, seed=5, packages=10)
    apt, dpkg = tmp_path / "history.log", tmp_path / "dpkg.log"
    write(h, apt, dpkg)
    utc = ZoneInfo("UTC")
    log = SqliteLog(tmp_path / "log.sqlite")
    graph = LadybugStore(tmp_path / "graph")
    sources = [LogSource("apt", apt, HOST, None, tz=utc), LogSource("dpkg", dpkg, HOST, None, tz=utc)]
    pipeline = EmbeddedPipeline(log, graph, sources, host=HOST, batch_size=batch_size)
    try:
        pipeline.drain()
        out: dict[str, str] = {}
        for p in range(log.partitions(EVENTS_PACKAGES.name)):
            for r in log.read(EVENTS_PACKAGES.name, p, 0, 1_000_000):
                e = Envelope.from_json(r.value)
                p_ = e.payload
                out[e.id] = f"{p_['package']} {p_['action']} {p_.get('version')} {e.ts.isoformat()}"
        return out
    finally:
        pipeline.close()
        graph.close()
        log.close()


def test_event_ids_do_not_depend_on_where_batches_fall(tmp_path: Path) -> None:
    """Issue 12 item 6: with ten packages, every (package, action, version) recurs, and every 10th change
    is told by dpkg alone. Where the batches cut (as a restart cuts them) must not change any id: the
    plain log leads, so the earlier of two changes of one key is always told first."""
    runs = [_domain_ids(tmp_path / f"b{n}", n) for n in (7, 50, 333)]
    assert len(runs[0]) > 500
    for other in runs[1:]:
        assert other == runs[0]

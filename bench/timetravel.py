"""Time travel: `query --at` on a long history (watchman/timetravel/cut.py).

The domain log is the replay bench's (the real packages parsers and decide function, spread over years
of event time). Measured: indexing it once (event times), building snapshots every S records, then
`--at` queries at random times, each copying the nearest snapshot and replaying what lies past it;
beside them the same query answered by a replay from nothing (no snapshot) at the middle of history.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import fmt, say, scratch
from bench.replay import domain_log
from bench.results import Figure, Section, Target
from watchman.timetravel.cut import TimeMachine

TARGET_SECONDS = 2.0
QUERY = "MATCH (s:Software) WHERE s.state = $state RETURN count(s)"


def run(
    work: Path, *, events: int, every: int = 10_000, queries: int = 7, domain_logs: Path | None = None
) -> Section:
    section = Section("timetravel")
    with scratch(work, f"timetravel-{events}") as d:
        log, n = domain_log(domain_logs or d, events)
        try:
            tm = TimeMachine(log, d / "cache", snapshot_every=every, keep_snapshots=10_000)
            say(f"timetravel: indexing {n:,} records by event time")
            t0 = time.perf_counter()
            tm.update_index()
            index_s = time.perf_counter() - t0
            lo, hi = tm.db.execute("SELECT min(ts_ms), max(ts_ms) FROM cut_index").fetchone()
            mid = datetime.fromtimestamp((lo + hi) / 2000, UTC)
            say("timetravel: a cut at the middle of history with no snapshot (the baseline)")
            t0 = time.perf_counter()
            _, cold = tm.query(QUERY, {"state": "installed"}, mid)
            cold_s = time.perf_counter() - t0
            for name, *_ in tm.snapshots():  # the baseline may have kept one: measure snapshots alone
                tm.db.execute("DELETE FROM snapshots WHERE name=?", (name,))
            tm.db.commit()
            say(f"timetravel: snapshots every {every:,} records")
            t0 = time.perf_counter()
            made = tm.build_snapshots(every)
            snap_s = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in (d / "cache").rglob("*") if f.is_file())
            rng = random.Random(5)
            times: list[float] = []
            replayed: list[int] = []
            tm.snapshot_every = 10**12  # the measured queries keep no new snapshots
            for _ in range(queries):
                at = datetime.fromtimestamp(rng.uniform(lo, hi) / 1000, UTC)
                t0 = time.perf_counter()
                _, cut = tm.query(QUERY, {"state": "installed"}, at)
                times.append(time.perf_counter() - t0)
                replayed.append(cut.applied)
            tm.close()
        finally:
            log.close()
    med = statistics.median(times)
    section.figures += [
        Figure(
            f"query --at on {n:,} domain records (median of {queries} random times)",
            med,
            "s",
            baseline=cold_s,
            baseline_label="the same without snapshots (a replay of half the history), s",
            target=Target("<=", TARGET_SECONDS, "s"),
            note=f"max {fmt(max(times))} s; a snapshot every {every:,} records; "
            f"{fmt(statistics.median(replayed))} records replayed (median)",
        ),
        Figure(f"index {n:,} records by event time (once)", index_s, "s"),
        Figure(f"build {made} snapshots", snap_s, "s", note=f"cache {size / 2**20:,.0f} MiB"),
    ]
    section.details += [
        f"cold cut at the middle: {cold.applied:,} records replayed in {fmt(cold_s)} s",
        f"--at times (s): {', '.join(fmt(t) for t in times)}",
        f"records replayed past the snapshot: {', '.join(f'{r:,}' for r in replayed)}",
    ]
    return section

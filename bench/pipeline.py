"""Embedded pipeline throughput: apt + dpkg logs -> EmbeddedPipeline -> LadybugDB, whole and stage by stage.

The baseline is the floor under every stage: batched appends of as many ~600-byte records to the
SQLite log, with no parsing, deciding or graph writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import HISTORY_START, HOST, fmt, median_time, say, scratch, sessions_for, timed
from bench.results import Figure, Section, Target
from producers.packages.sources import LogSource
from projections.stores.ladybug import LadybugStore
from schemas.events.packages import RAW_PACKAGES
from schemas.topics import TOPICS
from tests.support.histories import generate, write
from watchman.bus.base import Record
from watchman.pipeline import EmbeddedPipeline, StepCounts
from watchman.wiring import open_graph, open_log

TARGET = Target(">=", 10_000, "events/s")
STAGES = ("ingest", "process", "project")
BASELINE_BATCH = 2000
RECORD_BYTES = 600


@dataclass(frozen=True)
class Workload:
    apt: Path
    dpkg: Path
    changes: int  # distinct package changes: the Event nodes a correct run leaves in the graph
    lines: int


def make_workload(changes: int, work: Path, *, seed: int = 7) -> Workload:
    """apt history.log + dpkg.log telling of at least `changes` package changes (whole apt sessions)."""
    sessions = sessions_for(changes)
    h = generate(sessions, start=HISTORY_START, seed=seed)
    while h.changes < changes:  # the same seed makes the same first sessions: grow to the size asked
        sessions += sessions_for(changes - h.changes)
        h = generate(sessions, start=HISTORY_START, seed=seed)
    apt, dpkg = work / "logs" / "apt" / "history.log", work / "logs" / "dpkg.log"
    write(h, apt, dpkg)
    return Workload(apt, dpkg, h.changes, len(h.apt) + len(h.dpkg))


@contextmanager
def open_pipeline(wl: Workload, work: Path, batch_size: int) -> Iterator[EmbeddedPipeline]:
    """A pipeline over a fresh log and graph in `work`, closed (sources, graph, log) afterwards."""
    log = open_log(f"sqlite://{work / 'log.sqlite'}")
    graph = open_graph(f"ladybug://{work / 'graph'}")
    utc = ZoneInfo("UTC")
    sources = [
        LogSource("apt", wl.apt, HOST, None, tz=utc),
        LogSource("dpkg", wl.dpkg, HOST, None, tz=utc),
    ]
    try:
        pipeline = EmbeddedPipeline(log, graph, sources, host=HOST, batch_size=batch_size)
        try:
            yield pipeline
        finally:
            pipeline.close()
    finally:
        graph.close()
        log.close()


def graph_events(pipeline: EmbeddedPipeline) -> int:
    return int(pipeline.graph.query("MATCH (e:Event) RETURN count(e)").rows[0][0])


@dataclass
class DrainRun:
    changes: int
    seconds: float
    counts: StepCounts
    graph_events: int

    @property
    def rate(self) -> float:
        return self.changes / self.seconds


def drain_run(changes: int, work: Path, *, batch_size: int = 2000) -> DrainRun:
    """From log files to a drained graph, timed from the first poll to the last projection."""
    with scratch(work, f"pipeline-{changes}") as d:
        wl = make_workload(changes, d)
        with open_pipeline(wl, d, batch_size) as p:
            seconds, counts = timed(p.drain)
            return DrainRun(wl.changes, seconds, counts, graph_events(p))


def stage_step(pipeline: EmbeddedPipeline, stage: str) -> Callable[[], int]:
    """One step of one stage, returning how many records it handled (0 once the stage has caught up)."""
    if stage == "ingest":
        return lambda: pipeline.ingest_once().ingested
    if stage == "process":
        return lambda: pipeline.process_once().processed
    if stage == "project":
        return lambda: pipeline.project_once().projected
    raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")


def run_stage(pipeline: EmbeddedPipeline, stage: str) -> int:
    """Step one stage until it has caught up with everything before it; returns the records handled."""
    step = stage_step(pipeline, stage)
    total = 0
    while n := step():
        total += n
    return total


@dataclass
class StagesRun:
    changes: int
    seconds: dict[str, float] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    graph_events: int = 0

    @property
    def slowest(self) -> str:
        return max(self.seconds, key=lambda s: self.seconds[s])


def stages_run(changes: int, work: Path, *, batch_size: int = 2000) -> StagesRun:
    """Each stage driven to completion before the next starts, so each one's cost shows alone."""
    with scratch(work, f"stages-{changes}") as d:
        wl = make_workload(changes, d)
        out = StagesRun(wl.changes)
        with open_pipeline(wl, d, batch_size) as p:
            for stage in STAGES:
                out.seconds[stage], out.records[stage] = timed(partial(run_stage, p, stage))
            out.graph_events = graph_events(p)
        return out


def baseline_records(n: int) -> list[Record]:
    """`n` records shaped like raw-topic envelopes: ~600 bytes of JSON, keys spread over packages."""
    pad = "x" * RECORD_BYTES
    out = []
    for i in range(n):
        value = f'{{"id":"{i:032x}","type":"PackageChangeObserved","host":"{HOST}","pad":"{pad}"}}'
        out.append(
            Record(
                f"{HOST}/pkg{i % 440}",
                value[:RECORD_BYTES].encode(),
                {"type": "PackageChangeObserved", "schema_version": "1"},
            )
        )
    return out


def append_baseline(n: int, work: Path, *, batch: int = BASELINE_BATCH) -> float:
    """Seconds to append `n` prepared records to a fresh SQLite log in batches of `batch`."""
    records = baseline_records(n)
    with scratch(work, "append") as d:
        log = open_log(f"sqlite://{d / 'log.sqlite'}")
        try:
            log.ensure_topics(TOPICS.values())

            def append_all() -> None:
                for i in range(0, n, batch):
                    log.append(RAW_PACKAGES.name, records[i : i + batch])

            return timed(append_all)[0]
        finally:
            log.close()


def append_rate(n: int, work: Path, repeat: int) -> float:
    """Median records/s of the append baseline (each repetition into a fresh log)."""
    return n / median_time(lambda: append_baseline(n, work), repeat)


def copy_floor_seconds(n: int, work: Path) -> float:
    """The graph store's own floor: LadybugDB `COPY FROM` CSV of `n` Event rows (the columns a package
    event fills) and their ACTED_ON and HAPPENED_ON relationships, into a fresh store with the product's
    schema and the Host and Software nodes already there. Timed: the three COPY statements."""
    import csv

    with scratch(work, "copy-floor") as d:
        graph = open_graph(f"ladybug://{d / 'graph'}")
        try:
            graph.ensure_schema()
            softwares = [f"{HOST}/deb/pkg{i}" for i in range(min(n, 440))]
            graph.query("CREATE (:Host {name: $h})", {"h": HOST}, read_only=False)
            for key in softwares:
                graph.query("CREATE (:Software {key: $k})", {"k": key}, read_only=False)
            events, acted, happened = d / "events.csv", d / "acted.csv", d / "happened.csv"
            with events.open("w", newline="") as fe, acted.open("w", newline="") as fa:
                we, wa = csv.writer(fe), csv.writer(fa)
                for i in range(n):
                    sw = softwares[i % len(softwares)]
                    eid = f"{i:032x}"
                    we.writerow(
                        [
                            eid,
                            "PackageUpgraded",
                            f"2020-01-01 00:00:{i % 60:02d}",
                            HOST,
                            "upgrade",
                            sw,
                            f"upgrade pkg{i % 440} 1.{i} -> 1.{i + 1} (deb)",
                            f"pkg{i % 440}",
                            "amd64",
                            "deb",
                            f"1.{i + 1}",
                            f"1.{i}",
                            "apt,dpkg",
                        ]
                    )
                    wa.writerow([eid, sw])
            with happened.open("w", newline="") as fh:
                wh = csv.writer(fh)
                for i in range(n):
                    wh.writerow([f"{i:032x}", HOST])
            columns = (
                "id, type, ts, host, action, subject, summary, package_name, arch, ecosystem, version, "
                "old_version, source"
            )
            # The bench drives the store's own connection: the store refuses COPY to user queries.
            assert isinstance(graph, LadybugStore)
            conn = graph._conn

            def copy_all() -> None:
                conn.execute(f"COPY Event({columns}) FROM '{events}' (header=false)")
                conn.execute(f"COPY ACTED_ON FROM '{acted}' (from='Event', to='Software', header=false)")
                conn.execute(f"COPY HAPPENED_ON FROM '{happened}' (from='Event', to='Host', header=false)")

            seconds = timed(copy_all)[0]
            got = graph.query("MATCH (e:Event)-[:ACTED_ON]->(:Software) RETURN count(e)").rows[0][0]
            if int(got) != n:
                raise RuntimeError(f"COPY floor loaded {got} of {n} events")
            return seconds
        finally:
            graph.close()


def duplicates_note(changes: int, events: int) -> str:
    if events == changes:
        return ""
    return (
        f"the graph holds {events:,} Event nodes for {changes:,} changes: "
        f"{events - changes:+,} (twins of one change not merged into one event)"
    )


def run(
    work: Path,
    *,
    events: int,
    batch_size: int = 2000,
    repeat: int = 3,
    cache: dict[int, DrainRun] | None = None,
) -> tuple[Section, StagesRun]:
    section = Section("pipeline")
    say(f"pipeline: {events:,} events, logs -> graph until drained")
    whole = drain_run(events, work, batch_size=batch_size)
    if cache is not None:
        cache[events] = whole
    say(f"pipeline: {whole.changes:,} events in {whole.seconds:.1f} s; now stage by stage")
    stages = stages_run(events, work, batch_size=batch_size)
    say("pipeline: baseline, batched SQLite appends")
    base = append_rate(whole.changes, work, repeat)
    base_label = "raw SQLite appends, records/s"
    say("pipeline: the graph store's floor, LadybugDB COPY FROM CSV of as many events")
    copy_s = copy_floor_seconds(whole.changes, work)
    section.figures.append(
        Figure(
            f"logs → graph, {whole.changes:,} events",
            whole.rate,
            "events/s",
            baseline=base,
            baseline_label=base_label,
            target=TARGET,
            note=duplicates_note(whole.changes, whole.graph_events),
        )
    )
    section.figures.append(
        Figure(
            "vs LadybugDB COPY floor",
            whole.rate,
            "events/s",
            baseline=whole.changes / copy_s,
            baseline_label="COPY FROM CSV of the Event rows + 2 relationships each, events/s",
            note=f"COPY of {whole.changes:,} events: {copy_s:.2f} s",
        )
    )
    total = sum(stages.seconds.values())
    for stage in STAGES:
        secs = stages.seconds[stage]
        section.figures.append(
            Figure(
                f"{stage} only",
                stages.changes / secs,
                "events/s",
                baseline=base,
                baseline_label=base_label,
                note=f"{secs:.2f} s, {secs / total:.0%} of the staged run"
                + (" (slowest stage)" if stage == stages.slowest else ""),
            )
        )
    c = whole.counts
    section.details += [
        f"Workload: apt history.log + dpkg.log from tests.support.histories, {whole.changes:,} changes; "
        f"batch size {batch_size}. Raw records {c.ingested:,}, processed {c.processed:,}, "
        f"domain records projected {c.projected:,}, dead letters {c.dead}; "
        f"Event nodes in the graph {whole.graph_events:,}.",
        "",
        f"Baseline: `SqliteLog.append` of {whole.changes:,} prepared {RECORD_BYTES}-byte records in "
        f"batches of {BASELINE_BATCH} (one transaction each) into a fresh log; median of {repeat}.",
        "",
        "Stage by stage (each driven to completion before the next starts):",
        "",
        "| stage | records | seconds | share | events/s |",
        "|---|---|---|---|---|",
        *(
            f"| {s} | {stages.records[s]:,} | {fmt(stages.seconds[s])} | {stages.seconds[s] / total:.0%} "
            f"| {fmt(stages.changes / stages.seconds[s])} |"
            for s in STAGES
        ),
        f"| all three | | {fmt(total)} | 100% | {fmt(stages.changes / total)} |",
    ]
    if stages.graph_events != stages.changes:
        section.details += ["", f"Staged run: {duplicates_note(stages.changes, stages.graph_events)}."]
    return section, stages

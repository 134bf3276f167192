"""Distributed throughput and replay on the infra/ servers: logs -> Kafka -> Faust -> Kafka -> Neo4j.

Baselines, measured in the same run on the same servers: a raw aiokafka producer sending the same
raw records (the floor of the Kafka leg), and a minimal hand-written UNWIND MERGE loader writing the
same events, software and host into the same Neo4j (the floor of the graph leg). Replay rebuilds an
empty Neo4j from the domain topic on Kafka with watchman.replay.rebuild, as `watchman replay` does.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import servers
from bench.common import HISTORY_START, HOST, fmt, median_time, say, scratch, sessions_for, timed
from bench.replay import MILLION, REPLAY_BATCH, _observations, domain_log
from bench.results import Figure, Section, Target
from processors.packages import decide
from processors.tables import MemoryTable
from producers.packages.envelopes import raw_envelope
from projections.packages import STATE_AFTER, software_key, summary
from schemas.envelope import Envelope
from schemas.events import PackageChanged, decode_payload
from schemas.events.packages import EVENTS_PACKAGES, RAW_PACKAGES
from schemas.topics import COMPRESSION, TOPICS
from tests.support.histories import History, generate, write
from watchman.bus.base import Record
from watchman.pipeline import envelope_record
from watchman.projecting import decode
from watchman.replay import rebuild

TARGET = Target(">=", 20_000, "events/s")
TARGET_VS_LOADER = Target(">=", 0.8, "× minimal loader")
TARGET_REPLAY_1M = 60.0
BASELINE_TOPIC = servers.BENCH_TOPIC_PREFIX + "baseline.raw"
BASELINE_OUT_TOPIC = servers.BENCH_TOPIC_PREFIX + "baseline.raw.out"  # deleted with it (a prefix)
TARGET_WORKER_VS_LOOP = Target(">=", 0.5, "× raw consume → produce loop")
LOADER_BATCH = 2000  # the projector's batch (settings.batch_size default)
FAUST_GROUP = "watchman"  # processors.faust_app.APP_ID: the worker's consumer group


@dataclass
class Workload:
    history: History
    apt: Path
    dpkg: Path

    @property
    def changes(self) -> int:
        return self.history.changes


def _workload(h: History, root: Path) -> Workload:
    """The two logs of `h` under `root` (each run its own root: data dir, spool and cursors fresh)."""
    wl = Workload(h, root / "logs" / "apt" / "history.log", root / "logs" / "dpkg.log")
    wl.apt.parent.mkdir(parents=True, exist_ok=True)
    return wl


def make_history(changes: int, *, seed: int = 7) -> History:
    sessions = sessions_for(changes)
    h = generate(sessions, start=HISTORY_START, seed=seed)
    while h.changes < changes:
        sessions += sessions_for(changes - h.changes)
        h = generate(sessions, start=HISTORY_START, seed=seed)
    return h


def observations(h: History) -> Iterator[Any]:
    """apt's and dpkg's observations in time order, as a live producer of both logs delivers them."""
    return heapq.merge(_observations(h.dpkg, "dpkg"), _observations(h.apt, "apt"), key=lambda o: o.ts)


def raw_records(h: History) -> list[Record]:
    now = datetime.now(UTC)
    return [envelope_record(raw_envelope(HOST, o, now)) for o in observations(h)]


def domain_envelopes(h: History) -> list[Envelope]:
    table = MemoryTable()
    now = datetime.now(UTC)
    return [env for o in observations(h) for env in decide(raw_envelope(HOST, o, now), o, table)]


# -- the pipeline -------------------------------------------------------------------------------------


@dataclass
class PipelineRun:
    changes: int
    seconds: float
    events: int
    join_seconds: float
    log_lines: int
    # Seconds from the start until each leg had passed on everything: raw topic full (producer),
    # domain topic full (worker), every Event in Neo4j (projector).
    legs: dict[str, float]


def event_count(store: Any) -> int:
    return int(store.query("MATCH (e:Event) RETURN count(e)").rows[0][0])


def _topic_total(bus: Any, topic: str) -> int:
    return sum(bus.end_offsets(topic).values())


def pipeline_run(
    s: servers.Servers,
    wl: Workload,
    work: Path,
    *,
    timeout: float,
    raw: int,
    domain: int,
    worker_module: str = "watchman",
) -> PipelineRun:
    """Worker and projector running and the producer following two empty logs; then the whole
    history is written to the logs at once and timed until Neo4j holds every event. `raw` and `domain`
    are the records the raw and domain topics hold when the producer and the worker are done."""
    from watchman.bus.kafka import KafkaBus

    config = servers.write_config(
        work, apt=wl.apt, dpkg=wl.dpkg, bus=f"kafka://{s.kafka}", graph=s.neo4j, neo4j_user=s.user
    )
    env = servers.env_for(config, s)
    listen = ("--api-listen", "127.0.0.1:0")
    wl.apt.write_text("")
    wl.dpkg.write_text("")
    procs = {
        name: servers.start(
            work, env, name, *listen, module=worker_module if name == "worker" else "watchman"
        )
        for name in ("worker", "project", "produce")
    }
    try:
        say("distributed: waiting for the Faust worker to join its group")
        join = servers.wait_group_stable(s, FAUST_GROUP, 180, procs["worker"])
        time.sleep(2.0)  # the producer past its start-up, following the empty logs
        legs: dict[str, float] = {}
        bus = KafkaBus(s.kafka)
        with servers.open_neo4j(s) as store:
            say(f"distributed: writing {wl.changes:,} changes to the logs, timing until all are in Neo4j")
            started = time.perf_counter()
            write(wl.history, wl.apt, wl.dpkg)
            n = 0
            while n < wl.changes:
                now = time.perf_counter() - started
                if "producer" not in legs and _topic_total(bus, RAW_PACKAGES.name) >= raw:
                    legs["producer"] = now
                if "worker" not in legs and _topic_total(bus, EVENTS_PACKAGES.name) >= domain:
                    legs["worker"] = now
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited {proc.returncode}: {servers.tail(work, name)}")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(
                        f"{n:,} of {wl.changes:,} events in Neo4j after {timeout:.0f} s; "
                        f"project: {servers.tail(work, 'project')}"
                    )
                time.sleep(0.2)
                n = event_count(store)
            seconds = time.perf_counter() - started
            legs["projector"] = seconds
            bus.close()
    finally:
        for proc in procs.values():
            servers.stop(proc)
    return PipelineRun(wl.changes, seconds, n, join, len(wl.history.apt) + len(wl.history.dpkg), legs)


# -- baseline 1: raw aiokafka producer ----------------------------------------------------------------


async def _produce_raw(kafka: str, records: Sequence[Record]) -> float:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(BASELINE_TOPIC, RAW_PACKAGES.partitions, 1)])
    finally:
        await admin.close()
    # The same guarantees as the pipeline's producer: acknowledged by all replicas, idempotent.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=COMPRESSION,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(
                BASELINE_TOPIC,
                r.value,
                key=r.key.encode(),
                headers=[(k, v.encode()) for k, v in r.headers.items()],
            )
            for r in records
        ]
        await producer.flush()
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _consume_produce(kafka: str, total: int) -> float:
    """Baseline 3: the floor of the worker leg. A plain aiokafka loop reads the raw records baseline 1
    wrote (getmany batches, no group: partitions assigned, from the start) and sends each value on to
    another topic with the producer's guarantees, then waits for every ack. No decoding, no deciding."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(BASELINE_OUT_TOPIC, EVENTS_PACKAGES.partitions, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=COMPRESSION,
    )
    await consumer.start()
    await producer.start()
    try:
        consumer.assign([TopicPartition(BASELINE_TOPIC, p) for p in range(RAW_PACKAGES.partitions)])
        started = time.perf_counter()
        seen = 0
        futures = []
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for messages in batches.values():
                for m in messages:
                    futures.append(await producer.send(BASELINE_OUT_TOPIC, m.value, key=m.key))
                seen += len(messages)
        await producer.flush()
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()


def raw_producer_seconds(s: servers.Servers, records: Sequence[Record]) -> tuple[float, float]:
    """Baseline 1 (produce the raw records) and baseline 3 (consume them and produce them on), seconds."""

    async def both() -> tuple[float, float]:
        produce = await _produce_raw(s.kafka, records)
        return produce, await _consume_produce(s.kafka, len(records))

    try:
        return asyncio.run(both())
    finally:
        servers.delete_topics(s, BASELINE_TOPIC)


# -- baseline 2: a minimal UNWIND MERGE loader --------------------------------------------------------

LOADER = """
UNWIND $rows AS r
MERGE (h:Host {name: r.host})
MERGE (s:Software {key: r.skey})
SET s.host = r.host, s.ecosystem = r.ecosystem, s.name = r.name, s.arch = r.arch,
    s.version = r.version, s.state = r.state, s.last_seen = r.ts
MERGE (e:Event {id: r.id})
SET e.type = r.type, e.ts = r.ts, e.host = r.host, e.action = r.action, e.subject = r.skey,
    e.summary = r.summary, e.package_name = r.name, e.arch = r.arch, e.ecosystem = r.ecosystem,
    e.version = r.version, e.old_version = r.old_version, e.source = r.source
MERGE (e)-[:ACTED_ON]->(s)
MERGE (s)-[:INSTALLED_ON]->(h)
MERGE (e)-[:HAPPENED_ON]->(h)
"""


def loader_rows(domain: Sequence[Envelope]) -> list[dict[str, Any]]:
    """One row per event: apt's and dpkg's tellings of a change re-emit its event (same id), and the
    product writes each event's node once per batch; so does the loader, with the last telling's values
    (the product's graph ends with those too), at the place of the first."""
    rows: dict[str, dict[str, Any]] = {}
    for env in domain:
        p = decode_payload(env.type, env.schema_version, env.payload)
        assert isinstance(p, PackageChanged)
        version = p.new_version if p.new_version is not None else p.old_version
        rows[env.id] = {
            "id": env.id,
            "type": env.type,
            "ts": env.ts,
            "host": env.host,
            "skey": software_key(env.host, p.ecosystem, p.package, p.arch, p.native_arch),
            "ecosystem": p.ecosystem,
            "name": p.package,
            "arch": p.arch,
            "version": version,
            "old_version": p.old_version,
            "state": STATE_AFTER[p.action],
            "action": p.action,
            "summary": summary(p),
            "source": ",".join(p.sources),
        }
    return list(rows.values())


def _load(tx: Any, rows: list[dict[str, Any]]) -> None:
    tx.run(LOADER, {"rows": rows}).consume()


def loader_seconds(s: servers.Servers, rows: Sequence[dict[str, Any]]) -> tuple[float, int]:
    """Into a wiped Neo4j with the product's constraints: one transaction per batch, as the projector."""
    import neo4j

    with servers.open_neo4j(s) as store:
        store.wipe(confirm=True)
        store.ensure_schema()
        driver = neo4j.GraphDatabase.driver(s.neo4j, auth=(s.user, s.password))
        try:
            with driver.session(database="neo4j") as session:
                started = time.perf_counter()
                for i in range(0, len(rows), LOADER_BATCH):
                    session.execute_write(_load, list(rows[i : i + LOADER_BATCH]))
                seconds = time.perf_counter() - started
        finally:
            driver.close()
        return seconds, event_count(store)


# -- replay into Neo4j --------------------------------------------------------------------------------


def copy_to_kafka(log: Any, bus: Any) -> int:
    """The domain records of a SQLite log onto the Kafka domain topic (untimed set-up)."""
    n = 0
    topic = EVENTS_PACKAGES.name
    for p in range(log.partitions(topic)):
        offset = 0
        while records := log.read(topic, p, offset, REPLAY_BATCH):
            bus.append(topic, [Record(r.key, r.value, r.headers) for r in records])
            n += len(records)
            offset = records[-1].offset + 1
    return n


def kafka_read_and_decode(bus: Any) -> int:
    """The replay baseline: every domain record read from Kafka in replay-sized batches and decoded."""
    n = 0
    topic = EVENTS_PACKAGES.name
    starts = bus.start_offsets(topic)
    for p in range(bus.partitions(topic)):
        offset = starts.get(p, 0)
        while records := bus.read(topic, p, offset, REPLAY_BATCH):
            for r in records:
                decode(r.value)
            n += len(records)
            offset = records[-1].offset + 1
    return n


@dataclass
class ReplayRun:
    records: int
    seconds: float
    baseline: float
    events: int


def replay_run(
    s: servers.Servers, size: int, work: Path, *, repeat: int, domain_logs: Path | None = None
) -> ReplayRun:
    from watchman.bus.kafka import KafkaBus

    with scratch(work, f"neo4j-replay-{size}") as d:
        servers.reset(s)
        log, _ = domain_log(domain_logs or d, size)
        bus = KafkaBus(s.kafka)
        try:
            say(f"distributed replay: {size:,} domain records onto Kafka (untimed)")
            bus.ensure_topics(TOPICS.values())
            n = copy_to_kafka(log, bus)
            log.close()
            say(f"distributed replay: rebuilding an empty Neo4j from {n:,} records on Kafka")
            with servers.open_neo4j(s) as store:
                seconds, replayed = timed(lambda: rebuild(bus, store, batch_size=REPLAY_BATCH))
                events = event_count(store)
            base = median_time(partial(kafka_read_and_decode, bus), repeat)
        finally:
            bus.close()
            log.close()
    return ReplayRun(replayed, seconds, base, events)


# -- the benchmark ------------------------------------------------------------------------------------


def run(
    work: Path,
    *,
    events: int,
    replay_sizes: Sequence[int],
    repeat: int = 1,
    timeout: float = 900.0,
    domain_logs: Path | None = None,
    tuned_events: int = 0,
) -> Section:
    section = Section("distributed")
    s = servers.servers()
    with servers.exclusive(), scratch(work, "distributed") as d:
        say(f"distributed: {events:,} events; resetting the watchman topics and Neo4j")
        servers.reset(s)
        h = make_history(events)
        raws = raw_records(h)
        domain = domain_envelopes(h)
        run_ = pipeline_run(
            s, _workload(h, d / "main"), d / "main", timeout=timeout, raw=len(raws), domain=len(domain)
        )
        tuned: PipelineRun | None = None
        if tuned_events:
            say(f"distributed: again with the tuned worker (bench.tuned_worker), {tuned_events:,} events")
            th = make_history(tuned_events) if tuned_events != events else h
            if th is h:
                t_raw, t_domain = len(raws), len(domain)
            else:
                t_raw, t_domain = len(raw_records(th)), len(domain_envelopes(th))
            plain = run_
            if tuned_events != events:
                servers.reset(s)
                plain = pipeline_run(
                    s, _workload(th, d / "plain"), d / "plain", timeout=timeout, raw=t_raw, domain=t_domain
                )
            servers.reset(s)
            tuned = pipeline_run(
                s,
                _workload(th, d / "tuned"),
                d / "tuned",
                timeout=timeout,
                raw=t_raw,
                domain=t_domain,
                worker_module="bench.tuned_worker",
            )
            say(
                f"distributed: tuned worker {tuned.seconds:.1f} s (worker leg {_leg(tuned, 'worker')} s) "
                f"against {plain.seconds:.1f} s (worker leg {_leg(plain, 'worker')} s) as shipped"
            )
        say(f"distributed: {run_.events:,} events in {run_.seconds:.1f} s; baseline 1, raw aiokafka producer")
        kafka_s, loop_s = raw_producer_seconds(s, raws)
        say("distributed: baseline 2, minimal UNWIND MERGE loader into Neo4j")
        rows = loader_rows(domain)
        loader_s, loader_events = loader_seconds(s, rows)
        replays = [
            replay_run(s, size, d, repeat=repeat, domain_logs=domain_logs)
            for size in sorted(set(replay_sizes))
        ]
        servers.reset(s)  # leave no million records behind for the tests that come next
    rate = run_.changes / run_.seconds
    loader_rate = run_.changes / loader_s
    section.figures += [
        Figure(
            f"Kafka → Faust → Neo4j, {run_.changes:,} events",
            rate,
            "events/s",
            baseline=run_.changes / kafka_s,
            baseline_label="raw aiokafka producer of the same raw records, events/s",
            target=TARGET,
            note=f"{run_.seconds:.1f} s from the logs written to the last Event in Neo4j",
        ),
        Figure(
            "vs minimal UNWIND MERGE loader",
            rate,
            "events/s",
            baseline=loader_rate,
            baseline_label="hand-written UNWIND MERGE into the same Neo4j, events/s",
            target=TARGET_VS_LOADER,
            target_on="ratio",
            note=f"loader: {len(rows):,} events (one row each, from {len(domain):,} domain records) in "
            f"{loader_s:.1f} s, {loader_events:,} Event nodes",
        ),
    ]
    if worker_s := run_.legs.get("worker"):
        section.figures.append(
            Figure(
                "Faust worker leg vs raw consume → produce loop",
                len(raws) / worker_s,
                "raw records/s",
                baseline=len(raws) / loop_s,
                baseline_label="aiokafka getmany → send of the same raw records, records/s",
                target=TARGET_WORKER_VS_LOOP,
                target_on="ratio",
                note=f"worker leg done {worker_s:.1f} s after the start (it cannot end before the "
                f"producer's leg); loop {loop_s:.1f} s",
            )
        )
    section.details += [
        f"Workload: apt history.log + dpkg.log from tests.support.histories, {run_.changes:,} changes, "
        f"{run_.log_lines:,} log lines, {len(raws):,} raw records, {len(domain):,} domain records. "
        f"`watchman worker`, `watchman project` and `watchman produce` (product defaults: batch 2000, "
        f"poll_interval 1.0 s) run first; the Faust worker joined its group in {run_.join_seconds:.1f} s "
        "(untimed). The clock starts when the whole history is written into the two followed logs and "
        "stops when `MATCH (e:Event) RETURN count(e)` on Neo4j (polled every 0.2 s) reaches the changes.",
        "",
        "Where the time goes: the moment each leg had passed on everything (polled every 0.2 s; a leg "
        "cannot finish before the one feeding it):",
        "",
        "| leg | done after s | records | records/s over the run so far |",
        "|---|---|---|---|",
        *(
            f"| {leg} | {fmt(t)} | {count:,} | {fmt(count / t)} |"
            for leg, count in (
                ("producer: logs → spool → raw topic", len(raws)),
                ("worker: raw topic → decide → domain topic", len(domain)),
                ("projector: domain topic → Neo4j", len(domain)),
            )
            if (t := run_.legs.get(leg.split(":")[0], 0.0))
        ),
        "",
        f"Baseline 1: one AIOKafkaProducer (acks=all, idempotent, linger 5 ms, 256 KiB batches) sending "
        f"the {len(raws):,} raw records, prepared in memory, to its own topic `{BASELINE_TOPIC}` "
        f"({RAW_PACKAGES.partitions} partitions), {fmt(kafka_s)} s: the floor of the Kafka leg.",
        "",
        f"Baseline 3: one aiokafka consumer (partitions assigned, getmany of up to 2000) reading "
        f"baseline 1's topic and sending each record on with the same producer settings, "
        f"{fmt(loop_s)} s until every send was acknowledged: the floor of the worker leg.",
        "",
        f"Baseline 2: one Cypher statement (UNWIND … MERGE Host, Software, Event and the three "
        f"relationships, SET the properties) per batch of {LOADER_BATCH} domain records, one managed "
        "transaction each, into a wiped Neo4j with the product's constraints; rows prepared in memory, "
        "one per event (the last of its tellings). "
        "No merge rules (first_seen/last_seen kept by min/max), no positions: the floor of the graph leg.",
        "",
        "| records | Event nodes after replay | replay s | read + decode from Kafka s | records/s |",
        "|---|---|---|---|---|",
        *(
            f"| {r.records:,} | {r.events:,} | {fmt(r.seconds)} | {fmt(r.baseline)} | "
            f"{fmt(r.records / r.seconds)} |"
            for r in replays
        ),
    ]
    if tuned is not None:
        section.figures.append(
            Figure(
                f"tuned worker (spinner off, linger 5 ms), {tuned.changes:,} events",
                tuned.changes / tuned.seconds,
                "events/s",
                baseline=plain.changes / plain.seconds,
                baseline_label=f"the worker as shipped on the same {plain.changes:,} events, events/s",
                note="a proposed fix measured, not the product: see docs/performance.md; worker leg "
                f"{_leg(tuned, 'worker')} s vs {_leg(plain, 'worker')} s",
            )
        )
    for r in replays:
        pro_rata = TARGET_REPLAY_1M * r.records / MILLION
        section.figures.append(
            Figure(
                f"replay into Neo4j, {r.records:,} domain records",
                r.seconds,
                "s",
                baseline=r.baseline,
                baseline_label="read + decode the same records from Kafka, s",
                target=Target("<=", pro_rata, "s"),
                note=f"{r.records / r.seconds:,.0f} records/s"
                + ("" if r.records == MILLION else f"; target pro rata of 1M ≤ {TARGET_REPLAY_1M:.0f} s"),
            )
        )
    if replays and all(r.records < MILLION for r in replays):
        last = replays[-1]
        section.figures.append(
            Figure(
                "replay into Neo4j, 1,000,000 domain records",
                None,
                "s",
                target=Target("<=", TARGET_REPLAY_1M, "s"),
                note=f"not run: ~6 minutes of the 30 a full run may take (`python -m bench distributed "
                f"--neo4j-replay-events 1000000` runs it); extrapolated from {last.records:,} records: "
                f"{MILLION * last.seconds / last.records:.0f} s",
            )
        )
    return section


def _leg(r: PipelineRun, leg: str) -> str:
    return fmt(r.legs[leg]) if leg in r.legs else "—"


def default_replay_sizes(events: int) -> list[int]:
    return sorted({events, 100_000} if events >= MILLION else {events})

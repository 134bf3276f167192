"""Latency from a log line appended to it being answerable by a query, under a steady background load.

A load thread appends dpkg changes (upgrades of 400 packages) at a steady rate; meanwhile probes,
one at a time, append an install of a package never seen before and poll a query for its Software
node until it answers. Embedded: `watchman run`, queried through its admin API (POST /query). Distributed:
`watchman produce`, `worker`, `project` on the infra/ servers, Neo4j queried directly.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import servers
from bench.common import HOST, say, scratch
from bench.idle import SOCKET_PATH_MAX
from bench.results import Figure, Section, Target
from producers.packages.arch import native_arch
from projections.packages import software_key
from schemas.events import ecosystem_of

TARGET_EMBEDDED = Target("<=", 300.0, "ms")
TARGET_DISTRIBUTED = Target("<=", 1000.0, "ms")
LOAD_PACKAGES = 400
TICK = 0.05  # the load thread writes every 50 ms: 5 changes at 100/s
PROBE_TIMEOUT = 30.0
QUERY = "MATCH (s:Software {key: $key}) RETURN count(s) AS n"


def _dpkg(ts: datetime, verb: str, name: str, old: str, new: str) -> str:
    t = ts.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{t} startup archives unpack\n{t} {verb} {name}:amd64 {old} {new}\n"
        f"{t} status installed {name}:amd64 {new}\n"
    )


class Log:
    """The followed dpkg.log: whole changes appended by one write each, from two threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def append(self, text: str) -> float:
        """Appends and returns the moment the text was in the file."""
        with self._lock, self.path.open("a") as f:
            f.write(text)
            f.flush()
            return time.perf_counter()


class Load(threading.Thread):
    """`rate` package upgrades per second, written every TICK seconds, until stopped."""

    def __init__(self, log: Log, rate: float) -> None:
        super().__init__(name="bench-load", daemon=True)
        self.log, self.rate = log, rate
        self.stop = threading.Event()
        self.written = 0
        self.seconds = 0.0
        self._versions = [0] * LOAD_PACKAGES

    def run(self) -> None:
        started = time.perf_counter()
        tick = 0
        while not self.stop.is_set():
            tick += 1
            due = int(tick * TICK * self.rate) - self.written
            now = datetime.now(UTC)
            chunk = []
            for _ in range(due):
                i = self.written % LOAD_PACKAGES
                v = self._versions[i]
                self._versions[i] = v + 1
                old = f"1.{v}-1" if v else "<none>"
                chunk.append(_dpkg(now, "upgrade" if v else "install", f"load{i}", old, f"1.{v + 1}-1"))
                self.written += 1
            if chunk:
                self.log.append("".join(chunk))
            self.stop.wait(max(0.0, started + tick * TICK - time.perf_counter()))
        self.seconds = time.perf_counter() - started


@dataclass
class Probes:
    latencies_ms: list[float]
    timeouts: int
    load_rate: float

    def quantile(self, q: float) -> float | None:
        xs = sorted(self.latencies_ms)
        if not xs:
            return None
        return xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))]


def probe(log: Log, answered: Callable[[str], bool], seconds: float, rate: float, tag: str) -> Probes:
    """Probes one after another for `seconds`, under the load; latency in ms of each."""
    load = Load(log, rate)
    load.start()
    eco = ecosystem_of("dpkg")
    out: list[float] = []
    timeouts = 0
    rng = random.Random(8)
    try:
        # Warm-up: the first probe waits for the pipeline to be running at all (untimed).
        key = software_key(HOST, eco, f"warm-{tag}", "amd64", native_arch(eco))
        log.append(_dpkg(datetime.now(UTC), "install", f"warm-{tag}", "<none>", "1.0-1"))
        _wait(lambda: answered(key), 120.0)
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            i += 1
            name = f"probe-{tag}-{i}"
            key = software_key(HOST, eco, name, "amd64", native_arch(eco))
            t0 = log.append(_dpkg(datetime.now(UTC), "install", name, "<none>", "1.0-1"))
            t1 = _wait(lambda k=key: answered(k), PROBE_TIMEOUT)  # type: ignore[misc]
            if t1 is None:
                timeouts += 1
            else:
                out.append((t1 - t0) * 1000)
            # A random gap: probes at a fixed gap lock onto the daemon's poll cycle and all see one phase.
            time.sleep(rng.uniform(0.05, 1.05))
    finally:
        load.stop.set()
        load.join(timeout=10)
    return Probes(out, timeouts, load.written / load.seconds if load.seconds else 0.0)


def _wait(check: Callable[[], bool], timeout: float) -> float | None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(0.005)
    return None


# -- embedded -----------------------------------------------------------------------------------------


@contextmanager
def embedded_daemon(root: Path, poll_interval: float) -> Iterator[tuple[Log, Callable[[str], bool]]]:
    import httpx

    log = Log(root / "logs" / "dpkg.log")
    apt = root / "logs" / "apt" / "history.log"
    apt.parent.mkdir(parents=True, exist_ok=True)
    apt.write_text("")
    config = servers.write_config(
        root, apt=apt, dpkg=log.path, api_listen="127.0.0.1:0", extra={"poll_interval": poll_interval}
    )
    daemon = servers.start(root, servers.env_for(config), "run")
    url_file, token_file = root / "data" / "api.url", root / "data" / "api.token"
    try:
        if _wait(lambda: url_file.exists() and token_file.exists(), 60.0) is None or daemon.poll():
            raise RuntimeError(f"the daemon did not start: {servers.tail(root, 'run')}")
        url = url_file.read_text().strip()
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10.0) as client:

            def answered(key: str) -> bool:
                body = {"cypher": QUERY, "params": {"key": key}, "read_only": True}
                try:
                    r = client.post("/query", json=body)
                except httpx.TransportError:
                    # A kept-alive connection the server closed as we sent on it: ask again on a new one.
                    if daemon.poll() is not None:
                        raise RuntimeError(f"the daemon died: {servers.tail(root, 'run')}") from None
                    return False
                r.raise_for_status()
                return bool(r.json()["rows"][0]["n"])

            yield log, answered
    finally:
        servers.stop(daemon)


# -- distributed --------------------------------------------------------------------------------------


@contextmanager
def distributed_processes(
    root: Path, s: servers.Servers, poll_interval: float
) -> Iterator[tuple[Log, Callable[[str], bool]]]:
    log = Log(root / "logs" / "dpkg.log")
    apt = root / "logs" / "apt" / "history.log"
    apt.parent.mkdir(parents=True, exist_ok=True)
    apt.write_text("")
    config = servers.write_config(
        root,
        apt=apt,
        dpkg=log.path,
        bus=f"kafka://{s.kafka}",
        graph=s.neo4j,
        neo4j_user=s.user,
        extra={"poll_interval": poll_interval},
    )
    env = servers.env_for(config, s)
    listen = ("--api-listen", "127.0.0.1:0")
    procs = [servers.start(root, env, name, *listen) for name in ("worker", "project", "produce")]
    try:
        servers.wait_group_stable(s, "watchman", 180, procs[0])
        with servers.open_neo4j(s) as store:

            def answered(key: str) -> bool:
                return bool(store.query(QUERY, {"key": key}).rows[0][0])

            yield log, answered
    finally:
        for proc in procs:
            servers.stop(proc)


# -- the benchmark ------------------------------------------------------------------------------------


def _figures(name: str, p: Probes, target: Target, how: str) -> list[Figure]:
    p50, p99 = p.quantile(0.5), p.quantile(0.99)
    note = (
        f"{len(p.latencies_ms)} probes, {p.timeouts} unanswered within {PROBE_TIMEOUT:.0f} s; "
        f"background load {p.load_rate:.0f} changes/s; max {max(p.latencies_ms, default=0):.0f} ms; {how}"
    )
    return [
        Figure(f"{name} latency p50", p50, "ms", target=None, note=note),
        Figure(f"{name} latency p99", p99, "ms", target=target),
    ]


def run(
    work: Path,
    *,
    seconds: float,
    rate: float = 100.0,
    intervals: tuple[float, ...] = (1.0, 0.1),
    distributed: bool = True,
) -> Section:
    """Each deployment at each poll_interval (the product's default 1.0 s first)."""
    section = Section("latency")
    details: list[str] = []
    # A Unix socket path may hold ~107 bytes (the daemon's <data_dir>/watchman.sock): a deep scratch
    # directory gets a short stand-in, as in bench.idle.
    short = len(str(work / "latency-embedded-xxxxxxxx" / "data" / "watchman.sock")) > SOCKET_PATH_MAX
    embedded_parent = Path(tempfile.gettempdir()) if short else work
    for interval in intervals:
        with scratch(embedded_parent, "latency-embedded") as d:
            say(f"latency: embedded, poll_interval {interval:g} s, {seconds:g} s of probes under {rate:g}/s")
            with embedded_daemon(d, interval) as (log, answered):
                emb = probe(log, answered, seconds, rate, "e")
        name = f"embedded, poll_interval {interval:g} s"
        section.figures += _figures(name, emb, TARGET_EMBEDDED, "query: POST /query on the daemon's API")
        details.append(_row(f"embedded (`watchman run`), poll_interval {interval:g} s", emb))
    if distributed:
        s = servers.servers()
        with servers.exclusive():
            for interval in intervals:
                with scratch(work, "latency-distributed") as d:
                    say(f"latency: distributed, poll_interval {interval:g} s, {seconds:g} s of probes")
                    servers.reset(s)
                    try:
                        with distributed_processes(d, s, interval) as (log, answered):
                            dist = probe(log, answered, seconds, rate, "d")
                    finally:
                        servers.reset(s)
                name = f"distributed, poll_interval {interval:g} s"
                section.figures += _figures(name, dist, TARGET_DISTRIBUTED, "query: Cypher on Neo4j")
                details.append(
                    _row(
                        f"distributed (produce → Kafka → worker → project → Neo4j), "
                        f"poll_interval {interval:g} s",
                        dist,
                    )
                )
    section.details += [
        f"A thread appends {rate:g} dpkg changes per second to the followed dpkg.log (every "
        f"{TICK * 1000:.0f} ms; upgrades of {LOAD_PACKAGES} packages); probes, one at a time, a random "
        "0.05-1.05 s apart, append the install of a new package and poll (every 5 ms) "
        "`MATCH (s:Software {key: $key}) RETURN count(s)` until it answers 1. Latency = answer time − "
        "append time. Batch 2000 (the default). A loop that found work polls again at once; one that found "
        "none waits poll_interval (default 1.0 s), and at 100 changes/s written every 50 ms a step "
        "catches up within the tick, so the loop waits between ticks: poll_interval bounds the latency.",
        "",
        "| deployment | probes | p50 ms | p90 ms | p99 ms | max ms | mean ms | load changes/s |",
        "|---|---|---|---|---|---|---|---|",
        *details,
    ]
    return section


def _row(name: str, p: Probes) -> str:
    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f}"

    mean = statistics.fmean(p.latencies_ms) if p.latencies_ms else None
    return (
        f"| {name} | {len(p.latencies_ms)} (+{p.timeouts} timed out) | {ms(p.quantile(0.5))} | "
        f"{ms(p.quantile(0.9))} | {ms(p.quantile(0.99))} | {ms(max(p.latencies_ms, default=None))} | "
        f"{ms(mean)} | {p.load_rate:.0f} |"
    )

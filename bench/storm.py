"""A brute-force run and a chatty journal into a running deployment: graph nodes added, CPU and RSS of every
process, the lag after the storm, and whether the counts in the graph are exact.

The storm goes in by the most real path there is here: journal entries in the export format, turned into a
real journal file by systemd-journal-remote as they are written, in a directory the journald source
follows (inotify). Failed logins are OpenSSH's three lines of a failed password for an existing user
(PAM's "authentication failure", "Failed password", "Connection closed ... [preauth]"), from 200 source
addresses in turn; the chatty journal is an ordinary service's info lines. After the storm an accepted
login every 5 s (later lines of sshd's unit, as on any internet-facing host) bring the last aggregates
up to date: their counts are final with the first line of the unit after their minute.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import servers
from bench.common import HOST, fmt, say, scratch
from bench.idle import SOCKET_PATH_MAX, ProcessStats
from bench.results import Figure, Section, Target
from tests.support.journal import BOOT_ID, JOURNAL_REMOTE, MACHINE_ID

SOURCES = 200
USERS = ("root", "admin", "ubuntu", "oracle", "postgres", "git", "test", "pi")
TICK = 0.1
TARGET_NODES = Target("<=", 1.0, "% of lines")
TARGET_CPU = Target("<=", 100.0, "% of a core")
TARGET_IDLE = Target("<=", 5.0, "% of a core")
TARGET_EXACT = Target("<=", 0.0, "sources off")
FAILED = "MATCH (l:Login) WHERE l.success = false RETURN l.source_ip AS ip, sum(coalesce(l.count, 1)) AS n"
NODES = "MATCH (n) RETURN count(n) AS n"


def _ip(k: int) -> str:
    return f"198.18.{k // 256}.{k % 256}"  # the benchmarking range (RFC 2544)


def _entry(usec: int, mono: int, ident: str, unit: str, pid: int, prio: int, transport: str, msg: str) -> str:
    return (
        f"__REALTIME_TIMESTAMP={usec}\n__MONOTONIC_TIMESTAMP={mono}\n_BOOT_ID={BOOT_ID}\n"
        f"_MACHINE_ID={MACHINE_ID}\n_HOSTNAME={HOST}\nPRIORITY={prio}\nSYSLOG_IDENTIFIER={ident}\n"
        f"_PID={pid}\n_COMM={ident}\n_TRANSPORT={transport}\n_SYSTEMD_UNIT={unit}\nMESSAGE={msg}\n\n"
    )


@dataclass(eq=False)  # a Thread must stay hashable
class Feeder(threading.Thread):
    """Writes `logins`/s failed logins and `lines`/s chatty lines for `seconds` into journal-remote."""

    journal: Path
    logins: int
    lines: int
    seconds: float
    attempts: dict[str, int] = field(default_factory=dict)
    written: int = 0
    behind: float = 0.0  # seconds the writer ran late at the end (the rates were not met if > 0)

    def __post_init__(self) -> None:
        super().__init__(name="bench-storm", daemon=True)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [JOURNAL_REMOTE, f"--output={self.journal}", "-"],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._mono = 1_000_000
        self._n = 0

    def write(self, entries: list[str]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(entries).encode())
        self.proc.stdin.flush()
        self.written += len(entries)

    def _tick(self, logins: int, lines: int) -> list[str]:
        usec = int(time.time() * 1e6)
        out: list[str] = []
        for _ in range(logins):
            n = self._n = self._n + 1
            ip, user, port, pid = (
                _ip(n % SOURCES),
                USERS[n % len(USERS)],
                1024 + n % 60000,
                10_000 + n % 4_000_000,
            )
            self.attempts[ip] = self.attempts.get(ip, 0) + 1
            for msg in (
                f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                f"rhost={ip}  user={user}",
                f"Failed password for {user} from {ip} port {port} ssh2",
                f"Connection closed by authenticating user {user} {ip} port {port} [preauth]",
            ):
                self._mono += 1
                out.append(_entry(usec, self._mono, "sshd", "ssh.service", pid, 6, "syslog", msg))
        for i in range(lines):
            self._mono += 1
            msg = f'192.0.2.{i % 250} - - "GET /api/v1/items/{self._mono} HTTP/1.1" 200 {i % 5000}'
            out.append(_entry(usec, self._mono, "app", "app.service", 4242, 6, "stdout", msg))
        return out

    def run(self) -> None:
        started = time.perf_counter()
        ticks = int(self.seconds / TICK)
        for t in range(ticks):
            self.write(self._tick(int(self.logins * TICK), int(self.lines * TICK)))
            delay = started + (t + 1) * TICK - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        self.behind = max(0.0, time.perf_counter() - started - self.seconds)

    def close_storm(self) -> None:
        """One accepted login: a later line of sshd's unit (brings pending aggregates up to date)."""
        usec = int(time.time() * 1e6)
        self._mono += 1
        msg = "Accepted publickey for alice from 192.0.2.4 port 40003 ssh2"
        self.write([_entry(usec, self._mono, "sshd", "ssh.service", 9, 6, "syslog", msg)])

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


@dataclass
class Run:
    deployment: str
    lines: int = 0
    attempts: int = 0
    nodes_added: int = 0
    cpu_during: dict[str, float] = field(default_factory=dict)  # % of a core
    cpu_after_30s: dict[str, float] = field(default_factory=dict)
    cpu_drain: dict[str, float] = field(default_factory=dict)  # from the storm's end until exact
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    lag_s: float | None = None  # from the storm's end until the graph's counts were exact
    off_sources: int = 0
    behind: float = 0.0


def _cpu(stats: dict[str, ProcessStats]) -> dict[str, float]:
    out = {}
    for name, s in stats.items():
        try:
            out[name] = s.cpu_seconds()
        except (OSError, ValueError):
            out[name] = 0.0
    return out


def _pct(a: dict[str, float], b: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: 100.0 * (b[k] - a[k]) / seconds for k in a}


def storm(
    run: Run,
    journal: Path,
    pids: dict[str, int],
    ask: Callable[[str], list[dict[str, Any]]],
    *,
    seconds: float,
    logins: int,
    lines: int,
    drain_timeout: float = 600.0,
) -> Run:
    stats = {name: ProcessStats(pid) for name, pid in pids.items()}
    before = int(ask(NODES)[0]["n"])
    feeder = Feeder(journal, logins, lines, seconds)
    peak: dict[str, float] = dict.fromkeys(pids, 0.0)

    def sample() -> None:
        for name, s in stats.items():
            with suppress(OSError, ValueError):
                peak[name] = max(peak[name], s.rss_bytes() / 1e6)

    say(f"storm: {run.deployment}: {logins:,} failed logins/s from {SOURCES} addresses + {lines:,} lines/s")
    c0, t0 = _cpu(stats), time.perf_counter()
    feeder.start()
    while feeder.is_alive():
        sample()
        feeder.join(1.0)
    c1, t1 = _cpu(stats), time.perf_counter()
    end = t1
    run.cpu_during = _pct(c0, c1, t1 - t0)
    run.behind = feeder.behind
    expected = dict(feeder.attempts)
    run.attempts, run.lines = sum(expected.values()), feeder.written
    # the lag: until every source's failures in the graph are exact; meanwhile the CPU from 30 to 40 s
    # after the storm's end (idle again by then, or still catching up)
    off = len(expected)
    closed = 0.0
    marks: dict[float, dict[str, float]] = {}
    while True:
        since = time.perf_counter() - end
        for mark in (30.0, 40.0):
            if mark not in marks and since >= mark:
                marks[mark] = _cpu(stats)
        if (run.lag_s is not None and 40.0 in marks) or since > drain_timeout:
            break
        sample()
        if run.lag_s is None:
            if time.perf_counter() - closed >= 5.0:
                feeder.close_storm()  # sshd's unit goes on logging, as on any internet-facing host
                closed = time.perf_counter()
            got = {r["ip"]: int(r["n"]) for r in ask(FAILED) if r["ip"] in expected}
            off = sum(1 for ip, n in expected.items() if got.get(ip) != n)
            if off == 0:
                run.lag_s = time.perf_counter() - end
                run.cpu_drain = _pct(c1, _cpu(stats), run.lag_s)
        time.sleep(
            min(1.0, max(0.05, 30.0 - since if since < 30.0 else 40.0 - since if since < 40.0 else 1.0))
        )
    run.off_sources = off
    if 30.0 in marks and 40.0 in marks:
        run.cpu_after_30s = _pct(marks[30.0], marks[40.0], 10.0)
    sample()
    run.peak_rss_mb = peak
    run.nodes_added = int(ask(NODES)[0]["n"]) - before
    feeder.stop()
    return run


def _config(root: Path, journal_dir: Path, **kw: Any) -> tuple[Path, dict[str, str]]:
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "history.log").write_text("")
    (logs / "dpkg.log").write_text("")
    config = servers.write_config(root, apt=logs / "history.log", dpkg=logs / "dpkg.log", **kw)
    with config.open("a") as f:
        f.write(f'[journald]\ndirectories = ["{journal_dir}"]\n')
    return config, {"WATCHMAN_JOURNALD__ENABLED": "true"}


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return True
        time.sleep(0.2)
    return False


@contextmanager
def embedded(root: Path) -> Iterator[tuple[Path, dict[str, int], Callable[[str], list[dict[str, Any]]]]]:
    import httpx

    journal_dir = root / "journal"
    journal_dir.mkdir(parents=True)
    config, extra = _config(root, journal_dir, api_listen="127.0.0.1:0")
    env = {**servers.env_for(config), **extra}
    daemon = servers.start(root, env, "run")
    url_file, token_file = root / "data" / "api.url", root / "data" / "api.token"
    try:
        if not _wait(lambda: url_file.exists() and token_file.exists(), 60.0) or daemon.poll() is not None:
            raise RuntimeError(f"the daemon did not start: {servers.tail(root, 'run')}")
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        with httpx.Client(base_url=url_file.read_text().strip(), headers=headers, timeout=60.0) as client:

            def ask(cypher: str) -> list[dict[str, Any]]:
                r = client.post("/query", json={"cypher": cypher, "params": {}, "read_only": True})
                r.raise_for_status()
                return list(r.json()["rows"])

            yield journal_dir / "remote.journal", {"watchman run": daemon.pid}, ask
    finally:
        servers.stop(daemon)


@contextmanager
def distributed(
    root: Path, s: servers.Servers
) -> Iterator[tuple[Path, dict[str, int], Callable[[str], list[dict[str, Any]]]]]:
    journal_dir = root / "journal"
    journal_dir.mkdir(parents=True)
    config, extra = _config(root, journal_dir, bus=f"kafka://{s.kafka}", graph=s.neo4j, neo4j_user=s.user)
    env = {**servers.env_for(config, s), **extra}
    listen = ("--api-listen", "127.0.0.1:0")
    procs = {name: servers.start(root, env, name, *listen) for name in ("worker", "project", "produce")}
    infra = Path("/tmp/watchman-infra")
    pids = {f"watchman {name}": p.pid for name, p in procs.items()}
    for name in ("kafka", "neo4j"):
        with_pid = infra / name / f"{name}.pid"
        if with_pid.exists():
            pids[f"{name} (infra/)"] = int(with_pid.read_text().split()[0])
    try:
        servers.wait_group_stable(s, "watchman", 180, procs["worker"])
        with servers.open_neo4j(s) as store:

            def ask(cypher: str) -> list[dict[str, Any]]:
                return list(store.query(cypher, {}).dicts())

            yield journal_dir / "remote.journal", pids, ask
    finally:
        for proc in procs.values():
            servers.stop(proc)


def _figures(r: Run, daemons: tuple[str, ...]) -> list[Figure]:
    name = r.deployment
    pct_nodes = 100.0 * r.nodes_added / r.lines if r.lines else 0.0
    out = [
        Figure(
            f"{name}: graph nodes added",
            pct_nodes,
            "% of lines",
            target=TARGET_NODES,
            note=f"{r.nodes_added:,} nodes for {r.lines:,} journal lines ({r.attempts:,} failed logins)",
        ),
        Figure(
            f"{name}: sources whose failed-login count in the graph is not exact",
            float(r.off_sources),
            "sources",
            target=TARGET_EXACT,
            note=f"of {SOURCES}; checked against the attempts written",
        ),
        Figure(
            f"{name}: lag after the storm",
            r.lag_s,
            "s",
            note="from the storm's end until every source's count in the graph was exact"
            if r.lag_s is not None
            else "the counts were not exact within the drain timeout",
        ),
    ]
    for d in daemons:
        out.append(
            Figure(f"{name}: {d} CPU during the storm", r.cpu_during.get(d), "% of a core", target=TARGET_CPU)
        )
        out.append(
            Figure(
                f"{name}: {d} CPU 30-40 s after the storm",
                r.cpu_after_30s.get(d),
                "% of a core",
                target=TARGET_IDLE,
            )
        )
        out.append(
            Figure(
                f"{name}: {d} CPU while catching up",
                r.cpu_drain.get(d),
                "% of a core",
                note="from the storm's end until the counts in the graph were exact",
            )
        )
    return out


def _rows(r: Run) -> list[str]:
    return [
        f"| {r.deployment} | {p} | {fmt(r.cpu_during.get(p, 0.0))} | {fmt(r.cpu_drain.get(p))} | "
        f"{fmt(r.cpu_after_30s.get(p))} | {fmt(r.peak_rss_mb.get(p, 0.0))} |"
        for p in r.cpu_during
    ]


def run(
    work: Path, *, seconds: float = 60.0, logins: int = 1000, lines: int = 5000, use_servers: bool = True
) -> Section:
    section = Section("storm")
    rows: list[str] = []
    notes: list[str] = []
    # A Unix socket path may hold ~107 bytes (the daemon's <data_dir>/watchman.sock), as in bench.idle.
    short = len(str(work / "storm-embedded-xxxxxxxx" / "data" / "watchman.sock")) > SOCKET_PATH_MAX
    with scratch(Path(tempfile.gettempdir()) if short else work, "storm-embedded") as d:
        with embedded(d) as (journal, pids, ask):
            r = storm(Run("embedded"), journal, pids, ask, seconds=seconds, logins=logins, lines=lines)
        section.figures += _figures(r, ("watchman run",))
        rows += _rows(r)
        notes.append(f"embedded: the writer ran {r.behind:.1f} s late" if r.behind > 0.5 else "")
    if use_servers:
        s = servers.servers()
        with servers.exclusive():
            with scratch(work, "storm-distributed") as d:
                servers.reset(s)
                try:
                    with distributed(d, s) as (journal, pids, ask):
                        r = storm(
                            Run("distributed"),
                            journal,
                            pids,
                            ask,
                            seconds=seconds,
                            logins=logins,
                            lines=lines,
                        )
                finally:
                    servers.reset(s)
            daemons = ("watchman produce", "watchman worker", "watchman project")
            section.figures += _figures(r, daemons)
            rows += _rows(r)
            notes.append(f"distributed: the writer ran {r.behind:.1f} s late" if r.behind > 0.5 else "")
    section.details += [
        f"{logins:,} failed logins/s (OpenSSH's 3 lines each) from {SOURCES} addresses and {lines:,} "
        f"info lines/s of a chatty service, for {seconds:g} s, written as journal entries through "
        "systemd-journal-remote into a journal file the journald source follows; then an accepted login "
        "every 5 s. "
        "Nodes added: all nodes in the graph after minus before. CPU: process CPU time over the storm's "
        "wall time, from its end until the counts were exact (catching up), and over the 10 s from 30 s "
        "after its end. RSS: the peak sampled once a second. The machine is shared (load average in the "
        "run table): CPU starvation shows as a low CPU during the storm and a long lag.",
        *[n for n in notes if n],
        "",
        "| deployment | process | CPU % during | CPU % catching up | CPU % 30-40 s after | peak RSS MB |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    return section

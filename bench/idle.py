"""Idle overhead of `watchman run` (the embedded daemon) and `watchman produce`: CPU % and peak RSS.

Both follow empty package logs; the live sources (network, journald, docker, services) are off, since they
observe this machine, which is never idle. The baseline is a bare Python interpreter that only sleeps,
measured the same way over the same seconds (all three run side by side: idle, they do not compete).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import servers
from bench.common import say, scratch
from bench.results import Figure, Section, Target

REPO = Path(__file__).resolve().parent.parent
CPU_TARGET = Target("<=", 2.0, "% of a core")
RSS_TARGET = Target("<=", 200.0, "MB")
PRODUCER_CPU_TARGET = Target("<=", 1.0, "% of a core")
PRODUCER_RSS_TARGET = Target("<=", 60.0, "MB")
KINDS = ("apt", "dpkg", "dnf_rpm", "dnf", "dnf5")
MB = 1024 * 1024
SOCKET_PATH_MAX = 100

try:
    import psutil  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # the /proc fallback below covers Linux
    psutil = None


class ProcessStats:
    """CPU seconds and RSS of one process: psutil when installed, else /proc/PID/{stat,status}."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ps: Any = psutil.Process(pid) if psutil is not None else None
        self._tick = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        if self._ps is not None:
            t = self._ps.cpu_times()
            return float(t.user + t.system)
        # fields after the parenthesised command: utime and stime are the 12th and 13th
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick

    def rss_bytes(self) -> int:
        if self._ps is not None:
            return int(self._ps.memory_info().rss)
        return self._status_kb("VmRSS") * 1024

    def peak_rss_bytes(self) -> int | None:
        """The kernel's high-water mark of RSS over the whole life of the process (Linux)."""
        try:
            return self._status_kb("VmHWM") * 1024
        except (OSError, ValueError):
            return None

    def _status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise ValueError(f"{key} not in /proc/{self.pid}/status")


@dataclass
class Usage:
    cpu_percent: float
    peak_rss_mb: float
    last_rss_mb: float


def measure(pids: dict[str, int], seconds: float, sample_every: float = 0.5) -> dict[str, Usage]:
    """CPU % of one core over `seconds` and peak RSS, for several processes at once."""
    stats = {name: ProcessStats(pid) for name, pid in pids.items()}
    cpu0 = {name: s.cpu_seconds() for name, s in stats.items()}
    peak = {name: s.rss_bytes() for name, s in stats.items()}
    started = time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline:
        time.sleep(min(sample_every, deadline - now))
        for name, s in stats.items():
            peak[name] = max(peak[name], s.rss_bytes())
    wall = time.perf_counter() - started
    out = {}
    for name, s in stats.items():
        last = s.rss_bytes()
        hwm = s.peak_rss_bytes()
        out[name] = Usage(
            cpu_percent=100.0 * (s.cpu_seconds() - cpu0[name]) / wall,
            peak_rss_mb=max(peak[name], last, hwm or 0) / MB,
            last_rss_mb=last / MB,
        )
    return out


def write_config(work: Path) -> Path:
    """A watchman.toml whose data lives in `work` and whose every source is an empty file there."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    lines = [
        f'data_dir = "{work / "data"}"',
        'host = "bench"',
        'log_timezone = "UTC"',
        # Any free port: another daemon on this machine (a developer's, a test's) may hold the default.
        'api_listen = "127.0.0.1:0"',
        "[packages]",
    ]
    for kind in KINDS:
        path = logs / f"{kind}.log"
        path.write_text("")
        lines.append(f'{kind} = ["{path}"]')
    lines.append("brew = []")
    lines += ["dpkg_status = []", "rpmdb = []"]  # the machine's package databases: not part of the figures
    config = work / "watchman.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def run(
    work: Path,
    *,
    seconds: float = 60.0,
    settle: float = 2.0,
    ready_timeout: float = 60.0,
    producer: bool = True,
) -> Section:
    # A Unix socket path may hold ~107 bytes: a deep scratch directory gets a short stand-in.
    if len(str(work / "data" / "watchman.sock")) <= SOCKET_PATH_MAX:
        return _locked(work, seconds, settle, ready_timeout, producer)
    with scratch(Path(tempfile.gettempdir()), "wm-idle") as short:
        return _locked(short, seconds, settle, ready_timeout, producer)


def _locked(work: Path, seconds: float, settle: float, ready_timeout: float, producer: bool) -> Section:
    if not producer:
        return _run(work, seconds, settle, ready_timeout, None)
    with servers.exclusive():  # the producer creates the watchman topics on the shared Kafka
        return _run(work, seconds, settle, ready_timeout, servers.servers())


def _start_producer(work: Path, s: servers.Servers) -> subprocess.Popen[bytes]:
    root = work / "producer"
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "history.log").write_text("")
    (logs / "dpkg.log").write_text("")
    config = servers.write_config(
        root,
        apt=logs / "history.log",
        dpkg=logs / "dpkg.log",
        bus=f"kafka://{s.kafka}",
        graph=s.neo4j,
        neo4j_user=s.user,
    )
    return servers.start(root, servers.env_for(config, s), "produce", "--api-listen", "127.0.0.1:0")


def _run(
    work: Path, seconds: float, settle: float, ready_timeout: float, s: servers.Servers | None
) -> Section:
    section = Section("idle")
    config = write_config(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
    env["WATCHMAN_CONFIG"] = str(config)
    env.update(servers.LIVE_SOURCES_OFF)
    daemon_log = work / "daemon.log"
    socket = work / "data" / "watchman.sock"
    say(f"idle: starting `python -m watchman run` on empty logs, then measuring for {seconds:g} s")
    with daemon_log.open("ab") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "watchman", "run"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(86400)"])
    prod = _start_producer(work, s) if s is not None else None
    try:
        deadline = time.monotonic() + ready_timeout
        while not socket.exists():
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited {daemon.returncode}: {_tail(daemon_log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon was not ready in {ready_timeout:g} s: {_tail(daemon_log)}")
            time.sleep(0.05)
        if prod is not None:
            # Ready once it has created the topics and forwarded nothing: its admin API answers by then.
            time.sleep(5.0)
            if prod.poll() is not None:
                raise RuntimeError(
                    f"the producer exited {prod.returncode}: {_tail(work / 'producer' / 'produce.log')}"
                )
        time.sleep(settle)  # past the first poll of every source and the first retention pass
        pids = {"daemon": daemon.pid, "bare": bare.pid}
        if prod is not None:
            pids["producer"] = prod.pid
        usage = measure(pids, seconds)
    finally:
        _stop(bare)
        _stop(daemon)
        if prod is not None:
            _stop(prod)
    d, b = usage["daemon"], usage["bare"]
    how = "psutil" if psutil is not None else "/proc"
    section.figures += [
        Figure(
            f"daemon CPU, idle {seconds:g} s",
            d.cpu_percent,
            "% of a core",
            baseline=b.cpu_percent,
            baseline_label="bare python sleeping, %",
            target=CPU_TARGET,
        ),
        Figure(
            "daemon peak RSS",
            d.peak_rss_mb,
            "MB",
            baseline=b.peak_rss_mb,
            baseline_label="bare python, MB",
            target=RSS_TARGET,
            note=f"RSS at the end {d.last_rss_mb:.0f} MB; peak = the kernel's VmHWM over the whole life "
            "of the process, start-up included",
        ),
    ]
    if "producer" in usage:
        p = usage["producer"]
        section.figures += [
            Figure(
                f"producer CPU, idle {seconds:g} s",
                p.cpu_percent,
                "% of a core",
                baseline=b.cpu_percent,
                baseline_label="bare python sleeping, %",
                target=PRODUCER_CPU_TARGET,
            ),
            Figure(
                "producer peak RSS",
                p.peak_rss_mb,
                "MB",
                baseline=b.peak_rss_mb,
                baseline_label="bare python, MB",
                target=PRODUCER_RSS_TARGET,
                note=f"RSS at the end {p.last_rss_mb:.0f} MB",
            ),
        ]
        section.details.append(
            "`python -m watchman produce` (spool + forwarder to the infra/ Kafka, command topic polled) on "
            "two empty package logs, poll_interval 1.0 s, measured over the same seconds beside the daemon."
        )
        section.details.append("")
    section.details += [
        f"`python -m watchman run` with five empty log files, no brew, poll_interval 1.0 s (the default); "
        f"measured {seconds:g} s after the socket appeared plus {settle:g} s to settle; "
        f"sampled with {how} every 0.5 s. CPU % counts user + system time of the daemon process. "
        "The live sources (network, journald, docker, services metrics) are off in both processes: "
        "they observe this machine, which is never idle.",
    ]
    return section

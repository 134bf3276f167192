"""Resources: what the host sampler costs at a 10 s interval, and how big a year of it makes the graph.

Cost: two `python -m watchman run` daemons side by side on empty logs, one without the sampler (the
baseline) and one with `[resources] metrics_interval = 10`, measured over the same seconds: the
difference is the sampler's whole cost (sampling, deciding, projecting), not only psutil's. Beside it,
one sample's wall time in this process (`HostSampler.sample`, median of 20).

Year size: computed from this host's real series (one sample, its series names) and the rollup rings
(schemas/events/resources.py): each series keeps at most 1,440 minute points, 2,160 hourly points and one
point a day, overwritten in place, so a year is series x 3,965 points plus the nodes of current values.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import idle, servers
from bench.common import say, scratch
from bench.results import Figure, Section, Target

CPU_TARGET = Target("<=", 0.5, "% of a core")
RSS_TARGET = Target("<=", 10.0, "MB")
YEAR_TARGET = Target("<", 100_000, "nodes")
INTERVAL = 10.0


def _daemon(work: Path, name: str, sampler: bool) -> tuple[subprocess.Popen[bytes], Path]:
    root = work / name
    root.mkdir()
    config = idle.write_config(root)
    text = config.read_text().replace('api_listen = "127.0.0.1:0"', 'api_listen = ""\npoll_interval = 1.0')
    config.write_text(text + f"[resources]\nenabled = {'true' if sampler else 'false'}\n"
                      f"metrics_interval = {INTERVAL}\ngpu = false\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHMAN_")}
    env["WATCHMAN_CONFIG"] = str(config)
    env.update(servers.LIVE_SOURCES_OFF)
    env.pop("WATCHMAN_RESOURCES__ENABLED", None)  # this config's own section decides
    with (root / "daemon.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchman", "run"], cwd=idle.REPO, env=env, stdout=out, stderr=out
        )
    return proc, root / "data" / "watchman.sock"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _sample_ms() -> tuple[float, int, int, float]:
    """One sample's median time, the series and filesystems of this host, and the RSS the sampler itself
    adds to a process (its import, its per-process cache and 20 samples)."""
    before = _rss_mb()
    from processors.resources import series_values
    from producers.resources.sampler import HostSampler

    sampler = HostSampler("bench", gpu=False)
    sampler.sample()
    times = []
    for _ in range(20):
        t = time.perf_counter()
        obs = sampler.sample()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, len(series_values(obs)), len(obs.filesystems), _rss_mb() - before


def year_nodes(series: int, filesystems: int, top: int = 5) -> int:
    """Graph nodes of one host after a year of samples with the default rollups (alerts aside)."""
    from schemas.events.resources import POINTS_PER_SERIES_YEAR

    current = 1 + 1 + filesystems + 2 * top  # Host, SystemMetrics, Filesystem each, TopProcess ranks
    return series * POINTS_PER_SERIES_YEAR + current


def run(work: Path, *, seconds: float = 60.0, settle: float = 3.0) -> Section:
    if len(str(work / "with" / "data" / "watchman.sock")) > idle.SOCKET_PATH_MAX:
        with scratch(Path(tempfile.gettempdir()), "wm-res") as short:
            return run(short, seconds=seconds, settle=settle)
    section = Section("resources")
    ms, series, filesystems, own_rss = _sample_ms()
    say(
        f"resources: two daemons (with and without the sampler at {INTERVAL:g} s), "
        f"measuring for {seconds:g} s"
    )
    without, sock_a = _daemon(work, "without", sampler=False)
    with_, sock_b = _daemon(work, "with", sampler=True)
    try:
        deadline = time.monotonic() + 60
        while not (sock_a.exists() and sock_b.exists()):
            if time.monotonic() > deadline or without.poll() is not None or with_.poll() is not None:
                raise RuntimeError("a daemon did not start: see its daemon.log")
            time.sleep(0.05)
        time.sleep(settle)
        usage = idle.measure({"without": without.pid, "with": with_.pid}, seconds)
    finally:
        idle._stop(without)
        idle._stop(with_)
    a, b = usage["without"], usage["with"]
    nodes = year_nodes(series, filesystems)
    section.figures += [
        Figure(
            f"sampler CPU at a {INTERVAL:g} s interval (daemon with it - daemon without)",
            max(0.0, b.cpu_percent - a.cpu_percent),
            "% of a core",
            baseline=a.cpu_percent,
            baseline_label="daemon without the sampler, %",
            target=CPU_TARGET,
            note=f"daemon with the sampler {b.cpu_percent:.2f} %; over {seconds:g} s",
        ),
        Figure(
            "sampler extra RSS (peak with - peak without)",
            max(0.0, b.peak_rss_mb - a.peak_rss_mb),
            "MB",
            baseline=a.peak_rss_mb,
            baseline_label="daemon without, MB",
            target=RSS_TARGET,
            note=f"RSS at the end: {b.last_rss_mb:.0f} MB with, {a.last_rss_mb:.0f} MB without. The daemon "
            "without writes nothing to its graph; the difference is LadybugDB's memory for the first writes "
            "into this domain's tables (the floor: in-process +12 MB after 3 samples, then flat) and the row "
            "versions of at most one 10 s checkpoint interval; the sampler's own is the next figure",
        ),
        Figure(
            "the sampler's own RSS in a process (import, process cache, 20 samples)",
            own_rss,
            "MB",
            target=RSS_TARGET,
        ),
        Figure(
            "one host sample (HostSampler.sample, median of 20)",
            ms,
            "ms",
            note=f"= {ms / (INTERVAL * 1000) * 100:.3f} % of a core at {INTERVAL:g} s",
        ),
        Figure(
            "graph nodes after a year of samples, one host (computed)",
            float(nodes),
            "nodes",
            target=YEAR_TARGET,
            note=f"{series} series on this host x 3,965 ring points + {nodes - series * 3965} current-value "
            f"nodes; a host stays under 100k up to {(100_000 - 20) // 3965} series",
        ),
    ]
    return section
